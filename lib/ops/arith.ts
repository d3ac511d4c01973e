/** Add, Sub, Sum (a sum of live tensors is a linear layer with weights ±1; with a constant it is a bias),
 * Mul and Div (by a constant: an elementwise scale; Mul of two live tensors: a gate), Neg, and Max/Min
 * (with constants: an activation such as ReLU6 written Min(Max(x, 0), 6); of live tensors: the winner takes
 * the relevance, like a max pool). */
import { Graph, Node } from '../ir/graph';
import { sumKernel } from '../kernels/pool';
import { ANY, Arity, Category, OpDef, NodeContext, TWO_IN_ONE_OUT, broadcastMap, f32, fail, isConst } from './op';
import { LinearLowering, NO_LOWERING_ELEMENTWISE, NotLowered, OnnxBuilder, notLowered, sumTo } from './lowering';
import { Tensor } from '../tensor';

function liveCount(node: Node, graph: Graph): number {
  return node.inputs.filter((_, i) => !isConst(graph, node, i)).length;
}

const SUM_CATEGORIES = [
  { category: 'sum' as const, when: 'of two or more live tensors (residual connections)' },
  { category: 'affine' as const, when: 'of a constant (after a linear layer: folded into its bias by fold-bias-add)' },
];

function sumCategory(node: Node, graph: Graph): Category {
  return liveCount(node, graph) >= 2 ? 'sum' : 'affine';
}

function sumLinear(ctx: NodeContext, signs: number[]) {
  const { node } = ctx;
  const y = ctx.value(node.outputs[0]);
  const live: number[] = [];
  node.inputs.forEach((n, i) => { if (n && !ctx.isConstant(n)) live.push(i); });
  const consts = node.inputs.map((n, i) => (n && ctx.isConstant(n) ? i : -1)).filter((i) => i >= 0);
  // constants (x + a position embedding): a bias, broadcast to the output
  let bias: Float32Array | null = null;
  for (const i of consts) {
    const c = ctx.value(node.inputs[i]);
    const map = broadcastMap(c.dims, y.dims);
    const cv = f32(c);
    bias ??= new Float32Array(y.data.length);
    for (let o = 0; o < bias.length; o++) bias[o] += (signs[i] ?? 1) * cv[map[o]];
  }
  const maps = live.map((i) => broadcastMap(ctx.value(node.inputs[i]).dims, y.dims));
  const sizes = live.map((i) => ctx.value(node.inputs[i]).data.length);
  const kernel = sumKernel(maps, sizes, y.data.length, live.map((i) => signs[i] ?? 1), bias);
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

/** Max/Min of live tensors (and constants): each output element's relevance goes to the input that
 * produced it (ties: the first such input). */
function extremumVjp(ctx: NodeContext, g: Float32Array, better: (a: number, b: number) => boolean): (Float32Array | null)[] {
  const { node } = ctx;
  const y = ctx.value(node.outputs[0]);
  const ins = node.inputs.map((n) => ctx.value(n));
  const maps = ins.map((t) => broadcastMap(t.dims, y.dims));
  const data = ins.map(f32);
  const out = ins.map((t, i) => (ctx.isConstant(node.inputs[i]) ? null : new Float32Array(t.data.length)));
  for (let o = 0; o < g.length; o++) {
    let best = 0;
    for (let i = 1; i < ins.length; i++) if (better(data[i][maps[i][o]], data[best][maps[best][o]])) best = i;
    const r = out[best];
    if (r) r[maps[best][o]] += g[o];
  }
  return out;
}

/** Add / Sub / Sum: weights ±1 on the live inputs (broadcast ones summed back in the transpose), the
 * constants (a position embedding) a bias, as sumLinear defines them. */
function lowerSum(ctx: NodeContext): LinearLowering | NotLowered {
  const { node } = ctx;
  if (!ctx.has(node.outputs[0])) return notLowered('its output is not kept');
  const y = ctx.value(node.outputs[0]).dims;
  const live: number[] = [];
  const consts: number[] = [];
  node.inputs.forEach((name, i) => {
    if (name && ctx.isConstant(name)) consts.push(i);
    else if (name && ctx.has(name)) live.push(i);
  });
  if (live.length + consts.length !== node.inputs.length) return notLowered('a missing input');
  const coef = node.inputs.map((_, i) => (node.opType === 'Sub' && i === 1 ? -1 : 1));
  const term = (b: OnnxBuilder, v: string, c: number) => (c === 1 ? v : b.op('Mul', [v, b.scalar(c)]));
  // the constants summed at their own broadcast shape (the bias modifier is element-wise: it commutes)
  const biasOf = (fn: (v: number) => number): Tensor => {
    const ts = consts.map((i) => ctx.value(node.inputs[i]));
    const rank = Math.max(...ts.map((t) => t.dims.length));
    const dims = Array.from({ length: rank }, (_, k) => Math.max(...ts.map((t) => t.dims[k - rank + t.dims.length] ?? 1)));
    const data = new Float32Array(dims.reduce((a, v) => a * v, 1));
    ts.forEach((t, j) => { const map = broadcastMap(t.dims, dims); const v = f32(t); for (let o = 0; o < data.length; o++) data[o] += coef[consts[j]] * v[map[o]]; });
    return { dtype: 'float32', dims, data: data.map(fn) };
  };
  return {
    live,
    hasBias: consts.length > 0,
    forward(b, xs, m, bias) {
      const terms = xs.map((v, k) => term(b, v, m.fn(coef[live[k]])));
      if (bias && consts.length) terms.push(b.constant(`sum-bias:${bias.key}`, () => biasOf(bias.fn)));
      return terms.length === 1 ? b.op('Identity', terms) : terms.length === 2 ? b.op('Add', terms) : b.op('Sum', terms);
    },
    transposed(b, g, m) {
      return live.map((i) => sumTo(b, term(b, g, m.fn(coef[i])), ctx.value(node.inputs[i]).dims, y));
    },
  };
}

function extremum(type: 'Max' | 'Min'): OpDef {
  const better = type === 'Max' ? (a: number, b: number) => a > b : (a: number, b: number) => a < b;
  return {
    type,
    arity: [1, ANY, 1, 1], outputDtype: 'input',
    // max(x, …) ≥ x; a min of a non-negative x can be below it
    sign: type === 'Max' ? 'keeps' : 'any',
    lowering: notLowered('element-wise or winner-takes-all, cheap in TypeScript'),
    category: (node, graph) => (liveCount(node, graph) >= 2 ? 'maxpool' : 'activation'),
    categories: [
      { category: 'activation', when: 'of one live tensor and constants (ReLU6 as Min(Max(x, 0), 6))' },
      { category: 'maxpool', when: 'of live tensors (the winner takes the relevance)' },
    ],
    derivative(ctx, x) {
      // one live input among constants: 1 where it is the extremum (ties go to the first input)
      const { node } = ctx;
      const y = ctx.value(node.outputs[0]);
      const liveIdx = node.inputs.findIndex((n) => n && !ctx.isConstant(n));
      if (y.data.length !== x.length) fail(node, `broadcasting the live input up to [${y.dims}] is not supported`);
      const consts = node.inputs.map((n, i) => (i === liveIdx ? null : { v: f32(ctx.value(n)), map: broadcastMap(ctx.value(n).dims, y.dims), i }));
      const out = new Float32Array(x.length);
      for (let o = 0; o < x.length; o++) {
        let win = true;
        for (const c of consts) {
          if (!c) continue;
          const v = c.v[c.map[o]];
          if (c.i < liveIdx ? !better(x[o], v) : better(v, x[o])) { win = false; break; }
        }
        out[o] = win ? 1 : 0;
      }
      return out;
    },
    vjp: (ctx, [g]) => extremumVjp(ctx, g!, better),
  };
}

function sumOp(type: string, arity: Arity, signs: number[]): OpDef {
  return {
    type, category: sumCategory, categories: SUM_CATEGORIES, arity, outputDtype: 'input', sign: 'any',
    linear: (ctx) => sumLinear(ctx, signs), derivative: (ctx, x) => constDerivative(ctx, x, () => 1),
    lowering: { linear: lowerSum },
  };
}

const AFFINE = { outputDtype: 'input', sign: 'any', lowering: NO_LOWERING_ELEMENTWISE } as const;

export const ops: OpDef[] = [
  { type: 'Neg', category: 'affine', arity: [1, 1, 1, 1], ...AFFINE, derivative: (_, x) => new Float32Array(x.length).fill(-1) },
  extremum('Max'),
  extremum('Min'),
  sumOp('Add', TWO_IN_ONE_OUT, []),
  sumOp('Sum', [1, ANY, 1, 1], []),
  sumOp('Sub', TWO_IN_ONE_OUT, [1, -1]),
  {
    type: 'Mul', arity: TWO_IN_ONE_OUT, ...AFFINE,
    category: (node, graph) => (liveCount(node, graph) >= 2 ? 'gate' : 'affine'),
    categories: [
      { category: 'gate', when: 'of two live tensors (squeeze-excitation)' },
      { category: 'affine', when: 'by a constant (after a linear layer: folded into it by fold-scale)' },
    ],
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
    type: 'Div', arity: TWO_IN_ONE_OUT, ...AFFINE,
    category: (node, graph) => {
      if (!isConst(graph, node, 1)) fail(node, 'division by a live tensor is not supported');
      return isConst(graph, node, 0) ? 'shape' : 'affine';
    },
    categories: [
      { category: 'affine', when: 'by a constant (after a linear layer: folded into it by fold-scale)' },
      { category: 'shape', when: 'of constants' },
    ],
    note: 'division by a live tensor is not supported',
    derivative: (ctx, x) => constDerivative(ctx, x, (c) => 1 / c),
  },
];
