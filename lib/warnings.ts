/** Warnings for maps that vanish: relevance at the input exactly 0 (a blank heatmap), or nearly all of it
 * absorbed on the way (≥ 99%: the map shows what is left over), each with the likely cause and a remedy.
 * Browser-safe. */
import type { Graph } from './ir/graph';
import { isFloat } from './ops/op';
import type { RulePlan } from './plan/plan';
import type { Tensor } from './tensor';

/** Share of the output relevance absorbed from which a map is said to vanish. */
export const VANISHING_SHARE = 0.99;

/** 3 significant digits; exponent form (1e-6, 1.5e-14) for very small or large values. */
const num = (v: number) => (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5) ? v.toExponential(2).replace(/\.?0+e/, 'e') : String(Number(v.toPrecision(3))));

function isZero(r: Float32Array, s: number, per: number): boolean {
  for (let i = s * per; i < (s + 1) * per; i++) if (r[i] !== 0) return false;
  return true;
}

function largestEpsilon(plan: RulePlan): number | undefined {
  let eps: number | undefined;
  for (const e of plan.entries) {
    const v = (e.params as { epsilon?: unknown }).epsilon;
    if (typeof v === 'number' && (eps === undefined || v > eps)) eps = v;
  }
  return eps;
}

export interface VanishingFacts {
  plan: RulePlan;
  /** relevance at the input, batch first */
  relevance: Float32Array;
  /** target logit per sample */
  scores: number[];
  /** relevance put at the output and found at the input, and the absorbed share, per sample */
  outputRelevance: number[];
  inputRelevance: number[];
  absorbed: number[];
}

/** The warnings of one explanation (LRP or a gradient composite), one per sample whose map vanishes. */
export function vanishingWarnings(f: VanishingFacts): string[] {
  const batch = f.scores.length;
  const per = batch ? f.relevance.length / batch : 0;
  const out: string[] = [];
  for (let s = 0; s < batch; s++) {
    const who = batch > 1 ? `sample ${s}: ` : '';
    const zero = isZero(f.relevance, s, per);
    if (f.plan.mode !== 'lrp') {
      if (zero) {
        out.push(`${who}the gradient at the input is exactly 0 (the map is blank): the target logit does not change with the input here `
          + '(inactive ReLUs or saturated units on every path); try another target or an LRP composite');
      }
      continue;
    }
    if (!zero && !(f.absorbed[s] >= VANISHING_SHARE)) continue;
    const what = zero
      ? `the relevance at the input is exactly 0 (the map is blank; ${num(f.outputRelevance[s])} was put at the output)`
      : `only ${num(f.inputRelevance[s])} of the relevance ${num(f.outputRelevance[s])} put at the output reaches the input (${(100 * f.absorbed[s]).toFixed(1)}% absorbed: the map shows what is left over)`;
    const eps = largestEpsilon(f.plan);
    const why = eps !== undefined && Math.abs(f.scores[s]) < 100 * eps
      ? `the target logit ${num(f.scores[s])} is small against epsilon ${num(eps)}: the epsilon rule passes on z / (z ± epsilon) of the relevance, next to nothing where activations are that small`
      : 'the layers\' biases (and stabilisers) take it: the logit comes mostly from biases, not from the input';
    out.push(`${who}${what}; ${why}. Try a smaller epsilon (--epsilon), rules without biases (zeroBias, --zero-bias) or another composite`);
  }
  return out;
}

const HINTS: Record<string, string> = {
  occlusion: 'occluding a patch with the fill value never changes the target logit: try a larger patch or another fill',
  gradcam: 'the gradient-weighted feature maps are ≤ 0 everywhere (cut by the ReLU): try another layer',
  cam: 'the class-weighted feature maps are 0 everywhere',
  smoothgrad: 'the gradient is 0 at every noisy copy (inactive ReLUs or saturated units): try a larger noise',
  integrated_gradients: 'the gradient is 0 along the path from the baseline, or the input equals the baseline: try another baseline',
};

/** The warnings of a map from a method without a rule plan (one per sample whose map is exactly 0). */
export function blankMapWarnings(method: string, relevance: Float32Array, batch: number): string[] {
  const per = batch ? relevance.length / batch : 0;
  const out: string[] = [];
  for (let s = 0; s < batch; s++) {
    if (!isZero(relevance, s, per)) continue;
    out.push(`${batch > 1 ? `sample ${s}: ` : ''}the ${method} map is exactly 0 (blank)${HINTS[method] ? `: ${HINTS[method]}` : ''}`);
  }
  return out;
}

/** A warning per zBox layer reading a model input with values outside its [low, high] bounds: the rule assumes
 * low ≤ x ≤ high, so such a map is unreliable (wrong bounds, or preprocessing other than the bounds imply). */
export function boundsWarnings(graph: Graph, plan: RulePlan, feeds: Record<string, Tensor>): string[] {
  const out: string[] = [];
  for (const e of plan.entries) {
    if (e.rule !== 'zBox' || e.params.low === undefined || e.params.high === undefined) continue;
    const node = graph.node(e.node);
    for (const name of (node?.inputs ?? []).map((v) => feedBehind(graph, v))) {
      const x = name === undefined ? undefined : feeds[name];
      if (!x || !isFloat(x)) continue;
      const w = outsideBounds(x, e.params.low, e.params.high);
      if (w) out.push(`input '${name}': ${w.count} of ${x.data.length} values lie outside the zBox bounds of node '${e.node}' (values in [${fmtNum(w.min)}, ${fmtNum(w.max)}], bounds [${fmtBounds(e.params.low)}] to [${fmtBounds(e.params.high)}]); the zBox rule assumes low ≤ x ≤ high, so this map is unreliable: check the preprocessing or --low/--high`);
    }
  }
  return out;
}

/** Ops that move a value without changing it: the bounds of a layer behind them are the model input's. */
const MOVES = new Set(['Flatten', 'Reshape', 'Transpose', 'Identity', 'Squeeze', 'Unsqueeze']);

/** The graph input that `value` is (behind a chain of MOVES ops), if any. */
function feedBehind(graph: Graph, value: string): string | undefined {
  for (let v = value, k = 0; k < 16; k++) {
    if (graph.inputs.some((i) => i.name === v)) return v;
    const p = graph.producer(v);
    if (!p || !MOVES.has(p.opType) || !p.inputs[0]) return undefined;
    v = p.inputs[0];
  }
  return undefined;
}

const fmtNum = (v: number) => Number(v.toPrecision(4)).toString();
const fmtBounds = (b: number | readonly number[]) => (typeof b === 'number' ? [b] : [...b]).map(fmtNum).join(',');

/** Values of x (NCHW-like: channel = axis 1 when the bounds are per channel) below low or above high, beyond a
 * float32 rounding tolerance; null when all are inside. */
function outsideBounds(x: Tensor, low: number | readonly number[], high: number | readonly number[]): { count: number; min: number; max: number } | null {
  const data = x.data as ArrayLike<number>;
  const C = x.dims.length > 1 ? x.dims[1] : 1;
  const inner = x.dims.slice(2).reduce((a, d) => a * d, 1);
  const perChannel = (b: number | readonly number[], pick: (...v: number[]) => number) =>
    Array.from({ length: C }, (_, c) => (typeof b === 'number' ? b : b.length === C ? b[c] : pick(...b)));
  const los = perChannel(low, Math.min), his = perChannel(high, Math.max);
  const tols = los.map((lo, c) => 1e-4 * Math.max(1, Math.abs(his[c] - lo)));
  let count = 0, min = Infinity, max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const c = Math.floor(i / inner) % C, v = data[i];
    if (!(v >= los[c] - tols[c] && v <= his[c] + tols[c])) count++;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return count ? { count, min, max } : null;
}
