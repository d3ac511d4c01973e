/** Decoded images ↔ model input tensors. Pure code (browser-safe): takes an already decoded
 * {width, height, rgba} image (see lib/render/jimp.ts for decoding files on Node). */

import { Tensor, toFloat32 } from '../tensor';
import { RGBAImage, checkImage, crop, luma, resizeBilinear } from './raster';

export type { RGBAImage } from './raster';

export type ResizeMode = 'stretch' | 'center-crop' | 'none';

export interface ImageInputOptions {
  /** [height, width] of the model input. Default: the image's own size. */
  size?: [number, number];
  /** 'stretch' (default): resize to `size` ignoring aspect ratio. 'center-crop': resize so the
   * image covers size/cropFraction (shorter side first, torchvision Resize(int)), then center-crop `size`.
   * 'none': no resampling; an image of another size than `size` is an error. */
  resize?: ResizeMode;
  /** Fraction of the resized image kept by 'center-crop' (torchvision ImageNet eval: 224/256 = 0.875). Default 1. */
  cropFraction?: number;
  /** 'rgb' (default, alpha dropped) or 'grayscale' (ITU-R 601 luma, 1 channel). */
  channels?: 'rgb' | 'grayscale';
  layout?: 'NCHW' | 'NHWC';
  /** Pixel values 0..255 map linearly to [lo, hi]. Default [0, 1]. */
  valueRange?: [number, number];
  /** Per-channel (or one shared) mean/std applied after valueRange: (x - mean) / std. */
  mean?: number[];
  std?: number[];
}

function channelCount(opts: ImageInputOptions): number {
  const ch = opts.channels ?? 'rgb';
  if (ch !== 'rgb' && ch !== 'grayscale') throw new Error(`image: channels must be 'rgb' or 'grayscale', got '${ch as string}'`);
  return ch === 'rgb' ? 3 : 1;
}

/** Per-channel affine map x = a[c] * pixel + b[c] implementing valueRange, mean and std. */
function affine(opts: ImageInputOptions, C: number): { a: number[]; b: number[] } {
  const [lo, hi] = opts.valueRange ?? [0, 1];
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && hi !== lo)) throw new Error(`image: invalid valueRange [${lo},${hi}]`);
  const perChannel = (v: number[] | undefined, name: string, dflt: number): number[] => {
    if (v === undefined) return new Array(C).fill(dflt);
    if (v.length !== 1 && v.length !== C) throw new Error(`image: ${name} needs 1 or ${C} values, got ${v.length}`);
    return Array.from({ length: C }, (_, c) => v[v.length === 1 ? 0 : c]);
  };
  const mean = perChannel(opts.mean, 'mean', 0), std = perChannel(opts.std, 'std', 1);
  if (std.some((s) => !(s !== 0 && Number.isFinite(s)))) throw new Error(`image: std must be finite and non-zero, got [${std.join(',')}]`);
  const a = std.map((s) => (hi - lo) / 255 / s);
  const b = std.map((s, c) => (lo - mean[c]) / s);
  return { a, b };
}

/** Round half to even, like Python's round() (torchvision's center-crop offsets use it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Geometry of 'center-crop': the intermediate resized size and the crop offset. */
export function centerCropGeometry(
  src: { width: number; height: number }, size: [number, number], cropFraction = 1,
): { resized: [number, number]; top: number; left: number } {
  const [H, W] = size;
  if (!(cropFraction > 0 && cropFraction <= 1)) throw new Error(`image: cropFraction must be in (0,1], got ${cropFraction}`);
  const scale = Math.max(H / cropFraction / src.height, W / cropFraction / src.width);
  const rh = Math.max(H, Math.trunc(src.height * scale + 1e-6));
  const rw = Math.max(W, Math.trunc(src.width * scale + 1e-6));
  return { resized: [rh, rw], top: roundHalfEven((rh - H) / 2), left: roundHalfEven((rw - W) / 2) };
}

/** Resize/crop an image to the model's input size. */
export function fitImage(img: RGBAImage, opts: Pick<ImageInputOptions, 'size' | 'resize' | 'cropFraction'>): RGBAImage {
  checkImage(img);
  if (!opts.size) return img;
  const [H, W] = opts.size;
  if (!(Number.isInteger(H) && Number.isInteger(W) && H > 0 && W > 0)) throw new Error(`image: invalid size [${H},${W}]`);
  const mode = opts.resize ?? 'stretch';
  if (mode === 'stretch') return resizeBilinear(img, W, H);
  if (mode === 'none') {
    if (img.width !== W || img.height !== H) {
      throw new Error(`image is ${img.width}x${img.height} (width x height), the model expects ${W}x${H}; resizing is off (resize 'stretch' or 'center-crop' would fit it)`);
    }
    return img;
  }
  if (mode !== 'center-crop') throw new Error(`image: resize must be 'stretch', 'center-crop' or 'none', got '${mode as string}'`);
  const g = centerCropGeometry(img, [H, W], opts.cropFraction ?? 1);
  return crop(resizeBilinear(img, g.resized[1], g.resized[0]), g.left, g.top, W, H);
}

/** A rectangle in pixel coordinates (may be fractional). */
export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The part of the source image that the model input covers after fitImage (the whole image unless
 * 'center-crop' cut something off), in source pixel coordinates. */
export function sourceRegion(src: { width: number; height: number }, opts: Pick<ImageInputOptions, 'size' | 'resize' | 'cropFraction'>): Region {
  const whole = { left: 0, top: 0, width: src.width, height: src.height };
  if (!opts.size || (opts.resize ?? 'stretch') !== 'center-crop') return whole;
  const [H, W] = opts.size;
  const g = centerCropGeometry(src, [H, W], opts.cropFraction ?? 1);
  const sx = g.resized[1] / src.width, sy = g.resized[0] / src.height;
  return { left: g.left / sx, top: g.top / sy, width: W / sx, height: H / sy };
}

/** Decoded image → float32 input tensor [1,C,H,W] (or [1,H,W,C]). */
export function imageToTensor(img: RGBAImage, opts: ImageInputOptions = {}): Tensor & { data: Float32Array } {
  const C = channelCount(opts), layout = opts.layout ?? 'NCHW';
  if (layout !== 'NCHW' && layout !== 'NHWC') throw new Error(`image: layout must be 'NCHW' or 'NHWC', got '${layout as string}'`);
  const { a, b } = affine(opts, C);
  const fitted = fitImage(img, opts), { width: W, height: H, rgba } = fitted, n = H * W;
  const data = new Float32Array(n * C);
  for (let p = 0; p < n; p++) {
    const r = rgba[4 * p], g = rgba[4 * p + 1], bl = rgba[4 * p + 2];
    const px = C === 1 ? [luma(r, g, bl)] : [r, g, bl];
    for (let c = 0; c < C; c++) data[layout === 'NCHW' ? c * n + p : p * C + c] = a[c] * px[c] + b[c];
  }
  return { dtype: 'float32', dims: layout === 'NCHW' ? [1, C, H, W] : [1, H, W, C], data };
}

/** Inverse of imageToTensor for display: undo mean/std and valueRange, back to 0..255 (clamped).
 * Accepts [N,C,H,W]/[N,H,W,C] (sample `index`, default 0) or [C,H,W]/[H,W,C]; C must be 1 or 3. */
export function tensorToImage(
  t: Tensor, opts: Pick<ImageInputOptions, 'layout' | 'valueRange' | 'mean' | 'std'> & { index?: number } = {},
): RGBAImage {
  const layout = opts.layout ?? 'NCHW';
  let dims = [...t.dims], offset = 0;
  if (dims.length === 4) {
    const index = opts.index ?? 0;
    if (!(index >= 0 && index < dims[0])) throw new Error(`tensorToImage: sample ${index} out of range for batch ${dims[0]}`);
    dims = dims.slice(1);
    offset = index * dims[0] * dims[1] * dims[2];
  }
  if (dims.length !== 3) throw new Error(`tensorToImage: expects a 3-D or 4-D image tensor, got [${t.dims.join(',')}]`);
  const [C, H, W] = layout === 'NCHW' ? dims : [dims[2], dims[0], dims[1]];
  if (C !== 1 && C !== 3) throw new Error(`tensorToImage: ${C} channels (layout ${layout}); expected 1 or 3`);
  const { a, b } = affine({ ...opts, channels: C === 1 ? 'grayscale' : 'rgb' }, C);
  const src = toFloat32(t), n = H * W, rgba = new Uint8ClampedArray(n * 4);
  for (let p = 0; p < n; p++) {
    for (let k = 0; k < 3; k++) {
      const c = C === 1 ? 0 : k;
      const x = src[offset + (layout === 'NCHW' ? c * n + p : p * C + c)];
      rgba[4 * p + k] = Math.round((x - b[c]) / a[c]);
    }
    rgba[4 * p + 3] = 255;
  }
  return { width: W, height: H, rgba };
}

/** Model metadata as stored next to a model: {"input": {"shape": [null,C,H,W], "layout", "channels", "valueRange", "mean", "std"}}. */
export interface ImageInputMetadata {
  shape?: (number | string | null)[];
  layout?: 'NCHW' | 'NHWC';
  channels?: 'rgb' | 'grayscale';
  valueRange?: [number, number];
  mean?: number[];
  std?: number[];
  resize?: ResizeMode;
  cropFraction?: number;
}

/** Input options from model metadata (`{input: {...}}` or the inner object); `overrides` win. */
export function imageOptionsFromMetadata(
  meta: { input?: ImageInputMetadata } | ImageInputMetadata, overrides: ImageInputOptions = {},
): ImageInputOptions {
  const m: ImageInputMetadata = ('input' in meta && meta.input ? meta.input : meta) as ImageInputMetadata;
  const out: ImageInputOptions = {};
  const dim = (v: unknown): number | undefined => (typeof v === 'number' && v > 0 ? v : undefined);
  let layout = m.layout;
  if (m.shape) {
    if (m.shape.length !== 4) throw new Error(`image metadata: input shape must have 4 dims (N,C,H,W or N,H,W,C), got [${m.shape.join(',')}]`);
    const s = m.shape.map(dim);
    // Without an explicit layout, channels-last is recognised by a last dim of 1 or 3 and a second one that is not.
    layout ??= (s[3] === 1 || s[3] === 3) && s[1] !== 1 && s[1] !== 3 ? 'NHWC' : 'NCHW';
    const [C, H, W] = layout === 'NCHW' ? [s[1], s[2], s[3]] : [s[3], s[1], s[2]];
    if (H !== undefined && W !== undefined) out.size = [H, W];
    if (C !== undefined && !m.channels) {
      if (C !== 1 && C !== 3) throw new Error(`image metadata: ${C} input channels; images give 1 (grayscale) or 3 (rgb)`);
      out.channels = C === 1 ? 'grayscale' : 'rgb';
    }
  }
  if (layout) out.layout = layout;
  if (m.channels) out.channels = m.channels;
  if (m.valueRange) out.valueRange = [m.valueRange[0], m.valueRange[1]];
  if (m.mean) out.mean = [...m.mean];
  if (m.std) out.std = [...m.std];
  if (m.resize) out.resize = m.resize;
  if (m.cropFraction !== undefined) out.cropFraction = m.cropFraction;
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
