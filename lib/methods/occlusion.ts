/** Occlusion (Zeiler & Fergus 2014): slide a patch of a fill value over the input, re-run the model on every
 * occluded copy (batched, outputs only) and attribute to each pixel the average drop of the target logit over
 * the windows that cover it. Browser-safe. */
import { Explainer } from '../explain';
import { Tensor, float32 } from '../tensor';
import { RowProgress, chunkSize } from './batch';
import { F32Tensor, broadcastChannels, predictRows, resolveTargets, spatialDims, toF32Tensor } from './util';

export interface OcclusionOptions {
  /** patch size: one number (square) or [height, width] (default 4) */
  patch?: number | [number, number];
  /** stride: one number or [y, x] (default: the patch size) */
  stride?: number | [number, number];
  /** value written into the patch: a number, or one per channel (default 0: in the model's input space, so
   * the data set mean for a normalised input) */
  fill?: number | number[];
  /** rows per onnxruntime run (default 256, fewer for large inputs: at most 2^23 input elements per run; the
   * model's batch when it is fixed) */
  batchSize?: number;
  targets?: number[];
  /** occluded copies run so far of the total, at the start and after each chunk */
  onProgress?: RowProgress;
}

function pair(v: number | [number, number] | undefined, def: [number, number], what: string): [number, number] {
  const p: [number, number] = v === undefined ? def : typeof v === 'number' ? [v, v] : v;
  if (p.length !== 2 || p.some((k) => !Number.isInteger(k) || k < 1)) throw new Error(`occlusion: ${what} must be a positive integer or two, got ${JSON.stringify(v)}`);
  return p;
}

/** Window starts along one axis: 0, s, 2s, … and, when the last window stops short of the edge, one more
 * window flush with the edge, so that every position is covered. */
export function windowStarts(size: number, patch: number, stride: number): number[] {
  if (patch > size) return [0];
  const starts: number[] = [];
  for (let p = 0; p + patch <= size; p += stride) starts.push(p);
  if (starts[starts.length - 1] + patch < size) starts.push(size - patch);
  return starts;
}

/** Occlusion map shaped like the input (the same value on every channel): for pixel (h, w), the mean over the
 * windows W covering it of f(x)_target − f(x with W filled)_target. */
export async function occlusion(explainer: Explainer, input: Tensor, opts: OcclusionOptions & { target?: number | number[] } = {}): Promise<F32Tensor> {
  const x = toF32Tensor(input);
  const { N, C, H, W } = spatialDims(x, 'occlusion');
  const [ph, pw] = pair(opts.patch, [4, 4], 'patch');
  const [sy, sx] = pair(opts.stride, [ph, pw], 'stride');
  const fill = opts.fill ?? 0;
  const fillOf = (c: number) => (typeof fill === 'number' ? fill : fill[c]);
  if (Array.isArray(fill) && fill.length !== C) throw new Error(`occlusion: ${fill.length} fill values for ${C} channels`);
  const ys = windowStarts(H, Math.min(ph, H), sy), xs = windowStarts(W, Math.min(pw, W), sx);
  const windows = ys.flatMap((y) => xs.map((xx) => [y, xx] as const));
  const P = windows.length, per = C * H * W;
  const bs = chunkSize(per, opts.batchSize, 256, 1 << 23);
  const base = await predictRows(explainer, x, bs);
  const targets = opts.targets ?? resolveTargets(base, opts.target).targets;
  const classes = base.data.length / N;
  const maps = new Float32Array(N * H * W);
  const count = new Float32Array(H * W);
  for (const [y0, x0] of windows) {
    for (let y = y0; y < Math.min(H, y0 + ph); y++) for (let xx = x0; xx < Math.min(W, x0 + pw); xx++) count[y * W + xx]++;
  }
  // all (sample, window) rows, run in chunks
  const rows = N * P;
  for (let r0 = 0; r0 < rows; r0 += bs) {
    const r1 = Math.min(rows, r0 + bs);
    const buf = new Float32Array((r1 - r0) * per);
    for (let r = r0; r < r1; r++) {
      const s = Math.floor(r / P), [y0, x0] = windows[r % P];
      const off = (r - r0) * per;
      buf.set(x.data.subarray(s * per, (s + 1) * per), off);
      for (let c = 0; c < C; c++) {
        const v = fillOf(c);
        for (let y = y0; y < Math.min(H, y0 + ph); y++) buf.fill(v, off + (c * H + y) * W + x0, off + (c * H + y) * W + Math.min(W, x0 + pw));
      }
    }
    const out = await predictRows(explainer, float32([r1 - r0, C, H, W], buf), bs, undefined, opts.onProgress && ((d) => opts.onProgress!(r0 + d, rows)));
    for (let r = r0; r < r1; r++) {
      const s = Math.floor(r / P), [y0, x0] = windows[r % P];
      const drop = base.data[s * classes + targets[s]] - out.data[(r - r0) * classes + targets[s]];
      for (let y = y0; y < Math.min(H, y0 + ph); y++) for (let xx = x0; xx < Math.min(W, x0 + pw); xx++) maps[s * H * W + y * W + xx] += drop;
    }
  }
  for (let s = 0; s < N; s++) for (let i = 0; i < H * W; i++) maps[s * H * W + i] /= count[i] || 1;
  return broadcastChannels(maps, N, C, H, W);
}
