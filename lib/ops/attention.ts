/** The math of a MatMul of two live tensors (attention: QKᵀ and A·V), numpy-style with broadcast batch
 * dimensions: the product itself (for the specs) and its vector-Jacobian product for each operand (the
 * bilinear LRP rules and the gradient methods use it). MatMul's definition (category `attention` when both
 * operands are live) is in ./gemm.ts. */
import { NodeContext, broadcastMap, f32, fail } from './op';

export interface MatMulShape {
  /** batch dims of the output, and for each output batch the batch index in A and in B */
  batches: number;
  aBatch: Int32Array;
  bBatch: Int32Array;
  N: number;
  K: number;
  M: number;
}

export function matmulShape(aDims: readonly number[], bDims: readonly number[], where = 'MatMul'): MatMulShape {
  if (aDims.length < 2 || bDims.length < 2) throw new Error(`${where}: operands of rank < 2 ([${aDims}], [${bDims}]) are not supported for two live operands`);
  const [N, K] = aDims.slice(-2);
  const [K2, M] = bDims.slice(-2);
  if (K !== K2) throw new Error(`${where}: cannot multiply [${aDims}] by [${bDims}]`);
  const ab = aDims.slice(0, -2);
  const bb = bDims.slice(0, -2);
  const r = Math.max(ab.length, bb.length);
  const pad = (d: readonly number[]) => [...new Array(r - d.length).fill(1), ...d];
  const [pa, pb] = [pad(ab), pad(bb)];
  const out = pa.map((v, i) => {
    if (v !== pb[i] && v !== 1 && pb[i] !== 1) throw new Error(`${where}: batch dims [${ab}] and [${bb}] do not broadcast`);
    return Math.max(v, pb[i]);
  });
  return { batches: out.reduce((p, v) => p * v, 1), aBatch: broadcastMap(pa, out), bBatch: broadcastMap(pb, out), N, K, M };
}

/** C = A·B. */
export function matmul(s: MatMulShape, a: ArrayLike<number>, b: ArrayLike<number>): Float32Array {
  const { N, K, M } = s;
  const c = new Float32Array(s.batches * N * M);
  for (let t = 0; t < s.batches; t++) {
    const ao = s.aBatch[t] * N * K;
    const bo = s.bBatch[t] * K * M;
    const co = t * N * M;
    for (let n = 0; n < N; n++) {
      for (let m = 0; m < M; m++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += a[ao + n * K + k] * b[bo + k * M + m];
        c[co + n * M + m] = acc;
      }
    }
  }
  return c;
}

/** The vector-Jacobian products g·Bᵀ (shaped like A) and Aᵀ·g (shaped like B), summed over broadcast batches. */
export function matmulVjp(s: MatMulShape, a: ArrayLike<number>, b: ArrayLike<number>, g: ArrayLike<number>, aSize: number, bSize: number): [Float32Array, Float32Array] {
  const { N, K, M } = s;
  const ga = new Float32Array(aSize);
  const gb = new Float32Array(bSize);
  for (let t = 0; t < s.batches; t++) {
    const ao = s.aBatch[t] * N * K;
    const bo = s.bBatch[t] * K * M;
    const go = t * N * M;
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < K; k++) {
        let acc = 0;
        const av = a[ao + n * K + k];
        for (let m = 0; m < M; m++) {
          const gv = g[go + n * M + m];
          acc += gv * b[bo + k * M + m];
          gb[bo + k * M + m] += av * gv;
        }
        ga[ao + n * K + k] += acc;
      }
    }
  }
  return [ga, gb];
}

/** MatMul's vjp at a node (both operands; null for a constant one). */
export function matmulNodeVjp(ctx: NodeContext, g: Float32Array): (Float32Array | null)[] {
  const { node } = ctx;
  const [aT, bT] = [0, 1].map((i) => ctx.value(node.inputs[i]));
  let s: MatMulShape;
  try {
    s = matmulShape(aT.dims, bT.dims);
  } catch (e) {
    return fail(node, (e as Error).message.replace(/^MatMul: /, ''));
  }
  const [ga, gb] = matmulVjp(s, f32(aT), f32(bT), g, aT.data.length, bT.data.length);
  return [ctx.isConstant(node.inputs[0]) ? null : ga, ctx.isConstant(node.inputs[1]) ? null : gb];
}
