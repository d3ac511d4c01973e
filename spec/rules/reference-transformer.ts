/** A naive float64 reference for the transformer rules (RULES.md, Transformers; LXT's explicit functions),
 * independent of lib/: plain loops over explicit matrices. Test-only code. */

export type Vec = ArrayLike<number>;

/** Layer norm as the explicit matrix J (σ from x, held constant) with epsilon (plain stabiliser) over y = Jx + b:
 * R_x = x ⊙ Jᵀ(R / (y + ε)). rows × D values, normalised over D. */
export function layerNormRef(x: Vec, D: number, lnEps: number, w: Vec, b: Vec, R: Vec, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / D; r++) {
    const o = r * D;
    let m = 0;
    for (let i = 0; i < D; i++) m += x[o + i] / D;
    let v = 0;
    for (let i = 0; i < D; i++) v += (x[o + i] - m) ** 2 / D;
    const sd = Math.sqrt(v + lnEps);
    const J = (i: number, j: number) => (w[i] * ((i === j ? 1 : 0) - 1 / D)) / sd;
    const y: number[] = [];
    for (let i = 0; i < D; i++) { let s = b[i]; for (let j = 0; j < D; j++) s += J(i, j) * x[o + j]; y.push(s); }
    for (let j = 0; j < D; j++) {
      let s = 0;
      for (let i = 0; i < D; i++) s += J(i, j) * x[o + j] * (R[o + i] / (y[i] + eps));
      out[o + j] = s;
    }
  }
  return out;
}

/** C = A·B for A [T, N, K], B [T, K, M] (T batches). */
function product(A: Vec, B: Vec, T: number, N: number, K: number, M: number): Float64Array {
  const z = new Float64Array(T * N * M);
  for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) for (let m = 0; m < M; m++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += A[(t * N + n) * K + k] * B[(t * K + k) * M + m];
    z[(t * N + n) * M + m] = s;
  }
  return z;
}

/** AttnLRP's MatMul (LXT matmul_fn): contributions a_nk b_km over 2z + ε, each operand its own half.
 * `value`: CP-LRP, A a constant weight: contributions over z + ε, all to B. */
export function bilinearRef(A: Vec, B: Vec, R: Vec, dims: [number, number, number, number], eps: number, value = false): [Float64Array, Float64Array] {
  const [T, N, K, M] = dims;
  const z = product(A, B, T, N, K, M);
  const ra = new Float64Array(A.length);
  const rb = new Float64Array(B.length);
  for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) for (let m = 0; m < M; m++) {
    const o = (t * N + n) * M + m;
    const s = R[o] / ((value ? 1 : 2) * z[o] + eps);
    for (let k = 0; k < K; k++) {
      const c = A[(t * N + n) * K + k] * B[(t * K + k) * M + m] * s;
      if (!value) ra[(t * N + n) * K + k] += c;
      rb[(t * K + k) * M + m] += c;
    }
  }
  return [ra, rb];
}

/** LXT's softmax rule over the last axis of rows × L values: R_in = x ⊙ (R − s Σ R), −∞ read as 0. */
export function softmaxRef(x: Vec, R: Vec, L: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / L; r++) {
    const o = r * L;
    let mx = -Infinity;
    for (let i = 0; i < L; i++) mx = Math.max(mx, x[o + i]);
    let z = 0;
    for (let i = 0; i < L; i++) z += Math.exp(x[o + i] - mx);
    let sum = 0;
    for (let i = 0; i < L; i++) sum += R[o + i];
    for (let i = 0; i < L; i++) {
      const s = Math.exp(x[o + i] - mx) / z;
      const xi = x[o + i] === -Infinity ? 0 : x[o + i];
      out[o + i] = xi * (R[o + i] - s * sum);
    }
  }
  return out;
}

/** Relevance per token: the sum over the embedding width W. */
export function tokenSumRef(R: Vec, W: number): Float64Array {
  const out = new Float64Array(R.length / W);
  for (let i = 0; i < R.length; i++) out[Math.floor(i / W)] += R[i];
  return out;
}
