/** Pooling: AveragePool, GlobalAveragePool, ReduceMean/ReduceSum (linear, own weights), MaxPool,
 * GlobalMaxPool and ReduceMax/ReduceMin (winner takes all; ties go to the first maximum in the window's
 * row-major scan). */
import { Node } from '../ir/graph';
import { WeightMod } from '../kernels/kernel';
import { avgPoolKernel, meanKernel, reduceKernel } from '../kernels/pool';
import { WindowTable, resolvePads, windowTable } from '../kernels/window';
import { toNumbers } from '../tensor';
import { OpDef, NodeContext, ONE_IN_ONE_OUT, attrInt, attrInts, attrString, broadcastMap, f32, fail } from './op';
import { LinearLowering, NO_LOWERING_ROUTING, NotLowered, OnnxBuilder, notLowered } from './lowering';

/** Per output position: taps that fall inside the input or its declared pads (count_include_pad divisor). */
function paddedCounts(inSpatial: number[], outSpatial: number[], kernel: number[], st: number[], dil: number[], padB: number[], padE: number[]): Float64Array {
  const perDim = outSpatial.map((n, d) => Array.from({ length: n }, (_, o) => {
    let c = 0;
    for (let k = 0; k < kernel[d]; k++) if (o * st[d] - padB[d] + k * dil[d] < inSpatial[d] + padE[d]) c++;
    return c;
  }));
  const total = outSpatial.reduce((a, b) => a * b, 1);
  const out = new Float64Array(total);
  for (let o = 0; o < total; o++) {
    let rem = o;
    let c = 1;
    for (let d = outSpatial.length - 1; d >= 0; d--) { c *= perDim[d][rem % outSpatial[d]]; rem = Math.floor(rem / outSpatial[d]); }
    out[o] = c;
  }
  return out;
}

function poolTable(ctx: NodeContext): { table: WindowTable; planes: number; counts: Float64Array } {
  const { node } = ctx;
  const x = ctx.value(node.inputs[0]);
  const y = ctx.value(node.outputs[0]);
  const D = x.dims.length - 2;
  if (D < 1) fail(node, `input of shape [${x.dims}] has no spatial dimensions`);
  const kernel = attrInts(node, 'kernel_shape', []);
  if (kernel.length !== D) fail(node, `kernel_shape [${kernel}] does not match the ${D} spatial dimensions of [${x.dims}]`);
  const st = attrInts(node, 'strides', new Array(D).fill(1));
  const dil = attrInts(node, 'dilations', new Array(D).fill(1));
  const inSpatial = x.dims.slice(2);
  const pads = resolvePads(attrString(node, 'auto_pad', 'NOTSET'), inSpatial, kernel, st, dil, attrInts(node, 'pads', []));
  const outSpatial = y.dims.slice(2);
  const table = windowTable({ inSpatial, outSpatial, kernel, strides: st, dilations: dil, padsBegin: pads.begin });
  return { table, planes: x.dims[0] * x.dims[1], counts: paddedCounts(inSpatial, outSpatial, kernel, st, dil, pads.begin, pads.end) };
}

function maxRoute(x: Float32Array, planes: number, t: WindowTable): Int32Array {
  const { outSize: O, inSize: I, kSize: K, idx } = t;
  const route = new Int32Array(planes * O).fill(-1);
  for (let p = 0; p < planes; p++) {
    for (let o = 0; o < O; o++) {
      let best = -Infinity;
      let bi = -1;
      for (let k = 0; k < K; k++) {
        const i = idx[k * O + o];
        if (i < 0) continue;
        const v = x[p * I + i];
        if (v > best || bi < 0) { best = v; bi = i; }
      }
      route[p * O + o] = bi < 0 ? -1 : p * I + bi;
    }
  }
  return route;
}

function scatter(route: Int32Array, g: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let o = 0; o < route.length; o++) if (route[o] >= 0) out[route[o]] += g[o];
  return out;
}

function reduceAxes(ctx: NodeContext): number[] {
  const { node } = ctx;
  const rank = ctx.value(node.inputs[0]).dims.length;
  let axes: number[] | undefined;
  if (node.inputs[1]) axes = toNumbers(ctx.value(node.inputs[1]));
  else if (node.attrs.axes) axes = attrInts(node, 'axes', []);
  if (!axes || axes.length === 0) {
    if (attrInt(node, 'noop_with_empty_axes', 0)) return [];
    return [...Array(rank).keys()];
  }
  return axes.map((a) => (a < 0 ? a + rank : a));
}

function reduceMap(dims: readonly number[], axes: number[]): { map: Int32Array; outSize: number; count: number } {
  const keep = dims.map((d, i) => (axes.includes(i) ? 1 : d));
  const map = broadcastMap(keep, dims); // each input element → the kept element it reduces into
  const count = axes.reduce((a, d) => a * dims[d], 1);
  return { map, outSize: keep.reduce((a, b) => a * b, 1), count };
}

const globalPlanes = (ctx: NodeContext) => {
  const x = ctx.value(ctx.node.inputs[0]);
  return { planes: x.dims[0] * x.dims[1], size: x.dims.slice(2).reduce((a, b) => a * b, 1) };
};

function needsNoIndices(node: Node) {
  if (node.outputs.length > 1 && node.outputs[1]) fail(node, 'the Indices output of MaxPool is not supported');
}

function lowerGlobalAveragePool(ctx: NodeContext): LinearLowering | NotLowered {
  const x = ctx.value(ctx.node.inputs[0]);
  if (x.dims.length < 3) return notLowered(`input [${x.dims}] has no spatial dimensions`);
  const size = x.dims.slice(2).reduce((a, b) => a * b, 1);
  const axes = x.dims.slice(2).map((_, i) => i + 2);
  return {
    live: [0],
    hasBias: false,
    forward(b, [xv], m) {
      if (m.key === 'id') return b.op('GlobalAveragePool', [xv]);
      return b.op('Mul', [b.op('ReduceSum', [xv, b.ints(axes)], { keepdims: 1 }), b.scalar(m.fn(1 / size))]);
    },
    transposed(b, g, m, [xv]) {
      return [b.op('Expand', [b.op('Mul', [g, b.scalar(m.fn(1 / size))]), b.op('Shape', [xv])])];
    },
  };
}

/** AveragePool over 1×1 windows at stride 1 without pads (what an adaptive pool to the same size exports):
 * the identity with weight 1. Other average pools stay with the reference. */
function lowerUnitAveragePool(ctx: NodeContext): LinearLowering | NotLowered {
  const { node } = ctx;
  const x = ctx.value(node.inputs[0]);
  const D = x.dims.length - 2;
  const unit = (k: string, v: number) => attrInts(node, k, new Array(D).fill(v)).every((e) => e === v);
  const unitWindows = D >= 1 && unit('kernel_shape', 1) && unit('strides', 1) && unit('dilations', 1) && attrInts(node, 'pads', []).every((p) => p === 0);
  if (!unitWindows || !['NOTSET', 'VALID'].includes(attrString(node, 'auto_pad', 'NOTSET'))) return notLowered('only 1×1 windows at stride 1 without pads are lowered');
  const scaled = (b: OnnxBuilder, v: string, m: WeightMod) => (m.fn(1) === 1 ? v : b.op('Mul', [v, b.scalar(m.fn(1))]));
  return {
    live: [0],
    hasBias: false,
    forward: (b, [xv], m) => scaled(b, xv, m),
    transposed: (b, g, m) => [scaled(b, g, m)],
  };
}

/** Windows that never share an input position: in every dimension the dilated kernel fits in the stride. */
function disjointWindows(node: Node): boolean {
  const kernel = attrInts(node, 'kernel_shape', []);
  const strides = attrInts(node, 'strides', kernel.map(() => 1));
  const dil = attrInts(node, 'dilations', kernel.map(() => 1));
  return kernel.length > 0 && kernel.every((k, d) => (k - 1) * dil[d] + 1 <= strides[d]);
}

/** MaxPool's gradient: the winner of each window (the first maximum, as onnxruntime's Indices and the
 * reference both pick) receives the output's relevance, added up where windows overlap. */
function lowerMaxPoolRoute(b: OnnxBuilder, ctx: NodeContext, x: string, R: string): string | NotLowered {
  const { node } = ctx;
  if (node.outputs.length > 1 && node.outputs[1]) return notLowered('its Indices output is used');
  if (attrInt(node, 'storage_order', 0) !== 0) return notLowered('storage_order 1');
  const attrs: Record<string, number | string | number[]> = {};
  for (const k of ['auto_pad', 'ceil_mode', 'dilations', 'kernel_shape', 'pads', 'strides']) {
    if (node.attrs[k] !== undefined) attrs[k] = node.attrs[k] as number | string | number[];
  }
  const [, idx] = b.node('MaxPool', [x], attrs, 2);
  if (disjointWindows(node)) {
    // each input position is in at most one window: MaxUnpool places R at the winners in one pass
    const unpool: Record<string, number[]> = { kernel_shape: attrs.kernel_shape as number[] };
    for (const k of ['pads', 'strides'] as const) if (attrs[k] !== undefined) unpool[k] = attrs[k] as number[];
    return b.op('MaxUnpool', [R, idx, b.op('Shape', [x])], unpool);
  }
  const flat = b.ints([-1]);
  const zeros = b.op('ConstantOfShape', [b.op('Shape', [b.op('Reshape', [x, flat])])]);
  const r = b.op('ScatterElements', [zeros, b.op('Reshape', [idx, flat]), b.op('Reshape', [R, flat])], { axis: 0, reduction: 'add' });
  return b.op('Reshape', [r, b.op('Shape', [x])]);
}

/** ReduceMean / ReduceSum: every reduced element weighted 1/count (mean) or 1 (sum), as reduceKernel. */
function lowerReduce(mean: boolean) {
  return (ctx: NodeContext): LinearLowering | NotLowered => {
    const dims = ctx.value(ctx.node.inputs[0]).dims;
    const axes = reduceAxes(ctx);
    if (axes.length === 0) return notLowered('no axes (the identity)');
    const w = mean ? 1 / axes.reduce((a, i) => a * dims[i], 1) : 1;
    const kept = dims.map((d, i) => (axes.includes(i) ? 1 : d));
    const keepdims = attrInt(ctx.node, 'keepdims', 1);
    return {
      live: [0],
      hasBias: false,
      forward: (b, [xv], m) => b.op('Mul', [b.op('ReduceSum', [xv, b.ints(axes)], { keepdims }), b.scalar(m.fn(w))]),
      transposed(b, g, m, [xv]) {
        const r = keepdims ? g : b.op('Reshape', [g, b.ints(kept)]);
        return [b.op('Expand', [b.op('Mul', [r, b.scalar(m.fn(w))]), b.op('Shape', [xv])])];
      },
    };
  };
}

/** Pools and reductions: the output is ≥ 0 wherever the input is. */
const POOL = { outputDtype: 'input', sign: 'keeps' } as const;
const REDUCE_ARITY = [1, 2, 1, 1] as const; // axes as an input from opset 13/18

export const ops: OpDef[] = [
  {
    type: 'AveragePool', category: 'avgpool', arity: ONE_IN_ONE_OUT, ...POOL, lowering: { linear: lowerUnitAveragePool },
    note: 'the onnxruntime engine lowers 1×1 windows at stride 1 (adaptive pools to the same size); others run on the reference kernels',
    linear(ctx) {
      const { table, planes, counts } = poolTable(ctx);
      const x = ctx.value(ctx.node.inputs[0]);
      return { kernel: avgPoolKernel(x.dims[0], planes / x.dims[0], table, attrInt(ctx.node, 'count_include_pad', 0) === 1, counts), live: [0] };
    },
  },
  {
    type: 'GlobalAveragePool', category: 'avgpool', arity: ONE_IN_ONE_OUT, ...POOL, lowering: { linear: lowerGlobalAveragePool },
    linear(ctx) {
      const { planes, size } = globalPlanes(ctx);
      return { kernel: meanKernel(planes, size), live: [0] };
    },
  },
  {
    type: 'ReduceMean', category: 'avgpool', arity: REDUCE_ARITY, ...POOL, lowering: { linear: lowerReduce(true) },
    linear(ctx) {
      const { map, outSize, count } = reduceMap(ctx.value(ctx.node.inputs[0]).dims, reduceAxes(ctx));
      return { kernel: reduceKernel(map, outSize, 1 / count), live: [0] };
    },
  },
  {
    type: 'ReduceSum', category: 'sum', arity: REDUCE_ARITY, ...POOL, lowering: { linear: lowerReduce(false) },
    linear(ctx) {
      const { map, outSize } = reduceMap(ctx.value(ctx.node.inputs[0]).dims, reduceAxes(ctx));
      return { kernel: reduceKernel(map, outSize, 1), live: [0] };
    },
  },
  ...(['ReduceMax', 'ReduceMin'] as const).map((type): OpDef => ({
    // winner takes all over the reduced axes (ties: the first in row-major order), like a global max pool
    type, category: 'maxpool', arity: REDUCE_ARITY, ...POOL, lowering: NO_LOWERING_ROUTING,
    vjp(ctx, [g]) {
      const xT = ctx.value(ctx.node.inputs[0]);
      const x = f32(xT);
      const { map, outSize } = reduceMap(xT.dims, reduceAxes(ctx));
      const best = new Int32Array(outSize).fill(-1);
      const sign = type === 'ReduceMax' ? 1 : -1;
      for (let i = 0; i < map.length; i++) {
        const b = best[map[i]];
        if (b < 0 || sign * x[i] > sign * x[b]) best[map[i]] = i;
      }
      return [scatter(best, g!, x.length), ...ctx.node.inputs.slice(1).map(() => null)];
    },
  })),
  {
    type: 'MaxPool', category: 'maxpool', arity: [1, 1, 1, 2], ...POOL, lowering: { route: lowerMaxPoolRoute },
    outputDtype: (_node, input, k) => (k === 1 ? 'int64' : input(0)), // output 1: Indices
    vjp(ctx, [g]) {
      needsNoIndices(ctx.node);
      const { table, planes } = poolTable(ctx);
      const x = f32(ctx.value(ctx.node.inputs[0]));
      return [scatter(maxRoute(x, planes, table), g!, x.length)];
    },
  },
  {
    type: 'GlobalMaxPool', category: 'maxpool', arity: ONE_IN_ONE_OUT, ...POOL, lowering: NO_LOWERING_ROUTING,
    vjp(ctx, [g]) {
      const { planes, size } = globalPlanes(ctx);
      const x = f32(ctx.value(ctx.node.inputs[0]));
      const table: WindowTable = { inSize: size, outSize: 1, kSize: size, idx: Int32Array.from({ length: size }, (_, i) => i) };
      return [scatter(maxRoute(x, planes, table), g!, x.length)];
    },
  },
];
