/** Region perturbation ("pixel flipping", Samek et al. 2017, IEEE TNNLS 28(11)): split the input into square
 * regions, rank them by the relevance they hold (summed over the region and all channels), replace them one
 * step at a time in that order, re-run the model on every perturbed copy (batched, outputs only) and record the
 * target score. The area over the perturbation curve,
 *
 *   AOPC = 1/(L+1) · Σ_{k=0..L} ( f(x⁰) − f(xᵏ) ),  averaged over the inputs,
 *
 * is large for MoRF (most relevant first) when the map is faithful; for LeRF (least relevant first) it should be
 * small. Browser-safe. */
import { Explainer } from '../explain';
import { F32Tensor, batchOf, permutation, predictRows, prng, resolveTargets, spatialDims, toF32Tensor } from '../methods/util';
import { Tensor, float32 } from '../tensor';
import { isTokenTensor } from '../io/tokenize';
import { RowTensor } from '../methods/batch';

export type Order = 'morf' | 'lerf' | 'random';
export const ORDERS: readonly Order[] = ['morf', 'lerf', 'random'];

/** What a removed region is replaced with:
 * - 'zeros': 0 in the model's input space (for a normalised input: the data set mean);
 * - 'mean': the per-channel mean of the (unperturbed) input sample;
 * - 'blur': the input blurred with a Gaussian of σ = blurSigma (default: half the region size);
 * - 'uniform': uniform noise between the sample's minimum and maximum (seeded; Samek et al.'s choice);
 * - a number, or one per channel: that value (e.g. the input value of black). */
export type Replacement = 'zeros' | 'mean' | 'blur' | 'uniform' | number | number[];

export interface PerturbationOptions {
  /** region size in pixels (default 4) */
  patch?: number;
  /** regions removed in total (default: all) */
  steps?: number;
  /** regions removed per step (default 1) */
  perStep?: number;
  order?: Order;
  replacement?: Replacement;
  blurSigma?: number;
  /** the score tracked: the target logit (default) or the target's softmax probability */
  score?: 'logit' | 'probability';
  /** seeds the random order, ties and 'uniform' replacement (default 0) */
  seed?: number;
  /** rows per onnxruntime run (default 256) */
  batchSize?: number;
  target?: number | number[];
  /** token inputs: per sample, positions never replaced (special tokens, padding) */
  keep?: number[][];
}

export interface PerturbationCurve {
  order: Order;
  /** fraction of the regions removed at each point (0 … ) */
  fractions: number[];
  /** per sample: the score after k steps, k = 0 … L */
  scores: number[][];
  /** mean over samples of f(x⁰) − f(xᵏ) */
  meanDrop: number[];
  /** mean over samples of the score */
  meanScore: number[];
  aopc: number;
  aopcPerSample: number[];
  targets: number[];
  /** regions (images) or deletable tokens (the most of any sample) */
  regions: number;
}

/** The regions: a grid of patch × patch squares (the last row / column smaller when the size is not a multiple). */
export function regionGrid(H: number, W: number, patch: number): { y0: number; x0: number; y1: number; x1: number }[] {
  if (!Number.isInteger(patch) || patch < 1) throw new Error(`perturbation: patch must be a positive integer, got ${patch}`);
  const out: { y0: number; x0: number; y1: number; x1: number }[] = [];
  for (let y = 0; y < H; y += patch) for (let x = 0; x < W; x += patch) out.push({ y0: y, x0: x, y1: Math.min(H, y + patch), x1: Math.min(W, x + patch) });
  return out;
}

/** Region order for one sample: by relevance (descending for MoRF, ascending for LeRF; ties broken at random,
 * seeded) or a random permutation. */
export function regionOrder(relevance: Float32Array, C: number, H: number, W: number, regions: ReturnType<typeof regionGrid>, order: Order, rng: () => number): number[] {
  const perm = permutation(regions.length, rng);
  if (order === 'random') return perm;
  const mass = regions.map((r) => {
    let s = 0;
    for (let c = 0; c < C; c++) for (let y = r.y0; y < r.y1; y++) for (let x = r.x0; x < r.x1; x++) s += relevance[(c * H + y) * W + x];
    return s;
  });
  const rank = new Array<number>(regions.length);
  perm.forEach((r, k) => { rank[r] = k; });
  const sign = order === 'morf' ? -1 : 1;
  return [...regions.keys()].sort((a, b) => sign * (mass[a] - mass[b]) || rank[a] - rank[b]);
}

/** Gaussian blur of one [C, H, W] sample (separable, edges clamped). */
export function gaussianBlur(x: Float32Array, C: number, H: number, W: number, sigma: number): Float32Array {
  if (!(sigma > 0)) return Float32Array.from(x);
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = Float64Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const ks = k.reduce((a, b) => a + b, 0);
  for (let i = 0; i < k.length; i++) k[i] /= ks;
  const tmp = new Float32Array(x.length), out = new Float32Array(x.length);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) {
      let s = 0;
      for (let i = -r; i <= r; i++) s += k[i + r] * x[(c * H + y) * W + Math.min(W - 1, Math.max(0, xx + i))];
      tmp[(c * H + y) * W + xx] = s;
    }
    for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) {
      let s = 0;
      for (let i = -r; i <= r; i++) s += k[i + r] * tmp[(c * H + Math.min(H - 1, Math.max(0, y + i))) * W + xx];
      out[(c * H + y) * W + xx] = s;
    }
  }
  return out;
}

/** The replacement image for one [C, H, W] sample. */
export function replacementFor(x: Float32Array, C: number, H: number, W: number, rep: Replacement, opts: { blurSigma?: number; patch: number; rng: () => number }): Float32Array {
  const out = new Float32Array(x.length);
  if (typeof rep === 'number') return out.fill(rep);
  if (Array.isArray(rep)) {
    if (rep.length !== C) throw new Error(`perturbation: ${rep.length} replacement values for ${C} channels`);
    for (let c = 0; c < C; c++) out.fill(rep[c], c * H * W, (c + 1) * H * W);
    return out;
  }
  switch (rep) {
    case 'zeros': return out;
    case 'mean':
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let i = c * H * W; i < (c + 1) * H * W; i++) s += x[i];
        out.fill(s / (H * W), c * H * W, (c + 1) * H * W);
      }
      return out;
    case 'blur': return gaussianBlur(x, C, H, W, opts.blurSigma ?? opts.patch / 2);
    case 'uniform': {
      let lo = Infinity, hi = -Infinity;
      for (const v of x) { if (v < lo) lo = v; if (v > hi) hi = v; }
      for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * opts.rng();
      return out;
    }
    default: throw new Error(`perturbation: unknown replacement '${String(rep)}' (zeros, mean, blur, uniform, or a number)`);
  }
}

function scoreOf(logits: Float32Array, row: number, classes: number, t: number, mode: 'logit' | 'probability'): number {
  if (mode === 'logit') return logits[row * classes + t];
  let m = -Infinity;
  for (let c = 0; c < classes; c++) m = Math.max(m, logits[row * classes + c]);
  let z = 0;
  for (let c = 0; c < classes; c++) z += Math.exp(logits[row * classes + c] - m);
  return Math.exp(logits[row * classes + t] - m) / z;
}

/** The perturbation curve of one relevance map per input sample (maps shaped like the input). Token-id inputs
 * [N, T] (int64): the units are single tokens, replaced by the token id `replacement` (a number: e.g. [PAD]'s
 * id); positions in `keep` (e.g. [CLS], [SEP], padding) are never replaced. */
export async function perturbationCurve(explainer: Explainer, input: Tensor, relevance: Tensor, opts: PerturbationOptions = {}): Promise<PerturbationCurve> {
  const R = toF32Tensor(relevance, 'relevance');
  if (R.dims.length !== input.dims.length || R.dims.some((d, i) => d !== input.dims[i])) {
    throw new Error(`perturbation: relevance of shape [${R.dims.join('x')}] does not match the input [${input.dims.join('x')}]`);
  }
  const perStep = opts.perStep ?? 1;
  if (!Number.isInteger(perStep) || perStep < 1) throw new Error(`perturbation: perStep must be a positive integer, got ${perStep}`);
  const order = opts.order ?? 'morf';
  if (!ORDERS.includes(order)) throw new Error(`perturbation: unknown order '${order}' (${ORDERS.join(', ')})`);
  const mode = opts.score ?? 'logit';
  const rng = prng(opts.seed ?? 0);
  const x: RowTensor = isTokenTensor(input) ? tokenIds64(input) : toF32Tensor(input);
  const N = x.dims[0];
  const { rows, L, total, units, steps } = x.data instanceof BigInt64Array
    ? tokenRows(x as RowTensor & { data: BigInt64Array }, R, opts, order, rng)
    : regionRows(x as F32Tensor, R, opts, order, rng);
  const base = await explainer.predict(x);
  const targets = resolveTargets(base, opts.target).targets;
  const classes = base.data.length / N;
  const out = await predictRows(explainer, rows, opts.batchSize ?? 256);
  const scores = targets.map((t, s) => [scoreOf(base.data, s, classes, t, mode), ...[...Array(L).keys()].map((k) => scoreOf(out.data, s * L + k, classes, t, mode))]);
  // per sample over its own steps (tokens: a sentence's own content tokens), so it does not depend on the batch
  const aopcPerSample = scores.map((sc, s) => { const Ls = steps?.[s] ?? L; return sc.slice(0, Ls + 1).reduce((a, v) => a + (sc[0] - v), 0) / (Ls + 1); });
  const meanScore = [...Array(L + 1).keys()].map((k) => scores.reduce((a, sc) => a + sc[k], 0) / N);
  return {
    order, fractions: [...Array(L + 1).keys()].map((k) => Math.min(total, k * perStep) / units),
    scores, meanScore, meanDrop: meanScore.map((v) => meanScore[0] - v),
    aopc: aopcPerSample.reduce((a, b) => a + b, 0) / N, aopcPerSample, targets, regions: units,
  };
}

interface PerturbedRows {
  rows: RowTensor; L: number; total: number; units: number;
  /** per sample, its own number of steps when samples differ (tokens); else L for all */
  steps?: number[];
}

/** Images: for each sample the L copies (k = 1 … L) with the first k·perStep regions of its order replaced. */
function regionRows(x: F32Tensor, R: F32Tensor, opts: PerturbationOptions, order: Order, rng: () => number): PerturbedRows {
  const { N, C, H, W } = spatialDims(x, 'region perturbation');
  const patch = opts.patch ?? 4, perStep = opts.perStep ?? 1;
  const regions = regionGrid(H, W, patch);
  const total = Math.min(regions.length, opts.steps ?? regions.length);
  const L = Math.ceil(total / perStep);
  const { per } = batchOf(x);
  const rows = new Float32Array(N * L * per);
  for (let s = 0; s < N; s++) {
    const xs = x.data.subarray(s * per, (s + 1) * per);
    const ord = regionOrder(R.data.subarray(s * per, (s + 1) * per), C, H, W, regions, order, rng);
    const rep = replacementFor(xs, C, H, W, opts.replacement ?? 'zeros', { blurSigma: opts.blurSigma, patch, rng });
    const cur = Float32Array.from(xs);
    for (let k = 1; k <= L; k++) {
      for (let j = (k - 1) * perStep; j < Math.min(total, k * perStep); j++) {
        const r = regions[ord[j]];
        for (let c = 0; c < C; c++) for (let y = r.y0; y < r.y1; y++) {
          const o = (c * H + y) * W;
          cur.set(rep.subarray(o + r.x0, o + r.x1), o + r.x0);
        }
      }
      rows.set(cur, (s * L + k - 1) * per);
    }
  }
  return { rows: float32([N * L, C, H, W], rows), L, total, units: regions.length };
}

/** Token ids [N, T]: each sample's deletable positions (those not in `keep`) ranked by relevance (ties at random,
 * seeded) and replaced by the token id `replacement`, perStep per copy; a sample with fewer deletable tokens than
 * the longest stays fully replaced to the end of the curve, and its AOPC is over its own steps only. */
function tokenRows(x: RowTensor & { data: BigInt64Array }, R: F32Tensor, opts: PerturbationOptions, order: Order, rng: () => number): PerturbedRows {
  const [N, T] = x.dims;
  if (x.dims.length !== 2) throw new Error(`token perturbation: token ids must be [N, T], got [${x.dims.join('x')}]`);
  const rep = opts.replacement;
  if (typeof rep !== 'number' || !Number.isInteger(rep) || rep < 0) throw new Error(`token perturbation: the replacement must be a token id (e.g. that of [PAD]), got ${JSON.stringify(rep ?? null)}`);
  const perStep = opts.perStep ?? 1;
  const positions = [...Array(N).keys()].map((s) => { const keep = new Set(opts.keep?.[s] ?? []); return [...Array(T).keys()].filter((t) => !keep.has(t)); });
  const units = Math.max(1, ...positions.map((p) => p.length));
  const total = Math.min(units, opts.steps ?? units);
  const L = Math.ceil(total / perStep);
  const rows = new BigInt64Array(N * L * T);
  for (let s = 0; s < N; s++) {
    const pos = positions[s];
    const perm = permutation(pos.length, rng);
    const rank = new Array<number>(pos.length);
    perm.forEach((p, k) => { rank[p] = k; });
    const mass = pos.map((t) => R.data[s * T + t]);
    const sign = order === 'morf' ? -1 : 1;
    const ord = order === 'random' ? perm : [...pos.keys()].sort((a, b) => sign * (mass[a] - mass[b]) || rank[a] - rank[b]);
    const cur = BigInt64Array.from(x.data.subarray(s * T, (s + 1) * T));
    for (let k = 1; k <= L; k++) {
      for (let j = (k - 1) * perStep; j < Math.min(total, k * perStep, pos.length); j++) cur[pos[ord[j]]] = BigInt(rep);
      rows.set(cur, (s * L + k - 1) * T);
    }
  }
  const steps = positions.map((p) => Math.ceil(Math.min(p.length, total) / perStep));
  return { rows: { dtype: 'int64', dims: [N * L, T], data: rows }, L, total, units, steps };
}

function tokenIds64(t: Tensor): RowTensor & { data: BigInt64Array } {
  if (t.data instanceof BigInt64Array) return t as RowTensor & { data: BigInt64Array };
  return { dtype: 'int64', dims: [...t.dims], data: BigInt64Array.from(Array.from(t.data as Int32Array, (v) => BigInt(v))) };
}

/** Curves as CSV: one row per step, a column per curve (the mean score). */
export function curvesToCsv(curves: { label: string; curve: PerturbationCurve }[]): string {
  if (!curves.length) return '';
  const L = Math.max(...curves.map((c) => c.curve.meanScore.length));
  const head = ['step', 'fraction', ...curves.map((c) => c.label)];
  const lines = [head.join(',')];
  for (let k = 0; k < L; k++) {
    lines.push([k, curves[0].curve.fractions[k]?.toFixed(6) ?? '', ...curves.map((c) => (c.curve.meanScore[k] === undefined ? '' : c.curve.meanScore[k].toPrecision(7)))].join(','));
  }
  return lines.join('\n') + '\n';
}

export type { F32Tensor };
