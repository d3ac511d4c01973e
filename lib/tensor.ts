/** Dense tensors as typed arrays. Only float32 carries activations and relevance; the other element
 * types appear as constants (shapes, indices, quantized weights). Browser-safe: no Node imports. */

export type DType =
  | 'float32' | 'float64' | 'float16' | 'int8' | 'uint8' | 'int16' | 'uint16'
  | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool' | 'string';

export type TypedArray =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

export interface Tensor {
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly data: TypedArray | string[];
}

export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function float32(dims: readonly number[], data?: ArrayLike<number>): Tensor & { data: Float32Array } {
  const n = sizeOf(dims);
  const out = data ? Float32Array.from(data) : new Float32Array(n);
  if (out.length !== n) throw new Error(`float32 tensor of shape [${dims.join(',')}] needs ${n} values, got ${out.length}`);
  return { dtype: 'float32', dims: [...dims], data: out };
}

/** Values of a numeric tensor as plain numbers (int64 converted, with a range check). */
export function toNumbers(t: Tensor): number[] {
  if (t.dtype === 'string') throw new Error('a string tensor has no numeric values');
  const out: number[] = [];
  const src = t.data as ArrayLike<number | bigint>;
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (typeof v === 'bigint') {
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) out.push(v > 0n ? Infinity : -Infinity);
      else out.push(Number(v));
    } else out.push(v);
  }
  return out;
}

/** Values of a numeric tensor as a Float32Array (a copy unless already float32). */
export function toFloat32(t: Tensor): Float32Array {
  if (t.dtype === 'float32') return t.data as Float32Array;
  return Float32Array.from(toNumbers(t));
}

export function shapeString(dims: readonly (number | string)[]): string {
  return `[${dims.join('x')}]`;
}
