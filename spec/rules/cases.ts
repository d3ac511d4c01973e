/** Seeded layer cases for the rule tests: each pairs a library kernel with the explicit float64 matrix of the
 * same layer (built by ./reference from the ONNX definitions). Test-only code. */
import { LinearKernel } from '../../lib/kernels/kernel';
import { denseKernel } from '../../lib/kernels/dense';
import { convKernel, convTransposeKernel } from '../../lib/kernels/conv';
import { avgPoolKernel, meanKernel } from '../../lib/kernels/pool';
import { windowTable } from '../../lib/kernels/window';
import {
  ConvGeometry, ConvTransposeGeometry, DenseLayer, PoolGeometry, avgPoolDense, convDense, convTransposeDense, denseLayer, meanDense,
  prng, uniform,
} from './reference';

export type Family = 'dense' | 'conv1d' | 'conv2d' | 'conv3d' | 'convTranspose' | 'avgPool';
export const FAMILIES: Family[] = ['dense', 'conv1d', 'conv2d', 'conv3d', 'convTranspose', 'avgPool'];

export interface LayerCase {
  family: Family;
  label: string;
  kernel: LinearKernel;
  ref: DenseLayer;
  /** dims of the live input, batch first */
  xDims: number[];
  /** channels of the input (axis 1) */
  channels: number;
  hasBias: boolean;
  weight: Float32Array | null;
  bias: Float32Array | null;
}

const D = (n: number, v: number) => new Array<number>(n).fill(v);

export function denseCase(seed: number, rows: number, K: number, M: number, withBias: boolean, zeros = 0.1): LayerCase {
  const rand = prng(seed);
  const w = uniform(rand, K * M, -1, 1, zeros);
  const b = withBias ? uniform(rand, M, -0.5, 0.5) : null;
  return {
    family: 'dense', label: `dense rows=${rows} K=${K} M=${M}${withBias ? ' +bias' : ''}`,
    kernel: denseKernel(rows, K, M, w, b), ref: denseLayer(rows, K, M, w, b),
    xDims: [rows, K], channels: K, hasBias: withBias, weight: w, bias: b,
  };
}

function describeGeom(g: { kernel: number[]; strides?: number[]; dilations?: number[]; padsBegin?: number[]; padsEnd?: number[] }): string {
  const k = g.kernel.length;
  return `k=${g.kernel} s=${g.strides ?? D(k, 1)} d=${g.dilations ?? D(k, 1)} p=${g.padsBegin ?? D(k, 0)}/${g.padsEnd ?? D(k, 0)}`;
}

export function convCase(seed: number, g: ConvGeometry, withBias: boolean, zeros = 0.1): LayerCase {
  const rand = prng(seed);
  const nd = g.kernel.length;
  const T = g.kernel.reduce((a, v) => a * v, 1);
  const w = uniform(rand, g.outChannels * (g.inChannels / g.groups) * T, -1, 1, zeros);
  const b = withBias ? uniform(rand, g.outChannels, -0.5, 0.5) : null;
  const ref = convDense(g, w, b);
  const table = windowTable({
    inSpatial: g.inSpatial, outSpatial: ref.outSpatial, kernel: g.kernel,
    strides: g.strides ?? D(nd, 1), dilations: g.dilations ?? D(nd, 1), padsBegin: g.padsBegin ?? D(nd, 0),
  });
  const kernel = convKernel({ batch: g.batch, inChannels: g.inChannels, outChannels: g.outChannels, groups: g.groups, table }, w, b);
  return {
    family: `conv${nd}d` as Family,
    label: `conv${nd}d N=${g.batch} C=${g.inChannels} M=${g.outChannels} G=${g.groups} in=${g.inSpatial} ${describeGeom(g)}${withBias ? ' +bias' : ''}`,
    kernel, ref, xDims: [g.batch, g.inChannels, ...g.inSpatial], channels: g.inChannels, hasBias: withBias, weight: w, bias: b,
  };
}

/** g.inChannels / g.outChannels are the ConvTranspose's own; weight [Cin, Cout/G, ...k]. */
export function convTransposeCase(seed: number, g: ConvTransposeGeometry, withBias: boolean, zeros = 0.1): LayerCase {
  const rand = prng(seed);
  const nd = g.kernel.length;
  const T = g.kernel.reduce((a, v) => a * v, 1);
  const w = uniform(rand, g.inChannels * (g.outChannels / g.groups) * T, -1, 1, zeros);
  const b = withBias ? uniform(rand, g.outChannels, -0.5, 0.5) : null;
  const ref = convTransposeDense(g, w, b);
  // the library describes a ConvTranspose by the Conv it is the adjoint of: input = our output
  const table = windowTable({
    inSpatial: ref.outSpatial, outSpatial: g.inSpatial, kernel: g.kernel,
    strides: g.strides ?? D(nd, 1), dilations: g.dilations ?? D(nd, 1), padsBegin: g.padsBegin ?? D(nd, 0),
  });
  const kernel = convTransposeKernel({ batch: g.batch, inChannels: g.outChannels, outChannels: g.inChannels, groups: g.groups, table }, w, b);
  return {
    family: 'convTranspose',
    label: `convTranspose${nd}d N=${g.batch} Cin=${g.inChannels} Cout=${g.outChannels} G=${g.groups} in=${g.inSpatial} out=${ref.outSpatial} ${describeGeom(g)} op=${g.outputPadding ?? D(nd, 0)}${withBias ? ' +bias' : ''}`,
    kernel, ref, xDims: [g.batch, g.inChannels, ...g.inSpatial], channels: g.inChannels, hasBias: withBias, weight: w, bias: b,
  };
}

export function avgPoolCase(g: PoolGeometry): LayerCase {
  const nd = g.kernel.length;
  const ref = avgPoolDense(g);
  const table = windowTable({
    inSpatial: g.inSpatial, outSpatial: ref.outSpatial, kernel: g.kernel,
    strides: g.strides ?? D(nd, 1), dilations: g.dilations ?? D(nd, 1), padsBegin: g.padsBegin ?? D(nd, 0),
  });
  return {
    family: 'avgPool',
    label: `avgPool${nd}d N=${g.batch} C=${g.channels} in=${g.inSpatial} ${describeGeom(g)} count_include_pad=${g.countIncludePad ? 1 : 0}`,
    kernel: avgPoolKernel(g.batch, g.channels, table, g.countIncludePad), ref,
    xDims: [g.batch, g.channels, ...g.inSpatial], channels: g.channels, hasBias: false, weight: null, bias: null,
  };
}

export function meanCase(batch: number, channels: number, spatial: number[]): LayerCase {
  const size = spatial.reduce((a, v) => a * v, 1);
  return {
    family: 'avgPool', label: `globalAveragePool N=${batch} C=${channels} in=${spatial}`,
    kernel: meanKernel(batch * channels, size), ref: meanDense(batch * channels, size),
    xDims: [batch, channels, ...spatial], channels, hasBias: false, weight: null, bias: null,
  };
}

const CONV_GEOMETRIES: ConvGeometry[] = [
  // 1-D
  { batch: 1, inChannels: 1, outChannels: 1, groups: 1, inSpatial: [6], kernel: [3] },
  { batch: 1, inChannels: 2, outChannels: 3, groups: 1, inSpatial: [7], kernel: [3], strides: [2], padsBegin: [1], padsEnd: [1] },
  { batch: 1, inChannels: 4, outChannels: 4, groups: 2, inSpatial: [6], kernel: [2], dilations: [2], padsBegin: [1], padsEnd: [0] },
  { batch: 1, inChannels: 3, outChannels: 3, groups: 3, inSpatial: [5], kernel: [3], padsBegin: [2], padsEnd: [2] },
  { batch: 2, inChannels: 2, outChannels: 4, groups: 2, inSpatial: [7], kernel: [1], strides: [3] },
  { batch: 1, inChannels: 2, outChannels: 2, groups: 1, inSpatial: [8], kernel: [3], strides: [2], dilations: [3], padsBegin: [0], padsEnd: [2] },
  // 2-D
  { batch: 1, inChannels: 1, outChannels: 2, groups: 1, inSpatial: [5, 5], kernel: [3, 3], padsBegin: [1, 1], padsEnd: [1, 1] },
  { batch: 2, inChannels: 2, outChannels: 2, groups: 1, inSpatial: [6, 5], kernel: [2, 3], strides: [2, 1], dilations: [1, 2], padsBegin: [0, 1], padsEnd: [1, 0] },
  { batch: 1, inChannels: 4, outChannels: 4, groups: 4, inSpatial: [4, 4], kernel: [3, 3], padsBegin: [1, 1], padsEnd: [1, 1] },
  { batch: 1, inChannels: 4, outChannels: 8, groups: 4, inSpatial: [5, 5], kernel: [3, 3], strides: [2, 2], padsBegin: [1, 1], padsEnd: [1, 1] },
  { batch: 1, inChannels: 4, outChannels: 2, groups: 2, inSpatial: [3, 4], kernel: [1, 1] },
  { batch: 1, inChannels: 3, outChannels: 2, groups: 1, inSpatial: [6, 6], kernel: [3, 2], strides: [1, 2], dilations: [2, 1], padsBegin: [2, 0], padsEnd: [1, 1] },
  // 3-D
  { batch: 1, inChannels: 1, outChannels: 2, groups: 1, inSpatial: [3, 3, 3], kernel: [3, 3, 3], padsBegin: [1, 1, 1], padsEnd: [1, 1, 1] },
  { batch: 1, inChannels: 2, outChannels: 2, groups: 2, inSpatial: [3, 4, 4], kernel: [2, 2, 2], strides: [1, 2, 1], dilations: [1, 1, 2], padsBegin: [0, 1, 0], padsEnd: [1, 0, 1] },
  { batch: 2, inChannels: 4, outChannels: 4, groups: 4, inSpatial: [2, 4, 3], kernel: [1, 3, 1], strides: [2, 2, 2], padsBegin: [0, 1, 0], padsEnd: [0, 1, 0] },
];

const CONV_TRANSPOSE_GEOMETRIES: ConvTransposeGeometry[] = [
  { batch: 1, inChannels: 2, outChannels: 3, groups: 1, inSpatial: [4], kernel: [3], strides: [2], padsBegin: [1], padsEnd: [0], outputPadding: [1] },
  { batch: 1, inChannels: 4, outChannels: 2, groups: 2, inSpatial: [5], kernel: [2], dilations: [2] },
  { batch: 1, inChannels: 1, outChannels: 1, groups: 1, inSpatial: [3], kernel: [1], strides: [3], outputPadding: [2] },
  { batch: 1, inChannels: 2, outChannels: 2, groups: 1, inSpatial: [3, 3], kernel: [3, 3], strides: [2, 2], padsBegin: [1, 1], padsEnd: [1, 1], outputPadding: [1, 0] },
  { batch: 2, inChannels: 4, outChannels: 4, groups: 4, inSpatial: [3, 3], kernel: [2, 2], strides: [2, 1] },
  { batch: 1, inChannels: 3, outChannels: 2, groups: 1, inSpatial: [2, 3], kernel: [2, 3], dilations: [2, 1], padsBegin: [0, 1], padsEnd: [1, 1] },
  { batch: 1, inChannels: 2, outChannels: 2, groups: 1, inSpatial: [2, 2, 2], kernel: [2, 2, 2], strides: [2, 2, 2] },
  { batch: 1, inChannels: 2, outChannels: 4, groups: 2, inSpatial: [2, 3, 2], kernel: [1, 2, 3], strides: [1, 2, 1], padsBegin: [0, 0, 1], padsEnd: [0, 1, 1] },
];

const POOL_GEOMETRIES: Omit<PoolGeometry, 'countIncludePad'>[] = [
  { batch: 1, channels: 2, inSpatial: [6], kernel: [3], padsBegin: [1], padsEnd: [1] },
  { batch: 1, channels: 1, inSpatial: [7], kernel: [2], strides: [2], dilations: [2], padsBegin: [1], padsEnd: [0] },
  { batch: 2, channels: 2, inSpatial: [5, 5], kernel: [3, 3], strides: [2, 2], padsBegin: [1, 1], padsEnd: [1, 1] },
  { batch: 1, channels: 3, inSpatial: [5, 6], kernel: [2, 3], strides: [1, 2], dilations: [2, 1], padsBegin: [1, 0], padsEnd: [0, 1] },
  { batch: 1, channels: 2, inSpatial: [4, 4], kernel: [2, 2], strides: [2, 2] },
  { batch: 1, channels: 2, inSpatial: [3, 3, 3], kernel: [2, 2, 2], padsBegin: [1, 0, 1], padsEnd: [1, 0, 0] },
];

const DENSE_SHAPES: [number, number, number][] = [
  [1, 4, 3], [2, 5, 2], [3, 3, 3], [1, 1, 1], [2, 6, 4], [1, 3, 5], [3, 2, 2],
];

/** Every case of the grid, bias on and off for the layers that have one. */
export function allCases(): LayerCase[] {
  const out: LayerCase[] = [];
  let seed = 1000;
  for (const [rows, K, M] of DENSE_SHAPES) {
    seed++;
    for (const b of [false, true]) out.push(denseCase(seed, rows, K, M, b));
  }
  for (const g of CONV_GEOMETRIES) {
    seed++;
    for (const b of [false, true]) out.push(convCase(seed, g, b));
  }
  for (const g of CONV_TRANSPOSE_GEOMETRIES) {
    seed++;
    for (const b of [false, true]) out.push(convTransposeCase(seed, g, b));
  }
  for (const g of POOL_GEOMETRIES) {
    for (const c of [false, true]) out.push(avgPoolCase({ ...g, countIncludePad: c }));
  }
  out.push(meanCase(1, 3, [3, 3]), meanCase(2, 2, [5]));
  return out;
}

export type InputKind = 'mixed' | 'relu';
export const INPUT_KINDS: InputKind[] = ['mixed', 'relu'];

/** Inputs in [−1, 1] (a tenth exactly 0), or their positive part (post-ReLU). */
export function makeInput(seed: number, n: number, kind: InputKind): Float32Array {
  const x = uniform(prng(seed), n, -1, 1, 0.1);
  return kind === 'relu' ? x.map((v) => (v > 0 ? v : 0)) : x;
}
