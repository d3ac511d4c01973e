/** Node-only: `audit --evaluate`, one audit input at a time (`evaluateInput`; the measuring itself is lib/evaluate). For every explained input and every
 * method, lib/evaluate's `measureMap` (the orchestrator `onnx-lrp evaluate` uses too) gives the AOPC per order;
 * an input with a ground-truth sidecar file (NAME.mask.npy or NAME.box.json beside NAME.png / NAME.npy) also
 * gets relevance mass accuracy and the pointing game. What is left here: 'black', sidecars, batching. */
import * as fs from 'fs';
import * as path from 'path';
import { Explainer } from '../explain';
import { checkDynamicBatch, dynamicBatch } from '../methods/dynamic-batch';
import { ClassSensitivity } from '../evaluate/class-sensitivity';
import { Box, Region } from '../evaluate/localization';
import { EvaluationError, EvaluationOptions, EvaluationSettings, TokenTruth, evaluationSettings as settingsOf, measureMap } from '../evaluate/measure';
import { RowTensor } from '../methods/batch';
import { tokenRelevance } from '../methods/tokens';
import { Order, Replacement } from '../evaluate/perturbation';
import { ImageInputOptions } from '../io/image';
import { readNpy } from '../node-io';
import { readJsonSafe } from '../safe-read';
import { Tensor, float32 } from '../tensor';
import { InputExplanation } from './input';

/** `audit({ evaluate })`: the settings of lib/evaluate's one orchestrator (`evaluationSettings`, the names and
 * defaults of `onnx-lrp evaluate`, except that only MoRF is run unless `orders` says otherwise); the replacement
 * may also be 'black', the lowest pixel value after the audit's preprocessing (its value range, mean and std). */
export interface AuditEvaluationOptions extends Omit<EvaluationOptions, 'replacement'> {
  replacement?: Replacement | 'black';
}

export { EvaluationError };
export type { EvaluationSettings };

/** One method's evaluation for one sample, kept in the input's record. */
export interface MethodEvaluation {
  /** per order: 1/(L+1) Σ_k (f(x⁰) − f(xᵏ)) for this sample */
  aopc: Partial<Record<Order, number>>;
  /** with a ground-truth mask or box: share of the positive (channel-summed) relevance inside (null: no positive relevance) */
  massAccuracy?: number | null;
  /** with a ground-truth mask or box: 1 when the map's maximum lies inside (within the tolerance), else 0 */
  pointingHit?: number;
  /** with boxes for two or more classes (NAME.box.json {"classes": …}): each class explained in turn */
  classSensitivity?: ClassSensitivity;
}

/** The pixel value of black after preprocessing: (lo − mean) / std, one number, or one per channel. */
export function blackReplacement(imageOptions: ImageInputOptions): number | number[] {
  const lo = imageOptions.valueRange?.[0] ?? 0;
  const mean = imageOptions.mean ?? [0], std = imageOptions.std ?? [1];
  const n = Math.max(mean.length, std.length);
  const v = [...Array(n).keys()].map((c) => (lo - (mean[mean.length === 1 ? 0 : c] ?? 0)) / (std[std.length === 1 ? 0 : c] ?? 1));
  return v.length === 1 ? v[0] : v;
}

/** `evaluate: true | {…}` → settings with defaults ('black' resolved to numbers); null when there is no evaluation. */
export function evaluationSettings(e: boolean | AuditEvaluationOptions | undefined, imageOptions: ImageInputOptions): EvaluationSettings | null {
  if (!e) return null;
  const o: AuditEvaluationOptions = e === true ? {} : e;
  return settingsOf({ ...o, replacement: o.replacement === 'black' ? blackReplacement(imageOptions) : o.replacement });
}

/** Ground-truth sidecar names for an input path: NAME.mask.npy and NAME.box.json beside NAME.EXT. */
export function sidecarsOf(file: string): { mask: string; box: string } {
  const stem = file.slice(0, file.length - path.extname(file).length);
  return { mask: `${stem}.mask.npy`, box: `${stem}.box.json` };
}

/** Drops ground-truth masks (NAME.mask.npy beside an input NAME.EXT) from a list of relative input paths. */
export function withoutSidecars(rels: string[]): string[] {
  const masks = new Set(rels.map((r) => sidecarsOf(r).mask.toLowerCase()));
  return rels.filter((r) => !masks.has(r.toLowerCase()));
}

/** The ground truth of an input: its NAME.mask.npy (a mask [H, W], [N, H, W] or [N, 1, H, W], non-zero inside, in
 * the model input's pixels) or NAME.box.json ([x0, y0, x1, y1] in the model input's pixels, x1/y1 exclusive; a
 * list of boxes, one per sample; {"box": …}; or {"classes": {"K": box, …}}, one box per class: the explained
 * target's box is its region, and with two or more classes the class sensitivity is measured); undefined when it
 * has none. */
export function readGroundTruth(file: string): GroundTruth | undefined {
  const { mask, box } = sidecarsOf(file);
  const hasMask = fs.existsSync(mask), hasBox = fs.existsSync(box);
  if (hasMask && hasBox) throw new EvaluationError(`${file}: both ${path.basename(mask)} and ${path.basename(box)} are there; keep one ground truth`);
  if (hasMask) {
    try {
      return { file: mask, region: readNpy(mask) };
    } catch (e) {
      const m = (e as Error).message;
      throw new EvaluationError(m.includes(mask) ? m : `${mask}: ${m}`);
    }
  }
  if (!hasBox) return undefined;
  let json: unknown;
  try {
    json = readJsonSafe(box, { what: 'ground-truth box' });
  } catch (e) {
    throw new EvaluationError((e as Error).message);
  }
  const isBox = (b: unknown): b is Box => Array.isArray(b) && b.length === 4 && b.every((v) => typeof v === 'number' && Number.isFinite(v));
  if (json && typeof json === 'object' && !Array.isArray(json) && 'classes' in json) {
    const c = (json as { classes: unknown }).classes;
    const entries = c && typeof c === 'object' && !Array.isArray(c) ? Object.entries(c) : [];
    if (!entries.length || entries.some(([k, b]) => !/^\d+$/.test(k) || !isBox(b))) {
      throw new EvaluationError(`${box}: "classes" must map class indices to boxes [x0, y0, x1, y1], e.g. {"classes": {"3": [0, 0, 28, 28]}}`);
    }
    return { file: box, classes: new Map(entries.map(([k, b]) => [Number(k), b as Box])) };
  }
  if (json && typeof json === 'object' && !Array.isArray(json) && 'box' in json) json = (json as { box: unknown }).box;
  if (isBox(json)) return { file: box, region: json };
  if (Array.isArray(json) && json.length && json.every(isBox)) return { file: box, region: json as Box[] };
  throw new EvaluationError(`${box}: expected a box [x0, y0, x1, y1] in pixels of the model input, a list of boxes (one per sample), {"box": …} or {"classes": {"K": box, …}}`);
}

/** An input's ground truth: one region for whatever is explained, or one box per class. */
export interface GroundTruth {
  file: string;
  region?: Region;
  classes?: ReadonlyMap<number, Box>;
}

/** The region a result is scored against: the ground truth's region, or the boxes of its targets' classes
 * (undefined when a target has none). */
export function regionFor(truth: GroundTruth | undefined, targets: number[]): Region | undefined {
  if (!truth?.classes) return truth?.region;
  const boxes = targets.map((t) => truth.classes!.get(t));
  return boxes.every((b): b is Box => !!b) ? boxes : undefined;
}

/** A copy of `explainer` that runs batches when its graph has a fixed batch of 1 (lib/evaluate's
 * `dynamicBatch`), or `explainer` itself; `check` compares a batch against single runs once. */
export function batchedExplainer(explainer: Explainer): { explainer: Explainer; actions: string[]; check: (x: Tensor & { data: Float32Array | BigInt64Array }) => Promise<void> } {
  const { graph, actions } = dynamicBatch(explainer.graph);
  if (!actions.length) return { explainer, actions, check: async () => undefined };
  const derived = explainer.derive(graph, explainer.source);
  let checked = false;
  return {
    explainer: derived, actions,
    check: async (x) => {
      if (checked) return;
      const per = x.data.length / (x.dims[0] ?? 1);
      if (x.data instanceof BigInt64Array) { // token ids: the ids, and the same ids in reverse order
        const two = new BigInt64Array(2 * per);
        two.set(x.data.subarray(0, per));
        for (let i = 0; i < per; i++) two[per + i] = two[per - 1 - i];
        await checkDynamicBatch(explainer, derived, { dtype: x.dtype, dims: [2, ...x.dims.slice(1)], data: two });
      } else {
        const two = new Float32Array(2 * per);
        two.set(x.data.subarray(0, per));
        for (let i = 0; i < per; i++) two[per + i] = 0.5 * two[i];
        await checkDynamicBatch(explainer, derived, float32([2, ...x.dims.slice(1)], two));
      }
      checked = true;
    },
  };
}

/** Evaluates every method's map of one explained input with lib/evaluate's `measureMap`: `result[sample][method]`.
 * The perturbation explains the classes the methods explained (their targets); `perturber` runs the perturbed
 * copies (batched). */
export async function evaluateInput(perturber: Explainer, ie: InputExplanation, settings: EvaluationSettings, truth?: GroundTruth): Promise<MethodEvaluation[][]> {
  const x = ie.input.tensor;
  const tokens = ie.input.tokens;
  if (!tokens && x.dims.length !== 4) throw new EvaluationError(`${ie.input.file}: region perturbation needs an image-shaped input [N, C, H, W]; got [${x.dims.join('x')}]`);
  const N = x.dims[0];
  let s = settings, tokenTruth: TokenTruth | undefined;
  if (tokens) { // token deletion: the replacement is a token id (default: the padding token's); special tokens stay
    const rep = typeof settings.replacement === 'number' ? settings.replacement : ie.input.padId;
    if (rep === undefined) throw new EvaluationError(`${ie.input.file}: token deletion needs a replacement token id (--replacement ID; the model's vocabulary has no pad token)`);
    const special = new Set(ie.input.specialTokens ?? []);
    s = { ...settings, replacement: rep };
    tokenTruth = { keep: tokens.map((row) => row.flatMap((t, k) => (special.has(t) ? [k] : []))) };
  }
  const out: MethodEvaluation[][] = [...Array(N).keys()].map(() => ie.results.map(() => ({ aopc: {} })));
  for (const [m, res] of ie.results.entries()) {
    const rel = tokens ? float32([N, x.dims[1]], Array.from({ length: N }, (_, k) => Array.from(tokenRelevance(res.relevance, k))).flat()) : res.relevance;
    const r = await measureMap(perturber, x as RowTensor, rel, res.targets, s, regionFor(truth, res.targets), truth?.file ?? ie.input.file, tokenTruth);
    for (const [order, c] of Object.entries(r.curves)) c!.aopcPerSample.forEach((a, s) => { out[s][m].aopc[order as Order] = a; });
    r.localization?.massAccuracy.forEach((v, s) => { out[s][m].massAccuracy = Number.isNaN(v) ? null : v; });
    r.localization?.pointingHits.forEach((v, s) => { out[s][m].pointingHit = v; });
  }
  return out;
}
