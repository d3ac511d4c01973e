import { expect } from 'chai';
import { parseIdx } from '../../lib/io/idx';

function idx(type: number, dims: number[], data: number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out[2] = type;
  out[3] = dims.length;
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

describe('io/idx parseIdx', () => {
  it('parses unsigned-byte data with big-endian dimensions', () => {
    const r = parseIdx(idx(0x08, [2, 3], [1, 2, 3, 4, 5, 250]));
    expect(r.dims).to.deep.equal([2, 3]);
    expect(Array.from(r.data)).to.deep.equal([1, 2, 3, 4, 5, 250]);
  });

  it('reads sizes above 255 and a label file (1 dimension)', () => {
    const data = Array.from({ length: 300 }, (_, i) => i % 10);
    const r = parseIdx(idx(0x08, [300], data));
    expect(r.dims).to.deep.equal([300]);
    expect(r.data.length).to.equal(300);
    expect(r.data[299]).to.equal(9);
  });

  it('works on a view with a byte offset into a larger buffer', () => {
    const inner = idx(0x08, [2], [7, 8]);
    const big = new Uint8Array(inner.length + 5);
    big.set(inner, 5);
    const r = parseIdx(big.subarray(5));
    expect(r.dims).to.deep.equal([2]);
    expect(Array.from(r.data)).to.deep.equal([7, 8]);
  });

  it('rejects a bad magic number, and says when the input is still gzipped', () => {
    const bad = idx(0x08, [1], [0]);
    bad[0] = 1;
    expect(() => parseIdx(bad, 'x.idx')).to.throw(/x\.idx: bad IDX magic/);
    expect(() => parseIdx(new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0]))).to.throw(/gzip/);
  });

  it('rejects element types other than unsigned byte', () => {
    expect(() => parseIdx(idx(0x0d, [1], [0, 0, 0, 0]))).to.throw(/float32.*not supported/);
    expect(() => parseIdx(idx(0x42, [1], [0]))).to.throw(/unknown IDX element type 0x42/);
  });

  it('rejects truncated headers and data, and trailing bytes', () => {
    expect(() => parseIdx(new Uint8Array([0, 0]))).to.throw(/too short/);
    expect(() => parseIdx(idx(0x08, [2, 3], [1, 2, 3, 4, 5, 6]).subarray(0, 9))).to.throw(/truncated IDX header/);
    expect(() => parseIdx(idx(0x08, [2, 3], [1, 2, 3, 4, 5]))).to.throw(/truncated IDX data: shape \[2,3\] needs 6 bytes, got 5/);
    expect(() => parseIdx(idx(0x08, [2], [1, 2, 3]))).to.throw(/1 unexpected bytes/);
  });
});
