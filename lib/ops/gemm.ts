/** Gemm and MatMul with a constant weight operand: dense layers; MatMul of two live tensors: attention
 * (its math in ./attention.ts). */
import { Graph, Node } from '../ir/graph';
import { denseKernel } from '../kernels/dense';
import { matmulNodeVjp } from './attention';
import { Category, OpDef, NodeContext, attrFloat, attrInt, broadcastMap, f32, fail, isConst } from './op';

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

export const ops: OpDef[] = [
  { type: 'Gemm', category: denseOrFail, categories: DENSE_CATEGORIES, linear: gemmLinear, note: 'transA on a live input, a live bias and two live operands are not supported' },
  {
    type: 'MatMul', category: denseOrFail, linear: matmulLinear, vjp: (ctx, [g]) => matmulNodeVjp(ctx, g!),
    categories: [...DENSE_CATEGORIES, { category: 'attention', when: 'of two live tensors (QKᵀ, A·V)' }],
    note: 'with an Add of a constant after it: one linear layer (fold-bias-add); a constant first operand is not supported',
  },
];
