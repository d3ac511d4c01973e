/** Running configured methods: the `Method` type (what one column or row of results runs, under a title),
 * the defaults every caller shares (DEFAULT_COMPOSITE, zBox bounds from the preprocessing), and `explainInput`
 * (one input, every method). Browser-safe: inputs arrive as tensors (lib/audit/input.ts loads files).
 *
 * Two method types, two jobs: `MethodDef` (./index.ts) is an algorithm in the METHODS registry (its name,
 * parameters, code); `Method` (here) is a choice of what to run (a composite with options, a rule map, or a
 * METHODS name with parameters) under a title. */
import { Explainer, OutputRelevance } from '../explain';
import { ImageInputOptions } from '../io/image';
import { imageBounds, withBounds } from '../metadata';
import { CompositeOptions } from '../plan/composites';
import { RuleMap } from '../plan/plan';
import { Tensor } from '../tensor';
import { AttributeOptions, Attribution, METHODS, METHOD_NAMES, attribute } from './index';

/** The composite used when none is asked for (explain, audit, inspect, the library's `audit`). */
export const DEFAULT_COMPOSITE = 'epsilon_plus_flat';

/** One column of results, under a title: an LRP composite (with options), a rule map, or a baseline
 * attribution method from lib/methods (gradient, smoothgrad, integrated_gradients, occlusion, cam, gradcam …). */
export interface Method {
  title: string;
  composite?: string;
  options?: CompositeOptions;
  ruleMap?: RuleMap;
  /** a METHODS name, run with `attribute()` */
  attribution?: string;
  /** its parameters (samples, steps, patch, layer, seed …) */
  attributionOptions?: Omit<AttributeOptions, 'method' | 'target'>;
}

/** Methods for a list of composite names (all with the same options), then baseline methods (METHOD_NAMES),
 * then a rule map if given. */
export function methodsFor(composites: string[], options?: CompositeOptions, ruleMap?: { map: RuleMap; title?: string }, attributions: string[] = []): Method[] {
  const out: Method[] = composites.map((c) => ({ title: c, composite: c, options }));
  for (const a of attributions) {
    if (!METHODS[a]) throw new Error(`unknown method '${a}'; known methods: ${METHOD_NAMES.join(', ')}`);
    out.push({ title: a, attribution: a });
  }
  if (ruleMap) out.push({ title: ruleMap.title ?? 'rule-map', ruleMap: ruleMap.map, options });
  return out;
}

/** zBox bounds implied by the preprocessing (value range after normalisation), for methods that lack them. */
export function withImageBounds(methods: Method[], imageOptions: ImageInputOptions): Method[] {
  const b = imageBounds(imageOptions);
  if (!b) return methods;
  return methods.map((m) => (m.options && (m.options.low === undefined || m.options.high === undefined)
    ? { ...m, options: withBounds(m.options, b) }
    : m));
}

/** What `explainInput` needs of an input: a name for messages and the tensor (batch first). */
export interface MethodInput {
  file: string;
  /** float32, or int64 token ids [N, T] (lib/methods/tokens.ts) */
  tensor: Tensor & { data: Float32Array | BigInt64Array };
}

/** One method's result on one input: the Attribution, under the method (column) that made it. */
export interface MethodResult extends Omit<Attribution, 'method'> {
  method: Method;
}

export interface ExplainInputOptions {
  methods: Method[];
  target?: number | number[];
  /** asked for explicitly: used by every method that seeds the output (LRP and the gradient family); default:
   * each method's own ('logit' for LRP, 'one' for gradients) */
  outputRelevance?: OutputRelevance;
  /** keep every value's relevance (Explanation.values; LRP composites and single-pass gradient methods) */
  keepAll?: boolean;
  /** the batched methods (smoothgrad, integrated_gradients, occlusion, gradcam): rows done of the total, at the
   * start and after each chunk */
  onProgress?: (method: Method, done: number, total: number) => void;
}

export interface InputExplanation<I extends MethodInput = MethodInput> {
  input: I;
  results: MethodResult[];
  /** the output relevance asked for (undefined: each method's default) */
  outputRelevance?: OutputRelevance;
}

/** Runs one method on `x`. */
async function runMethod(explainer: Explainer, x: MethodInput['tensor'], method: Method, opts: ExplainInputOptions): Promise<MethodResult> {
  if (method.attribution) {
    const seeds = METHODS[method.attribution]?.params.includes('outputRelevance') && opts.outputRelevance !== undefined;
    const onProgress = opts.onProgress && ((done: number, total: number) => opts.onProgress!(method, done, total));
    const a = await attribute(explainer, x, {
      ...method.attributionOptions, method: method.attribution, target: opts.target, keepAll: opts.keepAll || undefined, onProgress,
      ...(seeds ? { outputRelevance: opts.outputRelevance } : {}),
    });
    return {
      method, relevance: a.relevance, predictions: a.predictions, targets: a.targets, scores: a.scores, explanation: a.explanation, details: a.details,
      outputRelevance: a.outputRelevance, outputRelevanceDefault: a.outputRelevanceDefault, warnings: a.warnings,
    };
  }
  const e = await explainer.explain(x, {
    composite: method.ruleMap ? undefined : method.composite, options: method.options, ruleMap: method.ruleMap,
    target: opts.target, outputRelevance: opts.outputRelevance, keepAll: opts.keepAll,
  });
  return {
    method, relevance: e.relevance, predictions: e.predictions, targets: e.targets, scores: e.scores, explanation: e,
    outputRelevance: e.outputRelevance, outputRelevanceDefault: e.outputRelevanceDefault, warnings: e.warnings,
  };
}

/** Explains an input (see lib/audit/input.ts `loadInput`) with every method (one forward and backward pass each). */
export async function explainInput<I extends MethodInput>(explainer: Explainer, input: I, opts: ExplainInputOptions): Promise<InputExplanation<I>> {
  if (!opts.methods.length) throw new Error('no method to explain with');
  const results: MethodResult[] = [];
  for (const method of opts.methods) {
    try {
      results.push(await runMethod(explainer, input.tensor, method, opts));
    } catch (e) {
      const m = (e as Error).message;
      throw Object.assign(new Error(m.includes(input.file) ? m : `${input.file}: ${m}`), { name: (e as Error).name });
    }
  }
  return { input, results, ...(opts.outputRelevance !== undefined ? { outputRelevance: opts.outputRelevance } : {}) };
}
