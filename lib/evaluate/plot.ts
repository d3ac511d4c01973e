/** A tiny line-plot rasteriser (axes, ticks, grid, legend, a 5×7 bitmap font) drawing perturbation curves into
 * an RGBA image; `writePng` (lib/render/jimp.ts) saves it. Browser-safe, no dependencies. */
import { RGBAImage } from '../io/raster';

const GLYPHS: Record<string, string> = {
  A: '.###.|#...#|#...#|#####|#...#|#...#|#...#', B: '####.|#...#|#...#|####.|#...#|#...#|####.',
  C: '.###.|#...#|#....|#....|#....|#...#|.###.', D: '###..|#..#.|#...#|#...#|#...#|#..#.|###..',
  E: '#####|#....|#....|####.|#....|#....|#####', F: '#####|#....|#....|####.|#....|#....|#....',
  G: '.###.|#...#|#....|#.###|#...#|#...#|.####', H: '#...#|#...#|#...#|#####|#...#|#...#|#...#',
  I: '.###.|..#..|..#..|..#..|..#..|..#..|.###.', J: '..###|...#.|...#.|...#.|...#.|#..#.|.##..',
  K: '#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#', L: '#....|#....|#....|#....|#....|#....|#####',
  M: '#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#', N: '#...#|#...#|##..#|#.#.#|#..##|#...#|#...#',
  O: '.###.|#...#|#...#|#...#|#...#|#...#|.###.', P: '####.|#...#|#...#|####.|#....|#....|#....',
  Q: '.###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#', R: '####.|#...#|#...#|####.|#.#..|#..#.|#...#',
  S: '.####|#....|#....|.###.|....#|....#|####.', T: '#####|..#..|..#..|..#..|..#..|..#..|..#..',
  U: '#...#|#...#|#...#|#...#|#...#|#...#|.###.', V: '#...#|#...#|#...#|#...#|#...#|.#.#.|..#..',
  W: '#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.', X: '#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#',
  Y: '#...#|#...#|.#.#.|..#..|..#..|..#..|..#..', Z: '#####|....#|...#.|..#..|.#...|#....|#####',
  0: '.###.|#...#|#..##|#.#.#|##..#|#...#|.###.', 1: '..#..|.##..|..#..|..#..|..#..|..#..|.###.',
  2: '.###.|#...#|....#|...#.|..#..|.#...|#####', 3: '#####|...#.|..#..|...#.|....#|#...#|.###.',
  4: '...#.|..##.|.#.#.|#..#.|#####|...#.|...#.', 5: '#####|#....|####.|....#|....#|#...#|.###.',
  6: '..##.|.#...|#....|####.|#...#|#...#|.###.', 7: '#####|....#|...#.|..#..|.#...|.#...|.#...',
  8: '.###.|#...#|#...#|.###.|#...#|#...#|.###.', 9: '.###.|#...#|#...#|.####|....#|...#.|.##..',
  ' ': '.....|.....|.....|.....|.....|.....|.....', '.': '.....|.....|.....|.....|.....|.##..|.##..',
  ',': '.....|.....|.....|.....|.##..|..#..|.#...', '-': '.....|.....|.....|#####|.....|.....|.....',
  _: '.....|.....|.....|.....|.....|.....|#####', '+': '.....|..#..|..#..|#####|..#..|..#..|.....',
  '/': '.....|....#|...#.|..#..|.#...|#....|.....', '(': '...#.|..#..|.#...|.#...|.#...|..#..|...#.',
  ')': '.#...|..#..|...#.|...#.|...#.|..#..|.#...', ':': '.....|.##..|.##..|.....|.##..|.##..|.....',
  '%': '##...|##..#|...#.|..#..|.#...|#..##|...##', '=': '.....|.....|#####|.....|#####|.....|.....',
  '?': '.###.|#...#|....#|...#.|..#..|.....|..#..', '*': '.....|#.#.#|.###.|#####|.###.|#.#.#|.....',
};

const FONT = new Map(Object.entries(GLYPHS).map(([k, v]) => [k, v.split('|')]));

export type RGB = [number, number, number];

/** tab10, then darker / lighter variants: distinct colours for up to 20 curves. */
export const PALETTE: RGB[] = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75], [227, 119, 194],
  [127, 127, 127], [188, 189, 34], [23, 190, 207], [0, 0, 0], [174, 199, 232], [255, 187, 120], [152, 223, 138],
  [255, 152, 150], [197, 176, 213], [196, 156, 148], [247, 182, 210], [219, 219, 141], [158, 218, 229],
];

class Canvas {
  readonly rgba: Uint8ClampedArray;
  constructor(readonly width: number, readonly height: number) {
    this.rgba = new Uint8ClampedArray(width * height * 4).fill(255);
  }

  px(x: number, y: number, c: RGB, a = 1): void {
    x = Math.round(x); y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const o = (y * this.width + x) * 4;
    for (let k = 0; k < 3; k++) this.rgba[o + k] = Math.round(a * c[k] + (1 - a) * this.rgba[o + k]);
  }

  rect(x0: number, y0: number, x1: number, y1: number, c: RGB): void {
    for (let y = Math.round(y0); y <= Math.round(y1); y++) for (let x = Math.round(x0); x <= Math.round(x1); x++) this.px(x, y, c);
  }

  /** A line of the given thickness (Wu-style coverage by distance to the segment). */
  line(x0: number, y0: number, x1: number, y1: number, c: RGB, thick = 1.5): void {
    const minX = Math.floor(Math.min(x0, x1) - thick), maxX = Math.ceil(Math.max(x0, x1) + thick);
    const minY = Math.floor(Math.min(y0, y1) - thick), maxY = Math.ceil(Math.max(y0, y1) + thick);
    const dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    for (let y = minY; y <= maxY; y++) for (let x = minX; x <= maxX; x++) {
      const t = len2 ? Math.max(0, Math.min(1, ((x - x0) * dx + (y - y0) * dy) / len2)) : 0;
      const d = Math.hypot(x - (x0 + t * dx), y - (y0 + t * dy));
      const a = Math.max(0, Math.min(1, thick / 2 + 0.5 - d));
      if (a > 0) this.px(x, y, c, a);
    }
  }

  text(s: string, x: number, y: number, c: RGB = [0, 0, 0], scale = 1): void {
    let cx = x;
    for (const ch of s) {
      const g = FONT.get(ch) ?? FONT.get(ch.toUpperCase()) ?? FONT.get('?')!;
      g.forEach((row, ry) => [...row].forEach((b, rx) => { if (b === '#') this.rect(cx + rx * scale, y + ry * scale, cx + rx * scale + scale - 1, y + ry * scale + scale - 1, c); }));
      cx += 6 * scale;
    }
  }

  /** Text rotated 90° counter-clockwise (reading bottom to top), starting at (x, y) = its bottom-left. */
  textUp(s: string, x: number, y: number, c: RGB = [0, 0, 0]): void {
    let cy = y;
    for (const ch of s) {
      const g = FONT.get(ch) ?? FONT.get(ch.toUpperCase()) ?? FONT.get('?')!;
      g.forEach((row, ry) => [...row].forEach((b, rx) => { if (b === '#') this.px(x + ry, cy - rx, c); }));
      cy -= 6;
    }
  }
}

export function textWidth(s: string, scale = 1): number {
  return s.length * 6 * scale - scale;
}

export interface Series {
  label: string;
  y: number[];
  /** default: 0 … 1 evenly */
  x?: number[];
  color?: RGB;
  dashed?: boolean;
}

export interface PlotOptions {
  width?: number;
  height?: number;
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** axis ranges (default: the data's, with 5% margin) */
  xRange?: [number, number];
  yRange?: [number, number];
}

function niceTicks(lo: number, hi: number, n = 5): number[] {
  const span = hi - lo || 1;
  const raw = span / n, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= n) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1000 || a < 0.01) return v.toExponential(1);
  return String(Number(v.toPrecision(3)));
}

/** Line plot of several series with a legend on the right. */
export function linePlot(series: Series[], opts: PlotOptions = {}): RGBAImage {
  const legendW = series.length ? Math.max(...series.map((s) => textWidth(s.label))) + 40 : 0;
  const width = opts.width ?? 560 + legendW, height = opts.height ?? 400;
  const cv = new Canvas(width, height);
  const left = 62, right = width - legendW - 16, top = opts.title ? 34 : 14, bottom = height - 44;
  const xs = series.flatMap((s) => s.x ?? s.y.map((_, i) => (s.y.length > 1 ? i / (s.y.length - 1) : 0)));
  const ys = series.flatMap((s) => s.y).filter(Number.isFinite);
  let [x0, x1] = opts.xRange ?? [Math.min(...xs, 0), Math.max(...xs, 1)];
  let [y0, y1] = opts.yRange ?? [Math.min(...ys, 0), Math.max(...ys, 0)];
  if (!opts.yRange) { const m = 0.05 * (y1 - y0 || 1); y0 -= m; y1 += m; }
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) y1 = y0 + 1;
  const X = (v: number) => left + ((v - x0) / (x1 - x0)) * (right - left);
  const Y = (v: number) => bottom - ((v - y0) / (y1 - y0)) * (bottom - top);
  const grey: RGB = [225, 225, 225], dark: RGB = [60, 60, 60];
  for (const t of niceTicks(y0, y1)) {
    cv.line(left, Y(t), right, Y(t), grey, 1);
    cv.text(fmt(t), left - 6 - textWidth(fmt(t)), Y(t) - 3, dark);
  }
  for (const t of niceTicks(x0, x1)) {
    cv.line(X(t), top, X(t), bottom, grey, 1);
    cv.text(fmt(t), X(t) - textWidth(fmt(t)) / 2, bottom + 6, dark);
  }
  cv.line(left, bottom, right, bottom, dark, 1);
  cv.line(left, top, left, bottom, dark, 1);
  series.forEach((s, k) => {
    const c = s.color ?? PALETTE[k % PALETTE.length];
    const sx = s.x ?? s.y.map((_, i) => (s.y.length > 1 ? i / (s.y.length - 1) : 0));
    for (let i = 1; i < s.y.length; i++) {
      if (!Number.isFinite(s.y[i - 1]) || !Number.isFinite(s.y[i])) continue;
      if (s.dashed && i % 2 === 0) continue;
      cv.line(X(sx[i - 1]), Y(s.y[i - 1]), X(sx[i]), Y(s.y[i]), c, 2);
    }
    const ly = top + 4 + k * 14;
    cv.line(right + 14, ly + 3, right + 32, ly + 3, c, 2.5);
    cv.text(s.label, right + 38, ly, [0, 0, 0]);
  });
  if (opts.title) cv.text(opts.title, Math.max(4, (left + right) / 2 - textWidth(opts.title, 2) / 2), 8, [0, 0, 0], 2);
  if (opts.xLabel) cv.text(opts.xLabel, (left + right) / 2 - textWidth(opts.xLabel) / 2, height - 16, [0, 0, 0]);
  if (opts.yLabel) cv.textUp(opts.yLabel, 8, (top + bottom) / 2 + textWidth(opts.yLabel) / 2, [0, 0, 0]);
  return { width, height, rgba: cv.rgba };
}
