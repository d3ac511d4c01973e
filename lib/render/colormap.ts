/** Colormaps: t in [0,1] → [r,g,b] in 0..255. Pure code (browser-safe).
 *
 * Each map is piecewise linear between colour stops and is evaluated exactly (no LUT), so the
 * centre t = 0.5 of the diverging maps is exactly their zero colour.
 *
 * - bwr, seismic: matplotlib's definitions (`_bwr_data`, `_seismic_data`): evenly spaced stops
 *   blue → white → red, and dark blue → blue → white → red → dark red.
 * - coldnhot: Zennit's `coldnhot` (source '0ff,00f,80:000,f00,ff0,fff'): cyan → blue → black at the
 *   centre → red → yellow → white. Zennit places these stops at 8-bit palette indices (0, 64, 128,
 *   170, 212, 255); we place them at the exact fractions they approximate (0, 1/4, 1/2, 2/3, 5/6, 1),
 *   so that zero relevance is exactly black.
 * - hot: Zennit's `hot` ('000,f00,ff0,fff'): black → red → yellow → white at 0, 1/3, 2/3, 1 (the
 *   positive half of coldnhot; matplotlib's `hot` has slightly different breakpoints).
 * - gray: black → white.
 */

export type RGB = [number, number, number];
export type Colormap = (t: number) => RGB;

/** A colour stop: position in [0,1] and a colour given as 0..1 floats. */
type Stop = readonly [number, number, number, number];

function evenly(colors: readonly (readonly [number, number, number])[]): Stop[] {
  return colors.map((c, i) => [i / (colors.length - 1), c[0], c[1], c[2]] as const);
}

const STOPS = {
  bwr: evenly([[0, 0, 1], [1, 1, 1], [1, 0, 0]]),
  seismic: evenly([[0, 0, 0.3], [0, 0, 1], [1, 1, 1], [1, 0, 0], [0.5, 0, 0]]),
  coldnhot: [
    [0, 0, 1, 1], [1 / 4, 0, 0, 1], [1 / 2, 0, 0, 0], [2 / 3, 1, 0, 0], [5 / 6, 1, 1, 0], [1, 1, 1, 1],
  ] as Stop[],
  hot: evenly([[0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1]]),
  gray: evenly([[0, 0, 0], [1, 1, 1]]),
} satisfies Record<string, Stop[]>;

export type ColormapName = keyof typeof STOPS;

/** Known colormap names. */
export const names: readonly ColormapName[] = Object.keys(STOPS) as ColormapName[];

function fromStops(stops: readonly Stop[]): Colormap {
  return (t: number): RGB => {
    // Clamp; NaN goes to 0.
    const x = t > 0 ? (t < 1 ? t : 1) : 0;
    let i = 1;
    while (i < stops.length - 1 && stops[i][0] < x) i++;
    const a = stops[i - 1], b = stops[i];
    const f = b[0] > a[0] ? (x - a[0]) / (b[0] - a[0]) : 0;
    return [
      Math.round(255 * (a[1] + f * (b[1] - a[1]))),
      Math.round(255 * (a[2] + f * (b[2] - a[2]))),
      Math.round(255 * (a[3] + f * (b[3] - a[3]))),
    ];
  };
}

export const bwr: Colormap = fromStops(STOPS.bwr);
export const seismic: Colormap = fromStops(STOPS.seismic);
export const coldnhot: Colormap = fromStops(STOPS.coldnhot);
export const hot: Colormap = fromStops(STOPS.hot);
export const gray: Colormap = fromStops(STOPS.gray);

const MAPS: Record<ColormapName, Colormap> = { bwr, seismic, coldnhot, hot, gray };

export function isColormapName(name: string): name is ColormapName {
  return Object.prototype.hasOwnProperty.call(MAPS, name);
}

/** The colormap called `name`; throws listing the known names otherwise. */
export function getColormap(name: string): Colormap {
  if (!isColormapName(name)) throw new Error(`unknown colormap '${name}'; known colormaps: ${names.join(', ')}`);
  return MAPS[name];
}

/** A 256-entry RGB lookup table (entry i is the colour at t = i/255), e.g. for a colour bar. */
export function lut(name: string, n = 256): Uint8ClampedArray {
  const cmap = getColormap(name);
  const out = new Uint8ClampedArray(3 * n);
  for (let i = 0; i < n; i++) out.set(cmap(n > 1 ? i / (n - 1) : 0.5), 3 * i);
  return out;
}
