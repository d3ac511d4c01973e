/** Average pooling as a linear kernel with implicit weights 1/count per window (count_include_pad or the
 * in-bounds count); weight modifiers act on those weights. Global average pooling is the one-window case. */
import { LinearKernel, WeightMod } from './kernel';
import { WindowTable } from './window';

/** `padCounts` (count_include_pad): per output, the taps inside input + pads (a window may run past the end
 * padding under ceil_mode, and onnxruntime does not count those). */
export function avgPoolKernel(batch: number, channels: number, t: WindowTable, countIncludePad: boolean, padCounts?: Float64Array): LinearKernel {
  const { outSize: O, inSize: I, kSize: K, idx } = t;
  const weight = new Float64Array(O);
  for (let o = 0; o < O; o++) {
    let cnt = 0;
    for (let k = 0; k < K; k++) if (idx[k * O + o] >= 0) cnt++;
    weight[o] = 1 / (countIncludePad ? padCounts?.[o] ?? K : Math.max(cnt, 1));
  }
  const planes = batch * channels;
  return {
    inSize: planes * I,
    outSize: planes * O,
    hasBias: false,
    async forward(x: Float32Array, wm: WeightMod) {
      const w = weight.map(wm.fn);
      const z = new Float32Array(planes * O);
      for (let p = 0; p < planes; p++) {
        for (let k = 0; k < K; k++) {
          for (let o = 0; o < O; o++) {
            const i = idx[k * O + o];
            if (i >= 0) z[p * O + o] += w[o] * x[p * I + i];
          }
        }
      }
      return z;
    },
    async transposed(g: Float32Array, wm: WeightMod) {
      const w = weight.map(wm.fn);
      const gx = new Float32Array(planes * I);
      for (let p = 0; p < planes; p++) {
        for (let k = 0; k < K; k++) {
          for (let o = 0; o < O; o++) {
            const i = idx[k * O + o];
            if (i >= 0) gx[p * I + i] += w[o] * g[p * O + o];
          }
        }
      }
      return gx;
    },
  };
}

/** Mean over the last `size` elements of each of `planes` planes (GlobalAveragePool, ReduceMean). */
export function meanKernel(planes: number, size: number): LinearKernel {
  return {
    inSize: planes * size,
    outSize: planes,
    hasBias: false,
    async forward(x: Float32Array, wm: WeightMod) {
      const w = wm.fn(1 / size);
      const z = new Float32Array(planes);
      for (let p = 0; p < planes; p++) {
        let s = 0;
        for (let i = 0; i < size; i++) s += x[p * size + i];
        z[p] = w * s;
      }
      return z;
    },
    async transposed(g: Float32Array, wm: WeightMod) {
      const w = wm.fn(1 / size);
      const gx = new Float32Array(planes * size);
      for (let p = 0; p < planes; p++) gx.fill(w * g[p], p * size, (p + 1) * size);
      return gx;
    },
  };
}

/** z = Σ_i c_i·x_i with broadcasting: `maps[i][o]` is the element of input i read by output o. Inputs are
 * concatenated in order. Weights are the coefficients c_i (1, or −1 for Sub); modifiers act on them. */
export function sumKernel(maps: Int32Array[], inSizes: number[], outSize: number, coef: number[] = [], bias: Float32Array | null = null): LinearKernel {
  const offsets: number[] = [];
  let total = 0;
  for (const s of inSizes) { offsets.push(total); total += s; }
  return {
    inSize: total,
    outSize,
    hasBias: bias !== null,
    async forward(x: Float32Array, wm: WeightMod, bm: WeightMod | null) {
      const z = new Float32Array(outSize);
      if (bias && bm) for (let o = 0; o < outSize; o++) z[o] = bm.fn(bias[o]);
      maps.forEach((map, i) => {
        const w = wm.fn(coef[i] ?? 1);
        const off = offsets[i];
        for (let o = 0; o < outSize; o++) z[o] += w * x[off + map[o]];
      });
      return z;
    },
    async transposed(g: Float32Array, wm: WeightMod) {
      const gx = new Float32Array(total);
      maps.forEach((map, i) => {
        const w = wm.fn(coef[i] ?? 1);
        const off = offsets[i];
        for (let o = 0; o < outSize; o++) gx[off + map[o]] += w * g[o];
      });
      return gx;
    },
  };
}

/** z[map[i]] += w·x[i]: ReduceMean (w = 1/count) and ReduceSum (w = 1) over any axes. */
export function reduceKernel(map: Int32Array, outSize: number, weight: number): LinearKernel {
  return {
    inSize: map.length,
    outSize,
    hasBias: false,
    async forward(x: Float32Array, wm: WeightMod) {
      const w = wm.fn(weight);
      const z = new Float32Array(outSize);
      for (let i = 0; i < map.length; i++) z[map[i]] += w * x[i];
      return z;
    },
    async transposed(g: Float32Array, wm: WeightMod) {
      const w = wm.fn(weight);
      const gx = new Float32Array(map.length);
      for (let i = 0; i < map.length; i++) gx[i] = w * g[map[i]];
      return gx;
    },
  };
}
