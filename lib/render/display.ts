/** From a relevance tensor to pictures a person looks at: one sample's heatmap, upsampled and placed over
 * the source image it was computed from (the model input may be a resized or center-cropped view of it).
 * Pure code (browser-safe). */

import { Tensor, sizeOf, toFloat32 } from '../tensor';
import { ChannelReduction, HeatmapOptions, Normalization, heatmap, heatmap1d } from './heatmap';
import { RGBAImage, checkImage, overlay, resizeBilinear } from '../io/raster';
import type { Region } from '../io/image';

export type { Region } from '../io/image';

/** Options shared by every rendered heatmap (files, grids, reports). */
export interface RenderOptions {
  /** Colormap name (bwr, seismic, coldnhot, hot, gray). Default: bwr (symmetric) / hot (absolute). */
  colormap?: string;
  normalization?: Normalization;
  /** Percentile of |relevance| mapped to the ends of the colormap, in (0,100]. Default 99.5. */
  percentile?: number;
  reduce?: ChannelReduction;
  /** Opacity of the heatmap over the (grayscale) input in overlays, in [0,1]. Default 0.6. */
  opacity?: number;
  /** Longer side of written images in pixels. Default: the source's own, enlarged to at least 224 and
   * reduced to at most 1024. */
  displaySize?: number;
  /** Layout of image-shaped relevance. Default NCHW. */
  layout?: 'NCHW' | 'NHWC';
}

export const DEFAULT_OPACITY = 0.6;

/** Display size for a source image: the longer side becomes `size`, or is clamped into [224, 1024]. */
export function displaySize(src: { width: number; height: number }, size?: number): { width: number; height: number } {
  const long = Math.max(src.width, src.height);
  if (size !== undefined && !(Number.isInteger(size) && size > 0)) throw new Error(`display size must be a positive integer, got ${size}`);
  const target = size ?? Math.min(Math.max(long, 224), 1024);
  const k = target / long;
  return { width: Math.max(1, Math.round(src.width * k)), height: Math.max(1, Math.round(src.height * k)) };
}

/** Sample `s` of a batch-first tensor, keeping a batch dimension of 1. */
export function sliceSample(t: Tensor, s: number): { dtype: 'float32'; dims: number[]; data: Float32Array } {
  const n = t.dims[0] ?? 1;
  if (!(Number.isInteger(s) && s >= 0 && s < n)) throw new Error(`sample ${s} out of range for batch ${n}`);
  const per = sizeOf(t.dims.slice(1));
  const data = toFloat32(t);
  return { dtype: 'float32', dims: [1, ...t.dims.slice(1)], data: data.slice(s * per, (s + 1) * per) };
}

/** Whether one sample of this tensor (batch first) can be drawn as an image of 1 or 3 channels. */
export function isImageShaped(dims: readonly number[], layout: 'NCHW' | 'NHWC' = 'NCHW'): boolean {
  if (dims.length !== 4) return false;
  const c = layout === 'NCHW' ? dims[1] : dims[3];
  return c === 1 || c === 3;
}

/** Heatmap of one sample's relevance (batch of 1 or none): an image for [1,C,H,W] / [C,H,W] / [H,W]
 * tensors (any C; channels reduced), a square-ish mosaic of cells for feature vectors. */
export function relevanceHeatmap(rel: Tensor, opts: RenderOptions = {}): RGBAImage {
  const h: HeatmapOptions = { colormap: opts.colormap, normalization: opts.normalization, percentile: opts.percentile, reduce: opts.reduce, layout: opts.layout };
  const dims = rel.dims[0] === 1 && rel.dims.length > 1 ? rel.dims.slice(1) : rel.dims;
  if (dims.length >= 2) return heatmap(rel, h);
  const F = sizeOf(dims), cols = Math.ceil(Math.sqrt(F));
  return heatmap1d(toFloat32(rel), { ...h, shape: [Math.ceil(F / cols), cols], cellSize: Math.max(1, Math.round(224 / cols)) });
}

/** Upsample `heat` (computed on the model input) onto a canvas of `display` size that shows the whole
 * source image, covering the `region` of the source the model saw (transparent elsewhere). */
export function placeHeatmap(heat: RGBAImage, source: { width: number; height: number }, region: Region, display: { width: number; height: number }): RGBAImage {
  checkImage(heat, 'heatmap');
  const kx = display.width / source.width, ky = display.height / source.height;
  const left = Math.round(region.left * kx), top = Math.round(region.top * ky);
  const w = Math.max(1, Math.min(display.width - left, Math.round(region.width * kx)));
  const h = Math.max(1, Math.min(display.height - top, Math.round(region.height * ky)));
  const scaled = resizeBilinear(heat, w, h);
  if (left === 0 && top === 0 && w === display.width && h === display.height) return scaled;
  const rgba = new Uint8ClampedArray(display.width * display.height * 4);
  for (let y = 0; y < h; y++) rgba.set(scaled.rgba.subarray(y * w * 4, (y + 1) * w * 4), ((top + y) * display.width + left) * 4);
  return { width: display.width, height: display.height, rgba };
}

/** The pictures of one explanation: the source at display size, the heatmap over the same canvas, and the
 * overlay (heatmap over the grayscale source). `source` is absent for non-image inputs (no overlay then). */
export interface RenderedExplanation {
  input?: RGBAImage;
  heatmap: RGBAImage;
  overlay?: RGBAImage;
}

/** Render one sample's relevance (batch of 1) computed on a view (`region`) of `source`. */
export function renderRelevance(rel: Tensor, view: { source?: RGBAImage; region?: Region } = {}, opts: RenderOptions = {}): RenderedExplanation {
  const heat = relevanceHeatmap(rel, opts);
  if (!view.source || !isImageShaped(rel.dims.length === 4 ? rel.dims : [1, ...rel.dims], opts.layout)) {
    return { heatmap: heat };
  }
  const src = view.source;
  const display = displaySize(src, opts.displaySize);
  const input = src.width === display.width && src.height === display.height ? src : resizeBilinear(src, display.width, display.height);
  const placed = placeHeatmap(heat, src, view.region ?? { left: 0, top: 0, width: src.width, height: src.height }, display);
  return { input, heatmap: placed, overlay: overlay(input, placed, opts.opacity ?? DEFAULT_OPACITY) };
}
