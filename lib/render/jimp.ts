/** Node edge of the renderer: the ONLY module that imports jimp. Decodes and encodes image files
 * and draws text; everything else works on plain {width, height, rgba} images (lib/io/raster.ts). */

import { promises as fs } from 'fs';
import { Jimp, loadFont, measureText } from 'jimp';
import { RGBAImage, checkImage, resizeBilinear } from '../io/raster';
import { readImageHeader } from '../io/image-header';
import { DEFAULT_LIMITS, ReadLimits, checkLimit, readFileSafe } from '../safe-read';
import { TextHeatmapOptions, colorTokens, wrapBoxes } from './text';

export type { RGBAImage } from '../io/raster';
export { resizeBilinear as resize, overlay, toGrayscale } from '../io/raster';

type Font = Awaited<ReturnType<typeof loadFont>>;

/** Decode a PNG, JPEG or BMP image from a file path or bytes. `name` labels bytes in error messages. The file is
 * read with readFileSafe (a regular file, at most `limits.maxFileSize` bytes) and its declared size is checked
 * against `limits.maxPixels` (default 100 M) before decoding; every error names the image, never the decoder. */
export async function decodeImage(src: string | Uint8Array | ArrayBuffer, name?: string, limits: ReadLimits = {}): Promise<RGBAImage> {
  const label = typeof src === 'string' ? src : name ?? '<bytes>';
  const maxPixels = limits.maxPixels ?? DEFAULT_LIMITS.maxPixels;
  checkLimit(maxPixels, 'maxPixels');
  const bytes = typeof src === 'string' ? readFileSafe(src, { what: 'image', maxBytes: limits.maxFileSize })
    : src instanceof ArrayBuffer ? Buffer.from(src) : Buffer.from(src.buffer, src.byteOffset, src.byteLength);
  const header = readImageHeader(bytes);
  if (typeof header === 'string') throw new Error(`${label}: cannot decode the image: ${header}`);
  const { format, width, height } = header;
  const kind = format.toUpperCase();
  if (width === 0 || height === 0) throw new Error(`${label}: the ${kind} image declares a size of ${width}x${height} pixels: nothing to decode`);
  if (width * height > maxPixels) {
    throw new Error(`${label}: the ${kind} image declares ${width}x${height} pixels (${(width * height / 1e6).toFixed(1)} M), above the limit of ${(maxPixels / 1e6).toFixed(1)} M; refused before decoding (raise it with --max-pixels, or the maxPixels option)`);
  }
  let img;
  try {
    // jpeg-js refuses by its own limits (100 MP, 512 MB): ours were checked above, so its are raised to match
    const mp = Math.ceil(width * height / 1e6);
    img = await Jimp.fromBuffer(bytes, { 'image/jpeg': { maxResolutionInMP: mp + 1, maxMemoryUsageInMB: Math.max(512, 16 * (mp + 1)) } } as Parameters<typeof Jimp.fromBuffer>[1]);
  } catch (e) {
    // a raised --max-pixels can still ask for more memory than there is: say so rather than blame the file
    const tooBig = e instanceof RangeError || /allocat|out of range|memory|too large/i.test((e as Error).message);
    throw new Error(tooBig
      ? `${label}: the ${kind} image (${width}x${height} pixels) is too large to decode in memory; lower --max-pixels or shrink the image`
      : `${label}: cannot decode the ${kind} image: truncated or corrupt (${width}x${height} declared)`, { cause: e });
  }
  const { width: w, height: h, data } = img.bitmap;
  if (w !== width || h !== height || data.length !== w * h * 4) throw new Error(`${label}: cannot decode the ${kind} image: truncated or corrupt (${width}x${height} declared, ${w}x${h} decoded)`);
  return { width: w, height: h, rgba: new Uint8ClampedArray(data) };
}

function toJimp(img: RGBAImage) {
  checkImage(img);
  // A fresh (unpooled, offset 0) buffer: jimp reads `data.buffer` without the view's byteOffset.
  const data = Buffer.alloc(img.rgba.length);
  data.set(img.rgba);
  return Jimp.fromBitmap({ width: img.width, height: img.height, data });
}

export async function encodePng(img: RGBAImage): Promise<Buffer> {
  return toJimp(img).getBuffer('image/png');
}

export async function writePng(path: string, img: RGBAImage): Promise<void> {
  await fs.writeFile(path, await encodePng(img));
}

/** Built-in bitmap font sizes (Open Sans, black, shipped in @jimp/plugin-print: works offline). */
export type FontSize = 8 | 10 | 12 | 14 | 16 | 32;

const fonts = new Map<FontSize, Promise<Font>>();

function font(size: FontSize): Promise<Font> {
  const cached = fonts.get(size);
  if (cached) return cached;
  // 'jimp/fonts' is an exports-map subpath the project's moduleResolution cannot type; it resolves at run time.
  const paths = require('jimp/fonts') as Record<string, string>;
  const file = paths[`SANS_${size}_BLACK`];
  if (!file) throw new Error(`no built-in font of size ${size} (8, 10, 12, 14, 16, 32)`);
  const f = loadFont(file);
  fonts.set(size, f);
  return f;
}

export interface GridCell {
  image: RGBAImage;
  /** Text under the image; '\n' starts another line. Printable ASCII (the built-in fonts have no other glyphs). */
  caption?: string;
}

export interface GridOptions {
  /** Cell image size; default: the largest cell. Images of another size are resized (bilinear). */
  cellWidth?: number;
  cellHeight?: number;
  rowTitles?: string[];
  colTitles?: string[];
  /** Pixels between cells and around the grid. Default 4. */
  padding?: number;
  fontSize?: FontSize;
}

/** Fit `text` into `maxWidth` pixels, cutting it with '..' if needed. */
function fitText(f: Font, text: string, maxWidth: number): string {
  if (measureText(f, text) <= maxWidth) return text;
  let s = text;
  while (s.length > 0 && measureText(f, s + '..') > maxWidth) s = s.slice(0, -1);
  return s + '..';
}

/** One labelled image: rows × columns of equal-size cells, a caption line under each cell,
 * optional row titles (left) and column titles (top), white background. Missing cells stay blank. */
export async function grid(cells: (GridCell | null | undefined)[][], opts: GridOptions = {}): Promise<RGBAImage> {
  const all = cells.flat().filter((c): c is GridCell => !!c);
  if (all.length === 0) throw new Error('grid: no cells');
  const f = await font(opts.fontSize ?? 10);
  const pad = opts.padding ?? 4, lineH = f.common.lineHeight;
  const cw = opts.cellWidth ?? Math.max(...all.map((c) => c.image.width));
  const ch = opts.cellHeight ?? Math.max(...all.map((c) => c.image.height));
  const rows = cells.length, cols = Math.max(...cells.map((r) => r.length), opts.colTitles?.length ?? 0);
  const captionLines = Math.max(0, ...all.map((c) => (c.caption === undefined ? 0 : c.caption.split('\n').length)));
  const rowTitleW = opts.rowTitles?.length ? Math.max(...opts.rowTitles.map((t) => measureText(f, t))) + pad : 0;
  const colTitleH = opts.colTitles?.length ? lineH : 0;
  const cellH = ch + captionLines * lineH;
  const width = pad + rowTitleW + cols * (cw + pad);
  const height = pad + colTitleH + rows * (cellH + pad);

  const canvas = new Jimp({ width, height, color: 0xffffffff });
  const out = canvas.bitmap.data;
  const x0 = (c: number) => pad + rowTitleW + c * (cw + pad);
  const y0 = (r: number) => pad + colTitleH + r * (cellH + pad);
  cells.forEach((row, r) => row.forEach((cell, c) => {
    if (!cell) return;
    checkImage(cell.image, `grid cell (${r},${c})`);
    const img = cell.image.width === cw && cell.image.height === ch ? cell.image : resizeBilinear(cell.image, cw, ch);
    for (let y = 0; y < ch; y++) {
      for (let x = 0; x < cw; x++) {
        const s = (y * cw + x) * 4, d = ((y0(r) + y) * width + x0(c) + x) * 4, a = img.rgba[s + 3] / 255;
        // Composite over the white background.
        for (let k = 0; k < 3; k++) out[d + k] = Math.round(a * img.rgba[s + k] + (1 - a) * 255);
        out[d + 3] = 255;
      }
    }
    cell.caption?.split('\n').forEach((line, k) => {
      if (line) canvas.print({ font: f, x: x0(c), y: y0(r) + ch + k * lineH, text: fitText(f, line, cw) });
    });
  }));
  opts.colTitles?.forEach((t, c) => canvas.print({ font: f, x: x0(c), y: pad, text: fitText(f, t, cw) }));
  opts.rowTitles?.forEach((t, r) => canvas.print({ font: f, x: pad, y: y0(r) + Math.max(0, Math.floor((ch - lineH) / 2)), text: t }));
  return { width, height, rgba: new Uint8ClampedArray(canvas.bitmap.data) };
}

/** The built-in fonts with a white variant (for tokens on dark backgrounds). */
const WHITE_SIZES = [8, 16, 32] as const;

function whiteFont(size: (typeof WHITE_SIZES)[number]): Promise<Font> {
  const key = -size as unknown as FontSize; // cached beside the black fonts under a negative key
  const cached = fonts.get(key);
  if (cached) return cached;
  const paths = require('jimp/fonts') as Record<string, string>;
  const f = loadFont(paths[`SANS_${size}_WHITE`]);
  fonts.set(key, f);
  return f;
}

/** The text heatmap of lib/render/text.ts as an image: tokens on their relevance colours, wrapped into lines of
 * at most `width` pixels (default 480), black or white text (printable ASCII: other characters are drawn as
 * '?'), white background. */
export async function textHeatmapPng(tokens: readonly string[], relevance: ArrayLike<number>, opts: TextHeatmapOptions & { width?: number; fontSize?: 8 | 16 | 32 } = {}): Promise<RGBAImage> {
  const { tokens: cs } = colorTokens(tokens, relevance, opts);
  const size = opts.fontSize ?? 16, pad = Math.max(2, Math.round(size / 5)), gap = Math.round(size / 3);
  const black = await font(size), white = await whiteFont(size);
  const ascii = (s: string) => s.replace(/[^\x20-\x7e]/g, '?');
  const widths = cs.map((c) => measureText(black, ascii(c.text)) + 2 * pad);
  const maxW = Math.max(opts.width ?? 480, 2 * pad + 1);
  const { line, x, lines } = wrapBoxes(widths, cs.map((c) => c.joined), maxW - 2 * pad, gap);
  const lineH = black.common.lineHeight + 2 * pad;
  const width = Math.min(maxW, Math.max(1, ...widths.map((w, i) => x[i] + w)) + 2 * pad);
  const height = Math.max(1, lines) * (lineH + pad) + pad;
  const canvas = new Jimp({ width, height, color: 0xffffffff });
  const px = canvas.bitmap.data;
  cs.forEach((c, i) => {
    const x0 = pad + x[i], y0 = pad + line[i] * (lineH + pad);
    for (let y = y0; y < Math.min(height, y0 + lineH); y++) for (let xx = x0; xx < Math.min(width, x0 + widths[i]); xx++) {
      const d = (y * width + xx) * 4;
      px[d] = c.background[0]; px[d + 1] = c.background[1]; px[d + 2] = c.background[2]; px[d + 3] = 255;
    }
  });
  cs.forEach((c, i) => {
    const f = c.foreground[0] > 128 ? white : black;
    canvas.print({ font: f, x: pad + x[i] + pad, y: pad + line[i] * (lineH + pad) + pad, text: ascii(c.text) });
  });
  return { width, height, rgba: new Uint8ClampedArray(canvas.bitmap.data) };
}
