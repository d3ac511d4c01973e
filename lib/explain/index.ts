/** The explainer (`explainer.ts`) and its parts: the public types (`types.ts`), output relevance seeding
 * (`seed.ts`), result assembly (`result.ts`) and the zBox bounds warnings (`bounds.ts`). */
export { DEFAULT_MAX_INPUT_ELEMENTS, Explainer } from './explainer';
export { defaultOutputRelevance } from './seed';
export { ConservationSummary, Engine, EngineUse, ExplainError, ExplainOptions, Explanation, OutputRelevance } from './types';
