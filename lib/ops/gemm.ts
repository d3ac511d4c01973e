/** Gemm and MatMul with a constant weight operand: dense layers; MatMul of two live tensors: attention
 * (its math in ./attention.ts). */
import { Graph, Node } from '../ir/graph';
import { denseKernel } from '../kernels/dense';
import { matmulNodeVjp } from './attention';
import { WeightMod } from '../kernels/kernel';
import { Tensor } from '../tensor';
import { Category, OpDef, NodeContext, WeightLayout, attrFloat, attrInt, broadcastMap, f32, fail, isConst } from './op';
import { LinearLowering, NotLowered, OnnxBuilder, WeightSource, notLowered, sumTo } from './lowering';

function gemmLinear(ctx: NodeContext) {
  const { node } = ctx;
  if (attrInt(node, 'transA', 0)) fail(node, 'transA=1 on a live input is not supported');
  const a = ctx.value(node.inputs[0]);
  const b = ctx.value(node.inputs[1]);
  if (a.dims.length !== 2 || b.dims.length !== 2) fail(node, `expects 2-D A and B, got [${a.dims}] and [${b.dims}]`);
  const alpha = attrFloat(node, 'alpha', 1);
  const beta = attrFloat(node, 'beta', 1);
  const transB = attrInt(node, 'transB', 0);
  const [N, K] = a.dims;
  const M = transB ? b.dims[0] : b.dims[1];
  if ((transB ? b.dims[1] : b.dims[0]) !== K) fail(node, `A is [${a.dims}] but B is [${b.dims}]${transB ? ' (transB)' : ''}`);
  const bw = f32(b);
  const w = new Float32Array(K * M);
  for (let k = 0; k < K; k++) for (let m = 0; m < M; m++) w[k * M + m] = alpha * (transB ? bw[m * K + k] : bw[k * M + m]);
  let bias: Float32Array | null = null;
  if (node.inputs[2]) {
    const cT = ctx.value(node.inputs[2]);
    const c = f32(cT);
    const perColumn = cT.dims.slice(0, -1).every((d) => d === 1) && (c.length === M || c.length === 1);
    if (perColumn) {
      bias = new Float32Array(M);
      for (let m = 0; m < M; m++) bias[m] = beta * (c.length === 1 ? c[0] : c[m]);
    } else {
      // C broadcast to the full [N, M] output: a bias per row and column
      if (cT.dims.length > 2) fail(node, `bias C of shape [${cT.dims}] does not broadcast to [${N},${M}]`);
      const map = broadcastMap(cT.dims, [N, M]);
      bias = new Float32Array(N * M);
      for (let i = 0; i < N * M; i++) bias[i] = beta * c[map[i]];
    }
  }
  return { kernel: denseKernel(N, K, M, w, bias), live: [0] };
}

function matmulLinear(ctx: NodeContext) {
  const { node } = ctx;
  const a = ctx.value(node.inputs[0]);
  const b = ctx.value(node.inputs[1]);
  if (b.dims.length > 2) fail(node, `a constant operand of rank ${b.dims.length} is not supported (only [K] or [K,M])`);
  const K = a.dims[a.dims.length - 1];
  if (b.dims[0] !== K) fail(node, `cannot multiply [${a.dims}] by [${b.dims}]`);
  const M = b.dims.length === 2 ? b.dims[1] : 1;
  const rows = a.dims.slice(0, -1).reduce((x, y) => x * y, 1);
  const bias = node.inputs[2] ? f32(ctx.value(node.inputs[2])) : null; // set by the MatMul+Add canonizer
  return { kernel: denseKernel(rows, K, M, f32(b), bias), live: [0] };
}

const DENSE_CATEGORIES = [
  { category: 'dense' as const, when: 'with a constant weight operand' },
  { category: 'shape' as const, when: 'of constants' },
];

function denseOrFail(node: Node, graph: Graph): Category {
  if (!isConst(graph, node, 1)) {
    if (node.opType === 'MatMul' && !isConst(graph, node, 0)) return 'attention';
    throw new Error(`node '${node.name}' (${node.opType}): a live weight operand is not supported`);
  }
  if (isConst(graph, node, 0)) return 'shape' as const;
  if (node.opType === 'Gemm' && !isConst(graph, node, 2)) throw new Error(`node '${node.name}' (Gemm): a live bias C is not supported`);
  return 'dense' as const;
}

const f32t = (dims: readonly number[], data: Float32Array): Tensor => ({ dtype: 'float32', dims: [...dims], data });

/** Gemm by a constant B: the op on modified weights; its transpose a Gemm with the other transB. */
function lowerGemm(ctx: NodeContext, store: WeightSource): LinearLowering | NotLowered {
  const { node } = ctx;
  if (attrInt(node, 'transA', 0) || !ctx.isConstant(node.inputs[1]) || (node.inputs[2] && !ctx.isConstant(node.inputs[2]))) return notLowered('transA, or a live weight or bias');
  const a = ctx.value(node.inputs[0]);
  const bT = ctx.value(node.inputs[1]);
  if (a.dims.length !== 2 || bT.dims.length !== 2 || bT.dtype !== 'float32') return notLowered(`A [${a.dims}] and B [${bT.dims}] (${bT.dtype}) are not 2-D float32`);
  const alpha = attrFloat(node, 'alpha', 1);
  const beta = attrFloat(node, 'beta', 1);
  const transB = attrInt(node, 'transB', 0);
  const M = transB ? bT.dims[0] : bT.dims[1];
  const Bd = f32(bT);
  let C: Float32Array | null = null;
  if (node.inputs[2]) {
    const c = f32(ctx.value(node.inputs[2]));
    if (c.length !== M && c.length !== 1) return notLowered('a bias C that varies by row');
    C = c.length === M ? c : new Float32Array(M).fill(c[0]);
  }
  const weight = (b: OnnxBuilder, m: WeightMod) => b.feed(`B:${m.key}`, f32t(bT.dims, store.get(node.name, 'B', Bd, m, alpha)));
  return {
    live: [0],
    hasBias: C !== null,
    forward(b, [xv], m, bm) {
      const ins = [xv, weight(b, m)];
      if (C && bm) ins.push(b.constant(`C:${bm.key}`, () => f32t([M], store.get(node.name, 'C', C!, bm, beta))));
      return b.op('Gemm', ins, { transB });
    },
    transposed(b, g, m) {
      return [b.op('Gemm', [g, weight(b, m)], { transB: 1 - transB })];
    },
  };
}

/** MatMul by a constant [K, M] (with the bias the MatMul + Add canonizer gives it). */
function lowerMatMul(ctx: NodeContext, store: WeightSource): LinearLowering | NotLowered {
  const { node } = ctx;
  if (!ctx.isConstant(node.inputs[1]) || (node.inputs[2] && !ctx.isConstant(node.inputs[2]))) return notLowered('a live weight or bias');
  const a = ctx.value(node.inputs[0]);
  const bT = ctx.value(node.inputs[1]);
  if (bT.dims.length !== 2 || bT.dtype !== 'float32' || a.dims.length < 2) return notLowered(`[${a.dims}] by [${bT.dims}] (${bT.dtype}) is not a float32 product by a matrix`);
  const M = bT.dims[1];
  const Bd = f32(bT);
  const bias = node.inputs[2] ? f32(ctx.value(node.inputs[2])) : null;
  if (bias && bias.length !== M) return notLowered(`a bias of ${bias.length} values for ${M} outputs`);
  const weight = (b: OnnxBuilder, m: WeightMod) => b.feed(`B:${m.key}`, f32t(bT.dims, store.get(node.name, 'B', Bd, m)));
  return {
    live: [0],
    hasBias: bias !== null,
    forward(b, [xv], m, bm) {
      const z = b.op('MatMul', [xv, weight(b, m)]);
      return bias && bm ? b.op('Add', [z, b.constant(`bias:${bm.key}`, () => f32t([M], store.get(node.name, 'bias', bias, bm)))]) : z;
    },
    transposed(b, g, m, [xv]) {
      if (a.dims.length === 2) return [b.op('Gemm', [g, weight(b, m)], { transB: 1 })];
      const g2 = b.op('Reshape', [g, b.ints([-1, M])]);
      const r = b.op('Gemm', [g2, weight(b, m)], { transB: 1 });
      return [b.op('Reshape', [r, b.op('Shape', [xv])])];
    },
  };
}

const GEMM_WEIGHTS: WeightLayout = {
  // B [K, M], or [M, K] with transB
  channels(node, w) {
    const d = w.dims;
    if (d.length !== 2) return null;
    return node.attrs.transB === 1 ? { M: d[0], of: (i) => Math.floor(i / d[1]) } : { M: d[1], of: (i) => i % d[1] };
  },
  channelAxis: -1,
  outputRank: () => 2,
  // y = alpha·A·B + beta·C: a factor folds into B and C only at alpha = beta = 1, an offset into C at beta = 1
  foldable: (node, what) => (node.attrs.beta ?? 1) === 1 && (what === 'bias' || (node.attrs.alpha ?? 1) === 1),
};

const MATMUL_WEIGHTS: WeightLayout = {
  // B [K, M] (a B of another rank is left alone)
  channels(_node, w) {
    const d = w.dims;
    if (d.length !== 2) return null;
    return { M: d[1], of: (i) => i % d[1] };
  },
  channelAxis: -1,
  outputRank: () => undefined,
  foldable: () => true,
};

/** A MatMul's vjp (attention: two live operands) as matmulVjp computes it: g·Bᵀ and Aᵀ·g, summed over the
 * batch dims an operand was broadcast along; null for a constant operand. */
function lowerMatMulVjp(b: OnnxBuilder, ctx: NodeContext, [a, c]: readonly string[], y: string, g: string): (string | null)[] | NotLowered {
  const [ad, cd, yd] = [a, c, y].map((v) => ctx.value(v).dims);
  if (ad.length < 2 || cd.length < 2) return notLowered('a 1-D operand');
  const swap = (v: string, r: number) => b.op('Transpose', [v], { perm: [...Array(r - 2).keys(), r - 1, r - 2] });
  return [
    ctx.isConstant(a) ? null : sumTo(b, b.op('MatMul', [g, swap(c, cd.length)]), ad, [...yd.slice(0, -2), ...ad.slice(-2)]),
    ctx.isConstant(c) ? null : sumTo(b, b.op('MatMul', [swap(a, ad.length), g]), cd, [...yd.slice(0, -2), ...cd.slice(-2)]),
  ];
}

export const ops: OpDef[] = [
  {
    type: 'Gemm', category: denseOrFail, categories: DENSE_CATEGORIES, linear: gemmLinear,
    arity: [2, 3, 1, 1], outputDtype: 'input', sign: 'any', weights: GEMM_WEIGHTS, lowering: { linear: lowerGemm },
    note: 'transA on a live input, a live bias and two live operands are not supported',
  },
  {
    type: 'MatMul', category: denseOrFail, linear: matmulLinear, vjp: (ctx, [g]) => matmulNodeVjp(ctx, g!),
    categories: [...DENSE_CATEGORIES, { category: 'attention', when: 'of two live tensors (QKᵀ, A·V)' }],
    // two inputs in ONNX; fold-bias-add gives it a third, its bias, after loading (saved as MatMul + Add)
    arity: [2, 2, 1, 1], outputDtype: 'input', sign: 'any', weights: MATMUL_WEIGHTS, lowering: { linear: lowerMatMul, vjp: lowerMatMulVjp },
    note: 'with an Add of a constant after it: one linear layer (fold-bias-add); a constant first operand is not supported',
  },
];
