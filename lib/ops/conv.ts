/** Conv (1-D/2-D/3-D, strides, pads, auto_pad, dilations, groups) and ConvTranspose. */
import { Graph, Node } from '../ir/graph';
import { convKernel, convTransposeKernel } from '../kernels/conv';
import { outputLength, resolvePads, windowTable } from '../kernels/window';
import { OpDef, NodeContext, attrInt, attrInts, attrString, f32, fail, isConst } from './op';

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

const CONV_CATEGORIES = [{ category: 'conv' as const, when: 'with a constant weight' }];

function convCategory(node: Node, graph: Graph) {
  if (!isConst(graph, node, 1)) throw new Error(`node '${node.name}' (${node.opType}): a live (non-constant) weight is not supported`);
  return 'conv' as const;
}

export const ops: OpDef[] = [
  { type: 'Conv', category: convCategory, categories: CONV_CATEGORIES, linear: convLinear, note: 'a BatchNormalization, Mul/Div by a per-channel constant and Add of one right after it are merged into it' },
  { type: 'ConvTranspose', category: convCategory, categories: CONV_CATEGORIES, linear: convTransposeLinear, note: 'as Conv' },
];
