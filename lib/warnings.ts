/** Warnings for maps that vanish: relevance at the input exactly 0 (a blank heatmap), or nearly all of it
 * absorbed on the way (≥ 99%: the map shows what is left over), each with the likely cause and a remedy.
 * Browser-safe. */
import type { RulePlan } from './plan/plan';

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
