/** Small helpers shared by the attribution methods and the evaluation: a seeded PRNG, batch slicing and
 * stacking, targets, bilinear upsampling of 2-D maps. Browser-safe. */
import { Explainer } from '../explain';
import { mulberry32 } from '../random';
import { Tensor, float32, sizeOf } from '../tensor';
import { RowProgress, RowTensor, chunkRows, chunks, rowRunner } from './batch';

export type F32Tensor = Tensor & { data: Float32Array };

/** mulberry32 (lib/random.ts), its seed mixed with the golden ratio: numbers in [0, 1). */
export function prng(seed: number): () => number {
  return mulberry32((seed >>> 0) ^ 0x9e3779b9);
}

/** Standard normal samples (Box–Muller) from a uniform PRNG. */
export function gaussian(rng: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) { const s = spare; spare = null; return s; }
    let u = 0;
    while (u === 0) u = rng();
    const v = rng();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** A seeded random permutation of 0..n-1 (Fisher–Yates). */
export function permutation(n: number, rng: () => number): number[] {
  const p = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

export function toF32Tensor(t: Tensor, what = 'input'): F32Tensor {
  if (t.dtype === 'float32') return t as F32Tensor;
  if (t.dtype === 'float64' || t.dtype === 'float16') return float32(t.dims, t.data as Float64Array);
  throw new Error(`${what}: expected a float tensor, got ${t.dtype}`);
}

/** Batch size and elements per sample of a batch-first tensor. */
export function batchOf(t: Tensor): { batch: number; per: number } {
  const batch = t.dims[0] ?? 1;
  return { batch, per: batch ? sizeOf(t.dims) / batch : 0 };
}

/** Rows [start, end) of a batch-first tensor (a copy). */
export function sliceBatch(t: F32Tensor, start: number, end: number): F32Tensor {
  const { per } = batchOf(t);
  return float32([end - start, ...t.dims.slice(1)], t.data.subarray(start * per, end * per));
}

/** Checks that a tensor is NCHW-like: rank 4, batch first. */
export function spatialDims(t: Tensor, what: string): { N: number; C: number; H: number; W: number } {
  if (t.dims.length !== 4) {
    throw new Error(`${what} needs a 4-D input [N, C, H, W]; got shape [${t.dims.join('x')}]`);
  }
  const [N, C, H, W] = t.dims;
  return { N, C, H, W };
}

export function argmax(a: ArrayLike<number>, start = 0, end = a.length): number {
  let b = start;
  for (let i = start + 1; i < end; i++) if (a[i] > a[b]) b = i;
  return b - start;
}

/** Predictions and targets from logits [N, K] (targets: one class, one per sample, or the predictions). */
export function resolveTargets(logits: F32Tensor, target: number | number[] | undefined): { predictions: number[]; targets: number[]; scores: number[]; classes: number } {
  const batch = logits.dims[0] ?? 1;
  const classes = logits.data.length / batch;
  const predictions = [...Array(batch).keys()].map((s) => argmax(logits.data, s * classes, (s + 1) * classes));
  let targets: number[];
  if (target === undefined) targets = predictions;
  else if (typeof target === 'number') targets = new Array(batch).fill(target);
  else {
    if (target.length !== batch) throw new Error(`${target.length} targets given for a batch of ${batch}`);
    targets = [...target];
  }
  for (const k of targets) {
    if (!Number.isInteger(k) || k < 0 || k >= classes) throw new Error(`target ${k} is out of range: the output has ${classes} classes (0–${classes - 1})`);
  }
  return { predictions, targets, scores: targets.map((t, s) => logits.data[s * classes + t]), classes };
}

/** Runs `predict` over rows of `x` in chunks of `batchSize` (of the model's batch when it is fixed; see
 * rowRunner), concatenating the outputs; `onProgress` hears the rows done at the start and after each chunk. */
export async function predictRows(explainer: Explainer, x: RowTensor, batchSize: number, output?: string, onProgress?: RowProgress): Promise<F32Tensor> {
  const { batch } = batchOf(x);
  const runner = await rowRunner(explainer, x);
  const parts: F32Tensor[] = [];
  onProgress?.(0, batch);
  for (const [s, e] of chunks(batch, batchSize, runner)) {
    const out = await runner.explainer.predict(chunkRows(x, s, e, runner), output);
    parts.push(out.dims[0] === e - s ? out : sliceBatch(out, 0, e - s));
    onProgress?.(e, batch);
  }
  if (parts.length === 1) return parts[0];
  if (!parts.length) return runner.explainer.predict(x, output);
  const per = parts[0].data.length / (parts[0].dims[0] ?? 1);
  const out = new Float32Array(batch * per);
  let off = 0;
  for (const p of parts) { out.set(p.data, off); off += p.data.length; }
  return float32([batch, ...parts[0].dims.slice(1)], out);
}

/** Bilinear resize of one 2-D map (h×w → H×W), half-pixel centres (PyTorch's `interpolate(mode='bilinear',
 * align_corners=False)`, no antialiasing). */
export function upsampleBilinear(map: ArrayLike<number>, h: number, w: number, H: number, W: number): Float32Array {
  const out = new Float32Array(H * W);
  if (h === H && w === W) { out.set(Array.from(map)); return out; }
  const sy = h / H, sx = w / W;
  for (let y = 0; y < H; y++) {
    const fy = Math.max(0, (y + 0.5) * sy - 0.5);
    const y0 = Math.min(h - 1, Math.floor(fy)), y1 = Math.min(h - 1, y0 + 1), dy = fy - y0;
    for (let x = 0; x < W; x++) {
      const fx = Math.max(0, (x + 0.5) * sx - 0.5);
      const x0 = Math.min(w - 1, Math.floor(fx)), x1 = Math.min(w - 1, x0 + 1), dx = fx - x0;
      out[y * W + x] = (1 - dy) * ((1 - dx) * map[y0 * w + x0] + dx * map[y0 * w + x1]) + dy * ((1 - dx) * map[y1 * w + x0] + dx * map[y1 * w + x1]);
    }
  }
  return out;
}

/** Per-sample 2-D maps [N, H, W] broadcast over C channels into [N, C, H, W]. */
export function broadcastChannels(maps: Float32Array, N: number, C: number, H: number, W: number): F32Tensor {
  const out = new Float32Array(N * C * H * W);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) out.set(maps.subarray(n * H * W, (n + 1) * H * W), (n * C + c) * H * W);
  return float32([N, C, H, W], out);
}

/** Sum over channels: [N, C, H, W] → [N, H, W] (a flat array). */
export function channelSum(t: F32Tensor): Float32Array {
  const { N, C, H, W } = spatialDims(t, 'channel sum');
  const out = new Float32Array(N * H * W);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
    const src = (n * C + c) * H * W, dst = n * H * W;
    for (let i = 0; i < H * W; i++) out[dst + i] += t.data[src + i];
  }
  return out;
}
