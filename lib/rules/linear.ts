/** LRP rules for linear layers, each written once against the generic kernel (RULES.md): a modified
 * forward, a stabilised quotient, a transposed product, a product with the (modified) input. No rule knows
 * which op it sits on. */
import { LinearKernel, WeightMod, mod } from '../kernels/kernel';
import { add, hasNegative, mul, negative, plainQuotient, positive, quotient, sub } from './stabilize';

/** What a rule computes with. The reference executes each call at once on Float32Arrays through a
 * LinearKernel; the onnxruntime executor (lib/propagate/engine/ort) records the same calls as ONNX nodes and runs them
 * as one small graph per layer. A value of type T holds the (concatenated) live inputs or one output. */
export interface RuleOps<T> {
  /** z = W'x + b' (`bias` null: no bias) */
  forward(x: T, weight: WeightMod, bias: WeightMod | null): Promise<T>;
  /** W'ᵀg, shaped like the input */
  transposed(g: T, weight: WeightMod): Promise<T>;
  /** R / stab(z). `keep`: entries where `keep.z` does not have sign `keep.sign` are 0. `sign`: the caller
   * knows z ≥ 0 (1) or z ≤ 0 (−1) wherever the quotient is used; an executor may skip the sign select (the
   * result is the same: an exact 0 in z only occurs where every contribution is 0). `plain`: R / (z + ε) whatever
   * the sign of z (LXT's stabiliser), instead of z + ε·sign₀(z). */
  quotient(R: T, z: T, eps: number, opts?: { keep?: { z: T; sign: 1 | -1 }; sign?: 1 | -1; plain?: boolean }): T;
  add(a: T, b: T): T;
  sub(a: T, b: T): T;
  mul(a: T, b: T): T;
  scale(a: T, c: number): T;
  positive(x: T): T;
  negative(x: T): T;
  /** ones shaped like the input (possibly broadcast over the batch) */
  ones(): T;
  /** scalar or per-channel bounds expanded like the input (possibly broadcast over the batch) */
  bounds(b: Bounds, what: 'low' | 'high'): T;
  /** false when no entry of R is non-zero where z has sign `sign`: the rule may skip that branch. An
   * executor that cannot look at the values answers true. */
  any(z: T, R: T, sign: 1 | -1): boolean;
  /** the layer has a bias */
  readonly hasBias: boolean;
}

/** The values a rule sees, in the executor's representation. */
export interface RuleLayer<T> {
  /** the live input (several inputs concatenated), batch included */
  readonly x: T;
  /** the op's own output from the forward pass, z = forward(x, id, id), when it was kept */
  readonly z?: T;
  /** x ≥ 0 everywhere: the x⁻ terms vanish */
  readonly nonNegative: boolean;
}

export interface LinearLayer {
  readonly kernel: LinearKernel;
  /** the live input (several inputs concatenated), batch included */
  readonly x: Float32Array;
  /** dims of the (first) live input, batch first: per-channel bounds broadcast along axis 1 */
  readonly xDims: readonly number[];
  /** the op's output from the forward pass (= kernel.forward(x, id, id)), reused by rules that need it */
  readonly z?: Float32Array;
}

export interface LinearRule {
  readonly name: string;
  readonly params: Readonly<Record<string, unknown>>;
  /** relevance at the output → relevance at the (concatenated) input, with the reference kernels */
  apply(layer: LinearLayer, R: Float32Array): Promise<Float32Array>;
  /** the same rule against any executor */
  lrp<T>(ops: RuleOps<T>, layer: RuleLayer<T>, R: T): Promise<T>;
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
  /** the betaSmooth activation rule's β (not a linear rule's parameter) */
  betaSmooth?: number;
  /** epsilon's stabiliser: z + ε·sign₀(z) ('signed', RULES.md's default) or z + ε ('plain', as LXT) */
  stabilizer?: 'signed' | 'plain';
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

/** The reference executor: every call at once, on Float32Arrays, through the kernel. */
export function referenceOps(kernel: LinearKernel, x: Float32Array, xDims: readonly number[]): RuleOps<Float32Array> {
  return {
    forward: (v, w, b) => kernel.forward(v, w, b),
    transposed: (g, w) => kernel.transposed(g, w),
    quotient: (R, z, eps, o) => {
      if (o?.plain) return plainQuotient(R, z, eps);
      const keep = o?.keep;
      if (!keep) return quotient(R, z, eps);
      const kz = keep.z;
      return quotient(R, z, eps, keep.sign > 0 ? (i) => kz[i] > 0 : (i) => kz[i] < 0);
    },
    add, sub, mul,
    scale: (a, c) => a.map((v) => c * v),
    positive, negative,
    ones: () => new Float32Array(x.length).fill(1),
    bounds: (b, what) => expandBounds(b, xDims, x.length, what),
    any(z, R, sign) {
      for (let i = 0; i < z.length; i++) if ((sign > 0 ? z[i] > 0 : z[i] < 0) && R[i] !== 0) return true;
      return false;
    },
    hasBias: kernel.hasBias,
  };
}

/** A rule from its executor-independent body. */
function linearRule(name: string, params: Record<string, unknown>, lrp: LinearRule['lrp']): LinearRule {
  return {
    name, params, lrp,
    apply({ kernel, x, xDims, z }, R) {
      return lrp(referenceOps(kernel, x, xDims), { x, z, nonNegative: !hasNegative(x) }, R);
    },
  };
}

/** z = forward(x, id, bias id), taken from the forward pass when it was kept and the bias is unchanged. */
async function ownZ<T>(ops: RuleOps<T>, { x, z }: RuleLayer<T>, zeroBias: boolean | undefined): Promise<T> {
  if (z !== undefined && (!zeroBias || !ops.hasBias)) return z;
  return ops.forward(x, mod.id, biasMod(zeroBias, mod.id));
}

function checkStabilizer(name: string, v: unknown): 'signed' | 'plain' {
  if (v === undefined || v === 'signed' || v === 'plain') return (v ?? 'signed') as 'signed' | 'plain';
  throw new Error(`rule ${name}: parameter 'stabilizer' must be 'signed' or 'plain', got ${JSON.stringify(v)}`);
}

/** epsilon(ε): R_j = x_j Σ_k w_jk R_k / stab(z_k); the bias stays in z and absorbs relevance. */
export function epsilon(p: RuleParams = {}, name = 'epsilon'): LinearRule {
  const eps = checkNumber(name, 'epsilon', p.epsilon ?? DEFAULT_STABILIZER, 0);
  const plain = checkStabilizer(name, p.stabilizer) === 'plain';
  const params = { epsilon: eps, zeroBias: !!p.zeroBias, ...(plain ? { stabilizer: 'plain' } : {}) };
  return linearRule(name, params, async (ops, layer, R) => {
    const z = await ownZ(ops, layer, p.zeroBias);
    return ops.mul(layer.x, await ops.transposed(ops.quotient(R, z, eps, plain ? { plain } : undefined), mod.id));
  });
}

/** sumEpsilon(ε): epsilon on the unweighted sum of the inputs, R_j = x_j R_k / (Σ_j x_j + ε) with the plain
 * stabiliser: LXT's rule for a mean (its ε is added to the sum, not to the mean). */
export function sumEpsilon(p: RuleParams = {}): LinearRule {
  const eps = checkNumber('sumEpsilon', 'epsilon', p.epsilon ?? DEFAULT_STABILIZER, 0);
  return linearRule('sumEpsilon', { epsilon: eps }, async (ops, { x }, R) => {
    const z = await ops.forward(x, mod.one, null);
    return ops.mul(x, await ops.transposed(ops.quotient(R, z, eps, { plain: true }), mod.one));
  });
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
async function signedForward<T>(ops: RuleOps<T>, xp: T, xn: T | null, a: WeightMod, b: WeightMod, bias: WeightMod | null): Promise<T> {
  const z = await ops.forward(xp, a, bias);
  return xn ? ops.add(z, await ops.forward(xn, b, null)) : z;
}

async function signedBackward<T>(ops: RuleOps<T>, xp: T, xn: T | null, s: T, a: WeightMod, b: WeightMod): Promise<T> {
  const r = ops.mul(xp, await ops.transposed(s, a));
  return xn ? ops.add(r, ops.mul(xn, await ops.transposed(s, b))) : r;
}

/** x⁺ and x⁻ (null when x ≥ 0: x⁺ is x itself). */
function split<T>(ops: RuleOps<T>, { x, nonNegative }: RuleLayer<T>): [T, T | null] {
  return nonNegative ? [x, null] : [ops.positive(x), ops.negative(x)];
}

/** alphaBeta(α, β) with α − β = 1; the positive part p = x⁺w⁺ + x⁻w⁻ (bias b⁺), negative n = x⁺w⁻ + x⁻w⁺ (bias b⁻). */
export function alphaBeta(p: RuleParams = {}, name = 'alphaBeta'): LinearRule {
  const alpha = checkNumber(name, 'alpha', p.alpha ?? 2, 0);
  const beta = checkNumber(name, 'beta', p.beta ?? 1, 0);
  if (Math.abs(alpha - beta - 1) > 1e-9) throw new Error(`rule ${name}: needs alpha − beta = 1, got alpha=${alpha}, beta=${beta}`);
  const eps = checkNumber(name, 'epsilon', p.epsilon ?? DEFAULT_STABILIZER, 0);
  const params = name === 'zPlus' ? { epsilon: eps, zeroBias: !!p.zeroBias } : { alpha, beta, epsilon: eps, zeroBias: !!p.zeroBias };
  // the positive part is ≥ 0 and the negative part ≤ 0 by construction
  const signs = eps > 0;
  return linearRule(name, params, async (ops, layer, R) => {
    const [xp, xn] = split(ops, layer);
    const zp = await signedForward(ops, xp, xn, mod.pos, mod.neg, biasMod(p.zeroBias, mod.pos));
    const sp = ops.quotient(R, zp, eps, signs ? { sign: 1 } : undefined);
    let out: typeof R = await signedBackward(ops, xp, xn, sp, mod.pos, mod.neg);
    if (alpha !== 1) out = ops.scale(out, alpha);
    if (beta !== 0) {
      const zn = await signedForward(ops, xp, xn, mod.neg, mod.pos, biasMod(p.zeroBias, mod.neg));
      const sn = ops.quotient(R, zn, eps, signs ? { sign: -1 } : undefined);
      const rn = await signedBackward(ops, xp, xn, sn, mod.neg, mod.pos);
      out = ops.sub(out, ops.scale(rn, beta));
    }
    return out;
  });
}

/** zPlus = alphaBeta(1, 0). */
export function zPlus(p: RuleParams = {}): LinearRule {
  return alphaBeta({ ...p, alpha: 1, beta: 0 }, 'zPlus');
}

/** Generalized gamma: contributions whose sign matches sign(z_k) are amplified by γ. As in Zennit 0.5.1's `Gamma`,
 * the branch is chosen by the layer's own z_k, bias included even with zeroBias (its fifth output is `NoMod()`
 * without `zero_params`); zeroBias drops the bias from the amplified sums only. */
export function gamma(p: RuleParams = {}): LinearRule {
  const g = checkNumber('gamma', 'gamma', p.gamma ?? 0.25, 0);
  const eps = checkNumber('gamma', 'epsilon', p.epsilon ?? DEFAULT_STABILIZER, 0);
  const up = mod.gammaPos(g);
  const down = mod.gammaNeg(g);
  return linearRule('gamma', { gamma: g, epsilon: eps, zeroBias: !!p.zeroBias }, async (ops, layer, R) => {
    const z = await ownZ(ops, layer, false);
    const [xp, xn] = split(ops, layer);
    // on the kept entries the amplified sums have the sign of z when x ≥ 0 and the bias moves with them; with
    // zeroBias the mask keeps the bias and the sums do not, so a sum may have the other sign (or be 0)
    const signs = eps > 0 && xn === null && !(p.zeroBias && ops.hasBias);
    // z > 0: x⁺ through w + γw⁺, x⁻ through w + γw⁻, bias b + γb⁺
    const zPos = await signedForward(ops, xp, xn, up, down, biasMod(p.zeroBias, up));
    const sPos = ops.quotient(R, zPos, eps, { keep: { z, sign: 1 }, sign: signs ? 1 : undefined });
    let out: typeof R = await signedBackward(ops, xp, xn, sPos, up, down);
    // z < 0: x⁺ through w + γw⁻, x⁻ through w + γw⁺, bias b + γb⁻
    if (ops.any(z, R, -1)) {
      const zNeg = await signedForward(ops, xp, xn, down, up, biasMod(p.zeroBias, down));
      const sNeg = ops.quotient(R, zNeg, eps, { keep: { z, sign: -1 }, sign: signs ? -1 : undefined });
      out = ops.add(out, await signedBackward(ops, xp, xn, sNeg, down, up));
    }
    return out;
  });
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

/** zBox(low, high): R_j = Σ_k (x_j w_jk − l_j w⁺_jk − h_j w⁻_jk) / stab(Σ_j(…)) R_k, with no bias anywhere: Zennit
 * 0.5.1's `ZBox` runs f(x; W, b), f(l; W⁺, b⁺) and f(h; W⁻, b⁻) and subtracts, and b − b⁺ − b⁻ = 0 (so zeroBias
 * changes nothing). Computed as (x−l)·w⁺ + (x−h)·w⁻, the same sum without the float32 cancellation of three
 * separate products when x is near a bound. */
export function zBox(p: RuleParams = {}): LinearRule {
  if (p.low === undefined || p.high === undefined) throw new Error('rule zBox: needs low and high (scalars or one per input channel)');
  for (const [n, v] of [['low', p.low], ['high', p.high]] as const) {
    for (const e of typeof v === 'number' ? [v] : v) checkNumber('zBox', n, e);
  }
  const eps = checkNumber('zBox', 'epsilon', p.epsilon ?? DEFAULT_STABILIZER, 0);
  return linearRule('zBox', { low: p.low, high: p.high, epsilon: eps }, async (ops, { x }, R) => {
    const xl = ops.sub(x, ops.bounds(p.low!, 'low'));
    const xh = ops.sub(x, ops.bounds(p.high!, 'high'));
    const z = ops.add(await ops.forward(xl, mod.pos, null), await ops.forward(xh, mod.neg, null));
    const s = ops.quotient(R, z, eps);
    return ops.add(ops.mul(xl, await ops.transposed(s, mod.pos)), ops.mul(xh, await ops.transposed(s, mod.neg)));
  });
}

/** flat: inputs and weights as 1, bias 0 (Zennit 0.5.1's `Flat` always zeroes the bias, so there is no zeroBias
 * parameter): relevance spread uniformly over each receptive field. */
export function flat(p: RuleParams = {}): LinearRule {
  const eps = checkNumber('flat', 'epsilon', p.epsilon ?? DEFAULT_STABILIZER, 0);
  return linearRule('flat', { epsilon: eps }, async (ops, _layer, R) => {
    const z = await ops.forward(ops.ones(), mod.one, null);
    return ops.transposed(ops.quotient(R, z, eps, eps > 0 ? { sign: 1 } : undefined), mod.one);
  });
}

/** wSquare: R_j = Σ_k w²_jk / stab(Σ_j w²_jk + b²_k) R_k. */
export function wSquare(p: RuleParams = {}): LinearRule {
  const eps = checkNumber('wSquare', 'epsilon', p.epsilon ?? DEFAULT_STABILIZER, 0);
  return linearRule('wSquare', { epsilon: eps, zeroBias: !!p.zeroBias }, async (ops, _layer, R) => {
    const z = await ops.forward(ops.ones(), mod.square, biasMod(p.zeroBias, mod.square));
    return ops.transposed(ops.quotient(R, z, eps, eps > 0 ? { sign: 1 } : undefined), mod.square);
  });
}

/** gradient: the vector-Jacobian product Wᵀ R. */
export function gradient(): LinearRule {
  return linearRule('gradient', {}, async (ops, _layer, R) => ops.transposed(R, mod.id));
}

/** pass: identity (only where the op keeps the shape). */
export function pass(): LinearRule {
  const rule = linearRule('pass', {}, async (_ops, _layer, R) => R);
  return {
    ...rule,
    async apply({ kernel: k }, R) {
      if (k.inSize !== k.outSize) throw new Error(`rule pass: the op maps ${k.inSize} values to ${k.outSize}; pass needs equal sizes`);
      return Float32Array.from(R);
    },
  };
}
