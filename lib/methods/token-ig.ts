/** Integrated Gradients on token inputs, in embedding space (Sundararajan et al. 2017; what Captum's
 * LayerIntegratedGradients on the embedding layer computes). Token ids cannot be interpolated, so the path runs
 * at the output of the token embedding (the Gather on the table): from a baseline embedding e′ to the input's e,
 * the rest of the model as it is. The graph is cut there (`embeddingCut`): the Gather's output becomes an input.
 *  - a padding mask computed from the ids sees the input's ids all along the path;
 *  - position embeddings are added after the cut, so they are not on the path (neither interpolated nor
 *    attributed);
 *  - relevance of token t: Σ_d (e − e′)_td · Σ_k w_k ∂f/∂e_td (e′ + α_k (e − e′)), the quadrature of
 *    lib/methods/gradient.ts (`quadrature`); completeness: Σ_t ≈ f(e) − f(e′).
 * Baselines: zeros (the default here), a token id at every position (the CLI's default: the padding token of the
 * model's vocabulary), reference ids [T] or [N, T], or an embedding [T, D] or [N, T, D]. Browser-safe. */
import { Explainer } from '../explain';
import { Graph, Node, ValueInfo } from '../ir/graph';
import { Tensor, float32 } from '../tensor';
import { RowRunner, RowTensor, chunkRows, chunkSize, chunks, rowRunner } from './batch';
import { GRADIENT_BUDGET, IntegratedGradientsOptions, baselineFor, quadrature } from './gradient';
import { embeddingGather } from './tokens';
import { F32Tensor, predictRows, resolveTargets, toF32Tensor } from './util';

/** The model cut at its token embedding's output. */
export interface EmbeddingCut {
  /** the model from the embedding output on (released with the explainer it was cut from) */
  explainer: Explainer;
  /** the cut value (the Gather's output): the cut model's first input, [N, T, D] */
  embedding: string;
  /** the token-id input of the model */
  input: string;
  /** whether the cut model still reads the ids (e.g. a padding mask computed from them) */
  readsIds: boolean;
  /** the embedding table [V, D] */
  table: F32Tensor;
}

const cuts = new WeakMap<Explainer, EmbeddingCut>();

/** The ops between the ids and the embedding Gather that keep the ids' shape [N, T]. */
const SHAPE_KEEPING = new Set(['Cast', 'Identity']);

/** `explainer`'s model cut at the output of the token embedding (made once per explainer). */
export function embeddingCut(explainer: Explainer): EmbeddingCut {
  const known = cuts.get(explainer);
  if (known) return known;
  const g = explainer.graph;
  const what = `${explainer.source}: integrated gradients on tokens`;
  const input = g.inputs.find((i) => i.dtype === 'int64' || i.dtype === 'int32');
  if (!input) throw new Error(`${what} needs a token-id input (int64); the model takes ${g.inputs.map((i) => `${i.name} (${i.dtype})`).join(', ')}`);
  if (g.inputs.length !== 1) throw new Error(`${what} needs a model with one input (the token ids); it has ${g.inputs.length} (${g.inputs.map((i) => i.name).join(', ')})`);
  const gather = embeddingGather(g, input.name);
  if (!gather) throw new Error(`${what} interpolates the token embedding, and no Gather on a constant table reads input '${input.name}'`);
  if (!keepsShape(g, gather, input.name)) throw new Error(`${what}: the ids reach the embedding Gather '${gather.name}' through a reshape; only Cast/Identity are supported there`);
  const table = toF32Tensor(g.constant(gather.inputs[0])!, 'embedding table');
  if (table.dims.length !== 2) throw new Error(`${what}: the embedding table of '${gather.name}' has shape [${table.dims.join('x')}], not [V, D]`);
  const spec = g.toSpec();
  const embedding = gather.outputs[0];
  spec.nodes = pruneDead(spec.nodes.filter((n) => n !== gather), new Set(g.outputs.map((o) => o.name)));
  const readsIds = spec.nodes.some((n) => n.inputs.includes(input.name));
  const info: ValueInfo = { name: embedding, dtype: 'float32', dims: input.dims ? [...input.dims, table.dims[1]] : null };
  spec.inputs = [info, ...(readsIds ? [input] : [])];
  spec.valueInfo?.delete(embedding);
  const cut: EmbeddingCut = { explainer: explainer.derive(new Graph(spec), explainer.source, { owned: true }), embedding, input: input.name, readsIds, table };
  cuts.set(explainer, cut);
  return cut;
}

/** Does the Gather read the ids themselves, or through ops that keep their shape? */
function keepsShape(g: Graph, gather: Node, input: string): boolean {
  let v = gather.inputs[1];
  for (let k = 0; k < 8 && v !== input; k++) {
    const p = g.producer(v);
    if (!p || !SHAPE_KEEPING.has(p.opType)) return false;
    v = p.inputs[0];
  }
  return v === input;
}

/** Nodes whose outputs nothing reads any more (the Casts that fed only the Gather), removed. */
function pruneDead(nodes: Node[], outputs: Set<string>): Node[] {
  let out = nodes;
  for (;;) {
    const read = new Set(out.flatMap((n) => n.inputs));
    const kept = out.filter((n) => n.outputs.some((o) => o && (read.has(o) || outputs.has(o))));
    if (kept.length === out.length) return out;
    out = kept;
  }
}

/** Rows of the table: [N, T] ids → [N, T, D] embeddings (negative ids count from the end, as Gather does). */
function lookup(cut: EmbeddingCut, ids: Tensor, what: string): F32Tensor {
  const [V, D] = cut.table.dims;
  const src = ids.data as ArrayLike<number | bigint>;
  const out = new Float32Array(src.length * D);
  for (let i = 0; i < src.length; i++) {
    let id = Number(src[i]);
    if (id < 0) id += V;
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new Error(`integrated gradients on tokens: ${what} id ${Number(src[i])} is outside the embedding table of ${V} rows`);
    out.set(cut.table.data.subarray(id * D, (id + 1) * D), i * D);
  }
  return float32([...ids.dims, D], out);
}

/** The baseline embedding [N, T, D] and what it is, for the record. */
function tokenBaseline(cut: EmbeddingCut, ids: Tensor, e: F32Tensor, baseline: Tensor | number | undefined): { data: Float32Array; what: string } {
  const [N, T] = ids.dims;
  if (baseline === undefined) return { data: new Float32Array(e.data.length), what: 'zeros' };
  if (typeof baseline === 'number') {
    if (!Number.isInteger(baseline)) throw new Error(`integrated gradients on tokens: baseline ${baseline} is not a token id; on token inputs a number is the id whose embedding is the baseline at every position`);
    const row = new Array<bigint>(N * T).fill(BigInt(baseline));
    return { data: lookup(cut, { dtype: 'int64', dims: [N, T], data: BigInt64Array.from(row) }, 'baseline').data, what: `token ${baseline}` };
  }
  if (baseline.dtype === 'int64' || baseline.dtype === 'int32') {
    const n = baseline.data.length;
    if (n !== N * T && n !== T) throw new Error(`integrated gradients on tokens: baseline ids of shape [${baseline.dims.join('x')}] do not match the input [${N}x${T}] or one row of it`);
    const rows = lookup(cut, baseline, 'baseline');
    return { data: baselineFor(e, rows), what: 'ids' };
  }
  return { data: baselineFor(e, baseline), what: 'embedding' };
}

/** `rows` (embeddings [R, T, D], with their ids [R, T]) in chunks through the cut model. */
async function eachChunk(cut: EmbeddingCut, emb: F32Tensor, ids: RowTensor, size: number, run: (e: Explainer, feeds: Record<string, Tensor>, start: number, end: number) => Promise<void>): Promise<void> {
  const d0 = cut.explainer.graph.inputs[0].dims?.[0];
  // with the ids as a second input the model's batch cannot be made symbolic: a fixed batch runs in chunks of it
  const runner: RowRunner = cut.readsIds ? { explainer: cut.explainer, fixed: typeof d0 === 'number' ? d0 : undefined, note: '' } : await rowRunner(cut.explainer, emb);
  for (const [s, end] of chunks(emb.dims[0], size, runner)) {
    const feeds: Record<string, Tensor> = { [cut.embedding]: chunkRows(emb, s, end, runner) };
    if (cut.readsIds) feeds[cut.input] = chunkRows(ids, s, end, runner);
    await run(runner.explainer, feeds, s, end);
  }
}

/** Every row repeated `m` times, the whole repeated `times` times: [N, …] → [times·N·m, …]. */
function repeatRows<T extends RowTensor>(x: T, m: number, times = 1): T {
  const n = x.dims[0], per = x.data.length / n;
  const data = new (x.data.constructor as new (k: number) => T['data'])(times * n * m * per);
  for (let r = 0; r < times * n * m; r++) { const s = Math.floor(r / m) % n; data.set(x.data.subarray(s * per, (s + 1) * per) as never, r * per); }
  return { dtype: x.dtype, dims: [times * n * m, ...x.dims.slice(1)], data } as unknown as T;
}

/** Integrated Gradients of token ids [N, T] in embedding space: relevance per token [N, T], completeness
 * (`sums` against `delta` = f(e) − f(e′), the target logit) and the baseline used. */
export async function tokenIntegratedGradients(explainer: Explainer, ids: Tensor, opts: IntegratedGradientsOptions & { targets?: number[] } = {}): Promise<{ relevance: F32Tensor; delta: number[]; sums: number[]; baseline: string }> {
  const cut = embeddingCut(explainer);
  if (ids.dims.length !== 2) throw new Error(`${explainer.source}: integrated gradients on tokens takes ids [N, T]; got shape [${ids.dims.join('x')}]`);
  const x = ids as RowTensor;
  const [N, T] = ids.dims, D = cut.table.dims[1], per = T * D;
  const e = lookup(cut, ids, 'token');
  const base = tokenBaseline(cut, ids, e, opts.baseline);
  const { alphas, weights } = quadrature(opts.steps ?? 32, opts.integration ?? 'trapezoid');
  const m = alphas.length;
  const targets = opts.targets ?? resolveTargets(await predictRows(explainer, x, 64), undefined).targets;
  const path = new Float32Array(N * m * per);
  for (let s = 0; s < N; s++) {
    for (let k = 0; k < m; k++) {
      const off = (s * m + k) * per, a = alphas[k];
      for (let i = 0; i < per; i++) path[off + i] = base.data[s * per + i] + a * (e.data[s * per + i] - base.data[s * per + i]);
    }
  }
  const rowTargets = targets.flatMap((t) => new Array<number>(m).fill(t));
  const pathIds = repeatRows(x, m);
  const grad = new Float32Array(N * per); // Σ_k w_k ∂f/∂e along each sample's path
  opts.onProgress?.(0, N * m);
  await eachChunk(cut, float32([N * m, T, D], path), pathIds, chunkSize(per, opts.batchSize, 64, GRADIENT_BUDGET), async (ce, feeds, s0, end) => {
    const rows = feeds[cut.embedding].dims[0];
    const t = rowTargets.slice(s0, end);
    while (t.length < rows) t.push(t[t.length - 1]);
    const r = await ce.explain(feeds, { composite: 'gradient', target: t, outputRelevance: 'one' });
    for (let row = s0; row < end; row++) {
      const s = Math.floor(row / m), w = weights[row % m];
      const g = r.relevance.data.subarray((row - s0) * per, (row - s0 + 1) * per);
      for (let i = 0; i < per; i++) grad[s * per + i] += w * g[i];
    }
    opts.onProgress?.(end, N * m);
  });
  const out = new Float32Array(N * T);
  for (let i = 0; i < N * T; i++) {
    let acc = 0;
    for (let d = 0; d < D; d++) acc += (e.data[i * D + d] - base.data[i * D + d]) * grad[i * D + d];
    out[i] = acc;
  }
  // completeness: f(e) − f(e′) of the target logit, through the cut model (the ids as they are)
  const both = new Float32Array(2 * N * per);
  both.set(e.data);
  both.set(base.data, N * per);
  const scores: number[] = new Array(2 * N);
  await eachChunk(cut, float32([2 * N, T, D], both), repeatRows(x, 1, 2), opts.batchSize ?? 64, async (ce, feeds, s0, end) => {
    const y = await ce.predict(feeds);
    const classes = y.data.length / y.dims[0];
    for (let row = s0; row < end; row++) scores[row] = y.data[(row - s0) * classes + targets[row % N]];
  });
  const delta = targets.map((_, s) => scores[s] - scores[N + s]);
  const sums = targets.map((_, s) => { let v = 0; for (let t = 0; t < T; t++) v += out[s * T + t]; return v; });
  return { relevance: float32([N, T], out), delta, sums, baseline: base.what };
}

