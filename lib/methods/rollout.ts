/** Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers", ACL): the attention
 * weights of every block (the outputs of its Softmax, read from the forward pass of the model as loaded),
 * averaged over heads, mixed with the identity for the residual connection (Â = ½A + ½I, rows renormalised to
 * sum 1), multiplied through the layers (R = Â_L ⋯ Â_1), and the row of the class token read out: how much
 * each input token flows into it. Class-agnostic (the same map for every target). Browser-safe.
 *
 * Token inputs [N, T]: relevance per token (row 0, the [CLS] position; when the graph prepends its own class
 * token, its row, the other positions mapped to the ids). Image inputs [N, C, H, W] (a ViT): the patch map
 * (the class token's row without itself, or the mean over rows when there is no class token) spread over each
 * patch's pixels and channels, so the map sums to the patches' share of the row. */
import { Explainer } from '../explain';
import { Graph } from '../ir/graph';
import { Tensor, float32, toFloat32 } from '../tensor';
import { F32Tensor } from './util';

/** Consumers an attention matrix may pass through before it weights the values. */
const PASS = new Set(['Identity', 'Dropout', 'Cast', 'Reshape']);

/** The attention Softmax outputs of a graph, in graph order: a Softmax over the last axis whose output
 * (possibly through Identity/Dropout/Cast/Reshape) is the first operand of a MatMul (weights × values). */
export function attentionSoftmaxes(graph: Graph): string[] {
  const weightsValues = (v: string, depth = 0): boolean => graph.consumers(v).some((n) =>
    (n.opType === 'MatMul' && n.inputs[0] === v) || (depth < 4 && PASS.has(n.opType) && n.inputs[0] === v && weightsValues(n.outputs[0], depth + 1)));
  return graph.nodes.filter((n) => n.opType === 'Softmax' && weightsValues(n.outputs[0])).map((n) => n.outputs[0]);
}

export class RolloutError extends Error {
  override name = 'RolloutError';
}

/** Rollout of one sample's attention matrices (each [heads, T, T] flattened, T×T per head): R = Â_L ⋯ Â_1, T×T. */
export function rolloutMatrix(layers: readonly Float32Array[], T: number): Float64Array {
  let R = new Float64Array(T * T);
  for (let i = 0; i < T; i++) R[i * T + i] = 1;
  for (const a of layers) {
    const heads = a.length / (T * T);
    const A = new Float64Array(T * T);
    for (let h = 0; h < heads; h++) for (let k = 0; k < T * T; k++) A[k] += a[h * T * T + k] / heads;
    for (let i = 0; i < T; i++) {
      let s = 0;
      for (let j = 0; j < T; j++) { A[i * T + j] = 0.5 * A[i * T + j] + (i === j ? 0.5 : 0); s += A[i * T + j]; }
      if (s > 0) for (let j = 0; j < T; j++) A[i * T + j] /= s;
    }
    const next = new Float64Array(T * T);
    for (let i = 0; i < T; i++) for (let k = 0; k < T; k++) {
      const aik = A[i * T + k];
      if (aik !== 0) for (let j = 0; j < T; j++) next[i * T + j] += aik * R[k * T + j];
    }
    R = next;
  }
  return R;
}

/** Attention rollout of `x` (token ids [N, T] or images [N, C, H, W]); `layers`: the attention values to use
 * (default: attentionSoftmaxes of the model as loaded). */
export async function attentionRollout(explainer: Explainer, x: Tensor, opts: { layers?: string[] } = {}): Promise<{ relevance: F32Tensor; layers: string[]; tokens: number; row: 'class token' | 'mean' }> {
  const layers = opts.layers ?? attentionSoftmaxes(explainer.original);
  if (!layers.length) throw new RolloutError(`${explainer.source}: attention rollout found no attention Softmax (a Softmax whose output multiplies the values in a MatMul); is this a transformer?`);
  const input = explainer.graph.inputs[0]?.name ?? 'input';
  const N = x.dims[0] ?? 1, per = x.data.length / Math.max(1, N);
  const out = new Float32Array(x.data.length);
  let T = 0, row: 'class token' | 'mean' = 'class token';
  for (let s = 0; s < N; s++) {
    const one: Tensor = { dtype: x.dtype, dims: [1, ...x.dims.slice(1)], data: (x.data as Float32Array).slice(s * per, (s + 1) * per) };
    const values = await explainer.valuesOf({ [input]: one }, layers);
    const mats = layers.map((name) => {
      const v = values.get(name)!;
      const d = v.dims;
      if (d.length < 3 || d[d.length - 1] !== d[d.length - 2]) throw new RolloutError(`${explainer.source}: attention value '${name}' has shape [${d.join('x')}], not [.., T, T]`);
      return { T: d[d.length - 1], data: toFloat32(v) };
    });
    T = mats[0].T;
    if (mats.some((m) => m.T !== T)) throw new RolloutError(`${explainer.source}: attention layers of different lengths (${mats.map((m) => m.T).join(', ')})`);
    const R = rolloutMatrix(mats.map((m) => m.data), T);
    const put = placeRow(x.dims, T, explainer.source);
    row = put.row;
    const r = new Float64Array(T);
    if (put.row === 'mean') for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) r[j] += R[i * T + j] / T;
    else r.set(R.subarray(0, T));
    put.write(r, out.subarray(s * per, (s + 1) * per));
  }
  return { relevance: float32(x.dims, out), layers, tokens: T, row };
}

/** How a rollout row of T tokens maps onto one sample of an input of shape `dims`. */
function placeRow(dims: readonly number[], T: number, source: string): { row: 'class token' | 'mean'; write: (r: Float64Array, out: Float32Array) => void } {
  if (dims.length === 2) {
    const L = dims[1];
    if (T === L) return { row: 'class token', write: (r, out) => { for (let t = 0; t < L; t++) out[t] = r[t]; } };
    if (T === L + 1) return { row: 'class token', write: (r, out) => { for (let t = 0; t < L; t++) out[t] = r[t + 1]; } };
    throw new RolloutError(`${source}: attention over ${T} tokens does not match the ${L} input tokens (or ${L} and a class token)`);
  }
  if (dims.length === 4) {
    const [, C, H, W] = dims;
    for (const [cls, P] of [[true, T - 1], [false, T]] as const) {
      const p = Math.round(Math.sqrt((H * W) / P));
      if (P < 1 || p < 1 || H % p || W % p || (H / p) * (W / p) !== P) continue;
      const gw = W / p;
      return {
        row: cls ? 'class token' : 'mean',
        write: (r, out) => {
          for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) {
            out[(c * H + y) * W + xx] = r[(cls ? 1 : 0) + Math.floor(y / p) * gw + Math.floor(xx / p)] / (C * p * p);
          }
        },
      };
    }
    throw new RolloutError(`${source}: attention over ${T} tokens is not a square-patch grid of the ${H}×${W} input (with or without a class token)`);
  }
  throw new RolloutError(`${source}: attention rollout maps onto token ids [N, T] or images [N, C, H, W]; the input is [${dims.join('x')}]`);
}
