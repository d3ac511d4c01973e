/** Ops that only move values: Reshape, Flatten, Squeeze, Unsqueeze, Cast, Transpose, Concat, Split, Slice,
 * Pad, Gather, Expand, Tile, DepthToSpace, SpaceToDepth. Relevance is routed back exactly like the gradient (a scatter-add through the
 * map from each output element to the input element it reads). */
import { Tensor, toNumbers } from '../tensor';
import { DATA_TYPE } from '../ir/dtypes';
import { DType } from '../tensor';
import { ANY, OpDef, NodeContext, ONE_IN_ONE_OUT, TWO_IN_ONE_OUT, attrInt, attrInts, attrString, broadcastMap, fail, isConst, strides } from './op';
import { NO_LOWERING_ROUTING, NotLowered, OnnxBuilder, notLowered, sumTo } from './lowering';

const dimsOf = (ctx: NodeContext, name: string) => ctx.value(name).dims;

/** out element → in element, by coordinates. `f` fills the input coordinate and returns false for "none". */
function mapByCoords(outDims: readonly number[], inDims: readonly number[], f: (out: number[], inp: number[]) => boolean): Int32Array {
  const n = outDims.reduce((a, b) => a * b, 1);
  const map = new Int32Array(n);
  const oc = new Array<number>(outDims.length).fill(0);
  const ic = new Array<number>(inDims.length).fill(0);
  const is = strides(inDims);
  for (let o = 0; o < n; o++) {
    let rem = o;
    for (let d = outDims.length - 1; d >= 0; d--) { oc[d] = rem % outDims[d]; rem = Math.floor(rem / outDims[d]); }
    if (!f(oc, ic)) { map[o] = -1; continue; }
    let i = 0;
    for (let d = 0; d < inDims.length; d++) i += ic[d] * is[d];
    map[o] = i;
  }
  return map;
}

function scatter(map: Int32Array, g: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let o = 0; o < map.length; o++) if (map[o] >= 0) out[map[o]] += g[o];
  return out;
}

/** Ops that move values: the output is ≥ 0 wherever the (first) input is; relevance is a scatter. */
const MOVES = { outputDtype: 'input', sign: 'keeps', lowering: NO_LOWERING_ROUTING } as const;

/** Same data, new shape. */
const reshapeLike = (type: string, arity: OpDef['arity'], extra: Partial<OpDef> = {}): OpDef => ({
  type, category: 'routing', arity, ...MOVES, ...extra,
  vjp: (ctx, [g]) => [Float32Array.from(g!), ...ctx.node.inputs.slice(1).map(() => null)],
});

const normAxis = (a: number, rank: number) => (a < 0 ? a + rank : a);

function inputOrAttr(ctx: NodeContext, i: number, attr: string): number[] | undefined {
  const { node } = ctx;
  if (node.inputs[i]) return toNumbers(ctx.value(node.inputs[i]));
  if (node.attrs[attr] !== undefined) return attrInts(node, attr, []);
  return undefined;
}

/** A Slice's first element and step along every axis of its input. */
function sliceWindow(ctx: NodeContext): { begin: number[]; step: number[] } {
  const { node } = ctx;
  const xd = dimsOf(ctx, node.inputs[0]);
  const starts = inputOrAttr(ctx, 1, 'starts') ?? [];
  const axes = (ctx.opset >= 10 ? inputOrAttr(ctx, 3, 'axes') : attrInts(node, 'axes', [])) ?? [];
  const steps = (ctx.opset >= 10 ? inputOrAttr(ctx, 4, 'steps') : undefined) ?? [];
  const begin = xd.map(() => 0);
  const step = xd.map(() => 1);
  starts.forEach((s, k) => {
    const a = normAxis(axes.length ? axes[k] : k, xd.length);
    const st = steps[k] ?? 1;
    let b = s < 0 ? s + xd[a] : s;
    b = st > 0 ? Math.min(Math.max(b, 0), xd[a]) : Math.min(Math.max(b, 0), xd[a] - 1);
    begin[a] = b;
    step[a] = st;
  });
  return { begin, step };
}

/** Inputs after the first that are not constants (the lowerings below need them at build time). */
const liveParams = (ctx: NodeContext) => ctx.node.inputs.slice(1).some((n) => n && !ctx.isConstant(n));

/** Slice's vjp: g padded with zeros back to the input (unit steps). */
function lowerSliceVjp(b: OnnxBuilder, ctx: NodeContext, [x]: readonly string[], y: string, g: string): (string | null)[] | NotLowered {
  if (ctx.opset < 10 || liveParams(ctx)) return notLowered('bounds that are not constants');
  const { begin, step } = sliceWindow(ctx);
  if (step.some((s) => s !== 1)) return notLowered('steps other than 1');
  const [xd, yd] = [x, y].map((v) => ctx.value(v).dims);
  const pads = [...begin, ...xd.map((d, i) => d - begin[i] - yd[i])];
  return [b.op('Pad', [g, b.ints(pads)]), ...ctx.node.inputs.slice(1).map(() => null)];
}

/** Gather's vjp on a live tensor by constant scalar or 1-D indices: a scatter-add along the axis. */
function lowerGatherVjp(b: OnnxBuilder, ctx: NodeContext, [x, ids]: readonly string[], _y: string, g: string): (string | null)[] | NotLowered {
  if (!ctx.isConstant(ids)) return notLowered('indices that are not constants');
  const idxT = ctx.value(ids);
  if (idxT.dims.length > 1) return notLowered('indices of rank > 1');
  const xd = ctx.value(x).dims;
  const axis = normAxis(attrInt(ctx.node, 'axis', 0), xd.length);
  const idx = toNumbers(idxT).map((i) => (i < 0 ? i + xd[axis] : i));
  const gd = [...xd.slice(0, axis), idx.length, ...xd.slice(axis + 1)];
  const g1 = idxT.dims.length === 0 ? b.op('Reshape', [g, b.ints(gd)]) : g;
  const shaped = b.constant(`gather-idx:${axis}:${idx.join(',')}`, () => ({ dtype: 'int64', dims: gd.map((d, i) => (i === axis ? d : 1)), data: BigInt64Array.from(idx.map(BigInt)) }));
  const zeros = b.op('ConstantOfShape', [b.ints(xd)], { value: { dtype: 'float32', dims: [1], data: Float32Array.of(0) } });
  return [b.op('ScatterElements', [zeros, b.op('Expand', [shaped, b.ints(gd)]), g1], { axis, reduction: 'add' }), null];
}

/** Where's vjp: g where the condition picks X, to X; elsewhere to Y (a constant fill gets none). */
function lowerWhereVjp(b: OnnxBuilder, ctx: NodeContext, [cond, xv, yv]: readonly string[], out: string, g: string): (string | null)[] | NotLowered {
  const od = ctx.value(out).dims;
  const zero = b.scalar(0);
  const part = (v: string, picked: string[]) => (ctx.isConstant(v) ? null : sumTo(b, b.op('Where', [cond, ...picked]), ctx.value(v).dims, od));
  return [null, part(xv, [g, zero]), part(yv, [zero, g])];
}

/** DepthToSpace (DCR or CRD) and SpaceToDepth on [N, C, H, W]: output (n, c, h, w) reads one input element. */
function depthSpaceMap(ctx: NodeContext, toSpace: boolean): Int32Array {
  const { node } = ctx;
  const xd = dimsOf(ctx, node.inputs[0]);
  const yd = dimsOf(ctx, node.outputs[0]);
  if (xd.length !== 4) fail(node, `expects a 4-D input, got [${xd}]`);
  const b = attrInt(node, 'blocksize', 0);
  if (b < 1) fail(node, `blocksize ${b} must be at least 1`);
  const crd = attrString(node, 'mode', 'DCR') === 'CRD';
  return mapByCoords(yd, xd, (o, i) => {
    const [n, c, h, w] = o;
    i[0] = n;
    if (toSpace) {
      // DepthToSpace: y[n, c, h, w] = x[n, channel(c, h % b, w % b), h / b, w / b]
      const C = yd[1];
      const bi = h % b;
      const bj = w % b;
      i[1] = crd ? c * b * b + bi * b + bj : (bi * b + bj) * C + c;
      i[2] = Math.floor(h / b);
      i[3] = Math.floor(w / b);
    } else {
      // SpaceToDepth: y[n, (bi·b + bj)·C + c, h, w] = x[n, c, h·b + bi, w·b + bj]
      const C = xd[1];
      const c0 = c % C;
      const k = Math.floor(c / C);
      i[1] = c0;
      i[2] = h * b + Math.floor(k / b);
      i[3] = w * b + (k % b);
    }
    return true;
  });
}

export const ops: OpDef[] = [
  {
    type: 'DepthToSpace', category: 'routing', arity: ONE_IN_ONE_OUT, ...MOVES,
    vjp: (ctx, [g]) => [scatter(depthSpaceMap(ctx, true), g!, dimsOf(ctx, ctx.node.inputs[0]).reduce((a, b) => a * b, 1))],
  },
  {
    type: 'SpaceToDepth', category: 'routing', arity: ONE_IN_ONE_OUT, ...MOVES,
    vjp: (ctx, [g]) => [scatter(depthSpaceMap(ctx, false), g!, dimsOf(ctx, ctx.node.inputs[0]).reduce((a, b) => a * b, 1))],
  },
  reshapeLike('Reshape', (opset) => (opset < 5 ? ONE_IN_ONE_OUT : TWO_IN_ONE_OUT)),
  reshapeLike('Flatten', ONE_IN_ONE_OUT),
  reshapeLike('Squeeze', [1, 2, 1, 1]),
  reshapeLike('Unsqueeze', (opset) => (opset < 13 ? ONE_IN_ONE_OUT : TWO_IN_ONE_OUT)),
  reshapeLike('Cast', ONE_IN_ONE_OUT, { outputDtype: (node) => DATA_TYPE[node.attrs.to as number] as DType }),
  {
    type: 'Transpose', category: 'routing', arity: ONE_IN_ONE_OUT, ...MOVES,
    vjp(ctx, [g]) {
      const xd = dimsOf(ctx, ctx.node.inputs[0]);
      const perm = attrInts(ctx.node, 'perm', xd.map((_, i) => xd.length - 1 - i));
      const yd = perm.map((p) => xd[p]);
      return [scatter(mapByCoords(yd, xd, (o, i) => { perm.forEach((p, d) => { i[p] = o[d]; }); return true; }), g!, g!.length)];
    },
  },
  {
    type: 'Concat', category: 'routing', arity: [1, ANY, 1, 1], ...MOVES, sign: 'keepsAll',
    vjp(ctx, [g]) {
      const { node } = ctx;
      const yd = dimsOf(ctx, node.outputs[0]);
      const axis = normAxis(attrInt(node, 'axis', 0), yd.length);
      const outer = yd.slice(0, axis).reduce((a, b) => a * b, 1);
      const inner = yd.slice(axis + 1).reduce((a, b) => a * b, 1);
      let offset = 0;
      return node.inputs.map((name) => {
        const len = dimsOf(ctx, name)[axis];
        const r = new Float32Array(outer * len * inner);
        for (let o = 0; o < outer; o++) {
          r.set(g!.subarray((o * yd[axis] + offset) * inner, (o * yd[axis] + offset + len) * inner), o * len * inner);
        }
        offset += len;
        return ctx.isConstant(name) ? null : r;
      });
    },
  },
  {
    type: 'Split', category: 'routing', arity: [1, 2, 1, ANY], ...MOVES,
    vjp(ctx, gs) {
      const { node } = ctx;
      const xd = dimsOf(ctx, node.inputs[0]);
      const axis = normAxis(attrInt(node, 'axis', 0), xd.length);
      const outer = xd.slice(0, axis).reduce((a, b) => a * b, 1);
      const inner = xd.slice(axis + 1).reduce((a, b) => a * b, 1);
      const gx = new Float32Array(xd.reduce((a, b) => a * b, 1));
      let offset = 0;
      node.outputs.forEach((name, k) => {
        const len = dimsOf(ctx, name)[axis];
        const g = gs[k];
        if (g) for (let o = 0; o < outer; o++) gx.set(g.subarray(o * len * inner, (o + 1) * len * inner), (o * xd[axis] + offset) * inner);
        offset += len;
      });
      return [gx, ...node.inputs.slice(1).map(() => null)];
    },
  },
  {
    type: 'Slice', category: 'routing', arity: (opset) => (opset < 10 ? ONE_IN_ONE_OUT : [3, 5, 1, 1]), ...MOVES, lowering: { vjp: lowerSliceVjp },
    vjp(ctx, [g]) {
      const { node } = ctx;
      const xd = dimsOf(ctx, node.inputs[0]);
      const yd = dimsOf(ctx, node.outputs[0]);
      const { begin, step } = sliceWindow(ctx);
      const map = mapByCoords(yd, xd, (o, i) => { for (let d = 0; d < xd.length; d++) i[d] = begin[d] + o[d] * step[d]; return true; });
      return [scatter(map, g!, xd.reduce((a, b) => a * b, 1)), ...node.inputs.slice(1).map(() => null)];
    },
  },
  {
    // the pad value may be negative
    type: 'Pad', category: 'routing', arity: (opset) => (opset < 11 ? ONE_IN_ONE_OUT : [2, 4, 1, 1]), ...MOVES, sign: 'any', note: 'all-zero pads removed; a zero Pad before an AveragePool that counts padding merged into it',
    vjp(ctx, [g]) {
      const { node } = ctx;
      const xd = dimsOf(ctx, node.inputs[0]);
      const yd = dimsOf(ctx, node.outputs[0]);
      const mode = attrString(node, 'mode', 'constant');
      const raw = (ctx.opset >= 11 ? inputOrAttr(ctx, 1, 'pads') : attrInts(node, 'pads', attrInts(node, 'paddings', []))) ?? [];
      const axes = (ctx.opset >= 18 && node.inputs[3] ? toNumbers(ctx.value(node.inputs[3])) : xd.map((_, i) => i)).map((a) => normAxis(a, xd.length));
      const begin = xd.map(() => 0);
      axes.forEach((a, k) => { begin[a] = raw[k]; });
      const map = mapByCoords(yd, xd, (o, i) => {
        for (let d = 0; d < xd.length; d++) {
          let c = o[d] - begin[d];
          const n = xd[d];
          if (c < 0 || c >= n) {
            if (mode === 'constant') return false;
            if (mode === 'edge') c = Math.min(Math.max(c, 0), n - 1);
            else if (mode === 'reflect') { const p = 2 * (n - 1) || 1; c = ((c % p) + p) % p; if (c >= n) c = p - c; }
            else if (mode === 'wrap') c = ((c % n) + n) % n;
            else fail(node, `pad mode '${mode}' is not supported`);
          }
          i[d] = c;
        }
        return true;
      });
      return [scatter(map, g!, xd.reduce((a, b) => a * b, 1)), ...node.inputs.slice(1).map(() => null)];
    },
  },
  {
    type: 'Gather', arity: TWO_IN_ONE_OUT, ...MOVES, lowering: { vjp: lowerGatherVjp },
    // a table of constants read by live ids: token embeddings (relevance per token: the sum over the width)
    category: (node, graph) => (graph.isConstant(node.inputs[0]) && !graph.isConstant(node.inputs[1]) ? 'embedding' : 'routing'),
    categories: [
      { category: 'routing', when: 'of a live tensor (CLS pooling: position 0)' },
      { category: 'embedding', when: 'of a constant table by live int64 ids (token embeddings)' },
    ],
    vjp(ctx, [g]) {
      const { node } = ctx;
      const xd = dimsOf(ctx, node.inputs[0]);
      const idxT: Tensor = ctx.value(node.inputs[1]);
      const idx = toNumbers(idxT);
      const axis = normAxis(attrInt(node, 'axis', 0), xd.length);
      const yd = [...xd.slice(0, axis), ...idxT.dims, ...xd.slice(axis + 1)];
      const q = idxT.dims.length;
      const is = strides(idxT.dims);
      const map = mapByCoords(yd, xd, (o, i) => {
        let k = 0;
        for (let d = 0; d < q; d++) k += o[axis + d] * is[d];
        for (let d = 0; d < axis; d++) i[d] = o[d];
        i[axis] = idx[k] < 0 ? idx[k] + xd[axis] : idx[k];
        for (let d = axis + 1; d < xd.length; d++) i[d] = o[d + q - 1];
        return true;
      });
      return [scatter(map, g!, xd.reduce((a, b) => a * b, 1)), null];
    },
  },
  {
    // masked_fill / torch.where: each output element comes from X or Y (a constant fill gets no relevance)
    type: 'Where', arity: [3, 3, 1, 1], outputDtype: (_node, input) => input(1), sign: 'any', lowering: { vjp: lowerWhereVjp },
    category: (node, graph) => (isConst(graph, node, 1) && isConst(graph, node, 2) ? 'shape' : 'routing'),
    categories: [
      { category: 'routing', when: 'selecting from a live tensor (masked_fill, causal masks): the fill gets no relevance' },
      { category: 'shape', when: 'of constants and shapes' },
    ],
    vjp(ctx, [g]) {
      const { node } = ctx;
      const yd = dimsOf(ctx, node.outputs[0]);
      const cond = toNumbers(ctx.value(node.inputs[0]));
      const cmap = broadcastMap(dimsOf(ctx, node.inputs[0]), yd);
      const out = [1, 2].map((i) => (ctx.isConstant(node.inputs[i]) ? null : new Float32Array(ctx.value(node.inputs[i]).data.length)));
      const maps = [1, 2].map((i) => broadcastMap(dimsOf(ctx, node.inputs[i]), yd));
      for (let o = 0; o < g!.length; o++) {
        const k = cond[cmap[o]] ? 0 : 1;
        const r = out[k];
        if (r) r[maps[k][o]] += g![o];
      }
      return [null, ...out];
    },
  },
  {
    // torch.triu / tril: the kept triangle of the last two dims routes back, the zeroed part gets nothing
    type: 'Trilu', arity: [1, 2, 1, 1], ...MOVES,
    // the same triangle of g
    lowering: { vjp: (b, ctx, [, k], _y, g) => [b.op('Trilu', k ? [g, k] : [g], { upper: attrInt(ctx.node, 'upper', 1) }), null] },
    category: (node, graph) => (isConst(graph, node, 0) ? 'shape' : 'routing'),
    categories: [
      { category: 'routing', when: 'of a live tensor' },
      { category: 'shape', when: 'of constants and shapes (causal masks)' },
    ],
    vjp(ctx, [g]) {
      const { node } = ctx;
      const d = dimsOf(ctx, node.inputs[0]);
      if (d.length < 2) fail(node, 'needs an input of rank ≥ 2');
      const k = node.inputs[1] ? Number(toNumbers(ctx.value(node.inputs[1]))[0]) : 0;
      const upper = attrInt(node, 'upper', 1) === 1;
      const [N, M] = d.slice(-2);
      return [g!.map((v, o) => { const j = o % M; const i = Math.floor(o / M) % N; return (upper ? j - i >= k : j - i <= k) ? v : 0; }), null];
    },
  },
  {
    type: 'Expand', category: 'routing', arity: TWO_IN_ONE_OUT, ...MOVES,
    lowering: { vjp: (b, ctx, [x], y, g) => [sumTo(b, g, ctx.value(x).dims, ctx.value(y).dims), null] },
    vjp(ctx, [g]) {
      const xd = dimsOf(ctx, ctx.node.inputs[0]);
      const yd = dimsOf(ctx, ctx.node.outputs[0]);
      return [scatter(broadcastMap(xd, yd), g!, xd.reduce((a, b) => a * b, 1)), null];
    },
  },
  {
    type: 'Tile', category: 'routing', arity: TWO_IN_ONE_OUT, ...MOVES,
    vjp(ctx, [g]) {
      const xd = dimsOf(ctx, ctx.node.inputs[0]);
      const yd = dimsOf(ctx, ctx.node.outputs[0]);
      const map = mapByCoords(yd, xd, (o, i) => { for (let d = 0; d < xd.length; d++) i[d] = o[d] % xd[d]; return true; });
      return [scatter(map, g!, xd.reduce((a, b) => a * b, 1)), null];
    },
  },
];
