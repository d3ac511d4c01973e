/** LRP rules for linear layers, each written once against the generic kernel (RULES.md): a modified
 * forward, a stabilised quotient, a transposed product, a product with the (modified) input. No rule knows
 * which op it sits on. */
import { LinearKernel, WeightMod, mod } from '../kernels/kernel';
import { add, hasNegative, mul, negative, positive, quotient, sub } from './stabilize';

export interface LinearLayer {
  readonly kernel: LinearKernel;
  /** the live input (several inputs concatenated), batch included */
  readonly x: Float32Array;
  /** dims of the (first) live input, batch first: per-channel bounds broadcast along axis 1 */
  readonly xDims: readonly number[];
}

export interface LinearRule {
  readonly name: string;
  readonly params: Readonly<Record<string, unknown>>;
  /** relevance at the output → relevance at the (concatenated) input */
  apply(layer: LinearLayer, R: Float32Array): Promise<Float32Array>;
}

export type Bounds = number | readonly number[];

export interface RuleParams {
  epsilon?: number;
  alpha?: number;
  beta?: number;
  gamma?: number;
  low?: Bounds;
  high?: Bounds;
  zeroBias?: boolean;
}

const DEFAULT_STABILIZER = 1e-6;

function biasMod(zeroBias: boolean | undefined, m: WeightMod): WeightMod | null {
  return zeroBias ? null : m;
}

function checkNumber(rule: string, name: string, v: unknown, min = -Infinity): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    throw new Error(`rule ${rule}: parameter '${name}' must be a finite number${min > -Infinity ? ` ≥ ${min}` : ''}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** epsilon(ε): R_j = x_j Σ_k w_jk R_k / stab(z_k); the bias stays in z and absorbs relevance. */
export function epsilon(p: RuleParams = {}, name = 'epsilon'): LinearRule {
  const eps = checkNumber(name, 'epsilon', p.epsilon ?? DEFAULT_STABILIZER, 0);
  return {
    name, params: { epsilon: eps, zeroBias: !!p.zeroBias },
    async apply({ kernel, x }, R) {
      const z = await kernel.forward(x, mod.id, biasMod(p.zeroBias, mod.id));
      return mul(x, await kernel.transposed(quotient(R, z, eps), mod.id));
    },
  };
}

/** LRP-0: epsilon with ε = 0; an output with z = 0 passes no relevance. */
export function zero(p: RuleParams = {}): LinearRule {
  return epsilon({ ...p, epsilon: 0 }, 'zero');
}

/** norm: epsilon with the op's own weights (sums, average pools); ε defaults to 1e-6. */
export function norm(p: RuleParams = {}): LinearRule {
  return epsilon({ epsilon: p.epsilon ?? DEFAULT_STABILIZER, zeroBias: p.zeroBias }, 'norm');
}

/** Σ over the two sign-matched parts: x⁺ through w-modifier a, x⁻ through w-modifier b. */
async function signedForward(k: LinearKernel, xp: Float32Array, xn: Float32Array | null, a: WeightMod, b: WeightMod, bias: WeightMod | null) {
  const z = await k.forward(xp, a, bias);
  return xn ? add(z, await k.forward(xn, b, null)) : z;
}

async function signedBackward(k: LinearKernel, xp: Float32Array, xn: Float32Array | null, s: Float32Array, a: WeightMod, b: WeightMod) {
  const r = mul(xp, await k.transposed(s, a));
  return xn ? add(r, mul(xn, await k.transposed(s, b))) : r;
}

/** alphaBeta(α, β) with α − β = 1; the positive part p = x⁺w⁺ + x⁻w⁻ (bias b⁺), negative n = x⁺w⁻ + x⁻w⁺ (bias b⁻). */
export function alphaBeta(p: RuleParams = {}, name = 'alphaBeta'): LinearRule {
  const alpha = checkNumber(name, 'alpha', p.alpha ?? 2, 0);
  const beta = checkNumber(name, 'beta', p.beta ?? 1, 0);
  if (Math.abs(alpha - beta - 1) > 1e-9) throw new Error(`rule ${name}: needs alpha − beta = 1, got alpha=${alpha}, beta=${beta}`);
  const eps = checkNumber(name, 'epsilon', p.epsilon ?? DEFAULT_STABILIZER, 0);
  return {
    name, params: name === 'zPlus' ? { epsilon: eps, zeroBias: !!p.zeroBias } : { alpha, beta, epsilon: eps, zeroBias: !!p.zeroBias },
    async apply({ kernel: k, x }, R) {
      const xp = positive(x);
      const xn = hasNegative(x) ? negative(x) : null;
      const zp = await signedForward(k, xp, xn, mod.pos, mod.neg, biasMod(p.zeroBias, mod.pos));
      const sp = quotient(R, zp, eps);
      let out = await signedBackward(k, xp, xn, sp, mod.pos, mod.neg);
      if (alpha !== 1) out = out.map((v) => alpha * v);
      if (beta !== 0) {
        const zn = await signedForward(k, xp, xn, mod.neg, mod.pos, biasMod(p.zeroBias, mod.neg));
        const sn = quotient(R, zn, eps);
        const rn = await signedBackward(k, xp, xn, sn, mod.neg, mod.pos);
        out = sub(out, rn.map((v) => beta * v));
      }
      return out;
    },
  };
}

/** zPlus = alphaBeta(1, 0). */
export function zPlus(p: RuleParams = {}): LinearRule {
  return alphaBeta({ ...p, alpha: 1, beta: 0 }, 'zPlus');
}

/** Generalized gamma: contributions whose sign matches sign(z_k) are amplified by γ. */
export function gamma(p: RuleParams = {}): LinearRule {
  const g = checkNumber('gamma', 'gamma', p.gamma ?? 0.25, 0);
  const eps = checkNumber('gamma', 'epsilon', p.epsilon ?? DEFAULT_STABILIZER, 0);
  const up = mod.gammaPos(g);
  const down = mod.gammaNeg(g);
  return {
    name: 'gamma', params: { gamma: g, epsilon: eps, zeroBias: !!p.zeroBias },
    async apply({ kernel: k, x }, R) {
      const z = await k.forward(x, mod.id, biasMod(p.zeroBias, mod.id));
      const xp = positive(x);
      const xn = hasNegative(x) ? negative(x) : null;
      // z > 0: x⁺ through w + γw⁺, x⁻ through w + γw⁻, bias b + γb⁺
      const zPos = await signedForward(k, xp, xn, up, down, biasMod(p.zeroBias, up));
      const sPos = quotient(R, zPos, eps, (i) => z[i] > 0);
      let out = await signedBackward(k, xp, xn, sPos, up, down);
      // z < 0: x⁺ through w + γw⁻, x⁻ through w + γw⁺, bias b + γb⁻
      let anyNegative = false;
      for (let i = 0; i < z.length; i++) if (z[i] < 0 && R[i] !== 0) { anyNegative = true; break; }
      if (anyNegative) {
        const zNeg = await signedForward(k, xp, xn, down, up, biasMod(p.zeroBias, down));
        const sNeg = quotient(R, zNeg, eps, (i) => z[i] < 0);
        out = add(out, await signedBackward(k, xp, xn, sNeg, down, up));
      }
      return out;
    },
  };
}

/** Expands scalar or per-channel (axis 1) bounds to the input's full size. */
export function expandBounds(b: Bounds, dims: readonly number[], total: number, what: string): Float32Array {
  const out = new Float32Array(total);
  if (typeof b === 'number') return out.fill(b);
  const C = dims.length > 1 ? dims[1] : 1;
  if (b.length === 1) return out.fill(b[0]);
  if (b.length !== C) throw new Error(`rule zBox: '${what}' has ${b.length} values, the input has ${C} channels (shape [${dims.join(',')}])`);
  const inner = dims.slice(2).reduce((a, v) => a * v, 1);
  for (let i = 0; i < total; i++) out[i] = b[Math.floor(i / inner) % C];
  return out;
}

/** zBox(low, high): R_j = Σ_k (x_j w_jk − l_j w⁺_jk − h_j w⁻_jk) / stab(Σ_j(…) + b_k) R_k. The bias enters
 * the denominator once, as in Zennit (RULES.md leaves it open). Computed as (x−l)·w⁺ + (x−h)·w⁻, the same sum
 * without the float32 cancellation of three separate products when x is near a bound. */
export function zBox(p: RuleParams = {}): LinearRule {
  if (p.low === undefined || p.high === undefined) throw new Error('rule zBox: needs low and high (scalars or one per input channel)');
  for (const [n, v] of [['low', p.low], ['high', p.high]] as const) {
    for (const e of typeof v === 'number' ? [v] : v) checkNumber('zBox', n, e);
  }
  const eps = checkNumber('zBox', 'epsilon', p.epsilon ?? DEFAULT_STABILIZER, 0);
  return {
    name: 'zBox', params: { low: p.low, high: p.high, epsilon: eps, zeroBias: !!p.zeroBias },
    async apply({ kernel: k, x, xDims }, R) {
      const xl = sub(x, expandBounds(p.low!, xDims, x.length, 'low'));
      const xh = sub(x, expandBounds(p.high!, xDims, x.length, 'high'));
      const z = add(await k.forward(xl, mod.pos, biasMod(p.zeroBias, mod.id)), await k.forward(xh, mod.neg, null));
      const s = quotient(R, z, eps);
      return add(mul(xl, await k.transposed(s, mod.pos)), mul(xh, await k.transposed(s, mod.neg)));
    },
  };
}

/** flat: inputs and weights as 1, bias 0: relevance spread uniformly over each receptive field. */
export function flat(p: RuleParams = {}): LinearRule {
  const eps = checkNumber('flat', 'epsilon', p.epsilon ?? DEFAULT_STABILIZER, 0);
  return {
    name: 'flat', params: { epsilon: eps },
    async apply({ kernel: k, x }, R) {
      const ones = new Float32Array(x.length).fill(1);
      const z = await k.forward(ones, mod.one, null);
      return k.transposed(quotient(R, z, eps), mod.one);
    },
  };
}

/** wSquare: R_j = Σ_k w²_jk / stab(Σ_j w²_jk + b²_k) R_k. */
export function wSquare(p: RuleParams = {}): LinearRule {
  const eps = checkNumber('wSquare', 'epsilon', p.epsilon ?? DEFAULT_STABILIZER, 0);
  return {
    name: 'wSquare', params: { epsilon: eps, zeroBias: !!p.zeroBias },
    async apply({ kernel: k, x }, R) {
      const ones = new Float32Array(x.length).fill(1);
      const z = await k.forward(ones, mod.square, biasMod(p.zeroBias, mod.square));
      return k.transposed(quotient(R, z, eps), mod.square);
    },
  };
}

/** gradient: the vector-Jacobian product Wᵀ R. */
export function gradient(): LinearRule {
  return {
    name: 'gradient', params: {},
    async apply({ kernel: k }, R) {
      return k.transposed(R, mod.id);
    },
  };
}

/** pass: identity (only where the op keeps the shape). */
export function pass(): LinearRule {
  return {
    name: 'pass', params: {},
    async apply({ kernel: k }, R) {
      if (k.inSize !== k.outSize) throw new Error(`rule pass: the op maps ${k.inSize} values to ${k.outSize}; pass needs equal sizes`);
      return Float32Array.from(R);
    },
  };
}
