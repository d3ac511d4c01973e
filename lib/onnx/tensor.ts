/** TensorProto ⇄ Tensor: every initializer encoding (raw_data, typed fields, float16, external data). */
import { DType, Tensor, TypedArray, sizeOf } from '../tensor';
import type { ExternalReader } from './external';
import { DATA_TYPE, DATA_TYPE_CODE } from '../ir/dtypes';
import { bigint, int, onnx } from './proto';

const MAX_ELEMENTS = 2 ** 31 - 1;

export function float16ToFloat32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

function typedArrayFor(dtype: DType, n: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
    case 'float16': return new Float32Array(n);
    case 'int8': return new Int8Array(n);
    case 'uint8': case 'bool': return new Uint8Array(n);
    case 'int16': return new Int16Array(n);
    case 'uint16': return new Uint16Array(n);
    case 'int32': return new Int32Array(n);
    case 'uint32': return new Uint32Array(n);
    case 'int64': return new BigInt64Array(n);
    case 'uint64': return new BigUint64Array(n);
    default: throw new Error(`no typed array for ${dtype}`);
  }
}

const BYTES: Record<string, number> = {
  float32: 4, float64: 8, float16: 2, int8: 1, uint8: 1, bool: 1, int16: 2, uint16: 2,
  int32: 4, uint32: 4, int64: 8, uint64: 8,
};

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function fromRaw(dtype: DType, raw: Uint8Array, n: number, what: string): TypedArray {
  const width = BYTES[dtype];
  if (raw.byteLength !== n * width) {
    throw new Error(`${what}: raw_data holds ${raw.byteLength} bytes, the shape needs ${n * width} (${n} × ${width})`);
  }
  if (LITTLE_ENDIAN && dtype !== 'float16') {
    // one block copy (ONNX raw_data is little-endian, as is every platform Node runs on)
    const copy = Uint8Array.prototype.slice.call(raw).buffer; // a copy even when raw is a Node Buffer (whose slice shares memory)
    switch (dtype) {
      case 'float32': return new Float32Array(copy);
      case 'float64': return new Float64Array(copy);
      case 'int8': return new Int8Array(copy);
      case 'uint8': case 'bool': return new Uint8Array(copy);
      case 'int16': return new Int16Array(copy);
      case 'uint16': return new Uint16Array(copy);
      case 'int32': return new Int32Array(copy);
      case 'uint32': return new Uint32Array(copy);
      case 'int64': return new BigInt64Array(copy);
      case 'uint64': return new BigUint64Array(copy);
    }
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = typedArrayFor(dtype, n);
  for (let i = 0; i < n; i++) {
    const o = i * width;
    switch (dtype) {
      case 'float32': out[i] = view.getFloat32(o, true); break;
      case 'float64': out[i] = view.getFloat64(o, true); break;
      case 'float16': out[i] = float16ToFloat32(view.getUint16(o, true)); break;
      case 'int8': out[i] = view.getInt8(o); break;
      case 'uint8': case 'bool': out[i] = view.getUint8(o); break;
      case 'int16': out[i] = view.getInt16(o, true); break;
      case 'uint16': out[i] = view.getUint16(o, true); break;
      case 'int32': out[i] = view.getInt32(o, true); break;
      case 'uint32': out[i] = view.getUint32(o, true); break;
      case 'int64': (out as BigInt64Array)[i] = view.getBigInt64(o, true); break;
      case 'uint64': (out as BigUint64Array)[i] = view.getBigUint64(o, true); break;
    }
  }
  return out;
}

function fromFields(dtype: DType, p: onnx.ITensorProto, n: number, what: string): TypedArray | string[] {
  if (dtype === 'string') {
    const strings = p.stringData ?? [];
    if (strings.length !== n) throw new Error(`${what}: holds ${strings.length} strings, the shape [${(p.dims ?? []).map(int)}] needs ${n}`);
    return strings.map((b) => new TextDecoder().decode(b));
  }
  let src: ArrayLike<unknown>;
  switch (dtype) {
    case 'float32': src = p.floatData ?? []; break;
    case 'float64': src = p.doubleData ?? []; break;
    case 'int64': src = p.int64Data ?? []; break;
    case 'uint32': case 'uint64': src = p.uint64Data ?? []; break;
    default: src = p.int32Data ?? [];
  }
  if (src.length !== n) throw new Error(`${what}: holds ${src.length} values, the shape [${(p.dims ?? []).map(int)}] needs ${n}`);
  const out = typedArrayFor(dtype, n);
  for (let i = 0; i < n; i++) {
    const v = src[i];
    if (dtype === 'int64') (out as BigInt64Array)[i] = bigint(v);
    else if (dtype === 'uint64') (out as BigUint64Array)[i] = BigInt.asUintN(64, bigint(v));
    else if (dtype === 'float16') out[i] = float16ToFloat32(int(v) & 0xffff);
    else out[i] = int(v) as number;
  }
  return out;
}

/** A non-negative integer from an external-data entry (stored as a string), or undefined when absent. */
function byteCount(v: string | undefined, key: string, what: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n)) throw new Error(`${what}: external data ${key} '${v}' is not a byte count`);
  return n;
}

/** Decodes a TensorProto. float16 and bfloat16 are widened to float32 (dtype 'float32'). Sizes are checked
 * before anything is allocated: a tensor whose declared shape its data cannot fill is refused, naming both. */
export function tensorFromProto(p: onnx.ITensorProto, readExternal?: ExternalReader): Tensor {
  const what = `tensor '${p.name ?? ''}'`;
  if (!p.dataType) throw new Error(`${what}: no data type (data_type is 0, UNDEFINED)`);
  let dtype = DATA_TYPE[p.dataType] as DType | 'bfloat16' | 'complex64' | 'complex128' | undefined;
  if (!dtype) throw new Error(`${what}: unknown data type ${p.dataType}`);
  if (dtype === 'complex64' || dtype === 'complex128') throw new Error(`${what}: complex tensors are not supported`);
  const dims = (p.dims ?? []).map(int);
  if (dims.some((d) => d < 0 || !Number.isSafeInteger(d))) throw new Error(`${what}: invalid dimensions [${dims}]`);
  const n = sizeOf(dims);
  if (!(n <= MAX_ELEMENTS)) throw new Error(`${what}: shape [${dims}] declares ${n} elements, more than this library accepts (${MAX_ELEMENTS})`);
  const width = dtype === 'bfloat16' ? 2 : BYTES[dtype];
  let raw: Uint8Array | undefined = p.rawData && p.rawData.length ? p.rawData : undefined;
  if (p.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const kv: Record<string, string> = {};
    for (const e of p.externalData ?? []) if (e.key) kv[e.key] = e.value ?? '';
    if (!kv.location) throw new Error(`${what}: external data without a location`);
    if (dtype === 'string') throw new Error(`${what}: string tensors cannot be stored as external data`);
    if (!readExternal) throw new Error(`${what}: stored in external file '${kv.location}', but the model was not loaded from a file`);
    const offset = byteCount(kv.offset, 'offset', what) ?? 0;
    const length = byteCount(kv.length, 'length', what);
    if (length !== undefined && length !== n * width) {
      throw new Error(`${what}: external data length ${length} bytes, the shape [${dims}] needs ${n * width}`);
    }
    raw = readExternal(kv.location, offset, length, n * width);
  }
  if (raw && dtype === 'string') throw new Error(`${what}: a string tensor with raw_data (strings belong in string_data)`);
  if (dtype === 'bfloat16') {
    if (raw) {
      if (raw.byteLength !== 2 * n) throw new Error(`${what}: raw_data holds ${raw.byteLength} bytes, the shape [${dims}] needs ${2 * n}`);
    } else if ((p.int32Data ?? []).length !== n) {
      throw new Error(`${what}: holds ${(p.int32Data ?? []).length} values, the shape [${dims}] needs ${n}`);
    }
    const out = new Float32Array(n);
    const f = new DataView(new ArrayBuffer(4));
    if (raw) {
      const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      for (let i = 0; i < n; i++) { f.setUint32(0, v.getUint16(2 * i, true) << 16, true); out[i] = f.getFloat32(0, true); }
    } else {
      const src = p.int32Data!;
      for (let i = 0; i < n; i++) { f.setUint32(0, (src[i] & 0xffff) << 16, true); out[i] = f.getFloat32(0, true); }
    }
    return { dtype: 'float32', dims, data: out };
  }
  const data = raw ? fromRaw(dtype, raw, n, what) : fromFields(dtype, p, n, what);
  if (dtype === 'float16') return { dtype: 'float32', dims, data };
  return { dtype, dims, data };
}

/** Encodes a Tensor as a TensorProto with raw_data (strings in string_data). */
export function tensorToProto(name: string, t: Tensor): onnx.TensorProto {
  const p = onnx.TensorProto.create({ name, dims: [...t.dims], dataType: DATA_TYPE_CODE[t.dtype] });
  if (t.dtype === 'string') {
    p.stringData = (t.data as string[]).map((s) => new TextEncoder().encode(s));
    return p;
  }
  const a = t.data as TypedArray;
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  p.rawData = new Uint8Array(bytes); // copy: little-endian on every platform Node runs on
  return p;
}
