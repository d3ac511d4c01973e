/** NumPy .npy (format 1.0–3.0) read and write for float32/float64/int tensors in C order. Browser-safe. */
import { DType, Tensor } from '../tensor';

const DESCR: Record<string, DType> = {
  '<f4': 'float32', '<f8': 'float64', '<i4': 'int32', '<i8': 'int64', '|u1': 'uint8', '|i1': 'int8', '<f2': 'float16', '|b1': 'bool',
};

export function parseNpy(bytes: Uint8Array, source = 'npy'): Tensor {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((m, i) => bytes[i] !== m)) throw new Error(`${source}: not a .npy file (bad magic)`);
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + hlen > bytes.length) throw new Error(`${source}: truncated header`);
  const header = new TextDecoder().decode(bytes.subarray(start, start + hlen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeStr = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeStr === undefined) throw new Error(`${source}: cannot read the header ${header.trim()}`);
  if (fortran === 'True') throw new Error(`${source}: Fortran-order arrays are not supported; save with np.ascontiguousarray`);
  const dtype = DESCR[descr];
  if (!dtype) throw new Error(`${source}: element type '${descr}' is not supported (use float32)`);
  const dims = shapeStr.split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const off = start + hlen;
  const width = { float32: 4, float64: 8, int32: 4, int64: 8, uint8: 1, int8: 1, float16: 2, bool: 1 }[dtype as string]!;
  if (bytes.length - off < n * width) throw new Error(`${source}: holds ${bytes.length - off} data bytes, shape (${dims}) needs ${n * width}`);
  const buf = Uint8Array.prototype.slice.call(bytes, off, off + n * width).buffer; // a copy (Buffer.slice would share the pool)
  switch (dtype) {
    case 'float32': return { dtype, dims, data: new Float32Array(buf) };
    case 'float64': return { dtype: 'float32', dims, data: Float32Array.from(new Float64Array(buf)) };
    case 'int32': return { dtype, dims, data: new Int32Array(buf) };
    case 'int64': return { dtype, dims, data: new BigInt64Array(buf) };
    case 'uint8': case 'bool': return { dtype, dims, data: new Uint8Array(buf) };
    case 'int8': return { dtype, dims, data: new Int8Array(buf) };
    default: throw new Error(`${source}: element type '${descr}' is not supported`);
  }
}

export function encodeNpy(t: Tensor): Uint8Array {
  const descr = Object.entries(DESCR).find(([, d]) => d === t.dtype)?.[0];
  if (!descr || t.dtype === 'string') throw new Error(`cannot write a ${t.dtype} tensor as .npy`);
  const shape = t.dims.length === 1 ? `(${t.dims[0]},)` : `(${t.dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const h = new TextEncoder().encode(header);
  const data = t.data as ArrayBufferView;
  const out = new Uint8Array(10 + h.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, h.length, true);
  out.set(h, 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + h.length);
  return out;
}
