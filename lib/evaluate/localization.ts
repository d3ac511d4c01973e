/** Localisation metrics for inputs that come with a ground-truth mask or box:
 * - relevance mass accuracy (Arras et al. 2022, "CLEVR-XAI"): the share of the positive relevance (summed over
 *   channels) that falls inside the mask;
 * - the pointing game (Zhang et al. 2018): a hit when the maximum of the channel-summed map lies inside the mask
 *   (or within `tolerance` pixels of it).
 * Browser-safe. */
import { channelSum, spatialDims, toF32Tensor } from '../methods/util';
import { Tensor, toNumbers } from '../tensor';

/** A box [x0, y0, x1, y1] in pixels, x1 and y1 exclusive. */
export type Box = [number, number, number, number];

/** A mask: a tensor [H, W], [N, H, W] or [N, 1, H, W] (non-zero = inside), or a box (one, or one per sample). */
export type Region = Tensor | Box | Box[];

/** Masks as 0/1 arrays [N, H, W]. */
export function masksFor(region: Region, N: number, H: number, W: number): Uint8Array {
  const out = new Uint8Array(N * H * W);
  if (Array.isArray(region)) {
    const boxes: Box[] = typeof region[0] === 'number' ? new Array(N).fill(region as Box) : (region as Box[]);
    if (boxes.length !== N) throw new Error(`${boxes.length} boxes for ${N} samples`);
    boxes.forEach((b, n) => {
      if (b.length !== 4 || b.some((v) => !Number.isFinite(v))) throw new Error(`a box is [x0, y0, x1, y1]; got ${JSON.stringify(b)}`);
      const [x0, y0, x1, y1] = b.map(Math.round);
      if (x1 <= x0 || y1 <= y0) throw new Error(`empty box ${JSON.stringify(b)}`);
      for (let y = Math.max(0, y0); y < Math.min(H, y1); y++) for (let x = Math.max(0, x0); x < Math.min(W, x1); x++) out[n * H * W + y * W + x] = 1;
    });
    return out;
  }
  const d = region.dims;
  const hw = d.slice(-2);
  if (hw[0] !== H || hw[1] !== W) throw new Error(`mask of shape [${d.join('x')}] does not match the input's ${H}x${W}`);
  const v = toNumbers(region);
  const count = v.length / (H * W);
  if (count !== 1 && count !== N) throw new Error(`mask of shape [${d.join('x')}]: expected one mask or one per sample (${N})`);
  for (let n = 0; n < N; n++) for (let i = 0; i < H * W; i++) out[n * H * W + i] = v[(count === 1 ? 0 : n) * H * W + i] ? 1 : 0;
  return out;
}

export interface LocalizationResult {
  /** per sample: positive relevance inside / positive relevance in total (NaN when there is none) */
  massAccuracy: number[];
  /** per sample: 1 when the maximum lies in the mask */
  pointingHits: number[];
  meanMassAccuracy: number;
  pointingAccuracy: number;
}

/** Relevance mass accuracy and the pointing game for maps [N, C, H, W]. */
export function localization(relevance: Tensor, region: Region, opts: { tolerance?: number } = {}): LocalizationResult {
  const R = toF32Tensor(relevance, 'relevance');
  const { N, H, W } = spatialDims(R, 'localisation');
  const maps = channelSum(R);
  const masks = masksFor(region, N, H, W);
  const tol = opts.tolerance ?? 0;
  const massAccuracy: number[] = [], pointingHits: number[] = [];
  for (let n = 0; n < N; n++) {
    let inside = 0, all = 0, best = -Infinity, arg = 0;
    for (let i = 0; i < H * W; i++) {
      const v = maps[n * H * W + i];
      if (v > 0) { all += v; if (masks[n * H * W + i]) inside += v; }
      if (v > best) { best = v; arg = i; }
    }
    massAccuracy.push(all > 0 ? inside / all : NaN);
    const py = Math.floor(arg / W), px = arg % W;
    let hit = 0;
    for (let y = Math.max(0, py - tol); y <= Math.min(H - 1, py + tol) && !hit; y++) {
      for (let x = Math.max(0, px - tol); x <= Math.min(W - 1, px + tol); x++) {
        if ((y - py) ** 2 + (x - px) ** 2 <= tol * tol && masks[n * H * W + y * W + x]) { hit = 1; break; }
      }
    }
    pointingHits.push(hit);
  }
  const valid = massAccuracy.filter((v) => !Number.isNaN(v));
  return {
    massAccuracy, pointingHits,
    meanMassAccuracy: valid.length ? valid.reduce((a, b) => a + b, 0) / valid.length : NaN,
    pointingAccuracy: pointingHits.reduce((a, b) => a + b, 0) / N,
  };
}
