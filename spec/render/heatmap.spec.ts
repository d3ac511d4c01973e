import { expect } from 'chai';
import { float32 } from '../../lib/tensor';
import { heatmap, heatmap1d, normalize, percentile, reduceChannels } from '../../lib/render/heatmap';

const px = (img: { width: number; rgba: ArrayLike<number> }, x: number, y: number) => {
  const i = (y * img.width + x) * 4;
  return [img.rgba[i], img.rgba[i + 1], img.rgba[i + 2], img.rgba[i + 3]];
};

describe('render/heatmap', () => {
  it('percentile interpolates linearly like numpy', () => {
    expect(percentile([1, 2, 3, 4], 50)).to.equal(2.5);
    expect(percentile([5, 1, 3], 100)).to.equal(5);
    expect(percentile([5, 1, 3], 0)).to.equal(1);
    expect(percentile([0, 10], 25)).to.equal(2.5);
  });

  it('symmetric normalisation puts 0 at the centre and keeps the sign', () => {
    const { t, scale } = normalize([-2, 0, 1, 2], { percentile: 100 });
    expect(scale).to.equal(2);
    expect([...t]).to.deep.equal([0, 0.5, 0.75, 1]);
  });

  it('absolute normalisation maps |r| / scale to [0,1]', () => {
    const { t } = normalize([-2, 0, 1, 2], { normalization: 'absolute', percentile: 100 });
    expect([...t]).to.deep.equal([1, 0, 0.5, 1]);
  });

  it('percentile clipping saturates outliers', () => {
    const values = Array.from({ length: 101 }, (_, i) => i); // |r| = 0..100
    values[100] = 1e6; // an outlier
    const { t, scale } = normalize(values, { percentile: 99 });
    expect(scale).to.be.closeTo(99, 1e-9);
    expect(t[100]).to.equal(1); // clipped
    expect(t[99]).to.equal(1);
    expect(t[50]).to.be.closeTo(0.5 + 0.5 * 50 / 99, 1e-6);
    // without clipping the outlier squashes everything else to the centre
    expect(normalize(values, { percentile: 100 }).t[50]).to.be.closeTo(0.5, 1e-4);
  });

  it('a sparse map whose percentile is 0 still uses the max', () => {
    const v = new Array(1000).fill(0); v[3] = -4;
    const { t, scale } = normalize(v);
    expect(scale).to.equal(4);
    expect(t[3]).to.equal(0);
  });

  it('all-zero maps give the colormap centre without NaN', () => {
    const { t, scale } = normalize(new Float32Array(16));
    expect(scale).to.equal(0);
    expect([...t].every((x) => x === 0.5)).to.equal(true);
    const img = heatmap(float32([4, 4]), { colormap: 'coldnhot' });
    expect(px(img, 2, 2)).to.deep.equal([0, 0, 0, 255]);
    expect(px(heatmap(float32([1, 3, 2, 2])), 1, 1)).to.deep.equal([255, 255, 255, 255]);
    expect(normalize([NaN, Infinity, 1]).t[0]).to.equal(0.5);
  });

  it('reduces channels: sum, abs-sum, max-abs', () => {
    // [C=2,H=1,W=2]: pixel0 = (1,-3), pixel1 = (2,2)
    const rel = float32([2, 1, 2], [1, 2, -3, 2]);
    expect([...reduceChannels(rel).values]).to.deep.equal([-2, 4]);
    expect([...reduceChannels(rel, { reduce: 'abs-sum' }).values]).to.deep.equal([4, 4]);
    expect([...reduceChannels(rel, { reduce: 'max-abs' }).values]).to.deep.equal([3, 2]);
  });

  it('NHWC and NCHW give the same map; [1,C,H,W] and [H,W] work', () => {
    const C = 3, H = 2, W = 4, nchw = new Float32Array(C * H * W), nhwc = new Float32Array(C * H * W);
    for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) {
      const v = Math.sin(7 * c + p);
      nchw[c * H * W + p] = v; nhwc[p * C + c] = v;
    }
    const a = reduceChannels(float32([1, C, H, W], nchw));
    const b = reduceChannels(float32([H, W, C], nhwc), { layout: 'NHWC' });
    expect([a.width, a.height]).to.deep.equal([W, H]);
    expect([b.width, b.height]).to.deep.equal([W, H]);
    for (let i = 0; i < H * W; i++) expect(a.values[i]).to.be.closeTo(b.values[i], 1e-6);
    expect(reduceChannels(float32([H, W])).width).to.equal(W);
    expect(() => reduceChannels(float32([2, C, H, W]))).to.throw(/one sample/);
  });

  it('renders signs with bwr: negative blue, positive red, layout as given', () => {
    const img = heatmap(float32([1, 2, 2], [-1, 0, 0, 1]), { percentile: 100 });
    expect([img.width, img.height, img.rgba.length]).to.deep.equal([2, 2, 16]);
    expect(px(img, 0, 0)).to.deep.equal([0, 0, 255, 255]);
    expect(px(img, 1, 0)).to.deep.equal([255, 255, 255, 255]);
    expect(px(img, 1, 1)).to.deep.equal([255, 0, 0, 255]);
    expect(() => heatmap(float32([2, 2]), { colormap: 'jet' })).to.throw(/known colormaps/);
  });

  it('heatmap1d lays features out as a bar or a grid', () => {
    const bar = heatmap1d([1, -1, 0], { cellSize: 2, percentile: 100 });
    expect([bar.width, bar.height]).to.deep.equal([6, 2]);
    expect(px(bar, 1, 1)).to.deep.equal([255, 0, 0, 255]);
    expect(px(bar, 2, 0)).to.deep.equal([0, 0, 255, 255]);
    const grid = heatmap1d(float32([5], [1, 2, 3, 4, 5]), { shape: [2, 3], cellSize: 1, percentile: 100 });
    expect([grid.width, grid.height]).to.deep.equal([3, 2]);
    expect(px(grid, 1, 1)).to.deep.equal([255, 0, 0, 255]); // feature 4 (=5) at row 1, col 1
    expect(px(grid, 2, 1)[3]).to.equal(0); // unused cell transparent
    expect(() => heatmap1d([1, 2, 3], { shape: [1, 2] })).to.throw(/cannot hold 3/);
  });
});
