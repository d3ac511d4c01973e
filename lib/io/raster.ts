/** Plain RGBA images and their pixel operations (resize, crop, overlay, pad), shared by image input (io/image) and
 * the renderers (render/). Pure code (browser-safe). */

/** Row-major RGBA, 4 bytes per pixel, no padding. */
export interface RGBAImage {
  width: number;
  height: number;
  rgba: Uint8ClampedArray | Uint8Array;
}

export function checkImage(img: RGBAImage, what = 'image'): void {
  const { width, height, rgba } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`${what}: invalid size ${width}x${height}`);
  }
  if (rgba.length !== width * height * 4) {
    throw new Error(`${what}: ${width}x${height} needs ${width * height * 4} RGBA bytes, got ${rgba.length}`);
  }
}

/** ITU-R 601 luma of an 8-bit RGB triple, rounded as PIL's convert('L') does. */
export function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}

/** Grayscale copy (R = G = B = luma), alpha kept. */
export function toGrayscale(img: RGBAImage): RGBAImage {
  const src = img.rgba, out = new Uint8ClampedArray(src.length);
  for (let i = 0; i < src.length; i += 4) {
    const y = luma(src[i], src[i + 1], src[i + 2]);
    out[i] = out[i + 1] = out[i + 2] = y;
    out[i + 3] = src[i + 3];
  }
  return { width: img.width, height: img.height, rgba: out };
}

/** Triangle-filter weights for resampling `inSize` samples to `outSize` (PIL's bilinear: pixel
 * centres aligned, filter widened by the scale factor when downscaling, i.e. antialiased). */
function weights(inSize: number, outSize: number): { start: Int32Array; count: Int32Array; w: Float64Array; k: number } {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // bilinear support 1, widened
  const k = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize), count = new Int32Array(outSize), w = new Float64Array(outSize * k);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    let sum = 0;
    for (let i = lo; i < hi; i++) {
      const v = Math.max(0, 1 - Math.abs((i - center + 0.5) / filterScale));
      w[o * k + i - lo] = v;
      sum += v;
    }
    if (sum > 0) for (let i = 0; i < hi - lo; i++) w[o * k + i] /= sum;
    start[o] = lo;
    count[o] = hi - lo;
  }
  return { start, count, w, k };
}

/** Bilinear resize of all four channels (PIL/torchvision-style, antialiased when downscaling). */
export function resizeBilinear(img: RGBAImage, width: number, height: number): RGBAImage {
  checkImage(img, 'resize');
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`resize: invalid target size ${width}x${height}`);
  }
  const { width: W, height: H, rgba } = img;
  if (W === width && H === height) return { width, height, rgba: Uint8ClampedArray.from(rgba) };
  // Horizontal pass into a float buffer (H x width), then vertical pass.
  const hx = weights(W, width), tmp = new Float64Array(H * width * 4);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < width; x++) {
      const s = hx.start[x], n = hx.count[x], base = x * hx.k, o = (y * width + x) * 4;
      for (let i = 0; i < n; i++) {
        const wt = hx.w[base + i], p = (y * W + s + i) * 4;
        tmp[o] += wt * rgba[p]; tmp[o + 1] += wt * rgba[p + 1]; tmp[o + 2] += wt * rgba[p + 2]; tmp[o + 3] += wt * rgba[p + 3];
      }
    }
  }
  const vy = weights(H, height), out = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    const s = vy.start[y], n = vy.count[y], base = y * vy.k;
    for (let x = 0; x < width; x++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let i = 0; i < n; i++) {
        const wt = vy.w[base + i], p = ((s + i) * width + x) * 4;
        r += wt * tmp[p]; g += wt * tmp[p + 1]; b += wt * tmp[p + 2]; a += wt * tmp[p + 3];
      }
      const o = (y * width + x) * 4;
      out[o] = Math.round(r); out[o + 1] = Math.round(g); out[o + 2] = Math.round(b); out[o + 3] = Math.round(a);
    }
  }
  return { width, height, rgba: out };
}

/** Crop a rectangle (must lie inside the image). */
export function crop(img: RGBAImage, left: number, top: number, width: number, height: number): RGBAImage {
  if (left < 0 || top < 0 || left + width > img.width || top + height > img.height || width < 1 || height < 1) {
    throw new Error(`crop ${width}x${height}+${left}+${top} is outside the ${img.width}x${img.height} image`);
  }
  const out = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * img.width + left) * 4;
    out.set(img.rgba.subarray(from, from + width * 4), y * width * 4);
  }
  return { width, height, rgba: out };
}

/** Heatmap `heat` over a grayscale version of `base`, blended with `opacity` in [0,1] (times the
 * heatmap's own alpha). `heat` is resized to the base's size when they differ. */
export function overlay(base: RGBAImage, heat: RGBAImage, opacity = 0.5): RGBAImage {
  checkImage(base, 'overlay base');
  checkImage(heat, 'overlay heatmap');
  if (!(opacity >= 0 && opacity <= 1)) throw new Error(`overlay: opacity must be in [0,1], got ${opacity}`);
  const h = heat.width === base.width && heat.height === base.height ? heat : resizeBilinear(heat, base.width, base.height);
  const g = toGrayscale(base).rgba, hp = h.rgba, out = new Uint8ClampedArray(g.length);
  for (let i = 0; i < g.length; i += 4) {
    const a = opacity * (hp[i + 3] / 255);
    out[i] = Math.round((1 - a) * g[i] + a * hp[i]);
    out[i + 1] = Math.round((1 - a) * g[i + 1] + a * hp[i + 1]);
    out[i + 2] = Math.round((1 - a) * g[i + 2] + a * hp[i + 2]);
    out[i + 3] = 255;
  }
  return { width: base.width, height: base.height, rgba: out };
}

/** `img` centred on a transparent canvas of width x height (at least its own size). */
export function padTo(img: RGBAImage, width: number, height: number): RGBAImage {
  checkImage(img, 'pad');
  const w = Math.max(width, img.width), h = Math.max(height, img.height);
  if (w === img.width && h === img.height) return img;
  const left = Math.floor((w - img.width) / 2), top = Math.floor((h - img.height) / 2);
  const out = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < img.height; y++) out.set(img.rgba.subarray(y * img.width * 4, (y + 1) * img.width * 4), ((top + y) * w + left) * 4);
  return { width: w, height: h, rgba: out };
}
