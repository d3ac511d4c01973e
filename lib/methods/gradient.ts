/** Gradient-based attributions through the project's own backward pass over the IR (the `gradient`,
 * `gradient_x_input`, `guided_backprop` and `deconvnet` composites of the explainer): plain gradients,
 * SmoothGrad (Smilkov et al. 2017) and Integrated Gradients (Sundararajan et al. 2017). Browser-safe. */
import { Explainer, Explanation, OutputRelevance, defaultOutputRelevance } from '../explain';
import { Tensor, float32 } from '../tensor';
import { RowProgress, chunkRows, chunkSize, chunks, rowRunner } from './batch';
import { F32Tensor, batchOf, gaussian, predictRows, prng, resolveTargets, toF32Tensor } from './util';

/** The gradient-type composites of the explainer. */
export const GRADIENT_COMPOSITES = ['gradient', 'gradient_x_input', 'guided_backprop', 'deconvnet'] as const;
export type GradientComposite = (typeof GRADIENT_COMPOSITES)[number];

export interface GradientOptions {
  target?: number | number[];
  /** seed at the output: 'one' (the default: the one-hot, so the map is d logit_target / d input) or 'logit' */
  outputRelevance?: OutputRelevance;
  /** rows per explain call (default 64, fewer for large inputs: at most 2^20 input elements per call; the
   * model's batch when it is fixed) */
  batchSize?: number;
  /** rows done (forward and backward passes) of the total, at the start and after each chunk */
  onProgress?: RowProgress;
  /** keep every value's relevance (Explanation.values): the whole batch in one pass */
  keepAll?: boolean;
}

/** Input elements per backward chunk when no batch size is given: bounds memory, and gives progress steps. */
export const GRADIENT_BUDGET = 1 << 20;

/** d logit_target / d input (or guided backprop, deconvnet, gradient × input) for a batch: the gradient
 * composite of the explainer, in one pass when the batch fits the model as it is (and with `keepAll`), else in
 * chunks (see rowRunner for models with a fixed batch). The one code path of the gradient family: the METHODS
 * entries and the composites of the same names (lib/methods/run.ts) both come here. */
export async function gradientOf(explainer: Explainer, x: F32Tensor, composite: GradientComposite, targets: number[], opts: GradientOptions = {}): Promise<{ relevance: F32Tensor; explanation?: Explanation; outputRelevance: OutputRelevance; outputRelevanceDefault: boolean }> {
  const { batch, per } = batchOf(x);
  const outputRelevance = opts.outputRelevance; // undefined: the explainer's default for gradients ('one')
  const used = { outputRelevance: outputRelevance ?? defaultOutputRelevance('gradient'), outputRelevanceDefault: outputRelevance === undefined } as const;
  const size = chunkSize(per, opts.batchSize, 64, GRADIENT_BUDGET);
  const onePass = async (e: Explainer) => {
    const r = await e.explain(x, { composite, target: targets, outputRelevance, keepAll: opts.keepAll });
    opts.onProgress?.(batch, batch);
    return { relevance: r.relevance, explanation: r, outputRelevance: r.outputRelevance, outputRelevanceDefault: r.outputRelevanceDefault };
  };
  opts.onProgress?.(0, batch);
  if (opts.keepAll || (batch <= size && runsAsIs(explainer, x))) return onePass(explainer);
  const runner = await rowRunner(explainer, x);
  const parts = chunks(batch, size, runner);
  if (parts.length === 1 && !runner.fixed) return onePass(runner.explainer);
  const out = new Float32Array(batch * per);
  for (const [s, end] of parts) {
    const chunk = chunkRows(x, s, end, runner);
    const t = targets.slice(s, end);
    while (t.length < chunk.dims[0]) t.push(t[t.length - 1]);
    const e = await runner.explainer.explain(chunk, { composite, target: t, outputRelevance });
    out.set(e.relevance.data.subarray(0, (end - s) * per), s * per);
    opts.onProgress?.(end, batch);
  }
  return { relevance: float32(x.dims, out), ...used };
}

/** The model takes `x`'s batch as it is: its batch dimension is symbolic or equals x's. */
function runsAsIs(explainer: Explainer, x: F32Tensor): boolean {
  const d0 = explainer.graph.inputs[0]?.dims?.[0];
  return typeof d0 !== 'number' || d0 === x.dims[0];
}

/** SmoothGrad and Integrated Gradients always seed with the one-hot ('one'): a per-copy logit seed would weight
 * the copies by their own scores. */
export interface SmoothGradOptions extends GradientOptions {
  /** noisy copies per input (default 16) */
  samples?: number;
  /** σ of the Gaussian noise as a fraction of each sample's value range max(x) − min(x) (default 0.15) */
  noise?: number;
  /** PRNG seed of the noise (default 0) */
  seed?: number;
  /** what to average (default 'gradient'; 'gradient_x_input' multiplies each noisy gradient by its noisy input) */
  base?: GradientComposite;
}

/** SmoothGrad: the average of the gradient over `samples` copies of the input with Gaussian noise
 * N(0, (noise · (max x − min x))²) per sample; the targets are those of the noise-free input. */
export async function smoothGrad(explainer: Explainer, input: Tensor, opts: SmoothGradOptions & { targets?: number[] } = {}): Promise<F32Tensor> {
  const x = toF32Tensor(input);
  const { batch, per } = batchOf(x);
  const n = opts.samples ?? 16;
  const level = opts.noise ?? 0.15;
  if (!Number.isInteger(n) || n < 1) throw new Error(`smoothgrad: samples must be a positive integer, got ${n}`);
  if (!(level >= 0)) throw new Error(`smoothgrad: noise must be ≥ 0 (a fraction of the input range), got ${level}`);
  const targets = opts.targets ?? resolveTargets(await predictRows(explainer, x, 64), undefined).targets;
  const normal = gaussian(prng(opts.seed ?? 0));
  const noisy = new Float32Array(batch * n * per);
  const rowTargets: number[] = [];
  for (let s = 0; s < batch; s++) {
    const xs = x.data.subarray(s * per, (s + 1) * per);
    let lo = Infinity, hi = -Infinity;
    for (const v of xs) { if (v < lo) lo = v; if (v > hi) hi = v; }
    const sigma = level * (hi - lo);
    for (let k = 0; k < n; k++) {
      const off = (s * n + k) * per;
      for (let i = 0; i < per; i++) noisy[off + i] = xs[i] + sigma * normal();
      rowTargets.push(targets[s]);
    }
  }
  const g = await gradientOf(explainer, float32([batch * n, ...x.dims.slice(1)], noisy), opts.base ?? 'gradient', rowTargets, { ...opts, keepAll: undefined, outputRelevance: 'one' });
  const out = new Float32Array(batch * per);
  for (let s = 0; s < batch; s++) {
    for (let k = 0; k < n; k++) {
      const off = (s * n + k) * per;
      for (let i = 0; i < per; i++) out[s * per + i] += g.relevance.data[off + i] / n;
    }
  }
  return float32(x.dims, out);
}

export type Integration = 'riemann_left' | 'riemann_right' | 'riemann_middle' | 'trapezoid';
export const INTEGRATIONS: readonly Integration[] = ['riemann_left', 'riemann_right', 'riemann_middle', 'trapezoid'];

export interface IntegratedGradientsOptions extends GradientOptions {
  /** the baseline x′: a tensor shaped like the input (or like one sample), or a constant (default 0) */
  baseline?: Tensor | number;
  /** integration steps m (default 32) */
  steps?: number;
  /** quadrature rule (default 'trapezoid': m + 1 points, end points weighted ½) */
  integration?: Integration;
}

/** Points α_k in [0, 1] and weights w_k (Σ w_k = 1) of a quadrature rule with m steps. */
export function quadrature(m: number, rule: Integration): { alphas: number[]; weights: number[] } {
  if (!Number.isInteger(m) || m < 1) throw new Error(`integrated gradients: steps must be a positive integer, got ${m}`);
  const ks = [...Array(m).keys()];
  switch (rule) {
    case 'riemann_left': return { alphas: ks.map((k) => k / m), weights: ks.map(() => 1 / m) };
    case 'riemann_right': return { alphas: ks.map((k) => (k + 1) / m), weights: ks.map(() => 1 / m) };
    case 'riemann_middle': return { alphas: ks.map((k) => (k + 0.5) / m), weights: ks.map(() => 1 / m) };
    case 'trapezoid': {
      const alphas = [...Array(m + 1).keys()].map((k) => k / m);
      return { alphas, weights: alphas.map((_, k) => (k === 0 || k === m ? 0.5 / m : 1 / m)) };
    }
    default: throw new Error(`integrated gradients: unknown integration '${rule as string}' (${INTEGRATIONS.join(', ')})`);
  }
}

/** The baseline broadcast to the input's shape. */
export function baselineFor(x: F32Tensor, baseline: Tensor | number | undefined): Float32Array {
  const out = new Float32Array(x.data.length);
  if (baseline === undefined || typeof baseline === 'number') return out.fill(baseline ?? 0);
  const b = toF32Tensor(baseline, 'baseline');
  const { per } = batchOf(x);
  if (b.data.length === x.data.length) out.set(b.data);
  else if (b.data.length === per) for (let s = 0; s < x.data.length / per; s++) out.set(b.data, s * per);
  else throw new Error(`baseline of shape [${b.dims.join('x')}] does not match the input [${x.dims.join('x')}] or one sample of it`);
  return out;
}

/** Integrated Gradients: (x − x′) ⊙ Σ_k w_k ∇f(x′ + α_k (x − x′)), all steps of all samples batched through
 * the explainer. Completeness: Σ attributions ≈ f(x) − f(x′) (up to the quadrature error). */
export async function integratedGradients(explainer: Explainer, input: Tensor, opts: IntegratedGradientsOptions & { targets?: number[] } = {}): Promise<{ relevance: F32Tensor; delta: number[]; sums: number[] }> {
  const x = toF32Tensor(input);
  const { batch, per } = batchOf(x);
  const base = baselineFor(x, opts.baseline);
  const { alphas, weights } = quadrature(opts.steps ?? 32, opts.integration ?? 'trapezoid');
  const m = alphas.length;
  const targets = opts.targets ?? resolveTargets(await predictRows(explainer, x, 64), undefined).targets;
  const path = new Float32Array(batch * m * per);
  const rowTargets: number[] = [];
  for (let s = 0; s < batch; s++) {
    for (let k = 0; k < m; k++) {
      const off = (s * m + k) * per, a = alphas[k];
      for (let i = 0; i < per; i++) path[off + i] = base[s * per + i] + a * (x.data[s * per + i] - base[s * per + i]);
      rowTargets.push(targets[s]);
    }
  }
  const g = await gradientOf(explainer, float32([batch * m, ...x.dims.slice(1)], path), 'gradient', rowTargets, { ...opts, keepAll: undefined, outputRelevance: 'one' });
  const out = new Float32Array(batch * per);
  for (let s = 0; s < batch; s++) {
    for (let k = 0; k < m; k++) {
      const off = (s * m + k) * per, w = weights[k];
      for (let i = 0; i < per; i++) out[s * per + i] += w * g.relevance.data[off + i];
    }
    for (let i = s * per; i < (s + 1) * per; i++) out[i] *= x.data[i] - base[i];
  }
  // completeness check: f(x) − f(x′) against Σ attributions (seed 'one': the target logit itself)
  const both = new Float32Array(2 * batch * per);
  both.set(x.data);
  both.set(base, batch * per);
  const logits = await predictRows(explainer, float32([2 * batch, ...x.dims.slice(1)], both), opts.batchSize ?? 64);
  const classes = logits.data.length / (2 * batch);
  const delta = targets.map((t, s) => logits.data[s * classes + t] - logits.data[(batch + s) * classes + t]);
  const sums = targets.map((_, s) => { let v = 0; for (let i = s * per; i < (s + 1) * per; i++) v += out[i]; return v; });
  return { relevance: float32(x.dims, out), delta, sums };
}
