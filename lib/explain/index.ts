/** The explainer (`explainer.ts`) and its parts: the public types (`types.ts`), output relevance seeding
 * (`seed.ts`), which nodes ran on the reference kernels (`engines.ts`), result assembly (`result.ts`) and the zBox bounds warnings (`bounds.ts`). */
export { DEFAULT_MAX_INPUT_ELEMENTS, Explainer } from './explainer';
export { defaultOutputRelevance } from './seed';
export type { ReferenceNode } from './engines';
export { ConservationSummary, DualClass, Engine, EngineUse, ExplainError, ExplainOptions, Explanation, OutputRelevance } from './types';
export { DEFAULT_DUAL, DUAL_CLASSES, softmax } from './contrast';
