/** A naive float64 reference for the LRP rules of RULES.md, independent of lib/: every linear layer is an
 * explicit dense matrix W (in × out, row-major `W[j * nOut + k]`) with a connectivity mask and a per-output
 * bias, and every rule is a plain double loop over (j, k). Geometry helpers turn Conv, ConvTranspose and
 * average pooling into such matrices straight from the ONNX definitions (a float64 loop over taps; the
 * library's window table is not used). Test-only code. */

/** An explicit linear layer z_k = Σ_j x_j W[j,k] + b_k. `mask[j,k]` = 1 where input j is connected to output
 * k (for a conv: an in-bounds tap of the output's group), whatever the weight's value. */
export interface DenseLayer {
  nIn: number;
  nOut: number;
  W: Float64Array;
  mask: Uint8Array;
  /** per output element (already broadcast over space and batch), or null */
  bias: Float64Array | null;
}

export interface RefParams {
  epsilon?: number;
  alpha?: number;
  beta?: number;
  gamma?: number;
  /** zBox bounds, one per input element (the caller expands scalars / per-channel values) */
  low?: ArrayLike<number>;
  high?: ArrayLike<number>;
  zeroBias?: boolean;
  /** LXT's stabiliser z + ε whatever the sign of z (epsilon, sumEpsilon) */
  plain?: boolean;
}

export type RefRuleName = 'epsilon' | 'zero' | 'zPlus' | 'alphaBeta' | 'gamma' | 'zBox' | 'flat' | 'wSquare' | 'pass' | 'norm' | 'gradient' | 'sumEpsilon';

export interface RefResult {
  /** relevance at the input */
  R: Float64Array;
  /** per output: (Σ|terms| + |bias|) / |stabilised denominator|, the worst over the denominators the rule
   * uses (0 where every term is exactly 0, Infinity where only the sum is); large values mark outputs where
   * float32 rounding may decide the result (and, for gamma, the branch). */
  cond: Float64Array;
}

// ---------------------------------------------------------------------------------------------------------
// the stabiliser

export function sign0(z: number): number {
  return z >= 0 ? 1 : -1;
}

export function stab(z: number, eps: number): number {
  return z + eps * sign0(z);
}

const pos = (v: number) => (v > 0 ? v : 0);
const neg = (v: number) => (v < 0 ? v : 0);

// ---------------------------------------------------------------------------------------------------------
// the rules

/** One generic "contributions over a stabilised sum" pass: d_k = Σ_j c(j,k) + b(k); R_j = Σ_k c(j,k) R_k /
 * stab(d_k); a zero (stabilised) denominator, or an output excluded by `use`, passes nothing. */
function contributionPass(
  L: DenseLayer, R: ArrayLike<number>, eps: number,
  c: (j: number, k: number) => number, b: (k: number) => number, use: (k: number) => boolean = () => true, plain = false,
): RefResult {
  const { nIn, nOut } = L;
  const out = new Float64Array(nIn);
  const cond = new Float64Array(nOut);
  for (let k = 0; k < nOut; k++) {
    if (!use(k)) continue;
    let d = b(k);
    let abs = Math.abs(d);
    for (let j = 0; j < nIn; j++) {
      const v = c(j, k);
      d += v;
      abs += Math.abs(v);
    }
    const den = plain ? d + eps : stab(d, eps);
    // every term exactly 0: float32 and float64 agree exactly, nothing is ill-conditioned
    cond[k] = abs === 0 ? 0 : den === 0 ? Infinity : abs / Math.abs(den);
    if (den === 0) continue;
    const s = R[k] / den;
    for (let j = 0; j < nIn; j++) out[j] += c(j, k) * s;
  }
  return { R: out, cond };
}

const DEFAULT_EPS = 1e-6;

/** Relevance at the input of the dense layer L for input x and output relevance R, per RULES.md and the
 * conventions of Zennit 0.5.1's code (zBox: no bias, b − b⁺ − b⁻ = 0; gamma: branch from the layer's own z, bias
 * included even with zeroBias; alphaBeta: b⁺ / b⁻; flat: no bias; wSquare: b²; inputs 1 over the connectivity). */
export function referenceRule(rule: RefRuleName, p: RefParams, L: DenseLayer, x: ArrayLike<number>, R: ArrayLike<number>): RefResult {
  const { nIn, nOut, W, mask } = L;
  if (x.length !== nIn) throw new Error(`reference: x has ${x.length} values, the layer ${nIn}`);
  if (R.length !== nOut) throw new Error(`reference: R has ${R.length} values, the layer ${nOut}`);
  const w = (j: number, k: number) => W[j * nOut + k];
  const bias = (k: number) => (L.bias && !p.zeroBias ? L.bias[k] : 0);
  const eps = p.epsilon ?? DEFAULT_EPS;
  switch (rule) {
    case 'epsilon':
    case 'norm':
    case 'zero': {
      const e = rule === 'zero' ? 0 : eps;
      const r = contributionPass(L, R, e, (j, k) => x[j] * w(j, k), bias, undefined, rule === 'epsilon' && !!p.plain);
      return r;
    }
    case 'sumEpsilon':
      // LXT's mean: each connected input's share of the plain sum of the inputs
      return contributionPass(L, R, eps, (j, k) => (mask[j * nOut + k] ? x[j] : 0), () => 0, undefined, true);
    case 'zPlus':
    case 'alphaBeta': {
      const alpha = rule === 'zPlus' ? 1 : p.alpha ?? 2;
      const beta = rule === 'zPlus' ? 0 : p.beta ?? 1;
      const P = contributionPass(L, R, eps, (j, k) => pos(x[j]) * pos(w(j, k)) + neg(x[j]) * neg(w(j, k)), (k) => pos(bias(k)));
      const N = contributionPass(L, R, eps, (j, k) => pos(x[j]) * neg(w(j, k)) + neg(x[j]) * pos(w(j, k)), (k) => neg(bias(k)));
      const out = new Float64Array(nIn);
      for (let j = 0; j < nIn; j++) out[j] = alpha * P.R[j] - beta * N.R[j];
      const cond = beta === 0 ? P.cond : P.cond.map((v, k) => Math.max(v, N.cond[k]));
      return { R: out, cond };
    }
    case 'gamma': {
      const g = p.gamma ?? 0.25;
      const z = new Float64Array(nOut);
      const zAbs = new Float64Array(nOut);
      const ownBias = (k: number) => (L.bias ? L.bias[k] : 0);
      for (let k = 0; k < nOut; k++) {
        let s = ownBias(k);
        let a = Math.abs(s);
        for (let j = 0; j < nIn; j++) { s += x[j] * w(j, k); a += Math.abs(x[j] * w(j, k)); }
        z[k] = s;
        zAbs[k] = a;
      }
      const up = (v: number) => v + g * pos(v);
      const down = (v: number) => v + g * neg(v);
      const Pz = contributionPass(L, R, eps, (j, k) => pos(x[j]) * up(w(j, k)) + neg(x[j]) * down(w(j, k)), (k) => up(bias(k)), (k) => z[k] > 0);
      const Nz = contributionPass(L, R, eps, (j, k) => pos(x[j]) * down(w(j, k)) + neg(x[j]) * up(w(j, k)), (k) => down(bias(k)), (k) => z[k] < 0);
      const out = new Float64Array(nIn);
      for (let j = 0; j < nIn; j++) out[j] = Pz.R[j] + Nz.R[j];
      const cond = new Float64Array(nOut);
      for (let k = 0; k < nOut; k++) {
        const branch = z[k] > 0 ? Pz.cond[k] : z[k] < 0 ? Nz.cond[k] : 0;
        cond[k] = Math.max(branch, zAbs[k] === 0 ? 0 : z[k] === 0 ? Infinity : zAbs[k] / Math.abs(z[k]));
      }
      return { R: out, cond };
    }
    case 'zBox': {
      const { low, high } = p;
      if (!low || !high || low.length !== nIn || high.length !== nIn) throw new Error('reference zBox: needs low and high, one per input');
      return contributionPass(L, R, eps, (j, k) => x[j] * w(j, k) - low[j] * pos(w(j, k)) - high[j] * neg(w(j, k)), () => 0);
    }
    case 'flat':
      return contributionPass(L, R, eps, (j, k) => mask[j * nOut + k], () => 0);
    case 'wSquare':
      return contributionPass(L, R, eps, (j, k) => w(j, k) * w(j, k), (k) => bias(k) * bias(k));
    case 'gradient': {
      const out = new Float64Array(nIn);
      for (let j = 0; j < nIn; j++) {
        let s = 0;
        for (let k = 0; k < nOut; k++) s += w(j, k) * R[k];
        out[j] = s;
      }
      return { R: out, cond: new Float64Array(nOut).fill(1) };
    }
    case 'pass': {
      if (nIn !== nOut) throw new Error(`reference pass: ${nIn} inputs, ${nOut} outputs`);
      return { R: Float64Array.from(R), cond: new Float64Array(nOut).fill(1) };
    }
    default:
      throw new Error(`reference: unknown rule ${rule as string}`);
  }
}

/** z = Wᵀx + b (bias left out when `withBias` is false). */
export function referenceForward(L: DenseLayer, x: ArrayLike<number>, withBias = true): Float64Array {
  const z = new Float64Array(L.nOut);
  for (let k = 0; k < L.nOut; k++) {
    let s = withBias && L.bias ? L.bias[k] : 0;
    for (let j = 0; j < L.nIn; j++) s += x[j] * L.W[j * L.nOut + k];
    z[k] = s;
  }
  return z;
}

// ---------------------------------------------------------------------------------------------------------
// explicit matrices

function prod(a: readonly number[]): number {
  return a.reduce((s, v) => s * v, 1);
}

/** Calls fn for every multi-index of `shape` in row-major order. */
export function forEachIndex(shape: readonly number[], fn: (idx: number[], flat: number) => void): void {
  const n = prod(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let f = 0; f < n; f++) {
    fn(idx, f);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

function flatten(idx: readonly number[], shape: readonly number[]): number {
  let f = 0;
  for (let d = 0; d < shape.length; d++) f = f * shape[d] + idx[d];
  return f;
}

/** A Gemm/MatMul layer over `rows` rows: weight [K, M] row-major, bias [M] (or null). */
export function denseLayer(rows: number, K: number, M: number, weightKM: ArrayLike<number>, bias: ArrayLike<number> | null): DenseLayer {
  const nIn = rows * K;
  const nOut = rows * M;
  const W = new Float64Array(nIn * nOut);
  const mask = new Uint8Array(nIn * nOut);
  for (let n = 0; n < rows; n++) {
    for (let k = 0; k < K; k++) {
      for (let m = 0; m < M; m++) {
        W[(n * K + k) * nOut + n * M + m] = weightKM[k * M + m];
        mask[(n * K + k) * nOut + n * M + m] = 1;
      }
    }
  }
  let b: Float64Array | null = null;
  if (bias) {
    b = new Float64Array(nOut);
    for (let n = 0; n < rows; n++) for (let m = 0; m < M; m++) b[n * M + m] = bias[m];
  }
  return { nIn, nOut, W, mask, bias: b };
}

export interface ConvGeometry {
  batch: number;
  inChannels: number;
  outChannels: number;
  groups: number;
  inSpatial: number[];
  kernel: number[];
  strides?: number[];
  dilations?: number[];
  padsBegin?: number[];
  padsEnd?: number[];
}

function filled(v: number[] | undefined, D: number, def: number): number[] {
  return v ?? new Array<number>(D).fill(def);
}

/** floor((in + pb + pe − ((k − 1)·d + 1)) / s) + 1 per spatial dim (ONNX Conv / pooling, floor mode). */
export function convOutSpatial(g: Pick<ConvGeometry, 'inSpatial' | 'kernel' | 'strides' | 'dilations' | 'padsBegin' | 'padsEnd'>): number[] {
  const D = g.kernel.length;
  const s = filled(g.strides, D, 1);
  const dl = filled(g.dilations, D, 1);
  const pb = filled(g.padsBegin, D, 0);
  const pe = filled(g.padsEnd, D, 0);
  return g.inSpatial.map((n, d) => Math.floor((n + pb[d] + pe[d] - ((g.kernel[d] - 1) * dl[d] + 1)) / s[d]) + 1);
}

/** ONNX Conv as a dense matrix: y[n,m,o] = Σ_{c ∈ group(m), t} w[m,c,t]·x[n, g·C/G + c, o·s − pb + t·d] + b[m];
 * weight [M, C/G, ...kernel] row-major, bias [M]. */
export function convDense(g: ConvGeometry, weight: ArrayLike<number>, bias: ArrayLike<number> | null): DenseLayer & { outSpatial: number[] } {
  const D = g.kernel.length;
  const s = filled(g.strides, D, 1);
  const dl = filled(g.dilations, D, 1);
  const pb = filled(g.padsBegin, D, 0);
  const outSpatial = convOutSpatial(g);
  const { batch: N, inChannels: C, outChannels: M, groups: G } = g;
  const Cg = C / G;
  const Mg = M / G;
  if (!Number.isInteger(Cg) || !Number.isInteger(Mg)) throw new Error('reference conv: channels not divisible by groups');
  const I = prod(g.inSpatial);
  const O = prod(outSpatial);
  const T = prod(g.kernel);
  if (weight.length !== M * Cg * T) throw new Error(`reference conv: weight has ${weight.length} values, expected ${M * Cg * T}`);
  const nIn = N * C * I;
  const nOut = N * M * O;
  const W = new Float64Array(nIn * nOut);
  const mask = new Uint8Array(nIn * nOut);
  const ipos = new Array<number>(D).fill(0);
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const grp = Math.floor(m / Mg);
      for (let c = 0; c < Cg; c++) {
        const ci = grp * Cg + c;
        forEachIndex(g.kernel, (t, tf) => {
          const wv = weight[(m * Cg + c) * T + tf];
          forEachIndex(outSpatial, (o, of) => {
            for (let d = 0; d < D; d++) {
              const p = o[d] * s[d] - pb[d] + t[d] * dl[d];
              if (p < 0 || p >= g.inSpatial[d]) return;
              ipos[d] = p;
            }
            const j = (n * C + ci) * I + flatten(ipos, g.inSpatial);
            const k = (n * M + m) * O + of;
            W[j * nOut + k] += wv;
            mask[j * nOut + k] = 1;
          });
        });
      }
    }
  }
  let b: Float64Array | null = null;
  if (bias) {
    b = new Float64Array(nOut);
    for (let n = 0; n < N; n++) for (let m = 0; m < M; m++) for (let o = 0; o < O; o++) b[(n * M + m) * O + o] = bias[m];
  }
  return { nIn, nOut, W, mask, bias: b, outSpatial };
}

export interface ConvTransposeGeometry extends ConvGeometry {
  outputPadding?: number[];
}

/** y = s·(x − 1) + outputPadding + (k − 1)·d + 1 − pb − pe per spatial dim (ONNX ConvTranspose, explicit pads). */
export function convTransposeOutSpatial(g: ConvTransposeGeometry): number[] {
  const D = g.kernel.length;
  const s = filled(g.strides, D, 1);
  const dl = filled(g.dilations, D, 1);
  const pb = filled(g.padsBegin, D, 0);
  const pe = filled(g.padsEnd, D, 0);
  const op = filled(g.outputPadding, D, 0);
  return g.inSpatial.map((n, d) => s[d] * (n - 1) + op[d] + (g.kernel[d] - 1) * dl[d] + 1 - pb[d] - pe[d]);
}

/** ONNX ConvTranspose as a dense matrix: y[n, g·Co/G + co, i·s − pb + t·d] += x[n, ci, i]·w[ci, co, t] (where
 * in bounds) + b[co]; weight [Cin, Cout/G, ...kernel], bias [Cout]. inChannels/outChannels are the
 * ConvTranspose's own. */
export function convTransposeDense(g: ConvTransposeGeometry, weight: ArrayLike<number>, bias: ArrayLike<number> | null): DenseLayer & { outSpatial: number[] } {
  const D = g.kernel.length;
  const s = filled(g.strides, D, 1);
  const dl = filled(g.dilations, D, 1);
  const pb = filled(g.padsBegin, D, 0);
  const outSpatial = convTransposeOutSpatial(g);
  const { batch: N, inChannels: Ci, outChannels: Co, groups: G } = g;
  const Cig = Ci / G;
  const Cog = Co / G;
  if (!Number.isInteger(Cig) || !Number.isInteger(Cog)) throw new Error('reference convTranspose: channels not divisible by groups');
  const I = prod(g.inSpatial);
  const O = prod(outSpatial);
  const T = prod(g.kernel);
  if (weight.length !== Ci * Cog * T) throw new Error(`reference convTranspose: weight has ${weight.length} values, expected ${Ci * Cog * T}`);
  const nIn = N * Ci * I;
  const nOut = N * Co * O;
  const W = new Float64Array(nIn * nOut);
  const mask = new Uint8Array(nIn * nOut);
  const opos = new Array<number>(D).fill(0);
  for (let n = 0; n < N; n++) {
    for (let ci = 0; ci < Ci; ci++) {
      const grp = Math.floor(ci / Cig);
      for (let c = 0; c < Cog; c++) {
        const co = grp * Cog + c;
        forEachIndex(g.kernel, (t, tf) => {
          const wv = weight[(ci * Cog + c) * T + tf];
          forEachIndex(g.inSpatial, (i, ifl) => {
            for (let d = 0; d < D; d++) {
              const p = i[d] * s[d] - pb[d] + t[d] * dl[d];
              if (p < 0 || p >= outSpatial[d]) return;
              opos[d] = p;
            }
            const j = (n * Ci + ci) * I + ifl;
            const k = (n * Co + co) * O + flatten(opos, outSpatial);
            W[j * nOut + k] += wv;
            mask[j * nOut + k] = 1;
          });
        });
      }
    }
  }
  let b: Float64Array | null = null;
  if (bias) {
    b = new Float64Array(nOut);
    for (let n = 0; n < N; n++) for (let c = 0; c < Co; c++) for (let o = 0; o < O; o++) b[(n * Co + c) * O + o] = bias[c];
  }
  return { nIn, nOut, W, mask, bias: b, outSpatial };
}

export interface PoolGeometry {
  batch: number;
  channels: number;
  inSpatial: number[];
  kernel: number[];
  strides?: number[];
  dilations?: number[];
  padsBegin?: number[];
  padsEnd?: number[];
  countIncludePad: boolean;
}

/** ONNX AveragePool (floor mode) as a dense matrix: each output averages its in-bounds taps, divided by the
 * kernel size (count_include_pad = 1) or by the number of in-bounds taps (count_include_pad = 0). */
export function avgPoolDense(g: PoolGeometry): DenseLayer & { outSpatial: number[] } {
  const D = g.kernel.length;
  const s = filled(g.strides, D, 1);
  const dl = filled(g.dilations, D, 1);
  const pb = filled(g.padsBegin, D, 0);
  const outSpatial = convOutSpatial(g);
  const P = g.batch * g.channels;
  const I = prod(g.inSpatial);
  const O = prod(outSpatial);
  const T = prod(g.kernel);
  const nIn = P * I;
  const nOut = P * O;
  const W = new Float64Array(nIn * nOut);
  const mask = new Uint8Array(nIn * nOut);
  forEachIndex(outSpatial, (o, of) => {
    const taps: number[] = [];
    forEachIndex(g.kernel, (t) => {
      const ip: number[] = [];
      for (let d = 0; d < D; d++) {
        const p = o[d] * s[d] - pb[d] + t[d] * dl[d];
        if (p < 0 || p >= g.inSpatial[d]) return;
        ip.push(p);
      }
      taps.push(flatten(ip, g.inSpatial));
    });
    const wv = 1 / (g.countIncludePad ? T : Math.max(taps.length, 1));
    for (let pl = 0; pl < P; pl++) {
      for (const i of taps) {
        const j = pl * I + i;
        const k = pl * O + of;
        W[j * nOut + k] += wv;
        mask[j * nOut + k] = 1;
      }
    }
  });
  return { nIn, nOut, W, mask, bias: null, outSpatial };
}

/** GlobalAveragePool / ReduceMean over the last `size` elements of each of `planes` planes. */
export function meanDense(planes: number, size: number): DenseLayer {
  const nIn = planes * size;
  const W = new Float64Array(nIn * planes);
  const mask = new Uint8Array(nIn * planes);
  for (let p = 0; p < planes; p++) {
    for (let i = 0; i < size; i++) {
      W[(p * size + i) * planes + p] = 1 / size;
      mask[(p * size + i) * planes + p] = 1;
    }
  }
  return { nIn, nOut: planes, W, mask, bias: null };
}

// ---------------------------------------------------------------------------------------------------------
// numbers

/** mulberry32: a small seeded PRNG with values in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in [lo, hi), rounded to float32 (so that the library and the reference see the same
 * numbers); a share `zeros` of them exactly 0. */
export function uniform(rand: () => number, n: number, lo = -1, hi = 1, zeros = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rand() < zeros ? 0 : lo + (hi - lo) * rand();
  return out;
}

export function randInt(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

export function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)];
}

/** ‖a − b‖₂ / ‖b‖₂ (0 when both are 0, Infinity when only b is). */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  if (!Number.isFinite(num)) return Infinity;
  if (den === 0) return num === 0 ? 0 : Infinity;
  return Math.sqrt(num / den);
}

export function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Expands scalar or per-channel (axis 1) bounds over an input of shape `dims` (own code, not lib's). */
export function expandPerChannel(b: number | readonly number[], dims: readonly number[]): Float64Array {
  const out = new Float64Array(prod(dims));
  if (typeof b === 'number') return out.fill(b);
  const C = dims.length > 1 ? dims[1] : 1;
  if (b.length !== 1 && b.length !== C) throw new Error('expandPerChannel: wrong length');
  forEachIndex(dims, (idx, f) => { out[f] = b.length === 1 ? b[0] : b[idx[1]]; });
  return out;
}
