import { expect } from 'chai';
import { float32 } from '../../lib/tensor';
import {
  RGBAImage, centerCropGeometry, fitImage, imageOptionsFromMetadata, imageToTensor, tensorToImage,
} from '../../lib/io/image';

/** w x h image whose pixel (x,y) is (r,g,b) = f(x,y). */
function synth(w: number, h: number, f: (x: number, y: number) => [number, number, number]): RGBAImage {
  const rgba = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    rgba.set([...f(x, y), 255], (y * w + x) * 4);
  }
  return { width: w, height: h, rgba };
}

describe('io/image', () => {
  const img = synth(4, 2, (x, y) => [10 * x, 100 + y, 200]);

  it('NCHW: [1,3,H,W], values 0..255 → [0,1] by default', () => {
    const t = imageToTensor(img);
    expect(t.dims).to.deep.equal([1, 3, 2, 4]);
    const at = (c: number, y: number, x: number) => t.data[c * 8 + y * 4 + x];
    expect(at(0, 1, 3)).to.be.closeTo(30 / 255, 1e-7);
    expect(at(1, 1, 3)).to.be.closeTo(101 / 255, 1e-7);
    expect(at(2, 0, 0)).to.be.closeTo(200 / 255, 1e-7);
  });

  it('NHWC holds the same values channels-last', () => {
    const a = imageToTensor(img), b = imageToTensor(img, { layout: 'NHWC' });
    expect(b.dims).to.deep.equal([1, 2, 4, 3]);
    for (let c = 0; c < 3; c++) for (let p = 0; p < 8; p++) expect(b.data[p * 3 + c]).to.equal(a.data[c * 8 + p]);
  });

  it('normalises a known pixel with valueRange, mean and std', () => {
    const one = synth(1, 1, () => [255, 128, 0]);
    const t = imageToTensor(one, { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    expect(t.data[0]).to.be.closeTo((1 - 0.485) / 0.229, 1e-5);
    expect(t.data[1]).to.be.closeTo((128 / 255 - 0.456) / 0.224, 1e-5);
    expect(t.data[2]).to.be.closeTo((0 - 0.406) / 0.225, 1e-5);
    const r = imageToTensor(one, { valueRange: [-1, 1] });
    expect(Array.from(r.data).map((v) => +v.toFixed(5))).to.deep.equal([1, +(128 / 127.5 - 1).toFixed(5), -1]);
  });

  it('grayscale uses ITU-R 601 luma and one channel; MNIST-style normalisation', () => {
    const g = synth(1, 1, () => [255, 0, 0]);
    const t = imageToTensor(g, { channels: 'grayscale' });
    expect(t.dims).to.deep.equal([1, 1, 1, 1]);
    expect(t.data[0]).to.be.closeTo(76 / 255, 1e-7); // round(0.299 * 255)
    const white = imageToTensor(synth(1, 1, () => [255, 255, 255]), { channels: 'grayscale', mean: [0.286], std: [0.353] });
    expect(white.data[0]).to.be.closeTo((1 - 0.286) / 0.353, 1e-5);
  });

  it('stretch resizes to [h,w]; a constant image stays constant', () => {
    const c = synth(7, 3, () => [50, 60, 70]);
    const t = imageToTensor(c, { size: [5, 11] });
    expect(t.dims).to.deep.equal([1, 3, 5, 11]);
    expect(t.data.every((v, i) => Math.abs(v - [50, 60, 70][Math.floor(i / 55)] / 255) < 1e-6)).to.equal(true);
  });

  it('center-crop: shorter side to the target, then centred crop (torchvision geometry)', () => {
    expect(centerCropGeometry({ width: 40, height: 20 }, [10, 10])).to.deep.equal({ resized: [10, 20], top: 0, left: 5 });
    expect(centerCropGeometry({ width: 300, height: 400 }, [224, 224], 0.875)).to.deep.equal({ resized: [341, 256], top: 58, left: 16 });
    // Python's round-half-even for the offset: (257-224)/2 = 16.5 -> 16
    expect(centerCropGeometry({ width: 257, height: 224 }, [224, 224]).left).to.equal(16);
    // left half red, middle green, right blue: the crop keeps the middle
    const wide = synth(30, 10, (x) => (x < 10 ? [255, 0, 0] : x < 20 ? [0, 255, 0] : [0, 0, 255]));
    const out = fitImage(wide, { size: [10, 10], resize: 'center-crop' });
    expect([out.width, out.height]).to.deep.equal([10, 10]);
    for (let i = 0; i < 100; i++) expect([out.rgba[4 * i], out.rgba[4 * i + 1], out.rgba[4 * i + 2]]).to.deep.equal([0, 255, 0]);
  });

  it('tensorToImage inverts imageToTensor (rgb and grayscale, both layouts)', () => {
    const src = synth(3, 2, (x, y) => [40 * x, 90 + 50 * y, 255 - 30 * x]);
    const opts = { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3], valueRange: [0, 1] as [number, number] };
    for (const layout of ['NCHW', 'NHWC'] as const) {
      const back = tensorToImage(imageToTensor(src, { ...opts, layout }), { ...opts, layout });
      expect([...back.rgba]).to.deep.equal([...src.rgba]);
    }
    const gray = tensorToImage(float32([1, 1, 1, 2], [0, 1]));
    expect([...gray.rgba]).to.deep.equal([0, 0, 0, 255, 255, 255, 255, 255]);
    expect(() => tensorToImage(float32([1, 2, 2, 2]))).to.throw(/2 channels/);
  });

  it('options from model metadata, with overrides winning', () => {
    const mnist = { input: { shape: [null, 1, 28, 28], layout: 'NCHW' as const, channels: 'grayscale' as const, valueRange: [0, 1] as [number, number], mean: [0.286], std: [0.353] } };
    expect(imageOptionsFromMetadata(mnist)).to.deep.equal({
      size: [28, 28], layout: 'NCHW', channels: 'grayscale', valueRange: [0, 1], mean: [0.286], std: [0.353],
    });
    const rgb = imageOptionsFromMetadata({ input: { shape: [null, 3, 224, 224] } }, { resize: 'center-crop', layout: undefined });
    expect(rgb).to.deep.equal({ size: [224, 224], channels: 'rgb', layout: 'NCHW', resize: 'center-crop' });
    expect(imageOptionsFromMetadata({ shape: ['batch', 32, 32, 3] })).to.deep.include({ layout: 'NHWC', size: [32, 32], channels: 'rgb' });
    expect(imageOptionsFromMetadata(mnist, { size: [14, 14], channels: 'rgb' })).to.deep.include({ size: [14, 14], channels: 'rgb' });
    // the options produce the tensor the model expects
    const t = imageToTensor(synth(56, 56, () => [255, 255, 255]), imageOptionsFromMetadata(mnist));
    expect(t.dims).to.deep.equal([1, 1, 28, 28]);
  });

  it('rejects bad options clearly', () => {
    expect(() => imageToTensor(img, { mean: [0, 0] })).to.throw(/mean needs 1 or 3/);
    expect(() => imageToTensor(img, { std: [0] })).to.throw(/std/);
    expect(() => imageToTensor({ width: 2, height: 2, rgba: new Uint8Array(3) })).to.throw(/RGBA bytes/);
    expect(() => imageOptionsFromMetadata({ input: { shape: [null, 5, 8, 8] } })).to.throw(/5 input channels/);
  });
});
