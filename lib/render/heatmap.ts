/** Relevance tensors → RGBA heatmaps. Pure code (browser-safe). */

import { Tensor, toFloat32 } from '../tensor';
import { ColormapName, getColormap } from './colormap';
import { RGBAImage } from '../io/raster';

/** How channels are combined into one value per pixel:
 * 'sum' (signed, the usual LRP choice), 'abs-sum' (Σ|r_c|), 'max-abs' (max_c |r_c|, as in
 * Simonyan et al.'s saliency maps). */
export type ChannelReduction = 'sum' | 'abs-sum' | 'max-abs';

/** 'symmetric': r / p mapped to [0,1] with 0 → 0.5 (sign kept); 'absolute': |r| / p → [0,1].
 * p is the `percentile` of |r| (values beyond it are clipped). */
export type Normalization = 'symmetric' | 'absolute';

export interface NormalizeOptions {
  normalization?: Normalization;
  /** Percentile of |r| used as the scale, in (0,100]; 100 = the max, no clipping. Default 99.5. */
  percentile?: number;
}

export interface HeatmapOptions extends NormalizeOptions {
  /** Layout of a 3-D ([C,H,W] / [H,W,C]) or 4-D ([1,C,H,W] / [1,H,W,C]) tensor. Default 'NCHW'. */
  layout?: 'NCHW' | 'NHWC';
  reduce?: ChannelReduction;
  /** Default: 'bwr' for symmetric, 'hot' for absolute normalisation. */
  colormap?: ColormapName | string;
}

/** A single-channel map (one value per pixel, row-major). */
export interface Map2D {
  width: number;
  height: number;
  values: Float32Array;
}

/** Reduce a one-sample relevance tensor to one value per pixel. */
export function reduceChannels(rel: Tensor, opts: { layout?: 'NCHW' | 'NHWC'; reduce?: ChannelReduction } = {}): Map2D {
  const layout = opts.layout ?? 'NCHW', reduce = opts.reduce ?? 'sum';
  let dims = [...rel.dims];
  if (dims.length === 4) {
    if (dims[0] !== 1) throw new Error(`heatmap: expected one sample, got batch of ${dims[0]} (dims [${dims.join(',')}])`);
    dims = dims.slice(1);
  }
  if (dims.length === 2) dims = layout === 'NCHW' ? [1, ...dims] : [...dims, 1];
  if (dims.length !== 3) throw new Error(`heatmap: expects dims [H,W], [C,H,W] or [1,C,H,W] (or NHWC), got [${rel.dims.join(',')}]`);
  const [C, H, W] = layout === 'NCHW' ? dims : [dims[2], dims[0], dims[1]];
  const src = toFloat32(rel), n = H * W, values = new Float32Array(n);
  // Element (c, p) of a pixel-major (NHWC) or channel-major (NCHW) buffer.
  const at = layout === 'NCHW' ? (c: number, p: number) => src[c * n + p] : (c: number, p: number) => src[p * C + c];
  for (let p = 0; p < n; p++) {
    let acc = 0;
    for (let c = 0; c < C; c++) {
      const v = at(c, p);
      if (reduce === 'sum') acc += v;
      else if (reduce === 'abs-sum') acc += Math.abs(v);
      else if (reduce === 'max-abs') acc = Math.max(acc, Math.abs(v));
      else throw new Error(`heatmap: unknown channel reduction '${reduce as string}' (sum, abs-sum, max-abs)`);
    }
    values[p] = acc;
  }
  return { width: W, height: H, values };
}

/** The q-th percentile (0..100) of `values`, linear interpolation between order statistics (numpy's default). */
export function percentile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return 0;
  const sorted = Float64Array.from(values).sort();
  const pos = (Math.min(Math.max(q, 0), 100) / 100) * (sorted.length - 1);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

/** Map relevance values to colormap positions in [0,1]. Non-finite values count as 0.
 * `scale` is the |r| that maps to the ends of the colormap (0 for an all-zero map). */
export function normalize(values: ArrayLike<number>, opts: NormalizeOptions = {}): { t: Float32Array; scale: number } {
  const mode = opts.normalization ?? 'symmetric', q = opts.percentile ?? 99.5;
  if (mode !== 'symmetric' && mode !== 'absolute') throw new Error(`heatmap: unknown normalization '${mode as string}' (symmetric, absolute)`);
  if (!(q > 0 && q <= 100)) throw new Error(`heatmap: percentile must be in (0,100], got ${q}`);
  const n = values.length, abs = new Float32Array(n);
  let max = 0;
  for (let i = 0; i < n; i++) {
    const a = Number.isFinite(values[i]) ? Math.abs(values[i]) : 0;
    abs[i] = a;
    if (a > max) max = a;
  }
  let scale = q >= 100 ? max : percentile(abs, q);
  if (!(scale > 0)) scale = max; // sparse maps: the percentile may be 0 while some values are not
  const t = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = Number.isFinite(values[i]) ? values[i] : 0;
    const x = scale > 0 ? Math.max(-1, Math.min(1, v / scale)) : 0;
    t[i] = mode === 'symmetric' ? 0.5 + 0.5 * x : Math.abs(x);
  }
  return { t, scale };
}

/** Colour positions t (one per pixel, row-major) → opaque RGBA image. */
export function colorize(t: ArrayLike<number>, width: number, height: number, colormap: string): RGBAImage {
  if (t.length !== width * height) throw new Error(`colorize: ${width}x${height} needs ${width * height} values, got ${t.length}`);
  const cmap = getColormap(colormap), rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < t.length; i++) {
    const [r, g, b] = cmap(t[i]);
    rgba[4 * i] = r; rgba[4 * i + 1] = g; rgba[4 * i + 2] = b; rgba[4 * i + 3] = 255;
  }
  return { width, height, rgba };
}

function defaultColormap(opts: HeatmapOptions): string {
  return opts.colormap ?? ((opts.normalization ?? 'symmetric') === 'symmetric' ? 'bwr' : 'hot');
}

/** Heatmap of the relevance of ONE sample: dims [H,W], [C,H,W] or [1,C,H,W] (or NHWC with `layout`). */
export function heatmap(rel: Tensor, opts: HeatmapOptions = {}): RGBAImage {
  const colormap = defaultColormap(opts);
  getColormap(colormap); // fail early on a bad name
  const m = reduceChannels(rel, opts);
  return colorize(normalize(m.values, opts).t, m.width, m.height, colormap);
}

export interface Heatmap1DOptions extends NormalizeOptions {
  /** [h, w] grid to lay the features out in (row-major); h*w ≥ F, unused cells are transparent.
   * Without it the features form a horizontal bar, one cell per feature. */
  shape?: [number, number];
  /** Pixels per cell side. Default 8. */
  cellSize?: number;
  colormap?: ColormapName | string;
}

/** Heatmap of non-image relevance (e.g. [F] features, or [1,F]): every value becomes a square cell. */
export function heatmap1d(rel: Tensor | ArrayLike<number>, opts: Heatmap1DOptions = {}): RGBAImage {
  const values = 'dims' in rel && 'data' in rel ? toFloat32(rel as Tensor) : Float32Array.from(rel as ArrayLike<number>);
  const F = values.length, cell = opts.cellSize ?? 8;
  if (F === 0) throw new Error('heatmap1d: no values');
  if (!Number.isInteger(cell) || cell < 1) throw new Error(`heatmap1d: cellSize must be a positive integer, got ${cell}`);
  const [rows, cols] = opts.shape ?? [1, F];
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1 || rows * cols < F) {
    throw new Error(`heatmap1d: shape [${rows},${cols}] cannot hold ${F} values`);
  }
  const colormap = defaultColormap(opts);
  const cells = colorize(normalize(values, opts).t, F, 1, colormap).rgba;
  const width = cols * cell, height = rows * cell, rgba = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = Math.floor(y / cell) * cols + Math.floor(x / cell);
      if (i < F) rgba.set(cells.subarray(4 * i, 4 * i + 4), (y * width + x) * 4);
    }
  }
  return { width, height, rgba };
}
