/** Text heatmaps: each token on a background coloured by its relevance (signed, the colormaps and normalisation
 * of image heatmaps: lib/render/heatmap.ts), as an HTML fragment; `textHeatmapPng` (lib/render/jimp.ts) draws
 * the same colours into a PNG. Pure code (browser-safe). */
import { RGB, getColormap } from './colormap';
import { NormalizeOptions, normalize } from './heatmap';

export interface TextHeatmapOptions extends NormalizeOptions {
  /** default 'bwr' (symmetric) / 'hot' (absolute), as for images */
  colormap?: string;
  /** tokens not drawn (e.g. '[PAD]'); their relevance still counts in the scale */
  hide?: readonly string[];
  /** continuation prefix joined to the previous token without a space (default '##'; '' for none) */
  continuation?: string;
}

export interface ColoredToken {
  token: string;
  /** the text shown: the token without its continuation prefix */
  text: string;
  /** joined to the previous token (a WordPiece continuation) */
  joined: boolean;
  relevance: number;
  background: RGB;
  /** black or white, whichever reads better on the background */
  foreground: RGB;
}

/** Tokens with their colours (hidden ones left out); the scale is the |relevance| that maps to the colormap's ends. */
export function colorTokens(tokens: readonly string[], relevance: ArrayLike<number>, opts: TextHeatmapOptions = {}): { tokens: ColoredToken[]; scale: number } {
  if (tokens.length !== relevance.length) throw new Error(`text heatmap: ${tokens.length} tokens but ${relevance.length} relevance values`);
  const colormap = opts.colormap ?? ((opts.normalization ?? 'symmetric') === 'symmetric' ? 'bwr' : 'hot');
  const cmap = getColormap(colormap);
  const { t, scale } = normalize(relevance, opts);
  const hide = new Set(opts.hide ?? []), cont = opts.continuation ?? '##';
  const out: ColoredToken[] = [];
  tokens.forEach((token, i) => {
    if (hide.has(token)) return;
    const joined = !!cont && token.startsWith(cont) && token.length > cont.length && out.length > 0;
    const background = cmap(t[i]);
    const lum = 0.2126 * background[0] + 0.7152 * background[1] + 0.0722 * background[2];
    out.push({ token, text: joined ? token.slice(cont.length) : token, joined, relevance: relevance[i], background, foreground: lum < 110 ? [255, 255, 255] : [0, 0, 0] });
  });
  return { tokens: out, scale };
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const css = (c: RGB) => `rgb(${c[0]},${c[1]},${c[2]})`;

/** An HTML fragment (a `<span class="text-heatmap">` of one `<span>` per token, relevance in its title): self-
 * contained inline styles, so it can be dropped into any page (the audit's index.html, a notebook). */
export function textHeatmapHtml(tokens: readonly string[], relevance: ArrayLike<number>, opts: TextHeatmapOptions = {}): string {
  const { tokens: cs } = colorTokens(tokens, relevance, opts);
  const spans = cs.map((c, k) => `${k > 0 && !c.joined ? ' ' : ''}<span title="${escape(c.token)}: ${c.relevance.toPrecision(4)}" style="background:${css(c.background)};color:${css(c.foreground)};padding:1px 2px;border-radius:2px">${escape(c.text)}</span>`);
  return `<span class="text-heatmap" style="line-height:1.9;font-family:sans-serif">${spans.join('')}</span>`;
}

/** Greedy line breaking: token boxes of the given widths into lines at most `maxWidth` wide (a box wider than a
 * line gets a line of its own); `gap` before each box that is not joined to the previous. Returns the line index
 * and x offset of each box, and the number of lines. */
export function wrapBoxes(widths: readonly number[], joined: readonly boolean[], maxWidth: number, gap: number): { line: number[]; x: number[]; lines: number } {
  const line: number[] = [], x: number[] = [];
  let l = 0, cx = 0;
  widths.forEach((w, i) => {
    const g = i > 0 && !joined[i] && cx > 0 ? gap : 0;
    if (cx > 0 && cx + g + w > maxWidth && !joined[i]) { l++; cx = 0; }
    const start = cx + (cx > 0 && !joined[i] ? gap : 0);
    line.push(l); x.push(start);
    cx = start + w;
  });
  return { line, x, lines: widths.length ? l + 1 : 0 };
}
