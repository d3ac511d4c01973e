/** Running configured methods: the `Method` type (what one column or row of results runs, under a title: the
 * one method type of the public API), `runMethod` (the one code path that runs a Method, for explain, audit
 * and evaluate), the defaults every caller shares (DEFAULT_COMPOSITE, zBox bounds from the preprocessing), and
 * `explainInput` (one input, every method; one result per contrast class). Browser-safe: inputs arrive as
 * tensors (lib/audit/input.ts loads files). The algorithms a Method names by `attribution` are entries of the
 * METHODS registry (./index.ts, `MethodEntry`: internal). */
import { DualClass, Explainer, Explanation, OutputRelevance } from '../explain';
import { ImageInputOptions } from '../io/image';
import { imageBounds, withBounds } from '../metadata';
import { CompositeOptions, DEFAULT_COMPOSITE } from '../plan/composites';
import { RuleMap } from '../plan/plan';
import { Tensor } from '../tensor';
import { AttributeOptions, Attribution, METHODS, METHOD_NAMES, attribute, seedFacts, seedOptions } from './index';
import { toF32Tensor } from './util';

export { DEFAULT_COMPOSITE };

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
  /** the composite was not asked for: why the model got it (`defaultMethod`) */
  compositeReason?: string;
}

/** The parameters of the METHODS (samples, steps, patch, layer, seed …). */
export type MethodParams = Omit<AttributeOptions, 'method' | 'target'>;

/** The method a name stands for: a METHODS name (the gradient family included, whichever list named it) with
 * the parameters of `params` it reads, else an LRP composite with `options`. */
export function methodFor(name: string, options?: CompositeOptions, params: MethodParams = {}): Method {
  const entry = METHODS[name];
  if (!entry) return { title: name, composite: name, options };
  const own = Object.fromEntries(Object.entries(params).filter(([k, v]) => v !== undefined && (entry.params as readonly string[]).includes(k)));
  return { title: name, attribution: name, ...(Object.keys(own).length ? { attributionOptions: own } : {}) };
}

/** Methods for a list of composite names (all with the same options), then baseline methods (METHOD_NAMES,
 * each with the parameters of `params` it reads), then a rule map if given. */
export function methodsFor(composites: string[], options?: CompositeOptions, ruleMap?: { map: RuleMap; title?: string }, attributions: string[] = [], params?: MethodParams): Method[] {
  const out: Method[] = composites.map((c) => ({ title: c, composite: c, options }));
  for (const a of attributions) {
    if (!METHODS[a]) throw new Error(`unknown method '${a}'; known methods: ${METHOD_NAMES.join(', ')}`);
    out.push(methodFor(a, options, params));
  }
  if (ruleMap) out.push({ title: ruleMap.title ?? 'rule-map', ruleMap: ruleMap.map, options });
  return out;
}

/** The method run when none is asked for: the model's default composite (lib/plan/default.ts: `attnlrp` for a
 * transformer, `DEFAULT_COMPOSITE` otherwise), with `options` and the reason it was chosen. */
export function defaultMethod(explainer: Explainer, options?: CompositeOptions): Method {
  const { composite, reason } = explainer.defaultComposite();
  return { title: composite, composite, options, compositeReason: reason };
}

/** The name `attribute` runs a method under: its METHODS name, else its composite ('rule-map' for a rule map). */
export function methodName(m: Method): string {
  return m.attribution ?? (m.ruleMap ? 'rule-map' : m.composite ?? DEFAULT_COMPOSITE);
}

/** zBox bounds implied by the preprocessing (value range after normalisation), for methods that lack them (the
 * second half of `defaultBounds`: callers fill the metadata's first, before the preprocessing is known). */
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
  /** with outputRelevance 'contrastive': the dual class (default 'others') and clipping (default true) */
  dual?: DualClass;
  clip?: boolean;
  /** "why the target and not K": one result per class K for every method that seeds the output (titled
   * `<method> vs K`); LRP composites run all of them in one batched backward pass */
  contrast?: number[];
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

/** The title of a result for contrast class K: `<method> vs K` (`contrastTitle`); the method's own otherwise. */
function seededMethod(method: Method, facts: Pick<Attribution, 'contrast'>): Method {
  return facts.contrast === undefined ? method : { ...method, title: contrastTitle(method.title, facts.contrast) };
}

/** The title of a method's result for contrast class K. */
export function contrastTitle(title: string, k: number): string {
  return `${title} vs ${k}`;
}

/** Whether a method seeds the output (LRP and the gradient family), so reads outputRelevance, dual, clip and
 * contrast. */
function seeds(method: Method): boolean {
  const entry = method.ruleMap ? undefined : METHODS[methodName(method)];
  return !entry || entry.params.includes('outputRelevance');
}

/** The titles of explainInput's results: each method's, or with contrast classes one per method and class (the
 * baselines that take no output relevance keep one). */
export function resultTitles(methods: Method[], contrast?: number[]): string[] {
  return methods.flatMap((m) => (contrast?.length && seeds(m) ? contrast.map((k) => contrastTitle(m.title, k)) : [m.title]));
}

export interface RunMethodOptions {
  target?: number | number[];
  /** used by every method that seeds the output (LRP and the gradient family); default: each method's own */
  outputRelevance?: OutputRelevance;
  /** with outputRelevance 'contrastive': the dual class (default 'others') and clipping (default true) */
  dual?: DualClass;
  clip?: boolean;
  /** "why the target and not K": the result is titled `<method> vs K` */
  contrast?: number;
  /** keep every value's relevance (LRP composites and the single-pass gradient methods) */
  keepAll?: boolean;
  /** the batched methods: rows done of the total */
  onProgress?: (done: number, total: number) => void;
}

/** Runs one method on `x` (batch first): the one code path of explain, audit and evaluate. A name of the
 * METHODS registry (the gradient family too, even when given as a composite) runs its registry entry; an LRP
 * composite or rule map runs the explainer. Options a method does not read are not passed to it. */
export async function runMethod(explainer: Explainer, x: Tensor, method: Method, opts: RunMethodOptions = {}): Promise<MethodResult> {
  const name = methodName(method);
  const entry = method.ruleMap ? undefined : METHODS[name];
  const reads = (k: keyof AttributeOptions) => !entry || entry.params.includes(k);
  const seed = reads('outputRelevance') ? seedOptions(opts) : {};
  const a = await attribute(explainer, x, {
    ...(entry ? method.attributionOptions : { options: method.options, ruleMap: method.ruleMap }), method: name, target: opts.target,
    ...(opts.keepAll && reads('keepAll') ? { keepAll: true } : {}), ...seed,
    ...(opts.onProgress && entry ? { onProgress: opts.onProgress } : {}),
  });
  const { method: _name, ...result } = a;
  return { method: seededMethod(method, a), ...result };
}

/** Runs one method on `x` with several contrast classes: one result per class K (LRP composites and rule maps
 * in one batched backward pass), or runMethod's one result without contrasts or for a method that does not
 * seed the output. */
export async function runMethodContrasts(explainer: Explainer, x: Tensor, method: Method, opts: Omit<RunMethodOptions, 'contrast'> & { contrast?: number[] }): Promise<MethodResult[]> {
  const { contrast, ...rest } = opts;
  if (!contrast?.length || !seeds(method)) return [await runMethod(explainer, x, method, rest)];
  const name = methodName(method);
  if (METHODS[name] && !method.ruleMap) {
    const out: MethodResult[] = [];
    for (const k of contrast) out.push(await runMethod(explainer, x, method, { ...rest, contrast: k }));
    return out;
  }
  const e = await explainer.explain(toF32Tensor(x), {
    composite: method.ruleMap ? undefined : name, options: method.options, ruleMap: method.ruleMap,
    target: opts.target, ...seedOptions(rest), contrast, keepAll: opts.keepAll,
  });
  const result = (ex: Explanation): MethodResult => ({
    method: seededMethod(method, seedFacts(ex)), relevance: ex.relevance, predictions: ex.predictions, targets: ex.targets, scores: ex.scores, explanation: ex,
    ...seedFacts(ex), warnings: ex.warnings,
  });
  return [e, ...(e.moreContrasts ?? [])].map(result);
}

/** Explains an input (see lib/audit/input.ts `loadInput`) with every method (one forward and backward pass each). */
export async function explainInput<I extends MethodInput>(explainer: Explainer, input: I, opts: ExplainInputOptions): Promise<InputExplanation<I>> {
  if (!opts.methods.length) throw new Error('no method to explain with');
  const results: MethodResult[] = [];
  for (const method of opts.methods) {
    try {
      const onProgress = opts.onProgress && ((done: number, total: number) => opts.onProgress!(method, done, total));
      results.push(...await runMethodContrasts(explainer, input.tensor, method, {
        target: opts.target, outputRelevance: opts.outputRelevance, dual: opts.dual, clip: opts.clip, contrast: opts.contrast, keepAll: opts.keepAll, onProgress,
      }));
    } catch (e) {
      const m = (e as Error).message;
      throw Object.assign(new Error(m.includes(input.file) ? m : `${input.file}: ${m}`), { name: (e as Error).name });
    }
  }
  return { input, results, ...(opts.outputRelevance !== undefined ? { outputRelevance: opts.outputRelevance } : {}) };
}
