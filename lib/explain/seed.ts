/** Output relevance seeding: which class each sample explains, and the relevance started at the explained
 * output (a one-hot on the target, times the target logit or 1). */
import { RulePlan } from '../plan/plan';
import { Tensor } from '../tensor';
import { ExplainError, OutputRelevance } from './types';

/** The output relevance used when none is asked for: 'logit' for LRP, 'one' (the plain gradient, as in
 * Captum and Zennit) for the gradient modes, whichever name (composite or method) asked for them. */
export function defaultOutputRelevance(mode: RulePlan['mode']): OutputRelevance {
  return mode === 'lrp' ? 'logit' : 'one';
}

export interface Seed {
  predictions: number[];
  targets: number[];
  /** logit[target] per sample */
  scores: number[];
  /** the output relevance used */
  mode: OutputRelevance;
  /** the relevance at the explained output, shaped like it */
  relevance: Float32Array;
  /** the seed's sum per sample: the output relevance of the conservation summary */
  sums: number[];
}

/** The seed for `logits` (batch first): targets default to the predicted classes, the mode to the plan's. */
export function outputSeed(logits: Tensor & { data: Float32Array }, plan: RulePlan, target: number | number[] | undefined, outputRelevance: OutputRelevance | undefined): Seed {
  const batch = logits.dims[0] ?? 1;
  const classes = logits.data.length / batch;
  const predictions = [...Array(batch).keys()].map((s) => argmax(logits.data.subarray(s * classes, (s + 1) * classes)));
  const targets = resolveTargets(target, predictions, classes);
  const mode = outputRelevance ?? defaultOutputRelevance(plan.mode);
  if (mode !== 'logit' && mode !== 'one') throw new ExplainError(`output relevance must be 'logit' or 'one', got '${mode}'`);
  const relevance = new Float32Array(logits.data.length);
  const scores = targets.map((t, s) => logits.data[s * classes + t]);
  targets.forEach((t, s) => { relevance[s * classes + t] = mode === 'logit' ? scores[s] : 1; });
  const sums = [...Array(batch).keys()].map((s) => (mode === 'logit' ? scores[s] : 1));
  return { predictions, targets, scores, mode, relevance, sums };
}

function argmax(a: Float32Array): number {
  let b = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[b]) b = i;
  return b;
}

export function resolveTargets(target: number | number[] | undefined, predictions: number[], classes: number): number[] {
  const batch = predictions.length;
  let t: number[];
  if (target === undefined) t = predictions;
  else if (typeof target === 'number') t = new Array(batch).fill(target);
  else {
    if (target.length !== batch) throw new ExplainError(`${target.length} targets given for a batch of ${batch}`);
    t = target;
  }
  for (const k of t) {
    if (!Number.isInteger(k) || k < 0 || k >= classes) throw new ExplainError(`target ${k} is out of range: the output has ${classes} classes (0–${classes - 1})`);
  }
  return t;
}
