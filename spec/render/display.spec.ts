/** Rendering one sample's relevance over its source image: display sizes, placement of a center-cropped
 * model input, non-image relevance, and comparison grids whose columns are any methods' maps. */
import { expect } from 'chai';
import { float32 } from '../../lib/tensor';
import { displaySize, isImageShaped, placeHeatmap, relevanceHeatmap, renderRelevance, sliceSample } from '../../lib/render/display';
import { comparisonGrid } from '../../lib/render/compare';
import { RGBAImage } from '../../lib/io/raster';
import { sourceRegion } from '../../lib/io/image';

function solid(w: number, h: number, rgba: [number, number, number, number]): RGBAImage {
  const out = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < w * h; i++) out.set(rgba, 4 * i);
  return { width: w, height: h, rgba: out };
}

describe('render/display', () => {
  it('display size: small sources are enlarged to 224, large ones reduced to 1024, aspect kept', () => {
    expect(displaySize({ width: 28, height: 28 })).to.deep.equal({ width: 224, height: 224 });
    expect(displaySize({ width: 4000, height: 2000 })).to.deep.equal({ width: 1024, height: 512 });
    expect(displaySize({ width: 451, height: 300 })).to.deep.equal({ width: 451, height: 300 });
    expect(displaySize({ width: 30, height: 10 }, 90)).to.deep.equal({ width: 90, height: 30 });
    expect(() => displaySize({ width: 3, height: 3 }, 0)).to.throw(/positive integer/);
  });

  it('center-crop: the heatmap covers only the cropped region of the source; the rest stays transparent', () => {
    const src = { width: 40, height: 20 };
    const region = sourceRegion(src, { size: [10, 10], resize: 'center-crop' });
    expect(region).to.deep.equal({ left: 10, top: 0, width: 20, height: 20 });
    expect(sourceRegion(src, { size: [10, 10] })).to.deep.equal({ left: 0, top: 0, width: 40, height: 20 });
    const placed = placeHeatmap(solid(10, 10, [255, 0, 0, 255]), src, region, { width: 80, height: 40 });
    expect([placed.width, placed.height]).to.deep.equal([80, 40]);
    const alpha = (x: number, y: number) => placed.rgba[(y * 80 + x) * 4 + 3];
    expect(alpha(5, 20)).to.equal(0);
    expect(alpha(40, 20)).to.equal(255);
    expect(alpha(75, 20)).to.equal(0);
  });

  it('renderRelevance: input, heatmap and overlay at display size for images; heatmap only for feature vectors', () => {
    const rel = float32([1, 1, 4, 4], Array.from({ length: 16 }, (_, i) => i - 8));
    const r = renderRelevance(rel, { source: solid(8, 8, [200, 200, 200, 255]) }, { displaySize: 32, opacity: 1 });
    expect([r.input!.width, r.heatmap.width, r.overlay!.width]).to.deep.equal([32, 32, 32]);
    // opacity 1: the overlay is the heatmap itself
    expect([...r.overlay!.rgba.subarray(0, 4)]).to.deep.equal([...r.heatmap.rgba.subarray(0, 4)]);
    const v = renderRelevance(float32([1, 10], Array.from({ length: 10 }, (_, i) => i)), {});
    expect(v.overlay).to.equal(undefined);
    expect(v.heatmap.width).to.be.greaterThan(0);
    expect(isImageShaped([1, 3, 4, 4])).to.equal(true);
    expect(isImageShaped([1, 5, 4, 4])).to.equal(false);
    expect(isImageShaped([1, 4, 4, 3], 'NHWC')).to.equal(true);
  });

  it('relevanceHeatmap: a 2-D map of any resolution (e.g. CAM) and a batch slice', () => {
    const cam = float32([7, 7], Array.from({ length: 49 }, (_, i) => i));
    expect(relevanceHeatmap(cam).width).to.equal(7);
    const batch = float32([2, 1, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(sliceSample(batch, 1).data as Float32Array)).to.deep.equal([5, 6, 7, 8]);
    expect(sliceSample(batch, 1).dims).to.deep.equal([1, 1, 2, 2]);
    expect(() => sliceSample(batch, 2)).to.throw(/out of range/);
  });

  it('comparisonGrid: input column plus one column per method (LRP composite, CAM map, gradient)', async () => {
    const img = solid(16, 16, [90, 90, 90, 255]);
    const lrp = float32([1, 3, 16, 16], Array.from({ length: 768 }, (_, i) => Math.sin(i)));
    const cam = float32([4, 4], Array.from({ length: 16 }, (_, i) => i));
    const g = await comparisonGrid([
      { image: img, caption: 'Bag 2.5', columns: [{ title: 'epsilon', relevance: lrp, caption: 'Bag 2.5' }, { title: 'CAM', relevance: cam, render: { normalization: 'absolute' } }] },
      { image: img, caption: 'Coat 1.0', columns: [{ title: 'epsilon', relevance: lrp }, { title: 'CAM', relevance: cam }] },
    ], { cellSize: 48 });
    // 3 columns of 48 px plus padding; 2 rows of 48 px plus captions and titles
    expect(g.width).to.be.within(3 * 48, 3 * 48 + 40);
    expect(g.height).to.be.within(2 * 48 + 20, 2 * 48 + 80);
    // a wide source next to a square one: cells keep their aspect ratio inside a common box
    const wide = await comparisonGrid([
      { image: solid(32, 16, [0, 0, 0, 255]), columns: [{ title: 'm', relevance: float32([1, 1, 2, 4], [1, 2, 3, 4, 5, 6, 7, 8]) }] },
      { image: solid(16, 16, [0, 0, 0, 255]), columns: [{ title: 'm', relevance: float32([1, 1, 2, 2], [1, 2, 3, 4]) }] },
    ], { cellSize: 48 });
    expect(wide.width).to.be.within(2 * 48, 2 * 48 + 20);
    await comparisonGrid([{ columns: [{ title: 'features', relevance: float32([1, 9], [1, 2, 3, 4, 5, 6, 7, 8, 9]) }] }]);
    let err: Error | undefined;
    try { await comparisonGrid([]); } catch (e) { err = e as Error; }
    expect(err?.message).to.match(/no relevance maps/);
  });
});
