/** Add, Sub, Sum (a sum of live tensors is a linear layer with weights ±1; with a constant it is a bias),
 * Mul and Div (by a constant: an elementwise scale; Mul of two live tensors: a gate). */
import { Graph, Node } from '../ir/graph';
import { sumKernel } from '../kernels/pool';
import { Category, OpDef, NodeContext, broadcastMap, f32, fail, isConst } from './op';

function liveCount(node: Node, graph: Graph): number {
  return node.inputs.filter((_, i) => !isConst(graph, node, i)).length;
}

function sumCategory(node: Node, graph: Graph): Category {
  return liveCount(node, graph) >= 2 ? 'sum' : 'affine';
}

function sumLinear(ctx: NodeContext, signs: number[]) {
  const { node } = ctx;
  const y = ctx.value(node.outputs[0]);
  const live: number[] = [];
  node.inputs.forEach((n, i) => { if (n && !ctx.isConstant(n)) live.push(i); });
  const consts = node.inputs.map((n, i) => (n && ctx.isConstant(n) ? i : -1)).filter((i) => i >= 0);
  if (consts.length) fail(node, 'a sum of live tensors and constants is not supported; split it into two nodes');
  const maps = live.map((i) => broadcastMap(ctx.value(node.inputs[i]).dims, y.dims));
  const sizes = live.map((i) => ctx.value(node.inputs[i]).data.length);
  const kernel = sumKernel(maps, sizes, y.data.length, live.map((i) => signs[i] ?? 1));
  return { kernel, live };
}

/** d y / d x for y = x ∘ c (c constant, broadcast), evaluated in the live input's space. */
function constDerivative(ctx: NodeContext, x: Float32Array, f: (c: number) => number): Float32Array {
  const { node } = ctx;
  const liveIdx = node.inputs.findIndex((n) => n && !ctx.isConstant(n));
  const other = node.inputs.findIndex((n, i) => i !== liveIdx && n);
  if (other < 0) return new Float32Array(x.length).fill(1); // Sum of a single input: identity
  const xd = ctx.value(node.inputs[liveIdx]).dims;
  const y = ctx.value(node.outputs[0]);
  if (y.data.length !== x.length) fail(node, `broadcasting the live input [${xd}] up to [${y.dims}] is not supported`);
  const cT = ctx.value(node.inputs[other]);
  const c = f32(cT);
  const map = broadcastMap(cT.dims, y.dims);
  const out = new Float32Array(x.length);
  for (let i = 0; i < out.length; i++) out[i] = f(c[map[i]]) * (node.opType === 'Sub' && liveIdx === 1 ? -1 : 1);
  return out;
}

export const ops: OpDef[] = [
  { type: 'Add', category: sumCategory, linear: (ctx) => sumLinear(ctx, []), derivative: (ctx, x) => constDerivative(ctx, x, () => 1) },
  { type: 'Sum', category: sumCategory, linear: (ctx) => sumLinear(ctx, []), derivative: (ctx, x) => constDerivative(ctx, x, () => 1) },
  { type: 'Sub', category: sumCategory, linear: (ctx) => sumLinear(ctx, [1, -1]), derivative: (ctx, x) => constDerivative(ctx, x, () => 1) },
  {
    type: 'Mul',
    category: (node, graph) => (liveCount(node, graph) >= 2 ? 'gate' : 'affine'),
    derivative: (ctx, x) => constDerivative(ctx, x, (c) => c),
    vjp(ctx, [g]) {
      // product rule for two live factors: d/da = b, d/db = a (reduced over broadcast dims)
      const { node } = ctx;
      const y = ctx.value(node.outputs[0]);
      const [a, b] = [0, 1].map((i) => ctx.value(node.inputs[i]));
      const [ma, mb] = [a, b].map((t) => broadcastMap(t.dims, y.dims));
      const [fa, fb] = [f32(a), f32(b)];
      const ga = new Float32Array(fa.length);
      const gb = new Float32Array(fb.length);
      for (let o = 0; o < y.data.length; o++) {
        ga[ma[o]] += g![o] * fb[mb[o]];
        gb[mb[o]] += g![o] * fa[ma[o]];
      }
      return [ga, gb];
    },
  },
  {
    type: 'Div',
    category: (node, graph) => {
      if (!isConst(graph, node, 1)) fail(node, 'division by a live tensor is not supported');
      return isConst(graph, node, 0) ? 'shape' : 'affine';
    },
    derivative: (ctx, x) => constDerivative(ctx, x, (c) => 1 / c),
  },
];
