/** The arithmetic of quantized tensors: ranges of the integer types, dequantize/quantize, and the clamp a
 * quantized output implies (see lib/canonize/quantized.ts). */
import { GraphError } from '../ir/graph';
import { DType, Tensor, toNumbers } from '../tensor';

export class QuantizedError extends GraphError {
  override name = 'QuantizedError';
}

export const RANGES: Partial<Record<DType, [number, number]>> = {
  int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535], int32: [-2147483648, 2147483647],
};

/** Quantization parameters of a live tensor. */
export interface QParams {
  scale: number[];
  zeroPoint: number[];
  dtype: DType;
}

export interface Twin {
  /** the float value standing for the quantized one */
  name: string;
  q: QParams;
}

/** (q − zp)·s, per tensor or per slice along `axis`, computed in float64. */
export function dequantize(q: Tensor, scale: Tensor, zeroPoint: Tensor | undefined, axis: number, what: string): Tensor & { data: Float32Array } {
  if (q.dtype === 'string' || scale.dtype === 'string') throw new QuantizedError(`${what}: string tensors cannot be dequantized`);
  const qv = toNumbers(q);
  const s = toNumbers(scale);
  const z = zeroPoint ? toNumbers(zeroPoint) : [0];
  if (z.length !== s.length && z.length !== 1) throw new QuantizedError(`${what}: ${s.length} scales but ${z.length} zero points`);
  const out = new Float32Array(qv.length);
  if (s.length === 1) {
    for (let i = 0; i < qv.length; i++) out[i] = (qv[i] - z[0]) * s[0];
  } else {
    const ax = axis < 0 ? axis + q.dims.length : axis;
    if (ax < 0 || ax >= q.dims.length || q.dims[ax] !== s.length) {
      throw new QuantizedError(`${what}: ${s.length} scales do not match axis ${axis} of shape [${q.dims.join(',')}]`);
    }
    const inner = q.dims.slice(ax + 1).reduce((a, b) => a * b, 1);
    const C = q.dims[ax];
    for (let i = 0; i < qv.length; i++) {
      const c = Math.floor(i / inner) % C;
      out[i] = (qv[i] - (z.length === 1 ? z[0] : z[c])) * s[c];
    }
  }
  return { dtype: 'float32', dims: [...q.dims], data: out };
}

/** round(x / s) + zp, half to even, saturated: QuantizeLinear on a constant. */
export function quantize(x: Tensor, scale: Tensor, zeroPoint: Tensor | undefined, dtype: DType, axis: number, what: string): Tensor {
  const r = RANGES[dtype];
  if (!r) throw new QuantizedError(`${what}: cannot quantize to ${dtype}`);
  const xv = toNumbers(x);
  const s = toNumbers(scale);
  const z = zeroPoint ? toNumbers(zeroPoint) : [0];
  const ax = axis < 0 ? axis + x.dims.length : axis;
  const inner = s.length === 1 ? 1 : x.dims.slice(ax + 1).reduce((a, b) => a * b, 1);
  const data = dtype === 'int8' ? new Int8Array(xv.length) : dtype === 'uint8' ? new Uint8Array(xv.length)
    : dtype === 'int16' ? new Int16Array(xv.length) : dtype === 'uint16' ? new Uint16Array(xv.length) : new Int32Array(xv.length);
  for (let i = 0; i < xv.length; i++) {
    const c = s.length === 1 ? 0 : Math.floor(i / inner) % s.length;
    const v = xv[i] / s[c];
    let k = Math.round(v);
    if (Math.abs(v % 1) === 0.5 && k % 2 !== 0) k -= 1;
    data[i] = Math.min(r[1], Math.max(r[0], k + (z.length === 1 ? z[0] : z[c])));
  }
  return { dtype, dims: [...x.dims], data };
}

export function dtypeOfCode(code: number | undefined): DType | undefined {
  return code === undefined ? undefined : ({ 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32' } as Record<number, DType>)[code];
}

/** The clamp a quantized output implies: a fused ReLU / ReLU6, or (with `saturate`) its whole range. */
export function impliedClamp(q: QParams, saturate: boolean): { op: 'Relu' } | { op: 'Clip'; lo: number; hi: number } | null {
  const r = RANGES[q.dtype];
  if (!r || q.dtype === 'int32') return null;
  const lo = q.scale.map((s, c) => (r[0] - (q.zeroPoint.length === 1 ? q.zeroPoint[0] : q.zeroPoint[c])) * s);
  const hi = q.scale.map((s, c) => (r[1] - (q.zeroPoint.length === 1 ? q.zeroPoint[0] : q.zeroPoint[c])) * s);
  if (q.scale.length !== 1) return null; // per-channel activations: no single clamp
  if (saturate) return { op: 'Clip', lo: lo[0], hi: hi[0] };
  if (lo[0] !== 0) return null;
  if (Math.abs(hi[0] - 6) <= q.scale[0]) return { op: 'Clip', lo: 0, hi: 6 };
  return { op: 'Relu' };
}

export type Clamp = NonNullable<ReturnType<typeof impliedClamp>>;
