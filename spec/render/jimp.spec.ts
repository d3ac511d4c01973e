import { expect } from 'chai';
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RGBAImage, decodeImage, encodePng, grid, overlay, resize, writePng } from '../../lib/render/jimp';

function synth(w: number, h: number, f: (x: number, y: number) => [number, number, number, number?]): RGBAImage {
  const rgba = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const [r, g, b, a] = f(x, y);
    rgba.set([r, g, b, a ?? 255], (y * w + x) * 4);
  }
  return { width: w, height: h, rgba };
}

describe('render/jimp', () => {
  let dir: string;
  before(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'onnx-lrp-jimp-')); });
  after(async () => { await fs.rm(dir, { recursive: true, force: true }); });

  const img = synth(5, 3, (x, y) => [50 * x, 80 * y, 7, x === 0 ? 128 : 255]);

  it('PNG encode → decode round trip is lossless (bytes and file)', async () => {
    const png = await encodePng(img);
    expect([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).to.equal('PNG');
    const back = await decodeImage(png);
    expect([back.width, back.height]).to.deep.equal([5, 3]);
    expect([...back.rgba]).to.deep.equal([...img.rgba]);
    const file = path.join(dir, 'a.png');
    await writePng(file, img);
    expect([...(await decodeImage(file)).rgba]).to.deep.equal([...img.rgba]);
  });

  it('a corrupt or missing file gives an error naming the file', async () => {
    const bad = path.join(dir, 'corrupt.png');
    await fs.writeFile(bad, Buffer.from('definitely not an image'));
    let err: Error | undefined;
    try { await decodeImage(bad); } catch (e) { err = e as Error; }
    expect(err?.message).to.contain('corrupt.png').and.match(/cannot decode/);
    err = undefined;
    try { await decodeImage(path.join(dir, 'missing.png')); } catch (e) { err = e as Error; }
    expect(err?.message).to.contain('missing.png');
    err = undefined;
    try { await decodeImage(new Uint8Array([1, 2, 3]), 'upload.jpg'); } catch (e) { err = e as Error; }
    expect(err?.message).to.contain('upload.jpg');
  });

  it('resize gives the requested sizes and keeps constant images constant', () => {
    const c = synth(8, 6, () => [10, 20, 30]);
    for (const [w, h] of [[16, 12], [3, 2], [8, 1], [1, 1], [13, 7]]) {
      const r = resize(c, w, h);
      expect([r.width, r.height, r.rgba.length]).to.deep.equal([w, h, w * h * 4]);
      expect([...r.rgba.subarray(0, 4)]).to.deep.equal([10, 20, 30, 255]);
    }
    // pixel-centre aligned like PIL: [0,255] upscaled to 4 px
    const up = resize(synth(2, 1, (x) => [255 * x, 0, 0]), 4, 1);
    expect([0, 1, 2, 3].map((i) => up.rgba[4 * i])).to.deep.equal([0, 64, 191, 255]);
    // a 2x downscale of a checkerboard averages it (antialiased)
    const checker = synth(4, 4, (x, y) => ((x + y) % 2 ? [255, 255, 255] : [0, 0, 0]));
    const half = resize(checker, 2, 2);
    expect(half.rgba[0]).to.be.within(120, 135);
  });

  it('overlay blends the heatmap over a grayscale base', () => {
    const base = synth(2, 2, () => [255, 0, 0]); // luma 76
    const heat = synth(2, 2, () => [0, 0, 255]);
    expect([...overlay(base, heat, 0).rgba.subarray(0, 4)]).to.deep.equal([76, 76, 76, 255]);
    expect([...overlay(base, heat, 1).rgba.subarray(0, 4)]).to.deep.equal([0, 0, 255, 255]);
    expect([...overlay(base, heat, 0.5).rgba.subarray(0, 4)]).to.deep.equal([38, 38, 166, 255]);
    expect(overlay(synth(6, 4, () => [0, 0, 0]), heat, 0.5).width).to.equal(6); // heat resized
    expect(() => overlay(base, heat, 2)).to.throw(/opacity/);
  });

  it('grid: size from cells, padding, captions and titles; captions change pixels', async () => {
    const a = synth(20, 10, () => [255, 0, 0]), b = synth(20, 10, () => [0, 0, 255]);
    const plain = await grid([[{ image: a }, { image: b }], [{ image: b }, null]], { padding: 2 });
    expect([plain.width, plain.height]).to.deep.equal([2 + 2 * 22, 2 + 2 * 12]);
    // cell (0,1) starts at x = 2 + 22, y = 2
    const at = (im: RGBAImage, x: number, y: number) => [...im.rgba.subarray((y * im.width + x) * 4, (y * im.width + x) * 4 + 4)];
    expect(at(plain, 24, 2)).to.deep.equal([0, 0, 255, 255]);
    expect(at(plain, 0, 0)).to.deep.equal([255, 255, 255, 255]); // white background
    expect(at(plain, 30, 20)).to.deep.equal([255, 255, 255, 255]); // empty cell

    const cells = [[{ image: a, caption: '' }, { image: b, caption: '' }], [{ image: b, caption: '' }, null]];
    const blank = await grid(cells, { padding: 2, rowTitles: ['', ''], colTitles: ['', ''] });
    cells[0][0]!.caption = 'LRP-eps';
    const captioned = await grid(cells, { padding: 2, rowTitles: ['', ''], colTitles: ['', ''] });
    expect([captioned.width, captioned.height]).to.deep.equal([blank.width, blank.height]);
    expect(captioned.height).to.be.greaterThan(plain.height); // caption lines and a title line
    let diff = 0;
    for (let i = 0; i < blank.rgba.length; i++) if (blank.rgba[i] !== captioned.rgba[i]) diff++;
    expect(diff).to.be.greaterThan(10);

    // '\n' in a caption adds a line: the rows grow by one line height
    const one = await grid([[{ image: a, caption: 'Bag 2.5' }]], { padding: 2 });
    const two = await grid([[{ image: a, caption: 'Bag 2.5\nsum 1.2' }]], { padding: 2 });
    expect(two.width).to.equal(one.width);
    expect(two.height - one.height).to.equal(one.height - 2 - 10 - 2);

    const titled = await grid([[{ image: a, caption: 'x' }]], { rowTitles: ['input'], colTitles: ['method'], fontSize: 16 });
    expect(titled.width).to.be.greaterThan(20 + 8 + 20); // the row-title column
    const png = await encodePng(titled);
    await fs.writeFile(path.join(dir, 'grid.png'), png);
  });

  it('grid resizes cells to a common size and composites transparency over white', async () => {
    const small = synth(5, 5, () => [0, 0, 0, 0]);
    const out = await grid([[{ image: small }]], { cellWidth: 10, cellHeight: 10, padding: 0 });
    expect([out.width, out.height]).to.deep.equal([10, 10]);
    expect([...out.rgba.subarray(0, 4)]).to.deep.equal([255, 255, 255, 255]);
  });
});
