/** Output relevance seeding: which class each sample explains, and the relevance started at the explained
 * output (a one-hot on the target, times the target logit or 1; the class-discriminative modes in contrast.ts). */
import { RulePlan } from '../plan/plan';
import { Tensor } from '../tensor';
import { DEFAULT_DUAL, DUAL_CLASSES, DualClass, SeedRequest, checkContrast, seedBlocks } from './contrast';
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
  /** the relevance at the explained output: `blocks` row blocks of [batch × width], block-major */
  relevance: Float32Array;
  /** the first block's sum per sample: the output relevance of the conservation summary */
  sums: number[];
  /** row blocks (contrast.ts: 2 for contrastive, one per contrast class, else 1) and each block's sums */
  blocks: number;
  blockSums: number[][];
  /** the first block's L1 norm per sample (Σ|seed|: |sum| for a one-hot seed), and each block's */
  norms: number[];
  blockNorms: number[][];
  /** contrastive: the dual class construction and whether the difference is clipped at 0 */
  dual?: DualClass;
  clip?: boolean;
  /** contrast: the class K of each block */
  contrast?: number[];
}

/** What besides the output relevance shapes the seed (ExplainOptions' contrast, dual and clip). */
export interface SeedExtras {
  contrast?: number | number[];
  dual?: DualClass;
  clip?: boolean;
  /** the explained output's width when wider than the logits (the negated dual class's head: 2 × classes) */
  width?: number;
}

const MODES: readonly OutputRelevance[] = ['logit', 'one', 'contrastive', 'softmax'];

/** The seed for `logits` (batch first): targets default to the predicted classes, the mode to the plan's. */
export function outputSeed(logits: Tensor & { data: Float32Array }, plan: RulePlan, target: number | number[] | undefined, outputRelevance: OutputRelevance | undefined, extras: SeedExtras = {}): Seed {
  const batch = logits.dims[0] ?? 1;
  const classes = logits.data.length / batch;
  const predictions = [...Array(batch).keys()].map((s) => argmax(logits.data.subarray(s * classes, (s + 1) * classes)));
  const targets = resolveTargets(target, predictions, classes);
  const mode = outputRelevance ?? defaultOutputRelevance(plan.mode);
  if (!MODES.includes(mode)) throw new ExplainError(`output relevance must be one of ${MODES.join(', ')}; got '${mode}'`);
  const request = seedRequest(mode, plan, classes, extras);
  const { blocks, sums, norms } = seedBlocks(logits.data, classes, targets, request, extras.width ?? classes);
  const relevance = new Float32Array(blocks.reduce((a, b) => a + b.length, 0));
  blocks.forEach((b, k) => relevance.set(b, k * b.length));
  const scores = targets.map((t, s) => logits.data[s * classes + t]);
  return {
    predictions, targets, scores, mode, relevance, sums: sums[0], blocks: blocks.length, blockSums: sums, norms: norms[0], blockNorms: norms,
    ...(mode === 'contrastive' ? { dual: request.dual, clip: extras.clip ?? true } : {}),
    ...(request.contrast ? { contrast: request.contrast } : {}),
  };
}

/** The seed request of a mode and its extras; refuses combinations that mean nothing. */
function seedRequest(mode: OutputRelevance, plan: RulePlan, classes: number, extras: SeedExtras): SeedRequest {
  const base = defaultOutputRelevance(plan.mode) as 'logit' | 'one';
  if (extras.dual !== undefined && mode !== 'contrastive') throw new ExplainError(`the dual class ('${extras.dual}') applies to the contrastive output relevance only, not '${mode}'`);
  if (extras.clip !== undefined && mode !== 'contrastive') throw new ExplainError(`clip applies to the contrastive output relevance only, not '${mode}'`);
  if (extras.dual !== undefined && !DUAL_CLASSES.includes(extras.dual)) throw new ExplainError(`dual class must be one of ${DUAL_CLASSES.join(', ')}; got '${extras.dual}'`);
  if (extras.contrast !== undefined) {
    if (mode === 'contrastive' || mode === 'softmax') throw new ExplainError(`a contrast class starts from the target minus class K, scaled as in the logit or one mode; it does not combine with the ${mode} output relevance`);
    return { mode: 'contrast', scale: mode as 'logit' | 'one', contrast: checkContrast(extras.contrast, classes) };
  }
  if (mode === 'contrastive') {
    if (classes < 2) throw new ExplainError('the contrastive output relevance needs at least 2 classes');
    return { mode, scale: base, dual: extras.dual ?? DEFAULT_DUAL };
  }
  if (mode === 'softmax') return { mode, scale: base };
  return { mode: 'plain', scale: mode };
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
