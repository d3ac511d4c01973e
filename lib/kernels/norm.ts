/** Layer-norm kernels with σ held constant (RULES.md, Transformers): over each row of D values,
 * LayerNormalization is y = w ⊙ (x − mean(x)) / σ + b and RMSNorm y = w ⊙ x / σ, σ computed once from the
 * forward input. Both are then linear maps of x; only the identity weight modifier is defined (a modified
 * copy of w would not modify the map's matrix entries). Browser-safe. */
import { LinearKernel, WeightMod } from './kernel';

export type NormKind = 'layer' | 'rms';

/** σ per row of D values (float64): √(var + ε) for a layer norm, √(mean(x²) + ε) for RMSNorm. */
export function rowSigma(x: ArrayLike<number>, D: number, eps: number, kind: NormKind): Float64Array {
  const rows = x.length / D;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    if (kind === 'layer') { for (let i = 0; i < D; i++) m += x[r * D + i]; m /= D; }
    let v = 0;
    for (let i = 0; i < D; i++) { const d = x[r * D + i] - m; v += d * d; }
    out[r] = Math.sqrt(v / D + eps);
  }
  return out;
}

function onlyIdentity(m: WeightMod, what: string): void {
  if (m.key !== 'id') throw new Error(`${what}: the layer-norm map has no '${m.key}' weight modifier (use epsilon, zero, pass or gradient)`);
}

/** The norm layer over `x` (the forward input) as a linear map with σ held constant. */
export function normKernel(kind: NormKind, x: Float32Array, D: number, eps: number, scale: Float32Array, bias: Float32Array | null): LinearKernel {
  const sigma = rowSigma(x, D, eps, kind);
  const rows = sigma.length;
  const n = rows * D;
  return {
    inSize: n,
    outSize: n,
    hasBias: bias !== null,
    async forward(v, wm, bm) {
      onlyIdentity(wm, 'forward');
      if (bm) onlyIdentity(bm, 'bias');
      const z = new Float32Array(n);
      for (let r = 0; r < rows; r++) {
        const o = r * D;
        let m = 0;
        if (kind === 'layer') { for (let i = 0; i < D; i++) m += v[o + i]; m /= D; }
        for (let i = 0; i < D; i++) z[o + i] = (scale[i] * (v[o + i] - m)) / sigma[r] + (bias && bm ? bias[i] : 0);
      }
      return z;
    },
    async transposed(g, wm) {
      onlyIdentity(wm, 'transposed');
      const out = new Float32Array(n);
      for (let r = 0; r < rows; r++) {
        const o = r * D;
        let m = 0;
        if (kind === 'layer') { for (let i = 0; i < D; i++) m += scale[i] * g[o + i]; m /= D; }
        for (let i = 0; i < D; i++) out[o + i] = (scale[i] * g[o + i] - m) / sigma[r];
      }
      return out;
    },
  };
}

/** The true vector-Jacobian product of the norm layer (σ varying with x), for the gradient methods. */
export function normVjp(kind: NormKind, x: Float32Array, D: number, eps: number, scale: Float32Array, g: Float32Array): Float32Array {
  const sigma = rowSigma(x, D, eps, kind);
  const out = new Float32Array(x.length);
  for (let r = 0; r < sigma.length; r++) {
    const o = r * D;
    const s = sigma[r];
    let m = 0;
    if (kind === 'layer') { for (let i = 0; i < D; i++) m += x[o + i]; m /= D; }
    // x̂ = (x − m)/σ; dx = (h − mean(h) − x̂·mean(h ⊙ x̂)) / σ with h = w ⊙ g (layer); for RMS without the mean(h) term
    let mh = 0;
    let mhx = 0;
    for (let i = 0; i < D; i++) {
      const h = scale[i] * g[o + i];
      mh += h;
      mhx += h * ((x[o + i] - m) / s);
    }
    mh = kind === 'layer' ? mh / D : 0;
    mhx /= D;
    for (let i = 0; i < D; i++) out[o + i] = (scale[i] * g[o + i] - mh - ((x[o + i] - m) / s) * mhx) / s;
  }
  return out;
}
