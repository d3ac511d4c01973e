/** Convolution kernels (any number of spatial dims, strides, pads, dilations, groups) over NC… tensors.
 * ConvTranspose is the same kernel with forward and transposed swapped. */
import { LinearKernel, ModifiedWeights, WeightMod } from './kernel';
import { WindowTable } from './window';

export interface ConvShape {
  batch: number;
  inChannels: number;
  outChannels: number;
  groups: number;
  table: WindowTable;
}

/** z[n,m,o] = Σ_{c∈group(m), k} W[m,c,k]·x[n, c, idx[k,o]] + b[m] */
function convForward(s: ConvShape, x: Float32Array, w: Float32Array, b: Float32Array | null): Float32Array {
  const { batch: N, inChannels: C, outChannels: M, groups: G, table: t } = s;
  const Cg = C / G;
  const Mg = M / G;
  const { outSize: O, inSize: I, kSize: K, idx } = t;
  const z = new Float32Array(N * M * O);
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      const zo = (n * M + m) * O;
      for (let c = 0; c < Cg; c++) {
        const xo = (n * C + g * Cg + c) * I;
        const wo = (m * Cg + c) * K;
        for (let k = 0; k < K; k++) {
          const wv = w[wo + k];
          if (wv === 0) continue;
          const io = k * O;
          for (let o = 0; o < O; o++) {
            const i = idx[io + o];
            if (i >= 0) z[zo + o] += wv * x[xo + i];
          }
        }
      }
      if (b) {
        const bv = b[m];
        for (let o = 0; o < O; o++) z[zo + o] += bv;
      }
    }
  }
  return z;
}

/** gx[n,c,i] = Σ W[m,c,k]·g[n,m,o] over (m,k,o) with idx[k,o] = i */
function convTransposed(s: ConvShape, g: Float32Array, w: Float32Array): Float32Array {
  const { batch: N, inChannels: C, outChannels: M, groups: G, table: t } = s;
  const Cg = C / G;
  const Mg = M / G;
  const { outSize: O, inSize: I, kSize: K, idx } = t;
  const gx = new Float32Array(N * C * I);
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const grp = Math.floor(m / Mg);
      const go = (n * M + m) * O;
      for (let c = 0; c < Cg; c++) {
        const xo = (n * C + grp * Cg + c) * I;
        const wo = (m * Cg + c) * K;
        for (let k = 0; k < K; k++) {
          const wv = w[wo + k];
          if (wv === 0) continue;
          const io = k * O;
          for (let o = 0; o < O; o++) {
            const i = idx[io + o];
            if (i >= 0) gx[xo + i] += wv * g[go + o];
          }
        }
      }
    }
  }
  return gx;
}

export function convKernel(s: ConvShape, weight: Float32Array, bias: Float32Array | null): LinearKernel {
  const W = new ModifiedWeights(weight);
  const B = bias ? new ModifiedWeights(bias) : null;
  return {
    inSize: s.batch * s.inChannels * s.table.inSize,
    outSize: s.batch * s.outChannels * s.table.outSize,
    hasBias: bias !== null,
    async forward(x: Float32Array, wm: WeightMod, bm: WeightMod | null) {
      return convForward(s, x, W.get(wm), B && bm ? B.get(bm) : null);
    },
    async transposed(g: Float32Array, wm: WeightMod) {
      return convTransposed(s, g, W.get(wm));
    },
  };
}

/** ConvTranspose as the adjoint of a Conv from its output space to its input space. `s` describes that
 * Conv: inChannels = ConvTranspose's output channels, outChannels = its input channels. */
export function convTransposeKernel(s: ConvShape, weight: Float32Array, bias: Float32Array | null): LinearKernel {
  const W = new ModifiedWeights(weight);
  const B = bias ? new ModifiedWeights(bias) : null;
  const perChannel = s.table.inSize;
  return {
    inSize: s.batch * s.outChannels * s.table.outSize,
    outSize: s.batch * s.inChannels * s.table.inSize,
    hasBias: bias !== null,
    async forward(x: Float32Array, wm: WeightMod, bm: WeightMod | null) {
      const y = convTransposed(s, x, W.get(wm));
      if (B && bm) {
        const b = B.get(bm);
        for (let n = 0; n < s.batch; n++) {
          for (let c = 0; c < s.inChannels; c++) {
            const o = (n * s.inChannels + c) * perChannel;
            for (let i = 0; i < perChannel; i++) y[o + i] += b[c];
          }
        }
      }
      return y;
    },
    async transposed(g: Float32Array, wm: WeightMod) {
      return convForward(s, g, W.get(wm), null);
    },
  };
}
