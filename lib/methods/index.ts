/** One entry point for every attribution: the baseline methods (METHODS) and every LRP composite (delegated to
 * `Explainer.explain`). Every result is a map shaped like the input, so the heatmap and grid code work
 * unchanged. Browser-safe. */
import { DualClass, Explainer, Explanation, OutputRelevance } from '../explain';
import { COMPOSITE_NAMES, CompositeOptions } from '../plan/composites';
import { RuleMap } from '../plan/plan';
import { Tensor, float32 } from '../tensor';
import { isTokenTensor } from '../io/tokenize';
import { blankMapWarnings } from '../warnings';
import { RowProgress } from './batch';
import { cam, gradCam } from './cam';
import { GRADIENT_COMPOSITES, GradientComposite, Integration, gradientOf, integratedGradients, smoothGrad } from './gradient';
import { occlusion } from './occlusion';
import { attentionRollout } from './rollout';
import { tokenIntegratedGradients } from './token-ig';
import { F32Tensor, predictRows, prng, resolveTargets, toF32Tensor } from './util';

export interface AttributeOptions {
  /** a METHODS name or an LRP composite name (COMPOSITE_NAMES) */
  method: string;
  /** one class, or one per sample; default: the predicted class */
  target?: number | number[];
  /** LRP composites and rule maps: 'logit' (default) or 'one'. gradient, gradient_x_input, guided_backprop,
   * deconvnet: 'one' (default: the plain gradient, as in Captum and Zennit) or 'logit'. Ignored by the other
   * methods. The result says which was used and whether it was the default. */
  outputRelevance?: OutputRelevance;
  /** LRP and the gradient family, with outputRelevance 'contrastive': the dual class ('others', default, or
   * 'negated') and whether to clip the difference at 0 (default true); see lib/explain/contrast.ts */
  dual?: DualClass;
  clip?: boolean;
  /** LRP and the gradient family: "why the target and not K" (one class here; explainInput runs several) */
  contrast?: number;
  /** LRP: rule parameters (epsilon, gamma, low/high …) and an optional user rule map */
  options?: CompositeOptions;
  ruleMap?: RuleMap;
  /** LRP and single-pass gradient methods: keep every value's relevance (Explanation.values) */
  keepAll?: boolean;
  /** smoothgrad: noisy copies (default 16), σ as a fraction of the input range (default 0.15), averaged map
   * (default 'gradient') */
  samples?: number;
  noise?: number;
  base?: GradientComposite;
  /** smoothgrad noise, random map (default 0) */
  seed?: number;
  /** integrated_gradients: baseline (tensor or constant, default 0), steps (default 32), rule (default trapezoid).
   * Token ids: the path runs in embedding space (./token-ig.ts); the baseline is then a token id at every
   * position (the CLI's default: the padding token, `padTokenId`), reference ids [T] or [N, T], or an embedding
   * [T, D] or [N, T, D]; default zeros */
  baseline?: Tensor | number;
  steps?: number;
  integration?: Integration;
  /** occlusion: patch (default 4), stride (default: the patch), fill value (default 0, or one per channel) */
  patch?: number | [number, number];
  stride?: number | [number, number];
  fill?: number | number[];
  /** gradcam: node or value name (default: the activation after the last Conv) */
  layer?: string;
  /** rows per explain / onnxruntime call for the batched methods (a model with a fixed batch: see rowRunner) */
  batchSize?: number;
  /** the batched methods (smoothgrad, integrated_gradients, occlusion, gradcam, the gradients of a batch): rows
   * done of the total, at the start and after each chunk */
  onProgress?: RowProgress;
}

export interface Attribution {
  method: string;
  /** the map, shaped like the input */
  relevance: F32Tensor;
  predictions: number[];
  targets: number[];
  /** the target logits of the input */
  scores: number[];
  /** LRP composites and single-pass gradient methods: the full explanation (plan, conservation …) */
  explanation?: Explanation;
  /** LRP and the gradient family: the output relevance used, and whether it was the default (not asked for) */
  outputRelevance?: OutputRelevance;
  outputRelevanceDefault?: boolean;
  /** contrastive: the dual class and whether the difference was clipped; a contrast: its class K */
  dual?: DualClass;
  clipped?: boolean;
  contrast?: number;
  /** method-specific facts: IG completeness, the CAM / Grad-CAM layer, … */
  details?: Record<string, unknown>;
  /** maps that vanish (exactly 0, or for LRP ≥ 99% absorbed), with the cause and a remedy */
  warnings: string[];
}

type Run = (explainer: Explainer, x: F32Tensor, o: AttributeOptions, targets: number[]) => Promise<{
  relevance: F32Tensor; explanation?: Explanation; details?: Record<string, unknown>; outputRelevance?: OutputRelevance; outputRelevanceDefault?: boolean;
  dual?: DualClass; clipped?: boolean; contrast?: number;
}>;

/** The output relevance options of `o` (outputRelevance, dual, clip, contrast) that are set. */
export function seedOptions(o: Pick<AttributeOptions, 'outputRelevance' | 'dual' | 'clip' | 'contrast'>): Pick<AttributeOptions, 'outputRelevance' | 'dual' | 'clip' | 'contrast'> {
  const out: Pick<AttributeOptions, 'outputRelevance' | 'dual' | 'clip' | 'contrast'> = {};
  if (o.outputRelevance !== undefined) out.outputRelevance = o.outputRelevance;
  if (o.dual !== undefined) out.dual = o.dual;
  if (o.clip !== undefined) out.clip = o.clip;
  if (o.contrast !== undefined) out.contrast = o.contrast;
  return out;
}

/** What an explanation records of its seed: the output relevance, the dual class, clipping, the contrast class. */
export function seedFacts(e: Explanation): Pick<Attribution, 'outputRelevance' | 'outputRelevanceDefault' | 'dual' | 'clipped' | 'contrast'> {
  return {
    outputRelevance: e.outputRelevance, outputRelevanceDefault: e.outputRelevanceDefault,
    ...(e.dual !== undefined ? { dual: e.dual, clipped: e.clipped } : {}), ...(e.contrast !== undefined ? { contrast: e.contrast } : {}),
  };
}

/** An entry of the METHODS registry: an algorithm (its name, parameters, code). Internal: not exported from
 * lib/index.ts; a `Method` (./run.ts, the public method type) names an entry by `attribution`. */
export interface MethodEntry {
  name: string;
  description: string;
  /** option names the method reads (besides target) */
  params: readonly (keyof AttributeOptions)[];
  /** 4-D [N, C, H, W] input needed */
  spatial?: boolean;
  /** needs attention blocks (transformers) */
  attention?: boolean;
  /** why the method does not apply to token ids (undefined: it does) */
  notOnTokens?: string;
  run: Run;
}

/** The gradient family: one definition each, the explainer's composite of the same name (lib/plan/composites.ts),
 * run by `gradientOf`; `attribute` and `runMethod` send the composite's name here too. */
const single = (composite: GradientComposite): Run => (explainer, x, o, targets) => gradientOf(explainer, x, composite, targets, o);

/** The baseline methods. Every LRP composite name is accepted by `attribute` as well. */
export const METHODS: Readonly<Record<string, MethodEntry>> = {
  gradient: { name: 'gradient', description: 'saliency: d logit_target / d input', params: ['outputRelevance', 'dual', 'clip', 'contrast', 'keepAll', 'batchSize'], run: single('gradient') },
  gradient_x_input: { name: 'gradient_x_input', description: 'gradient × input', params: ['outputRelevance', 'dual', 'clip', 'contrast', 'keepAll', 'batchSize'], run: single('gradient_x_input') },
  guided_backprop: { name: 'guided_backprop', description: 'guided backpropagation (Springenberg et al. 2015)', params: ['outputRelevance', 'dual', 'clip', 'contrast', 'keepAll', 'batchSize'], run: single('guided_backprop') },
  deconvnet: { name: 'deconvnet', description: 'deconvnet (Zeiler & Fergus 2014)', params: ['outputRelevance', 'dual', 'clip', 'contrast', 'keepAll', 'batchSize'], run: single('deconvnet') },
  smoothgrad: {
    name: 'smoothgrad', description: 'SmoothGrad (Smilkov et al. 2017): gradient averaged over noisy copies', params: ['samples', 'noise', 'seed', 'base', 'batchSize'],
    notOnTokens: 'it adds Gaussian noise to the input, and token ids take no noise (SmoothGrad in embedding space is not implemented); integrated_gradients and gradient_x_input run on tokens',
    run: async (e, x, o, targets) => ({ relevance: await smoothGrad(e, x, { ...o, targets }), details: { samples: o.samples ?? 16, noise: o.noise ?? 0.15, seed: o.seed ?? 0 } }),
  },
  integrated_gradients: {
    name: 'integrated_gradients', description: 'Integrated Gradients (Sundararajan et al. 2017)', params: ['baseline', 'steps', 'integration', 'batchSize'],
    run: async (e, x, o, targets) => {
      if (isTokenTensor(x)) {
        const t = await tokenIntegratedGradients(e, x, { ...o, targets });
        return { relevance: t.relevance, details: { steps: o.steps ?? 32, integration: o.integration ?? 'trapezoid', space: 'embedding', baseline: t.baseline, sums: t.sums, delta: t.delta } };
      }
      const r = await integratedGradients(e, x, { ...o, targets });
      return { relevance: r.relevance, details: { steps: o.steps ?? 32, integration: o.integration ?? 'trapezoid', sums: r.sums, delta: r.delta } };
    },
  },
  occlusion: {
    name: 'occlusion', description: 'occlusion (Zeiler & Fergus 2014): mean drop of the target logit under a sliding patch', params: ['patch', 'stride', 'fill', 'batchSize'], spatial: true, notOnTokens: 'it needs a 4-D image input [N, C, H, W] (patches of pixels)',
    run: async (e, x, o, targets) => ({ relevance: await occlusion(e, x, { ...o, targets }), details: { patch: o.patch ?? 4, stride: o.stride ?? o.patch ?? 4, fill: o.fill ?? 0 } }),
  },
  cam: {
    name: 'cam', description: 'CAM (Zhou et al. 2016): class-weighted sum of the feature maps before global average pooling', params: [], spatial: true, notOnTokens: 'it needs a 4-D image input [N, C, H, W] (feature maps before global average pooling)',
    run: async (e, x, _o, targets) => {
      const r = await cam(e, x, { targets });
      return { relevance: r.relevance, details: { layer: r.layer, size: r.size } };
    },
  },
  gradcam: {
    name: 'gradcam', description: 'Grad-CAM (Selvaraju et al. 2017) at a 4-D activation (default: after the last Conv)', params: ['layer', 'batchSize'], spatial: true, notOnTokens: 'it needs a 4-D image input [N, C, H, W] (a 4-D activation)',
    run: async (e, x, o, targets) => {
      const r = await gradCam(e, x, { targets, layer: o.layer, batchSize: o.batchSize, onProgress: o.onProgress });
      return { relevance: r.relevance, details: { layer: r.layer, size: r.size } };
    },
  },
  attention_rollout: {
    name: 'attention_rollout', description: 'attention rollout (Abnar & Zuidema 2020): head-averaged attention plus identity, multiplied through the blocks, class-token row (transformers; class-agnostic)', params: [], attention: true,
    run: async (e, x) => {
      const r = await attentionRollout(e, x);
      return { relevance: r.relevance, details: { layers: r.layers, tokens: r.tokens, row: r.row } };
    },
  },
  random: {
    name: 'random', description: 'uniform random map in [0, 1) (seeded): the baseline every method must beat', params: ['seed'],
    run: async (_e, x, o) => {
      const rng = prng(o.seed ?? 0);
      return { relevance: float32(x.dims, Float32Array.from(x.data, () => rng())) };
    },
  },
};

export const METHOD_NAMES = Object.keys(METHODS);

/** Every name `attribute` accepts: the LRP composites (not the gradient ones, which METHODS has), then METHODS. */
export const ATTRIBUTION_NAMES: readonly string[] = [
  ...COMPOSITE_NAMES.filter((c) => !(GRADIENT_COMPOSITES as readonly string[]).includes(c)), ...METHOD_NAMES,
];

export function isLrpComposite(name: string): boolean {
  return COMPOSITE_NAMES.includes(name) && !(name in METHODS);
}

/** Why method `name` does not apply to token-id inputs (a message naming it), or undefined when it does (LRP
 * composites, the gradient composites, integrated_gradients, attention_rollout, random). */
export function notOnTokens(name: string): string | undefined {
  const why = METHODS[name]?.notOnTokens;
  return why ? `method ${name} does not apply to token ids: ${why}` : undefined;
}

/** Attributes the model's output for `input` (one tensor, batch first) with a method or an LRP composite. */
export async function attribute(explainer: Explainer, input: Tensor, opts: AttributeOptions): Promise<Attribution> {
  const x = isTokenTensor(input) ? (input as F32Tensor) : toF32Tensor(input); // token ids pass as they are (only methods that read them run)
  const name = opts.method;
  if (isLrpComposite(name) || (opts.ruleMap && !(name in METHODS))) {
    const e = await explainer.explain(x, {
      composite: opts.ruleMap ? undefined : name, ruleMap: opts.ruleMap, options: opts.options, target: opts.target,
      ...seedOptions(opts), keepAll: opts.keepAll,
    });
    return {
      method: name, relevance: e.relevance, predictions: e.predictions, targets: e.targets, scores: e.scores, explanation: e,
      ...seedFacts(e), warnings: e.warnings,
    };
  }
  const def = METHODS[name];
  if (!def) throw new Error(`unknown method '${name}'; known: ${ATTRIBUTION_NAMES.join(', ')}`);
  if (isTokenTensor(x) && def.notOnTokens) throw new Error(`${explainer.source}: ${notOnTokens(name)}`);
  if (def.spatial && x.dims.length !== 4) throw new Error(`${explainer.source}: method ${name} needs a 4-D input [N, C, H, W]; got shape [${x.dims.join('x')}]`);
  const t = resolveTargets(await predictRows(explainer, x, 64), opts.target);
  const r = await def.run(explainer, x, opts, t.targets);
  const warnings = r.explanation && r.explanation.relevance === r.relevance ? r.explanation.warnings : blankMapWarnings(name, r.relevance.data, t.targets.length);
  return {
    method: name, relevance: r.relevance, predictions: t.predictions, targets: t.targets, scores: t.scores, explanation: r.explanation, details: r.details,
    ...(r.outputRelevance ? { outputRelevance: r.outputRelevance, outputRelevanceDefault: r.outputRelevanceDefault } : {}),
    ...(r.dual !== undefined ? { dual: r.dual, clipped: r.clipped } : {}), ...(r.contrast !== undefined ? { contrast: r.contrast } : {}), warnings,
  };
}

export { cam, gradCam, findCamHead, defaultGradCamLayer, resolveLayer, CamError } from './cam';
export type { CamHead, CamResult } from './cam';
export { gradientOf, smoothGrad, integratedGradients, quadrature, baselineFor, GRADIENT_COMPOSITES, INTEGRATIONS } from './gradient';
export type { GradientComposite, Integration, SmoothGradOptions, IntegratedGradientsOptions } from './gradient';
export { occlusion, windowStarts } from './occlusion';
export { attentionRollout, attentionSoftmaxes, rolloutMatrix, RolloutError } from './rollout';
export { tokenInputOf, encodeTexts, tokenIds, tokenRelevance, specialPositions, padTokenId, embeddingGather } from './tokens';
export { tokenIntegratedGradients, embeddingCut } from './token-ig';
export type { EmbeddingCut } from './token-ig';
export type { TokenInput, TokenBatch } from './tokens';
export type { OcclusionOptions } from './occlusion';
export { rowRunner, chunkSize } from './batch';
export type { RowRunner, RowProgress } from './batch';
export { prng, gaussian, permutation, upsampleBilinear, channelSum, resolveTargets } from './util';
