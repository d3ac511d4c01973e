import { expect } from 'chai';
import { bwr, coldnhot, getColormap, gray, hot, lut, names, seismic } from '../../lib/render/colormap';

describe('render/colormap', () => {
  it('lists the known colormaps', () => {
    expect([...names].sort()).to.deep.equal(['bwr', 'coldnhot', 'gray', 'hot', 'seismic']);
  });

  it('bwr: blue, white at the centre, red', () => {
    expect(bwr(0)).to.deep.equal([0, 0, 255]);
    expect(bwr(0.5)).to.deep.equal([255, 255, 255]);
    expect(bwr(1)).to.deep.equal([255, 0, 0]);
    expect(bwr(0.25)).to.deep.equal([128, 128, 255]);
  });

  it('seismic: dark blue, blue, white, red, dark red (matplotlib)', () => {
    expect(seismic(0)).to.deep.equal([0, 0, 77]);
    expect(seismic(0.25)).to.deep.equal([0, 0, 255]);
    expect(seismic(0.5)).to.deep.equal([255, 255, 255]);
    expect(seismic(0.75)).to.deep.equal([255, 0, 0]);
    expect(seismic(1)).to.deep.equal([128, 0, 0]);
  });

  it('coldnhot: cyan, blue, black at the centre, red, yellow, white (Zennit)', () => {
    expect(coldnhot(0)).to.deep.equal([0, 255, 255]);
    expect(coldnhot(0.25)).to.deep.equal([0, 0, 255]);
    expect(coldnhot(0.5)).to.deep.equal([0, 0, 0]);
    expect(coldnhot(2 / 3)).to.deep.equal([255, 0, 0]);
    expect(coldnhot(5 / 6)).to.deep.equal([255, 255, 0]);
    expect(coldnhot(1)).to.deep.equal([255, 255, 255]);
    // negative side is blue-ish, positive side red-ish
    const [r1, , b1] = coldnhot(0.4), [r2, , b2] = coldnhot(0.6);
    expect(b1).to.be.greaterThan(r1);
    expect(r2).to.be.greaterThan(b2);
  });

  it('hot and gray endpoints', () => {
    expect(hot(0)).to.deep.equal([0, 0, 0]);
    expect(hot(1 / 3)).to.deep.equal([255, 0, 0]);
    expect(hot(1)).to.deep.equal([255, 255, 255]);
    expect(gray(0)).to.deep.equal([0, 0, 0]);
    expect(gray(0.5)).to.deep.equal([128, 128, 128]);
    expect(gray(1)).to.deep.equal([255, 255, 255]);
  });

  it('clamps out-of-range and NaN inputs', () => {
    expect(bwr(-3)).to.deep.equal([0, 0, 255]);
    expect(bwr(7)).to.deep.equal([255, 0, 0]);
    expect(bwr(NaN)).to.deep.equal([0, 0, 255]);
  });

  it('getColormap returns the named map and rejects unknown names listing the known ones', () => {
    expect(getColormap('bwr')).to.equal(bwr);
    expect(() => getColormap('viridis')).to.throw(/viridis.*bwr, seismic, coldnhot, hot, gray/);
    expect(() => getColormap('toString')).to.throw(/unknown colormap/);
  });

  it('lut has 256 RGB entries with the endpoints', () => {
    const t = lut('gray');
    expect(t.length).to.equal(768);
    expect([...t.subarray(0, 3)]).to.deep.equal([0, 0, 0]);
    expect([...t.subarray(765)]).to.deep.equal([255, 255, 255]);
  });
});
