/** Node-only: the files written for one explained input (heatmap and overlay PNGs, .npy relevance, a
 * comparison grid, and a JSON record written last), every one atomically. */
import * as path from 'path';
import { DualClass, OutputRelevance } from '../explain';
import { ImageInputOptions } from '../io/image';
import { encodeNpy } from '../io/npy';
import { CompositeOptions } from '../plan/composites';
import { ComparisonRow, comparisonGrid } from '../render/compare';
import { RenderOptions, renderRelevance, sliceSample } from '../render/display';
import { RGBAImage, encodePng, grid, textHeatmapPng } from '../render/jimp';
import { TextHeatmapOptions } from '../render/text';
import { tokenRelevance } from '../methods/tokens';
import type { MethodEvaluation } from './evaluate-input';
import { InputExplanation } from './input';
import { MethodResult } from '../methods/run';
import { writeFileAtomic } from './files';

export interface ConservationRecord {
  /** relevance put at the output (the target logit, or 1) */
  outputRelevance: number;
  /** Σ relevance at the input */
  inputRelevance: number;
  /** (output − input) / |output|: the share absorbed by biases and stabilisers (LRP; null for gradient methods
   * and baselines, which make no conservation claim) */
  absorbed: number | null;
  /** the node whose own |absorbed| share is largest */
  worstNode?: { node: string; op: string; rule: string; absorbed: number };
}

export interface MethodRecord {
  title: string;
  /** the LRP composite (or rule map's base composite), or the baseline method's name */
  composite: string;
  /** no composite was asked for: why the model got this one (lib/plan/default.ts) */
  compositeReason?: string;
  /** 'lrp', 'gradient', 'gradient_x_input', or 'attribution' (a lib/methods baseline) */
  mode: string;
  /** rule parameters (epsilon, gamma, low/high, zeroBias …), or the baseline's parameters */
  options: CompositeOptions | Record<string, unknown>;
  ruleMap: boolean;
  /** node → rule and its parameters (empty for baselines without a rule plan) */
  rules: { node: string; op: string; rule: string; params: Record<string, unknown>; source: string }[];
  /** the relevance started at the output (LRP and the gradient family: 'logit' or 'one'; null for methods that
   * take no output relevance) and whether it was the method's default rather than asked for */
  outputRelevance: OutputRelevance | null;
  outputRelevanceDefault: boolean | null;
  /** contrastive: the dual class ('others' or 'negated') and whether the difference was clipped at 0 */
  dual?: DualClass;
  clipped?: boolean;
  /** "why the target and not K": the class K */
  contrast?: number;
  /** relevance put in and found at the input; `absorbed` is null for baselines (no conservation to speak of) */
  conservation: ConservationRecord;
  /** baseline facts (CAM layer, IG completeness …) */
  details?: Record<string, unknown>;
  /** written files, relative to the record's folder */
  files: { heatmap?: string; overlay?: string; relevance?: string };
  /** the map vanishes (exactly 0, or for LRP ≥ 99% absorbed): why, and the remedy */
  warnings?: string[];
  /** audits with evaluation: AOPC per perturbation order, and localisation with a ground truth */
  evaluation?: MethodEvaluation;
  /** token inputs: relevance per token (in the order of the sample's `tokens`) */
  tokenRelevance?: number[];
}

export interface SampleRecord {
  sample: number;
  prediction: number;
  predictionLabel?: string;
  target: number;
  targetLabel?: string;
  /** logit of the target */
  score: number;
  files: { input?: string; grid?: string };
  methods: MethodRecord[];
  /** token inputs: the token strings, padding included */
  tokens?: string[];
}

export interface ExplanationRecord {
  version: 1;
  model: string;
  input: string;
  kind: 'image' | 'npy' | 'tokens';
  inputShape: number[];
  preprocessing?: ImageInputOptions;
  /** the output relevance asked for, or 'default' (each method its own: 'logit' for LRP, 'one' for the gradient
   * family); what each method used is in samples[].methods[].outputRelevance */
  outputRelevance: OutputRelevance | 'default';
  samples: SampleRecord[];
  /** set by audits: what the record was made from (rerun skips it when unchanged) */
  fingerprint?: string;
  /** audits with evaluation: the ground-truth sidecar file used (NAME.mask.npy or NAME.box.json), as given */
  groundTruth?: string;
  /** an input that could not be explained */
  error?: string;
  /** token inputs: the padding token (left out of heatmaps) */
  padToken?: string;
}

export interface WriteOptions {
  /** model path as recorded */
  model: string;
  labels?: string[];
  render?: RenderOptions;
  /** comparison grid: default when there are several methods */
  grid?: boolean;
  /** .npy relevance: default true */
  npy?: boolean;
  /** PNGs (input, heatmap, overlay): default true */
  images?: boolean;
  /** input name recorded (default the input's file) */
  inputName?: string;
  fingerprint?: string;
  /** evaluation results per sample and method (in the order of the explanation's results) */
  evaluation?: MethodEvaluation[][];
  /** the ground-truth file recorded */
  groundTruth?: string;
}

/** Safe file-name part for a method title. */
export function slug(title: string): string {
  return title.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^[._]+/, '') || 'method';
}

const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(3));

/** The warnings of sample `s` (those of a batch are prefixed 'sample s: '). */
function sampleWarnings(r: MethodResult, s: number): { warnings?: string[] } {
  const all = r.warnings ?? [];
  const mine = r.targets.length > 1 ? all.filter((w) => w.startsWith(`sample ${s}: `)).map((w) => w.slice(`sample ${s}: `.length)) : all;
  return mine.length ? { warnings: mine } : {};
}

/** Relevance in and out; the absorbed share only where the rules claim conservation (LRP): a gradient map's
 * sum is not a share of the logit. */
function conservationOf(r: MethodResult, s: number): ConservationRecord {
  const e = r.explanation;
  if (!e || e.plan.mode !== 'lrp') {
    let sum = 0;
    const rel = sliceSample(r.relevance, s).data;
    for (let i = 0; i < rel.length; i++) sum += rel[i];
    return { outputRelevance: r.scores[s], inputRelevance: sum, absorbed: null };
  }
  let worst: ConservationRecord['worstNode'];
  for (const n of e.conservation.nodes) {
    const a = n.absorbed[s];
    if (Number.isFinite(a) && (!worst || Math.abs(a) > Math.abs(worst.absorbed))) worst = { node: n.node, op: n.op, rule: n.rule, absorbed: a };
  }
  return { outputRelevance: e.conservation.outputRelevance[s], inputRelevance: e.conservation.inputRelevance[s], absorbed: e.conservation.absorbed[s], worstNode: worst };
}

/** Cell size (longer side, pixels) of comparison grids written by writeInputFiles and the CLI, unless the render
 * options' displaySize says otherwise. */
export const GRID_CELL = 140;

function columnCaption(res: MethodResult, s: number, labels?: string[]): string {
  const c = conservationOf(res, s);
  const t = res.targets[s];
  return `${labels?.[t] ?? `class ${t}`} ${fmt(res.scores[s])}\nsum ${fmt(c.inputRelevance)}${c.absorbed === null ? '' : ` (${(100 * c.absorbed).toFixed(0)}% absorbed)`}`;
}

/** One comparison-grid row per sample of an explained input: the source image (captioned with the predicted
 * class and its logit) and one column per method (captioned with the explained class, its score and the
 * relevance sum). Give them to `comparisonGrid`, alone or with other inputs' rows. */
export function comparisonRows(ie: InputExplanation, labels?: string[], title?: string): ComparisonRow[] {
  const first = ie.results[0];
  const n = first.targets.length;
  const logits = ie.results.find((r) => r.explanation)?.explanation?.output;
  return first.targets.map((_, s) => {
    const view = ie.input.views[s] ?? {};
    const p = first.predictions[s];
    const logit = logits ? ` ${fmt(logits.data[s * (logits.data.length / n) + p])}` : '';
    return {
      image: view.source, region: view.region, caption: `${labels?.[p] ?? `class ${p}`}${logit}\n(prediction)`,
      title: title === undefined ? undefined : n > 1 ? `${title} #${s}` : title,
      columns: ie.results.map((res) => ({ title: res.method.title, relevance: sliceSample(res.relevance, s), caption: columnCaption(res, s, labels) })),
    };
  });
}

/** Text heatmap options from the render options; the padding token is not drawn. */
export function textOptions(render: RenderOptions, input: { padToken?: string }): TextHeatmapOptions {
  return { colormap: render.colormap, normalization: render.normalization, percentile: render.percentile, hide: input.padToken ? [input.padToken] : [] };
}

/** The comparison grid of a token input: one text heatmap per method, one under the other, titled. */
export async function tokenGrid(tokens: string[], methods: { title: string; relevance: ArrayLike<number> }[], opts: TextHeatmapOptions): Promise<RGBAImage> {
  const cells = await Promise.all(methods.map(async (m) => [{ image: await textHeatmapPng(tokens, m.relevance, opts) }]));
  return grid(cells, { rowTitles: methods.map((m) => m.title), fontSize: 12 });
}

/** Writes `<stem>[-s].input.png`, `<stem>[-s].<method>.{heatmap.png,overlay.png,relevance.npy}`,
 * `<stem>[-s].grid.png` (several methods) into `dir`, then `<stem>.record.json`; returns the record. */
export async function writeInputFiles(dir: string, stem: string, ie: InputExplanation, opts: WriteOptions): Promise<ExplanationRecord> {
  const { input, results } = ie;
  const first = results[0];
  const n = first.targets.length;
  const wantGrid = opts.grid ?? results.length > 1, wantNpy = opts.npy ?? true, wantImages = opts.images ?? true;
  const render = { ...opts.render, layout: opts.render?.layout ?? input.imageOptions.layout };
  const label = (k: number) => opts.labels?.[k];
  const samples: SampleRecord[] = [];
  const rows = wantGrid && wantImages ? comparisonRows(ie, opts.labels) : [];
  for (let s = 0; s < n; s++) {
    const base = n > 1 ? `${stem}-${s}` : stem;
    const view = input.views[s] ?? {};
    const target = first.targets[s], score = first.scores[s];
    const rec: SampleRecord = {
      sample: s, prediction: first.predictions[s], predictionLabel: label(first.predictions[s]), target, targetLabel: label(target), score, files: {}, methods: [],
    };
    for (const res of results) {
      const { method, explanation: e } = res;
      const rel = sliceSample(res.relevance, s);
      const files: MethodRecord['files'] = {};
      const name = `${base}.${slug(method.title)}`;
      const tokens = input.tokens?.[s];
      if (wantImages && tokens) {
        files.heatmap = `${name}.heatmap.png`;
        await writeFileAtomic(path.join(dir, files.heatmap), await encodePng(await textHeatmapPng(tokens, tokenRelevance(res.relevance, s), textOptions(render, input))));
      } else if (wantImages) {
        const r = renderRelevance(rel, view, render);
        if (r.input && !rec.files.input) {
          rec.files.input = `${base}.input.png`;
          await writeFileAtomic(path.join(dir, rec.files.input), await encodePng(r.input));
        }
        files.heatmap = `${name}.heatmap.png`;
        await writeFileAtomic(path.join(dir, files.heatmap), await encodePng(r.heatmap));
        if (r.overlay) {
          files.overlay = `${name}.overlay.png`;
          await writeFileAtomic(path.join(dir, files.overlay), await encodePng(r.overlay));
        }
      }
      if (wantNpy) {
        files.relevance = `${name}.relevance.npy`;
        await writeFileAtomic(path.join(dir, files.relevance), encodeNpy(rel));
      }
      const c = conservationOf(res, s);
      rec.methods.push({
        title: method.title, composite: method.attribution ?? e?.plan.composite ?? method.title, ...compositeReasonOf(res), mode: method.attribution ? 'attribution' : e?.plan.mode ?? 'lrp',
        options: method.attribution ? { ...method.attributionOptions } : e?.plan.options ?? {}, ruleMap: !!method.ruleMap,
        rules: (e?.plan.entries ?? []).map((p) => ({
          node: p.node, op: p.op, rule: p.rule, source: p.source,
          params: Object.fromEntries(Object.entries(p.params).filter(([, x]) => x !== undefined && x !== false)),
        })),
        outputRelevance: res.outputRelevance ?? null, outputRelevanceDefault: res.outputRelevanceDefault ?? null,
        ...(res.dual !== undefined ? { dual: res.dual, clipped: res.clipped } : {}), ...(res.contrast !== undefined ? { contrast: res.contrast } : {}),
        conservation: c, details: res.details, files, evaluation: opts.evaluation?.[s]?.[results.indexOf(res)],
        ...sampleWarnings(res, s), ...(tokens ? { tokenRelevance: Array.from(tokenRelevance(res.relevance, s)) } : {}),
      });
    }
    if (input.tokens?.[s]) rec.tokens = input.tokens[s];
    if (wantGrid && wantImages && input.tokens?.[s]) {
      rec.files.grid = `${base}.grid.png`;
      await writeFileAtomic(path.join(dir, rec.files.grid), await encodePng(await tokenGrid(input.tokens[s], results.map((r) => ({ title: r.method.title, relevance: tokenRelevance(r.relevance, s) })), textOptions(render, input))));
    } else if (wantGrid && wantImages) {
      rec.files.grid = `${base}.grid.png`;
      const g = await comparisonGrid([rows[s]], { ...render, displaySize: undefined, cellSize: render.displaySize ?? GRID_CELL });
      await writeFileAtomic(path.join(dir, rec.files.grid), await encodePng(g));
    }
    samples.push(rec);
  }
  const record: ExplanationRecord = {
    version: 1, model: opts.model, input: opts.inputName ?? input.file, kind: input.kind, inputShape: [...input.tensor.dims],
    preprocessing: input.kind === 'image' ? input.imageOptions : undefined, outputRelevance: ie.outputRelevance ?? 'default', samples,
    fingerprint: opts.fingerprint, groundTruth: opts.groundTruth, ...(input.padToken ? { padToken: input.padToken } : {}),
  };
  await writeFileAtomic(path.join(dir, `${stem}.record.json`), JSON.stringify(record, null, 2));
  return record;
}

/** `{ compositeReason }` when the composite was the model's default (the method's, or the plan's when the
 * library was called without one), else nothing. */
function compositeReasonOf(r: MethodResult): { compositeReason?: string } {
  const reason = r.method.compositeReason ?? r.explanation?.plan.compositeReason;
  return reason ? { compositeReason: reason } : {};
}

/** The JSON record of one method's result on one input (`onnx-lrp explain --json`). */
export interface ResultRecord {
  model: string;
  input: string;
  /** the plan's composite (or the method's title), and its options (or the method's parameters) */
  composite: string;
  /** no composite was asked for: why the model got this one (lib/plan/default.ts) */
  compositeReason?: string;
  options: Record<string, unknown>;
  outputRelevance: string | null;
  outputRelevanceDefault: boolean | null;
  /** contrastive: the dual class and whether the difference was clipped; a contrast: its class K */
  dual?: DualClass;
  clipped?: boolean;
  contrast?: number;
  samples: {
    prediction: number; predictionLabel?: string; target: number; targetLabel?: string; score: number;
    relevanceIn?: number; relevanceAtInput?: number; absorbed: number | null | undefined;
  }[];
  relevanceFile: string | null;
  plan: unknown[] | null;
  conservation: unknown[] | null;
  details?: Record<string, unknown>;
  warnings: string[];
  /** token inputs: per sample the token strings (padding included), and the relevance per token */
  tokens?: string[][];
  tokenRelevance?: number[][];
}

/** The record of `r` (a result of `explainInput`) for `input` of `model`; `relevanceFile`: where its map was written;
 * `tokens`: a token input's strings per sample (the record then has the relevance per token too). */
export function resultRecord(r: MethodResult, info: { model: string; input: string; labels?: readonly string[]; relevanceFile?: string; tokens?: string[][] }): ResultRecord {
  const e = r.explanation;
  const labels = info.labels;
  return {
    model: info.model, input: info.input, composite: e?.plan.composite ?? r.method.title, ...compositeReasonOf(r),
    options: (e?.plan.options ?? r.method.attributionOptions ?? {}) as Record<string, unknown>,
    outputRelevance: r.outputRelevance ?? null, outputRelevanceDefault: r.outputRelevanceDefault ?? null,
    ...(r.dual !== undefined ? { dual: r.dual, clipped: r.clipped } : {}), ...(r.contrast !== undefined ? { contrast: r.contrast } : {}),
    samples: r.targets.map((t, s) => ({
      prediction: r.predictions[s], predictionLabel: labels?.[r.predictions[s]],
      target: t, targetLabel: labels?.[t], score: r.scores[s],
      relevanceIn: e?.conservation.outputRelevance[s], relevanceAtInput: e?.conservation.inputRelevance[s], absorbed: e?.plan.mode === 'lrp' ? e.conservation.absorbed[s] : null,
    })),
    relevanceFile: info.relevanceFile ?? null,
    plan: e?.plan.entries ?? null,
    conservation: e?.conservation.nodes ?? null,
    details: r.details,
    warnings: r.warnings,
    ...(info.tokens ? { tokens: info.tokens, tokenRelevance: info.tokens.map((_, s) => Array.from(tokenRelevance(r.relevance, s))) } : {}),
  };
}
