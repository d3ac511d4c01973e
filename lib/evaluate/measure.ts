/** The one evaluation orchestrator behind `onnx-lrp evaluate` (`evaluateMethods`) and `audit --evaluate`
 * (`evaluateInput`): the settings with their defaults (checked once, the same way for both), and the
 * measurement of one map: a perturbation curve per order, and localisation (relevance mass accuracy, the
 * pointing game within `tolerance` pixels) when a ground truth is given. Browser-safe. */
import { Explainer } from '../explain';
import { RowTensor } from '../methods/batch';
import { F32Tensor } from '../methods/util';
import { TokenLocalization, tokenLocalization } from './tokens';
import { LocalizationResult, Region, localization } from './localization';
import { ORDERS, Order, PerturbationCurve, Replacement, perturbationCurve } from './perturbation';

/** Evaluation settings as given (every one optional). */
export interface EvaluationOptions {
  /** default ['morf'] */
  orders?: Order[];
  /** region size in pixels (default 4) */
  patch?: number;
  /** regions replaced in total (default: all) */
  steps?: number;
  /** regions replaced per step (default 1) */
  perStep?: number;
  /** default 'zeros' (0 in the model's input space) */
  replacement?: Replacement;
  /** Gaussian σ of the 'blur' replacement (default: half the region) */
  blurSigma?: number;
  /** the score tracked: the target logit (default) or its softmax probability */
  score?: 'logit' | 'probability';
  /** seeds random orders, ties and 'uniform' replacement (default 0) */
  seed?: number;
  /** pointing-game tolerance in pixels (default 0) */
  tolerance?: number;
  /** rows per onnxruntime run (default 256) */
  batchSize?: number;
}

/** The settings used, every default filled in. */
export interface EvaluationSettings {
  orders: Order[];
  patch: number;
  steps: number | null;
  perStep: number;
  replacement: Replacement;
  blurSigma: number | null;
  score: 'logit' | 'probability';
  seed: number;
  tolerance: number;
  batchSize: number;
}

export class EvaluationError extends Error {
  override name = 'EvaluationError';
}

const integer = (v: number | undefined, what: string, def: number, min = 1): number => {
  const n = v ?? def;
  if (!Number.isInteger(n) || n < min) throw new EvaluationError(`evaluate: ${what} must be an integer ≥ ${min}, got ${v}`);
  return n;
};

/** Options → settings with defaults; bad values throw an EvaluationError naming the setting. */
export function evaluationSettings(o: EvaluationOptions = {}): EvaluationSettings {
  const orders = o.orders ?? ['morf'];
  if (!orders.length) throw new EvaluationError('evaluate: no perturbation order given');
  for (const k of orders) if (!ORDERS.includes(k)) throw new EvaluationError(`evaluate: unknown order '${k}' (${ORDERS.join(', ')})`);
  if (new Set(orders).size !== orders.length) throw new EvaluationError(`evaluate: an order is listed twice: ${orders.join(',')}`);
  const score = o.score ?? 'logit';
  if (score !== 'logit' && score !== 'probability') throw new EvaluationError(`evaluate: score must be 'logit' or 'probability', got '${score}'`);
  const r = o.replacement ?? 'zeros';
  if (typeof r === 'number' || (Array.isArray(r) && r.every((x) => typeof x === 'number'))) {
    if ((Array.isArray(r) ? r : [r]).some((x) => !Number.isFinite(x))) throw new EvaluationError(`evaluate: replacement values must be finite numbers, got ${JSON.stringify(r)}`);
  } else if (!(r === 'zeros' || r === 'mean' || r === 'blur' || r === 'uniform')) {
    throw new EvaluationError(`evaluate: unknown replacement '${String(r)}' (zeros, mean, blur, uniform, black, a number or one per channel)`);
  }
  if (o.blurSigma !== undefined && !(o.blurSigma > 0)) throw new EvaluationError(`evaluate: blurSigma must be > 0, got ${o.blurSigma}`);
  return {
    orders: [...orders], patch: integer(o.patch, 'patch', 4), steps: o.steps === undefined ? null : integer(o.steps, 'steps', 1),
    perStep: integer(o.perStep, 'perStep', 1), replacement: r, blurSigma: o.blurSigma ?? null, score,
    seed: integer(o.seed, 'seed', 0, 0), tolerance: integer(o.tolerance, 'tolerance', 0, 0), batchSize: integer(o.batchSize, 'batchSize', 256),
  };
}

export interface MapMeasurement {
  /** one curve per order of the settings */
  curves: Partial<Record<Order, PerturbationCurve>>;
  /** with a ground truth */
  localization?: LocalizationResult;
  /** token inputs with evidence positions */
  tokenLocalization?: TokenLocalization;
}

/** Token inputs (ids [N, T]; `settings.replacement` is then the replacement token's id): positions never deleted
 * (special tokens, padding), and the evidence positions when known, per sample. */
export interface TokenTruth {
  keep?: number[][];
  evidence?: number[][];
}

/** Measures one map of the inputs `x` [N, C, H, W]: region perturbation of the classes `targets` in every
 * order (the model re-run through `perturber`), and localisation against `region` when given. A ground
 * truth that does not fit throws an EvaluationError prefixed with `regionName` (when given). */
export async function measureMap(
  perturber: Explainer, x: RowTensor, relevance: F32Tensor, targets: number[], s: EvaluationSettings, region?: Region, regionName?: string, tokens?: TokenTruth,
): Promise<MapMeasurement> {
  const curves: MapMeasurement['curves'] = {};
  for (const order of s.orders) {
    curves[order] = await perturbationCurve(perturber, x, relevance, {
      order, patch: s.patch, steps: s.steps ?? undefined, perStep: s.perStep, replacement: s.replacement, blurSigma: s.blurSigma ?? undefined,
      score: s.score, seed: s.seed, batchSize: s.batchSize, target: targets, keep: tokens?.keep,
    });
  }
  if (tokens?.evidence) return { curves, tokenLocalization: tokenLocalization(relevance.data, x.dims[0], tokens.evidence, tokens.keep) };
  if (!region) return { curves };
  try {
    return { curves, localization: localization(relevance, region, { tolerance: s.tolerance }) };
  } catch (e) {
    if (regionName === undefined) throw e;
    throw new EvaluationError(`${regionName}: ${(e as Error).message}`);
  }
}
