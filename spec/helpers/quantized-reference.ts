/** An exact integer reference of a quantized ONNX graph, for tests: what the ONNX spec (and onnxruntime's
 * contrib-op docs for the com.microsoft QLinear ops) define, computed in plain JS on every CPU alike.
 * onnxruntime's own int8 kernels are not a ground truth: they differ by CPU (on AVX2 without VNNI, u8·s8
 * products are summed pairwise in 16 bits and saturate), so the specs compare the float twin against this.
 *
 * - QuantizeLinear: saturate(round_half_even(x / scale) + zero_point), x/scale in float64.
 * - QLinearConv / QLinearMatMul: Σ (x − x_zp)(w − w_zp) (+ int32 bias) accumulated exactly (checked against
 *   the int32 range), then requantized as saturate(round_half_even(acc · (x_scale·w_scale / y_scale)) + y_zp)
 *   with the real multiplier in float64 (per output channel / column where the weight is per channel).
 * - com.microsoft QLinearAdd/Mul/Sigmoid/LeakyRelu/GlobalAveragePool/AveragePool/Concat: the dequantized
 *   values combined in float64, then quantized as above.
 * - DequantizeLinear: (q − zp)·scale in float64; float Conv (QDQ models) in float64.
 * - Routing ops (Reshape, Flatten, Identity, Transpose, MaxPool, Pad, Shape, Gather, Unsqueeze, Concat) move
 *   values without arithmetic.
 * Scales are the stored float32 values, widened exactly. Any other op throws, naming the node. */
import { Graph, Node } from '../../lib/ir/graph';
import { DType, Tensor, toNumbers } from '../../lib/tensor';
import {
  QRANGES, broadcastDims, broadcastIndex, checkInt32, conv2d, matmul, pool2d, roundHalfEven, saturate, sizeOf, stridesOf,
} from './quantized-kernels';

/** A value of the reference: integers (quantized values, shapes) or reals, all held in float64. */
export interface RefValue {
  dtype: DType;
  dims: number[];
  data: Float64Array;
}

const FLOAT = new Set<DType>(['float32', 'float64', 'float16']);

export function refValue(t: Tensor): RefValue {
  return { dtype: t.dtype, dims: [...t.dims], data: Float64Array.from(toNumbers(t)) };
}

function fail(n: Node, msg: string): never {
  throw new Error(`quantized reference: node '${n.name}' (${n.domain ? `${n.domain}.` : ''}${n.opType}): ${msg}`);
}

/** The channel index of each element: per tensor (one scale) or along `axis`. */
function channelOf(dims: readonly number[], count: number, axis: number, n: Node): (i: number) => number {
  if (count === 1) return () => 0;
  const ax = axis < 0 ? axis + dims.length : axis;
  if (dims[ax] !== count) fail(n, `${count} scales or zero points for axis ${axis} of shape [${dims.join(',')}]`);
  const inner = sizeOf(dims.slice(ax + 1));
  return (i) => Math.floor(i / inner) % count;
}

const zeroPoints = (z: RefValue | undefined): Float64Array => z?.data ?? Float64Array.of(0);

/** saturate(round_half_even(v) + zp) into `dtype`. */
function quantizeReal(v: number, zp: number, dtype: DType): number {
  return saturate(roundHalfEven(v) + zp, dtype);
}

function quantizeLinear(n: Node, x: RefValue, s: RefValue, z: RefValue | undefined): RefValue {
  const code = n.attrs.output_dtype as number | undefined;
  const dtype = z?.dtype ?? ({ 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32' } as Record<number, DType>)[code ?? 2];
  if (!QRANGES[dtype]) fail(n, `cannot quantize to ${dtype}`);
  const zp = zeroPoints(z), ch = channelOf(x.dims, s.data.length, (n.attrs.axis as number | undefined) ?? 1, n);
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < out.length; i++) {
    const c = ch(i);
    out[i] = quantizeReal(x.data[i] / s.data[c], zp.length === 1 ? zp[0] : zp[c], dtype);
  }
  return { dtype, dims: x.dims, data: out };
}

function dequantizeLinear(n: Node, q: RefValue, s: RefValue, z: RefValue | undefined): RefValue {
  const zp = zeroPoints(z), ch = channelOf(q.dims, s.data.length, (n.attrs.axis as number | undefined) ?? 1, n);
  const out = new Float64Array(q.data.length);
  for (let i = 0; i < out.length; i++) {
    const c = ch(i);
    out[i] = (q.data[i] - (zp.length === 1 ? zp[0] : zp[c])) * s.data[c];
  }
  return { dtype: 'float64', dims: q.dims, data: out };
}

/** q − zp per element (zero point per tensor or along `axis`). */
function centered(n: Node, q: RefValue, z: RefValue | undefined, axis: number): Float64Array {
  const zp = zeroPoints(z), ch = channelOf(q.dims, zp.length, axis, n);
  const out = new Float64Array(q.data.length);
  if (zp.length === 1) for (let i = 0; i < out.length; i++) out[i] = q.data[i] - zp[0];
  else for (let i = 0; i < out.length; i++) out[i] = q.data[i] - zp[ch(i)];
  return out;
}

function convAttrs(n: Node, wDims: number[]) {
  if (wDims.length !== 4) fail(n, `only 2-D convolutions are supported (weight [${wDims.join(',')}])`);
  const autoPad = (n.attrs.auto_pad as string | undefined) ?? 'NOTSET';
  if (autoPad !== 'NOTSET') fail(n, `auto_pad ${autoPad} is not supported`);
  return {
    group: (n.attrs.group as number | undefined) ?? 1,
    strides: (n.attrs.strides as number[] | undefined) ?? [1, 1],
    pads: (n.attrs.pads as number[] | undefined) ?? [0, 0, 0, 0],
    dilations: (n.attrs.dilations as number[] | undefined) ?? [1, 1],
    kernel: wDims.slice(2),
  };
}

function scalarOf(n: Node, v: RefValue | undefined, what: string, fallback?: number): number {
  if (!v) {
    if (fallback === undefined) fail(n, `${what} is missing`);
    return fallback;
  }
  if (v.data.length !== 1) fail(n, `${what} must be a scalar here (shape [${v.dims.join(',')}])`);
  return v.data[0];
}

function qlinearConv(n: Node, [x, xs, xz, w, ws, wz, ys, yz, b]: (RefValue | undefined)[]): RefValue {
  const a = convAttrs(n, w!.dims);
  const { data: acc, dims } = conv2d(centered(n, x!, xz, 1), x!.dims, centered(n, w!, wz, 0), w!.dims, a);
  const M = dims[1], P = dims[2] * dims[3];
  const xScale = scalarOf(n, xs, 'x_scale'), yScale = scalarOf(n, ys, 'y_scale'), yZero = scalarOf(n, yz, 'y_zero_point', 0);
  const dtype = yz?.dtype ?? 'uint8';
  const out = new Float64Array(acc.length);
  for (let nm = 0; nm < acc.length / P; nm++) {
    const m = nm % M, bias = b ? b.data[m] : 0;
    const mult = (xScale * ws!.data[ws!.data.length === 1 ? 0 : m]) / yScale;
    for (let i = nm * P; i < (nm + 1) * P; i++) {
      out[i] = quantizeReal(checkInt32(acc[i] + bias, `node '${n.name}' (QLinearConv)`) * mult, yZero, dtype);
    }
  }
  return { dtype, dims, data: out };
}

function qlinearMatMul(n: Node, [a, as, az, b, bs, bz, ys, yz]: (RefValue | undefined)[]): RefValue {
  const { data: acc, dims } = matmul(centered(n, a!, az, -2), a!.dims, centered(n, b!, bz, -1), b!.dims);
  const M = dims[dims.length - 2], N = dims[dims.length - 1];
  const yScale = scalarOf(n, ys, 'y_scale'), yZero = scalarOf(n, yz, 'y_zero_point', 0);
  const dtype = yz?.dtype ?? 'uint8';
  const out = new Float64Array(acc.length);
  for (let i = 0; i < acc.length; i++) {
    const row = Math.floor(i / N) % M, col = i % N;
    const sa = as!.data[as!.data.length === 1 ? 0 : row], sb = bs!.data[bs!.data.length === 1 ? 0 : col];
    out[i] = quantizeReal(checkInt32(acc[i], `node '${n.name}' (QLinearMatMul)`) * ((sa * sb) / yScale), yZero, dtype);
  }
  return { dtype, dims, data: out };
}

/** Dequantized values of input (value, scale, zero point), per tensor. */
function real(n: Node, q: RefValue, s: RefValue | undefined, z: RefValue | undefined, what: string): Float64Array {
  const scale = scalarOf(n, s, `${what} scale`), zp = scalarOf(n, z, `${what} zero point`, 0);
  return Float64Array.from(q.data, (v) => (v - zp) * scale);
}

function requantize(n: Node, v: Float64Array, dims: number[], ys: RefValue | undefined, yz: RefValue | undefined, fallback: DType): RefValue {
  const scale = scalarOf(n, ys, 'y_scale'), zp = scalarOf(n, yz, 'y_zero_point', 0), dtype = yz?.dtype ?? fallback;
  return { dtype, dims, data: Float64Array.from(v, (r) => quantizeReal(r / scale, zp, dtype)) };
}

function elementwise(n: Node, [a, as, az, b, bs, bz, ys, yz]: (RefValue | undefined)[], f: (x: number, y: number) => number): RefValue {
  const dims = broadcastDims(a!.dims, b!.dims, n.name);
  const ra = real(n, a!, as, az, 'A'), rb = real(n, b!, bs, bz, 'B');
  const ia = broadcastIndex(a!.dims, dims), ib = broadcastIndex(b!.dims, dims);
  const v = Float64Array.from(ia, (j, i) => f(ra[j], rb[ib[i]]));
  return requantize(n, v, dims, ys, yz, a!.dtype);
}

function unary(n: Node, [x, xs, xz, ys, yz]: (RefValue | undefined)[], f: (v: number) => number): RefValue {
  return requantize(n, real(n, x!, xs, xz, 'X').map(f), x!.dims, ys, yz, x!.dtype);
}

function poolAttrs(n: Node) {
  if (((n.attrs.ceil_mode as number | undefined) ?? 0) !== 0) fail(n, 'ceil_mode 1 is not supported');
  if (((n.attrs.auto_pad as string | undefined) ?? 'NOTSET') !== 'NOTSET') fail(n, 'auto_pad is not supported');
  if (n.attrs.channels_last === 1) fail(n, 'channels_last 1 is not supported');
  const kernel = n.attrs.kernel_shape as number[];
  if (kernel.length !== 2) fail(n, 'only 2-D pooling is supported');
  if ((n.attrs.dilations as number[] | undefined)?.some((d) => d !== 1)) fail(n, 'dilations are not supported');
  return { kernel, strides: (n.attrs.strides as number[] | undefined) ?? [1, 1], pads: (n.attrs.pads as number[] | undefined) ?? [0, 0, 0, 0] };
}

function transpose(v: RefValue, perm: number[]): RefValue {
  const dims = perm.map((p) => v.dims[p]), src = stridesOf(v.dims), dst = stridesOf(dims);
  const out = new Float64Array(v.data.length);
  for (let i = 0; i < out.length; i++) {
    let j = 0;
    for (let d = 0; d < dims.length; d++) j += (Math.floor(i / dst[d]) % dims[d]) * src[perm[d]];
    out[i] = v.data[j];
  }
  return { dtype: v.dtype, dims, data: out };
}

function concat(n: Node, parts: RefValue[], axis: number): RefValue {
  const r = parts[0].dims.length, ax = axis < 0 ? axis + r : axis;
  const outer = sizeOf(parts[0].dims.slice(0, ax));
  const dims = [...parts[0].dims];
  dims[ax] = parts.reduce((s, p) => s + p.dims[ax], 0);
  const out = new Float64Array(sizeOf(dims));
  let k = 0;
  for (let o = 0; o < outer; o++) {
    for (const p of parts) {
      if (p.dims.length !== r) fail(n, 'inputs of different ranks');
      const chunk = p.data.length / outer;
      out.set(p.data.subarray(o * chunk, (o + 1) * chunk), k);
      k += chunk;
    }
  }
  return { dtype: parts[0].dtype, dims, data: out };
}

type Evaluator = (n: Node, ins: (RefValue | undefined)[], opset: number) => RefValue;

const OPS: Record<string, Evaluator> = {
  QuantizeLinear: (n, [x, s, z]) => quantizeLinear(n, x!, s!, z),
  DequantizeLinear: (n, [q, s, z]) => dequantizeLinear(n, q!, s!, z),
  QLinearConv: qlinearConv,
  QLinearMatMul: qlinearMatMul,
  Conv: (n, [x, w, b]) => {
    if (!FLOAT.has(x!.dtype)) fail(n, `a float Conv on ${x!.dtype} values`);
    const r = conv2d(x!.data, x!.dims, w!.data, w!.dims, convAttrs(n, w!.dims));
    if (b) { const P = r.dims[2] * r.dims[3]; r.data.forEach((v, i) => { r.data[i] = v + b.data[Math.floor(i / P) % r.dims[1]]; }); }
    return { dtype: 'float64', ...r };
  },
  'com.microsoft.QLinearAdd': (n, ins) => elementwise(n, ins, (x, y) => x + y),
  'com.microsoft.QLinearMul': (n, ins) => elementwise(n, ins, (x, y) => x * y),
  'com.microsoft.QLinearSigmoid': (n, ins) => unary(n, ins, (v) => 1 / (1 + Math.exp(-v))),
  'com.microsoft.QLinearLeakyRelu': (n, ins) => {
    const alpha = Math.fround((n.attrs.alpha as number | undefined) ?? 0.01); // a float32 attribute
    return unary(n, ins, (v) => (v < 0 ? alpha * v : v));
  },
  'com.microsoft.QLinearGlobalAveragePool': (n, [x, xs, xz, ys, yz]) => {
    if (n.attrs.channels_last === 1) fail(n, 'channels_last 1 is not supported');
    const [N, C] = x!.dims, P = sizeOf(x!.dims.slice(2)), r = real(n, x!, xs, xz, 'X');
    const v = new Float64Array(N * C);
    for (let i = 0; i < N * C; i++) { let s = 0; for (let p = 0; p < P; p++) s += r[i * P + p]; v[i] = s / P; }
    return requantize(n, v, [N, C, ...x!.dims.slice(2).map(() => 1)], ys, yz, x!.dtype);
  },
  'com.microsoft.QLinearAveragePool': (n, [x, xs, xz, ys, yz]) => {
    const a = poolAttrs(n), includePad = n.attrs.count_include_pad === 1;
    const r = pool2d(real(n, x!, xs, xz, 'X'), x!.dims, a.kernel, a.strides, a.pads, (vals, full) => vals.reduce((s, v) => s + v, 0) / (includePad ? full : vals.length));
    return requantize(n, r.data, r.dims, ys, yz, x!.dtype);
  },
  'com.microsoft.QLinearConcat': (n, ins) => {
    const [ys, yz] = ins;
    const parts: RefValue[] = [];
    for (let i = 2; i < ins.length; i += 3) parts.push(requantize(n, real(n, ins[i]!, ins[i + 1], ins[i + 2], `input ${i}`), ins[i]!.dims, ys, yz, ins[i]!.dtype));
    return concat(n, parts, n.attrs.axis as number);
  },
  Identity: (_n, [x]) => x!,
  Reshape: (n, [x, shape]) => {
    const want = Array.from(shape!.data);
    const dims = want.map((d, i) => (d === 0 && n.attrs.allowzero !== 1 ? x!.dims[i] : d));
    const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const out = dims.map((d) => (d === -1 ? x!.data.length / known : d));
    if (sizeOf(out) !== x!.data.length) fail(n, `cannot reshape [${x!.dims.join(',')}] to [${want.join(',')}]`);
    return { ...x!, dims: out };
  },
  Flatten: (n, [x]) => {
    const ax = (n.attrs.axis as number | undefined) ?? 1, a = ax < 0 ? ax + x!.dims.length : ax;
    return { ...x!, dims: [sizeOf(x!.dims.slice(0, a)), sizeOf(x!.dims.slice(a))] };
  },
  Transpose: (n, [x]) => transpose(x!, (n.attrs.perm as number[] | undefined) ?? x!.dims.map((_, i) => x!.dims.length - 1 - i)),
  MaxPool: (n, [x]) => {
    if (n.outputs.length > 1 && n.outputs[1]) fail(n, 'the Indices output is not supported');
    const a = poolAttrs(n);
    return { dtype: x!.dtype, ...pool2d(x!.data, x!.dims, a.kernel, a.strides, a.pads, (vals) => Math.max(...vals)) };
  },
  Pad: (n, [x, padsIn, value], opset) => {
    if (((n.attrs.mode as string | undefined) ?? 'constant') !== 'constant') fail(n, 'only constant padding is supported');
    const pads = opset >= 11 ? Array.from(padsIn!.data) : (n.attrs.pads as number[]);
    const pv = opset >= 11 ? (value ? value.data[0] : 0) : ((n.attrs.value as number | undefined) ?? 0);
    const r = x!.dims.length, dims = x!.dims.map((d, i) => d + pads[i] + pads[i + r]);
    if (pads.some((p) => p < 0)) fail(n, 'negative pads are not supported');
    const out = new Float64Array(sizeOf(dims)).fill(pv), src = stridesOf(x!.dims), dst = stridesOf(dims);
    for (let i = 0; i < x!.data.length; i++) {
      let j = 0;
      for (let d = 0; d < r; d++) j += (Math.floor(i / src[d]) % x!.dims[d] + pads[d]) * dst[d];
      out[j] = x!.data[i];
    }
    return { dtype: x!.dtype, dims, data: out };
  },
  Shape: (_n, [x]) => ({ dtype: 'int64', dims: [x!.dims.length], data: Float64Array.from(x!.dims) }),
  Gather: (n, [x, idx]) => {
    const ax0 = (n.attrs.axis as number | undefined) ?? 0, ax = ax0 < 0 ? ax0 + x!.dims.length : ax0;
    const outer = sizeOf(x!.dims.slice(0, ax)), D = x!.dims[ax], inner = sizeOf(x!.dims.slice(ax + 1));
    const ids = Array.from(idx!.data, (k) => (k < 0 ? k + D : k));
    const out = new Float64Array(outer * ids.length * inner);
    let o = 0;
    for (let a = 0; a < outer; a++) for (const k of ids) { out.set(x!.data.subarray((a * D + k) * inner, (a * D + k + 1) * inner), o); o += inner; }
    return { dtype: x!.dtype, dims: [...x!.dims.slice(0, ax), ...idx!.dims, ...x!.dims.slice(ax + 1)], data: out };
  },
  Unsqueeze: (n, [x, axesIn]) => {
    const axes = axesIn ? Array.from(axesIn.data) : (n.attrs.axes as number[]);
    const r = x!.dims.length + axes.length, dims = [...x!.dims];
    for (const a of axes.map((a) => (a < 0 ? a + r : a)).sort((p, q) => p - q)) dims.splice(a, 0, 1);
    return { ...x!, dims };
  },
  Concat: (n, ins) => concat(n, ins.filter((v): v is RefValue => !!v), n.attrs.axis as number),
};

export interface ReferenceOptions {
  /** values to return besides the graph outputs (intermediate ones are freed after their last use) */
  keep?: string[];
}

/** Evaluates `graph` on float `feeds` exactly; returns the graph outputs and the `keep` values. */
export function evaluateQuantized(graph: Graph, feeds: Record<string, Tensor>, opts: ReferenceOptions = {}): Map<string, RefValue> {
  const opset = graph.opsets[''] ?? 13;
  const values = new Map<string, RefValue>();
  for (const [k, t] of graph.constants) values.set(k, refValue(t));
  for (const i of graph.inputs) {
    const f = feeds[i.name];
    if (!f) throw new Error(`quantized reference: no feed for input '${i.name}'`);
    values.set(i.name, refValue(f));
  }
  const keep = new Set([...graph.outputs.map((o) => o.name), ...(opts.keep ?? [])]);
  const uses = new Map<string, number>();
  for (const n of graph.nodes) for (const i of n.inputs) if (i) uses.set(i, (uses.get(i) ?? 0) + 1);
  for (const n of graph.nodes) {
    const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType;
    const op = OPS[key];
    if (!op) fail(n, 'no exact evaluator for this op');
    const ins = n.inputs.map((i) => {
      if (!i) return undefined;
      const v = values.get(i);
      if (!v) fail(n, `input '${i}' has no value`);
      return v;
    });
    values.set(n.outputs[0], op(n, ins, opset));
    for (const i of n.inputs) {
      if (!i) continue;
      const left = uses.get(i)! - 1;
      uses.set(i, left);
      if (left === 0 && !keep.has(i) && !graph.constants.has(i)) values.delete(i);
    }
  }
  const out = new Map<string, RefValue>();
  for (const k of keep) {
    const v = values.get(k);
    if (!v) throw new Error(`quantized reference: value '${k}' was never computed`);
    out.set(k, v);
  }
  return out;
}

/** How far another computation of the quantized graph (onnxruntime's int8 kernels) is from the exact values:
 * the largest difference and the share of elements that differ, in output steps. */
export function stepsOff(exact: ArrayLike<number>, other: ArrayLike<number>, step = 1): { worst: number; share: number } {
  let worst = 0, off = 0;
  for (let i = 0; i < exact.length; i++) {
    const d = Math.abs(exact[i] - other[i]) / step;
    if (d > 1e-3) off++;
    worst = Math.max(worst, d);
  }
  return { worst, share: exact.length ? off / exact.length : 0 };
}
