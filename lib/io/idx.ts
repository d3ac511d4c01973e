/** Parser for the IDX format of MNIST / Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
 *
 *   bytes 0-1  0x00 0x00
 *   byte  2    element type (0x08 unsigned byte, 0x09 signed byte, 0x0B int16, 0x0C int32,
 *              0x0D float32, 0x0E float64)
 *   byte  3    number of dimensions d
 *   4*d bytes  the sizes, big-endian uint32
 *   then the elements, row-major, big-endian.
 *
 * Only unsigned-byte files (the images and labels of MNIST-style data sets) are decoded. The input must
 * already be decompressed (the distributed files are gzipped). Browser-safe: no Node imports. */

export interface IdxData {
  /** Sizes of the dimensions, e.g. [10000, 28, 28] for images, [10000] for labels. */
  dims: number[];
  /** The elements, row-major; a view into the input bytes (no copy). */
  data: Uint8Array;
}

const TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte', 0x09: 'signed byte', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64',
};

/** Parses IDX bytes. `name` (e.g. a file name) only labels error messages. */
export function parseIdx(bytes: Uint8Array, name = 'IDX data'): IdxData {
  if (bytes.length < 4) throw new Error(`${name}: too short for an IDX header (${bytes.length} bytes)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const hint = bytes[0] === 0x1f && bytes[1] === 0x8b ? ' (it is gzip-compressed: decompress it first)' : '';
    throw new Error(`${name}: bad IDX magic 0x${hex(bytes[0])}${hex(bytes[1])}, expected 0x0000${hint}`);
  }
  const type = bytes[2];
  if (type !== 0x08) {
    const known = TYPE_NAMES[type];
    throw new Error(known
      ? `${name}: IDX element type 0x${hex(type)} (${known}) is not supported, only 0x08 (unsigned byte)`
      : `${name}: unknown IDX element type 0x${hex(type)}`);
  }
  const ndim = bytes[3];
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) {
    throw new Error(`${name}: truncated IDX header: ${ndim} dimensions need ${headerBytes} bytes, got ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  const available = bytes.length - headerBytes;
  if (available < count) {
    throw new Error(`${name}: truncated IDX data: shape [${dims.join(',')}] needs ${count} bytes, got ${available}`);
  }
  if (available > count) {
    throw new Error(`${name}: ${available - count} unexpected bytes after the IDX data of shape [${dims.join(',')}]`);
  }
  return { dims, data: bytes.subarray(headerBytes, headerBytes + count) };
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
