/** The batched methods (SmoothGrad, Integrated Gradients, occlusion, Grad-CAM, the perturbation curves) run many
 * rows per model call. A model exported with a fixed batch (PyTorch's default export: input [1, 3, 224, 224])
 * refuses them, so every batched call goes through `rowRunner`: a fixed batch of 1 gets a symbolic batch
 * (lib/evaluate's `dynamicBatch`, checked once against single runs on the caller's input), and when that rewrite
 * is not valid for the model, or the fixed batch is larger than 1, the rows are run in chunks of exactly the
 * model's batch (the last chunk padded with copies of its last row). Browser-safe. */
import { Explainer } from '../explain';
import { checkDynamicBatch, dynamicBatch } from './dynamic-batch';
import { Tensor, float32 } from '../tensor';

type F32Tensor = Tensor & { data: Float32Array };
/** Rows of a batch: float inputs, or token ids (int64/int32, lib/io/tokenize.ts). */
export type RowTensor = Tensor & { data: Float32Array | BigInt64Array | Int32Array };

const perRow = (x: RowTensor) => (x.dims[0] ? x.data.length / x.dims[0] : 0);

/** An empty array of `x`'s element type. */
function like<T extends RowTensor['data']>(data: T, n: number): T {
  return new (data.constructor as new (n: number) => T)(n);
}

export interface RowRunner {
  /** the explainer to run the rows with: the caller's, or its copy with a symbolic batch (released with it) */
  explainer: Explainer;
  /** the model's fixed batch when rows must come in chunks of exactly that many, else undefined */
  fixed?: number;
  /** what was done for a fixed batch, for notes (empty for a model with a symbolic batch) */
  note: string;
}

const runners = new WeakMap<Explainer, Promise<RowRunner>>();

/** How `explainer` runs batches of rows; `sample` (batch first) supplies one row for the check of the rewrite.
 * Decided once per explainer. */
export function rowRunner(explainer: Explainer, sample: RowTensor): Promise<RowRunner> {
  let r = runners.get(explainer);
  if (!r) {
    r = decide(explainer, sample);
    runners.set(explainer, r);
    r.catch(() => runners.delete(explainer)); // a bad sample (the caller's error): decide again next time
  }
  return r;
}

async function decide(explainer: Explainer, sample: RowTensor): Promise<RowRunner> {
  const d0 = explainer.graph.inputs[0]?.dims?.[0];
  if (typeof d0 !== 'number' || explainer.graph.inputs.length !== 1) return { explainer, note: '' };
  if (d0 !== 1) return { explainer, fixed: d0, note: `the model has a fixed batch of ${d0}: rows run in chunks of ${d0}` };
  const { graph, actions } = dynamicBatch(explainer.graph);
  if (!actions.length) return { explainer, fixed: 1, note: 'the model has a fixed batch of 1: rows run one at a time' };
  const per = perRow(sample);
  // a sample the model refuses is the caller's error, reported as such (not taken for an invalid rewrite)
  await explainer.predict({ dtype: sample.dtype, dims: [1, ...sample.dims.slice(1)], data: sample.data.slice(0, per) });
  const derived = explainer.derive(graph, explainer.source, { owned: true });
  const two = like(sample.data, 2 * per);
  two.set(sample.data.subarray(0, per) as never);
  // a second row unlike the first: half the values, or the token ids in reverse order
  for (let i = 0; i < per; i++) two[per + i] = two instanceof Float32Array ? 0.5 * two[i] : two[per - 1 - i];
  try {
    await checkDynamicBatch(explainer, derived, { dtype: sample.dtype, dims: [2, ...sample.dims.slice(1)], data: two });
  } catch (e) {
    await derived.release();
    return { explainer, fixed: 1, note: `the model has a fixed batch of 1 and a symbolic batch is not valid for it (${(e as Error).message}): rows run one at a time` };
  }
  return { explainer: derived, note: `the model has a fixed batch of 1: rows run with a symbolic batch (${actions.join('; ')}), checked against single runs` };
}

/** Row ranges [start, end) of `rows` rows in chunks of at most `size` (exactly the fixed batch when there is one). */
export function chunks(rows: number, size: number, runner: RowRunner): [number, number][] {
  const step = runner.fixed ?? Math.max(1, size);
  const out: [number, number][] = [];
  for (let s = 0; s < rows; s += step) out.push([s, Math.min(rows, s + step)]);
  return out;
}

/** Rows [start, end) of `x`, padded with copies of the last row to the runner's fixed batch. */
export function chunkRows<T extends RowTensor>(x: T, start: number, end: number, runner: RowRunner): T {
  const per = perRow(x);
  const n = Math.max(end - start, runner.fixed ?? 0);
  const data = like(x.data, n * per);
  data.set(x.data.subarray(start * per, end * per) as never);
  for (let r = end - start; r < n; r++) data.copyWithin(r * per, (end - start - 1) * per, (end - start) * per);
  return { dtype: x.dtype, dims: [n, ...x.dims.slice(1)], data } as unknown as T;
}

/** Rows per chunk for a batched method: `requested` if given, else `def`, made smaller for large rows so that a
 * chunk holds at most `budget` input elements (and progress has steps to report). */
export function chunkSize(per: number, requested: number | undefined, def: number, budget: number): number {
  if (requested !== undefined) return Math.max(1, Math.floor(requested));
  return Math.max(1, Math.min(def, Math.floor(budget / Math.max(1, per))));
}

/** Progress of a batched method: rows done of the total (model runs, or forward and backward passes). */
export type RowProgress = (done: number, total: number) => void;
