/** Comparison grids: an input beside several relevance maps (LRP composites, gradient baselines, CAM …),
 * one row per input, one labelled column per method. Node (text is drawn with jimp, lib/render/jimp.ts). */

import { Tensor } from '../tensor';
import { RenderOptions, renderRelevance } from './display';
import { FontSize, GridCell, grid } from './jimp';
import { RGBAImage, padTo } from '../io/raster';
import type { Region } from '../io/image';

/** One column: any method's relevance for the row's input. `relevance` is one sample: [1,C,H,W], [C,H,W],
 * [H,W] (a CAM map of any resolution is upsampled onto the input) or a feature vector. */
export interface ComparisonColumn {
  title: string;
  relevance: Tensor;
  /** Text under the cell, e.g. "Sneaker 12.3". */
  caption?: string;
  /** Per-column rendering (e.g. 'absolute' normalisation for a gradient), over the grid's options. */
  render?: RenderOptions;
}

export interface ComparisonRow {
  /** The source image the relevance was computed from (omit for non-image inputs). */
  image?: RGBAImage;
  /** The part of `image` the model saw (center-crop); default: all of it. */
  region?: Region;
  caption?: string;
  title?: string;
  columns: ComparisonColumn[];
}

export interface ComparisonOptions extends RenderOptions {
  /** Draw overlays on the input instead of plain heatmaps. */
  overlays?: boolean;
  /** Longer side of each cell in pixels. Default 112. */
  cellSize?: number;
  fontSize?: FontSize;
  /** Title of the input column. Default 'input'. */
  inputTitle?: string;
}

/** The grid: column titles are 'input' and the first row's column titles; each cell carries its caption. */
export async function comparisonGrid(rows: ComparisonRow[], opts: ComparisonOptions = {}): Promise<RGBAImage> {
  if (!rows.length || !rows.some((r) => r.columns.length)) throw new Error('comparison grid: no relevance maps to show');
  const cell = opts.cellSize ?? 112;
  const hasInput = rows.some((r) => r.image);
  const cells: (GridCell | null)[][] = rows.map((row) => {
    const out: (GridCell | null)[] = [];
    let input: RGBAImage | undefined;
    const rendered = row.columns.map((c) => {
      const r = renderRelevance(c.relevance, { source: row.image, region: row.region }, { ...opts, ...c.render, displaySize: cell });
      input ??= r.input;
      return { image: (opts.overlays && r.overlay) || r.heatmap, caption: c.caption };
    });
    if (hasInput) out.push(input ? { image: input, caption: row.caption } : null);
    out.push(...rendered);
    return out;
  });
  const titles = rows.find((r) => r.columns.length)!.columns.map((c) => c.title);
  const rowTitles = rows.some((r) => r.title) ? rows.map((r) => r.title ?? '') : undefined;
  // Images of other aspect ratios (each at most `cell` on its longer side) are centred in a common box.
  const all = cells.flat().filter((c): c is GridCell => !!c);
  const box = { width: Math.max(...all.map((c) => c.image.width)), height: Math.max(...all.map((c) => c.image.height)) };
  for (const c of all) c.image = padTo(c.image, box.width, box.height);
  return grid(cells, {
    colTitles: hasInput ? [opts.inputTitle ?? 'input', ...titles] : titles,
    rowTitles, fontSize: opts.fontSize ?? 10, cellWidth: box.width, cellHeight: box.height,
  });
}
