/** The one stabiliser every rule uses: stab(z) = z + ε·sign₀(z), sign₀(0) = +1 (RULES.md). A quotient with a
 * zero denominator (possible only with ε = 0) is 0: that output passes no relevance. */

export function stab(z: number, eps: number): number {
  return z >= 0 ? z + eps : z - eps;
}

/** R / stab(z), elementwise; `mask` (optional) zeroes entries where it is false. */
export function quotient(R: Float32Array, z: Float32Array, eps: number, mask?: (i: number) => boolean): Float32Array {
  const s = new Float32Array(R.length);
  for (let i = 0; i < R.length; i++) {
    if (mask && !mask(i)) continue;
    const d = stab(z[i], eps);
    s[i] = d === 0 || !Number.isFinite(d) ? 0 : R[i] / d;
  }
  return s;
}

export function add(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

export function sub(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] - b[i];
  return out;
}

export function mul(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] * b[i];
  return out;
}

export function positive(x: Float32Array): Float32Array {
  return x.map((v) => (v > 0 ? v : 0));
}

export function negative(x: Float32Array): Float32Array {
  return x.map((v) => (v < 0 ? v : 0));
}

export function hasNegative(x: Float32Array): boolean {
  for (let i = 0; i < x.length; i++) if (x[i] < 0) return true;
  return false;
}

/** R / (z + ε), elementwise, whatever the sign of z (LXT's stabiliser); a zero denominator gives 0. */
export function plainQuotient(R: Float32Array, z: Float32Array, eps: number): Float32Array {
  const s = new Float32Array(R.length);
  for (let i = 0; i < R.length; i++) {
    const d = z[i] + eps;
    s[i] = d === 0 || !Number.isFinite(d) ? 0 : R[i] / d;
  }
  return s;
}
