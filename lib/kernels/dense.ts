/** Dense kernel: z[n,m] = Σ_k x[n,k]·W[k,m] + b[m] (or b[n,m] when the bias has rows·M values), batched over
 * rows. Serves Gemm and MatMul. */
import { LinearKernel, ModifiedWeights, WeightMod } from './kernel';

export function denseKernel(rows: number, K: number, M: number, weightKM: Float32Array, bias: Float32Array | null): LinearKernel {
  const W = new ModifiedWeights(weightKM);
  const B = bias ? new ModifiedWeights(bias) : null;
  return {
    inSize: rows * K,
    outSize: rows * M,
    hasBias: bias !== null,
    async forward(x: Float32Array, wm: WeightMod, bm: WeightMod | null) {
      const w = W.get(wm);
      const z = new Float32Array(rows * M);
      for (let n = 0; n < rows; n++) {
        const zo = n * M;
        for (let k = 0; k < K; k++) {
          const xv = x[n * K + k];
          if (xv === 0) continue;
          const wo = k * M;
          for (let m = 0; m < M; m++) z[zo + m] += xv * w[wo + m];
        }
        if (B && bm) {
          const b = B.get(bm);
          const bo = b.length === M ? 0 : zo;
          for (let m = 0; m < M; m++) z[zo + m] += b[bo + m];
        }
      }
      return z;
    },
    async transposed(g: Float32Array, wm: WeightMod) {
      const w = W.get(wm);
      const gx = new Float32Array(rows * K);
      for (let n = 0; n < rows; n++) {
        const go = n * M;
        for (let k = 0; k < K; k++) {
          const wo = k * M;
          let s = 0;
          for (let m = 0; m < M; m++) s += w[wo + m] * g[go + m];
          gx[n * K + k] = s;
        }
      }
      return gx;
    },
  };
}
