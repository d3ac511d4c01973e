/** Evaluate several attribution methods on the same inputs and classes: perturbation curves and AOPC per order,
 * optional localisation metrics, conservation (LRP composites), time. Images are processed in chunks; every
 * map is measured by `measureMap` (./measure), the orchestrator `audit --evaluate` uses too. */
import { Explainer, OutputRelevance } from '../explain';
import { Method, methodName, runMethod } from '../methods/run';
import { F32Tensor, batchOf, resolveTargets, sliceBatch, toF32Tensor } from '../methods/util';
import { Tensor } from '../tensor';
import { ConservationReport, conservationReport } from './conservation';
import { LocalizationResult, Region, masksFor } from './localization';
import { EvaluationSettings, evaluationSettings, measureMap } from './measure';
import { Order, PerturbationCurve, PerturbationOptions } from './perturbation';
import { float32 } from '../tensor';

export interface SuiteOptions {
  /** one row each, labelled by its title (e.g. 'epsilon_gamma_box' or 'smoothgrad n=16'); see `methodFor` */
  methods: Method[];
  /** used by every method that seeds the output (LRP and the gradient family); default: each method's own */
  outputRelevance?: OutputRelevance;
  /** default ['morf'] */
  orders?: Order[];
  perturbation?: Omit<PerturbationOptions, 'order' | 'target'>;
  /** one class, or one per sample; default: the prediction */
  target?: number | number[];
  /** images per chunk (default 50) */
  chunk?: number;
  /** a mask or box per input: adds relevance mass accuracy and the pointing game */
  region?: Region;
  /** pointing-game tolerance in pixels (default 0) */
  tolerance?: number;
  onProgress?: (message: string) => void;
}

/** The settings `evaluateMethods` runs with (the same checks and defaults as `audit --evaluate`). */
export function suiteSettings(opts: Pick<SuiteOptions, 'orders' | 'perturbation' | 'tolerance'>): EvaluationSettings {
  return evaluationSettings({ ...opts.perturbation, orders: opts.orders, tolerance: opts.tolerance });
}

export interface SuiteRow {
  label: string;
  method: string;
  /** set when the method does not apply to the model (e.g. CAM without a GAP head) */
  error?: string;
  /** seconds spent computing the maps (not the perturbation) */
  seconds: number;
  aopc: Partial<Record<Order, number>>;
  curves: Partial<Record<Order, PerturbationCurve>>;
  localization?: LocalizationResult;
  conservation?: ConservationReport;
}

/** Curves of consecutive chunks → one curve. */
export function mergeCurves(parts: PerturbationCurve[]): PerturbationCurve {
  const [first] = parts;
  const scores = parts.flatMap((p) => p.scores);
  const aopcPerSample = parts.flatMap((p) => p.aopcPerSample);
  const N = scores.length;
  const meanScore = first.meanScore.map((_, k) => scores.reduce((a, s) => a + s[k], 0) / N);
  return {
    order: first.order, fractions: first.fractions, scores, meanScore, meanDrop: meanScore.map((v) => meanScore[0] - v),
    aopc: aopcPerSample.reduce((a, b) => a + b, 0) / N, aopcPerSample, targets: parts.flatMap((p) => p.targets), regions: first.regions,
  };
}

function mergeConservation(parts: ConservationReport[]): ConservationReport {
  const perSample = parts.flatMap((p) => p.perSample);
  const n = perSample.length;
  const w = parts.map((p) => p.perSample.length / n);
  const wmean = (f: (p: ConservationReport) => number) => parts.reduce((a, p, k) => a + w[k] * f(p), 0);
  return {
    composite: parts[0].composite,
    output: wmean((p) => p.output), input: wmean((p) => p.input), absorbed: wmean((p) => p.absorbed), perSample,
    nodes: parts[0].nodes.map((row, i) => ({ ...row, atOutputs: wmean((p) => p.nodes[i].atOutputs), atInputs: wmean((p) => p.nodes[i].atInputs), absorbed: wmean((p) => p.nodes[i].absorbed) })),
  };
}

function mergeLocalization(parts: LocalizationResult[]): LocalizationResult {
  const massAccuracy = parts.flatMap((p) => p.massAccuracy), pointingHits = parts.flatMap((p) => p.pointingHits);
  const valid = massAccuracy.filter((v) => !Number.isNaN(v));
  return {
    massAccuracy, pointingHits, meanMassAccuracy: valid.length ? valid.reduce((a, b) => a + b, 0) / valid.length : NaN,
    pointingAccuracy: pointingHits.reduce((a, b) => a + b, 0) / pointingHits.length,
  };
}

/** Runs every method on `input` (batch first, [N, C, H, W]) and measures it. The classes explained are fixed
 * up front (the model's predictions unless `target` is given) and shared by all methods. */
export async function evaluateMethods(explainer: Explainer, input: Tensor, opts: SuiteOptions): Promise<SuiteRow[]> {
  const x = toF32Tensor(input);
  const { batch } = batchOf(x);
  const settings = suiteSettings(opts);
  const chunk = Math.max(1, opts.chunk ?? 50);
  const targets = resolveTargets(await explainer.predict(x), opts.target).targets;
  const H = x.dims[2], W = x.dims[3];
  const masks = opts.region ? masksFor(opts.region, batch, H, W) : undefined;
  const rows: SuiteRow[] = opts.methods.map((m) => ({ label: m.title, method: methodName(m), seconds: 0, aopc: {}, curves: {} }));
  const parts = rows.map(() => ({ curves: new Map<Order, PerturbationCurve[]>(), cons: [] as ConservationReport[], loc: [] as LocalizationResult[] }));
  for (let s0 = 0; s0 < batch; s0 += chunk) {
    const s1 = Math.min(batch, s0 + chunk);
    const xc = sliceBatch(x, s0, s1);
    const tc = targets.slice(s0, s1);
    for (const [i, m] of opts.methods.entries()) {
      const row = rows[i];
      if (row.error) continue;
      const t0 = Date.now();
      let rel: F32Tensor;
      try {
        const a = await runMethod(explainer, xc, m, { target: tc, outputRelevance: opts.outputRelevance });
        rel = a.relevance;
        if (a.explanation && a.explanation.plan.mode === 'lrp') parts[i].cons.push(conservationReport(a.explanation));
      } catch (e) {
        row.error = (e as Error).message;
        opts.onProgress?.(`${m.title}: ${row.error}`);
        continue;
      }
      row.seconds += (Date.now() - t0) / 1000;
      const per = H * W;
      const measured = await measureMap(explainer, xc, rel, tc, { ...settings, seed: settings.seed + s0 }, masks && float32([s1 - s0, H, W], masks.subarray(s0 * per, s1 * per)));
      for (const order of settings.orders) {
        const list = parts[i].curves.get(order) ?? [];
        list.push(measured.curves[order]!);
        parts[i].curves.set(order, list);
      }
      if (measured.localization) parts[i].loc.push(measured.localization);
    }
    opts.onProgress?.(`${s1}/${batch} inputs`);
  }
  rows.forEach((row, i) => {
    if (row.error) return;
    for (const [order, list] of parts[i].curves) {
      const c = mergeCurves(list);
      row.curves[order] = c;
      row.aopc[order] = c.aopc;
    }
    if (parts[i].cons.length) row.conservation = mergeConservation(parts[i].cons);
    if (parts[i].loc.length) row.localization = mergeLocalization(parts[i].loc);
  });
  return rows;
}
