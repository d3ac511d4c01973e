/** Conv (1-D/2-D/3-D, strides, pads, auto_pad, dilations, groups) and ConvTranspose. */
import { Graph, Node } from '../ir/graph';
import { convKernel, convTransposeKernel } from '../kernels/conv';
import { outputLength, resolvePads, windowTable } from '../kernels/window';
import { Tensor } from '../tensor';
import { WeightMod } from '../kernels/kernel';
import { OpDef, NodeContext, WeightLayout, attrInt, attrInts, attrString, f32, fail, isConst } from './op';
import { LinearLowering, NotLowered, OnnxBuilder, WeightSource, notLowered } from './lowering';

function convLinear(ctx: NodeContext) {
  const { node } = ctx;
  const x = ctx.value(node.inputs[0]);
  const w = ctx.value(node.inputs[1]);
  const D = x.dims.length - 2;
  if (D < 1) fail(node, `input of shape [${x.dims}] has no spatial dimensions`);
  if (w.dims.length !== D + 2) fail(node, `weight [${w.dims}] does not match input [${x.dims}]`);
  const groups = attrInt(node, 'group', 1);
  const kernel = attrInts(node, 'kernel_shape', w.dims.slice(2));
  const stridesA = attrInts(node, 'strides', new Array(D).fill(1));
  const dil = attrInts(node, 'dilations', new Array(D).fill(1));
  const inSpatial = x.dims.slice(2);
  const pads = resolvePads(attrString(node, 'auto_pad', 'NOTSET'), inSpatial, kernel, stridesA, dil, attrInts(node, 'pads', []));
  const outSpatial = inSpatial.map((n, d) => outputLength(n, kernel[d], stridesA[d], dil[d], pads.begin[d], pads.end[d]));
  const [N, C] = x.dims;
  const M = w.dims[0];
  if (C !== w.dims[1] * groups) fail(node, `input has ${C} channels, weight [${w.dims}] with group=${groups} expects ${w.dims[1] * groups}`);
  if (M % groups) fail(node, `${M} output channels are not divisible into ${groups} groups`);
  const table = windowTable({ inSpatial, outSpatial, kernel, strides: stridesA, dilations: dil, padsBegin: pads.begin });
  const bias = node.inputs[2] ? f32(ctx.value(node.inputs[2])) : null;
  return { kernel: convKernel({ batch: N, inChannels: C, outChannels: M, groups, table }, f32(w), bias), live: [0] };
}

function convTransposeLinear(ctx: NodeContext) {
  const { node } = ctx;
  const x = ctx.value(node.inputs[0]);
  const w = ctx.value(node.inputs[1]);
  const y = ctx.value(node.outputs[0]);
  const D = x.dims.length - 2;
  const groups = attrInt(node, 'group', 1);
  const kernel = attrInts(node, 'kernel_shape', w.dims.slice(2));
  const stridesA = attrInts(node, 'strides', new Array(D).fill(1));
  const dil = attrInts(node, 'dilations', new Array(D).fill(1));
  const ySpatial = y.dims.slice(2);
  const xSpatial = x.dims.slice(2);
  // pads as the output actually produced them (auto_pad and output_shape resolved by onnxruntime)
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const outPad = attrInts(node, 'output_padding', new Array(D).fill(0));
  let begin: number[];
  if (autoPad === 'NOTSET' && !node.attrs.output_shape) {
    begin = attrInts(node, 'pads', new Array(2 * D).fill(0)).slice(0, D);
  } else {
    begin = [];
    for (let d = 0; d < D; d++) {
      const total = stridesA[d] * (xSpatial[d] - 1) + outPad[d] + (kernel[d] - 1) * dil[d] + 1 - ySpatial[d];
      begin.push(autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : total - Math.floor(total / 2));
    }
  }
  const [N, Cin] = x.dims;
  const Cout = y.dims[1];
  if (w.dims[0] !== Cin) fail(node, `input has ${Cin} channels, weight is [${w.dims}]`);
  const table = windowTable({ inSpatial: ySpatial, outSpatial: xSpatial, kernel, strides: stridesA, dilations: dil, padsBegin: begin });
  const bias = node.inputs[2] ? f32(ctx.value(node.inputs[2])) : null;
  return { kernel: convTransposeKernel({ batch: N, inChannels: Cout, outChannels: Cin, groups, table }, f32(w), bias), live: [0] };
}

const f32t = (dims: readonly number[], data: Float32Array): Tensor => ({ dtype: 'float32', dims: [...dims], data });
const range = (n: number, v: number) => new Array<number>(n).fill(v);

/** Conv weight [M, C/g, k…] → the weight of the Conv that computes its transpose at stride 1:
 * [C, M/g, k…], spatially flipped. */
function flipTranspose(w: Float32Array, dims: readonly number[], group: number): Float32Array {
  const [M, Cg] = dims;
  const K = dims.slice(2).reduce((a, b) => a * b, 1);
  const Mg = M / group;
  const out = new Float32Array(w.length);
  if (K === 1) {
    // 1×1 kernels: a transpose per group, in tiles (a row-by-row scatter misses the cache on every write)
    const T = 32;
    for (let g = 0; g < group; g++) {
      const src = g * Mg * Cg;
      for (let m0 = 0; m0 < Mg; m0 += T) {
        for (let c0 = 0; c0 < Cg; c0 += T) {
          const m1 = Math.min(m0 + T, Mg), c1 = Math.min(c0 + T, Cg);
          for (let c = c0; c < c1; c++) for (let m = m0; m < m1; m++) out[src + c * Mg + m] = w[src + m * Cg + c];
        }
      }
    }
    return out;
  }
  for (let g = 0; g < group; g++) {
    for (let m = 0; m < Mg; m++) {
      for (let c = 0; c < Cg; c++) {
        const src = ((g * Mg + m) * Cg + c) * K;
        const dst = ((g * Cg + c) * Mg + m) * K;
        for (let k = 0; k < K; k++) out[dst + K - 1 - k] = w[src + k];
      }
    }
  }
  return out;
}

/** Conv: the op itself on modified weights; its transpose a Conv on flipped weights at stride 1 when the pads
 * allow, else a ConvTranspose. */
function lowerConv(ctx: NodeContext, store: WeightSource): LinearLowering | NotLowered {
  const { node } = ctx;
  if (!ctx.isConstant(node.inputs[1]) || (node.inputs[2] && !ctx.isConstant(node.inputs[2]))) return notLowered('a live weight or bias');
  const x = ctx.value(node.inputs[0]);
  const w = ctx.value(node.inputs[1]);
  const D = x.dims.length - 2;
  if (D < 1 || w.dims.length !== D + 2 || w.dtype !== 'float32') return notLowered(`input [${x.dims}] and weight [${w.dims}] (${w.dtype}) are not a float32 convolution`);
  const group = attrInt(node, 'group', 1);
  const kernel = attrInts(node, 'kernel_shape', w.dims.slice(2));
  const strides = attrInts(node, 'strides', range(D, 1));
  const dil = attrInts(node, 'dilations', range(D, 1));
  const inSp = x.dims.slice(2);
  const pads = resolvePads(attrString(node, 'auto_pad', 'NOTSET'), inSp, kernel, strides, dil, attrInts(node, 'pads', []));
  const outSp = inSp.map((n, d) => outputLength(n, kernel[d], strides[d], dil[d], pads.begin[d], pads.end[d]));
  if (ctx.has(node.outputs[0]) && ctx.value(node.outputs[0]).dims.slice(2).some((v, d) => v !== outSp[d])) return notLowered('its output shape is not the one its attributes give');
  const W = f32(w);
  const B = node.inputs[2] ? f32(ctx.value(node.inputs[2])) : null;
  const attrs = { group, kernel_shape: kernel, strides, dilations: dil, pads: [...pads.begin, ...pads.end] };
  // 1×1 kernels: weights fed at every run (no copy in the session, quick to create; onnxruntime's NCHWc
  // layout gains nothing there). Spatial kernels: initializers, so that onnxruntime reorders them for NCHWc.
  const fed = kernel.every((k) => k === 1);
  const tensorOf = (dims: number[], make: () => Float32Array) => (b: OnnxBuilder, key: string) =>
    (fed ? b.feed(key, f32t(dims, make())) : b.constant(key, () => f32t(dims, make())));
  const weight = (b: OnnxBuilder, m: WeightMod) => tensorOf([...w.dims], () => store.get(node.name, 'W', W, m, 1, fed))(b, `W:${m.key}`);
  const eff = kernel.map((k, d) => (k - 1) * dil[d]);
  const asConv = strides.every((s) => s === 1) && eff.every((e, d) => e >= pads.begin[d] && e >= pads.end[d]);
  const flipped = (b: OnnxBuilder, m: WeightMod) => {
    const C = w.dims[1] * group;
    const make = () => store.derived(`${node.name}\u0000flip\u0000${m.key}`, () => flipTranspose(store.get(node.name, 'W', W, m, 1, false), w.dims, group), fed);
    return tensorOf([C, w.dims[0] / group, ...w.dims.slice(2)], make)(b, `Wt:${m.key}`);
  };
  return {
    live: [0],
    hasBias: B !== null,
    // NCHWc pays off for spatial kernels (their weights are initializers); for 1×1 the reorders cost as much as they save
    layout: !fed,
    forward(b, [xv], m, bm) {
      const ins = [xv, weight(b, m)];
      if (B && bm) ins.push(b.constant(`B:${bm.key}`, () => f32t([B.length], store.get(node.name, 'B', B, bm, 1, false))));
      return b.op('Conv', ins, attrs);
    },
    transposed(b, g, m) {
      if (asConv) {
        const wf = flipped(b, m);
        const p = [...eff.map((e, d) => e - pads.begin[d]), ...eff.map((e, d) => e - pads.end[d])];
        return [b.op('Conv', [g, wf], { group, kernel_shape: kernel, strides, dilations: dil, pads: p })];
      }
      const outPad = inSp.map((n, d) => n - (strides[d] * (outSp[d] - 1) + eff[d] + 1 - pads.begin[d] - pads.end[d]));
      return [b.op('ConvTranspose', [g, weight(b, m)], { ...attrs, output_padding: outPad })];
    },
  };
}

const CONV_CATEGORIES = [{ category: 'conv' as const, when: 'with a constant weight' }];

function convCategory(node: Node, graph: Graph) {
  if (!isConst(graph, node, 1)) throw new Error(`node '${node.name}' (${node.opType}): a live (non-constant) weight is not supported`);
  return 'conv' as const;
}

const group = (node: Node) => (node.attrs.group as number | undefined) ?? 1;

const CONV_WEIGHTS: WeightLayout = {
  // W [M, C/group, k…]
  channels(_node, w) {
    const inner = w.dims.slice(1).reduce((a, b) => a * b, 1);
    return { M: w.dims[0], of: (i) => Math.floor(i / inner) };
  },
  channelAxis: 1,
  outputRank: (_node, rank) => rank,
  foldable: () => true,
};

const CONV_TRANSPOSE_WEIGHTS: WeightLayout = {
  // W [C, M/group, k…]
  channels(node, w) {
    const d = w.dims;
    const perGroup = d[1];
    const inner = d.slice(2).reduce((a, b) => a * b, 1);
    const inPerGroup = d[0] / group(node);
    return { M: perGroup * group(node), of: (i) => { const k = Math.floor(i / inner); return Math.floor(Math.floor(k / perGroup) / inPerGroup) * perGroup + (k % perGroup); } };
  },
  channelAxis: 1,
  outputRank: (_node, rank) => rank,
  foldable: () => true,
};

const CONV_FACTS = { arity: [2, 3, 1, 1], outputDtype: 'input', sign: 'any' } as const;

export const ops: OpDef[] = [
  {
    type: 'Conv', category: convCategory, categories: CONV_CATEGORIES, linear: convLinear, ...CONV_FACTS, weights: CONV_WEIGHTS,
    lowering: { linear: lowerConv },
    note: 'a BatchNormalization, Mul/Div by a per-channel constant and Add of one right after it are merged into it',
  },
  {
    type: 'ConvTranspose', category: convCategory, categories: CONV_CATEGORIES, linear: convTransposeLinear, ...CONV_FACTS, weights: CONV_TRANSPOSE_WEIGHTS,
    lowering: notLowered('no lowering yet (reference kernels)'), note: 'as Conv',
  },
];
