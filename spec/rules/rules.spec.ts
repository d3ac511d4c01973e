/** Every rule against the float64 dense-matrix reference (./reference) over a seeded grid of dense, Conv
 * (1-D/2-D/3-D, strides, pads, dilations, groups), ConvTranspose and average-pool layers, with bias on/off,
 * zeroBias on/off, and mixed-sign or post-ReLU inputs; plus the parameter checks of createRule. */
import { expect } from 'chai';
import { RuleName, RuleParams, alphaBeta, createRule, isRuleName, zBox } from '../../lib/rules/index';
import { denseKernel } from '../../lib/kernels/dense';
import { FAMILIES, Family, INPUT_KINDS, LayerCase, allCases, convCase, denseCase, makeInput } from './cases';
import { RefParams, RefRuleName, denseLayer, expandPerChannel, prng, referenceRule, relL2, uniform } from './reference';

const TOL = 1e-5;
/** outputs whose denominator is this ill-conditioned get R = 0 (float32 rounding could decide them) */
const COND_MAX = 30;

interface Config {
  label: string;
  rule: RuleName;
  params: RuleParams;
  takesZeroBias: boolean;
  /** per-channel bounds for zBox, drawn per case */
  perChannel?: boolean;
}

const CONFIGS: Config[] = [
  { label: 'epsilon (default ε)', rule: 'epsilon', params: {}, takesZeroBias: true },
  { label: 'epsilon ε=1e-9', rule: 'epsilon', params: { epsilon: 1e-9 }, takesZeroBias: true },
  { label: 'epsilon ε=0.01', rule: 'epsilon', params: { epsilon: 0.01 }, takesZeroBias: true },
  { label: 'epsilon ε=0.25', rule: 'epsilon', params: { epsilon: 0.25 }, takesZeroBias: true },
  { label: 'epsilon ε=1', rule: 'epsilon', params: { epsilon: 1 }, takesZeroBias: true },
  { label: 'epsilon ε=0', rule: 'epsilon', params: { epsilon: 0 }, takesZeroBias: true },
  { label: 'epsilon, plain stabiliser (LXT)', rule: 'epsilon', params: { stabilizer: 'plain' }, takesZeroBias: true },
  { label: 'epsilon ε=0.25, plain stabiliser', rule: 'epsilon', params: { epsilon: 0.25, stabilizer: 'plain' }, takesZeroBias: true },
  { label: 'sumEpsilon (LXT mean)', rule: 'sumEpsilon', params: {}, takesZeroBias: false },
  { label: 'sumEpsilon ε=0.1', rule: 'sumEpsilon', params: { epsilon: 0.1 }, takesZeroBias: false },
  { label: 'zero', rule: 'zero', params: {}, takesZeroBias: true },
  { label: 'zPlus', rule: 'zPlus', params: {}, takesZeroBias: true },
  { label: 'zPlus ε=0.1', rule: 'zPlus', params: { epsilon: 0.1 }, takesZeroBias: true },
  { label: 'alphaBeta(2,1)', rule: 'alphaBeta', params: { alpha: 2, beta: 1 }, takesZeroBias: true },
  { label: 'alphaBeta(1,0)', rule: 'alphaBeta', params: { alpha: 1, beta: 0 }, takesZeroBias: true },
  { label: 'alphaBeta(3,2)', rule: 'alphaBeta', params: { alpha: 3, beta: 2 }, takesZeroBias: true },
  { label: 'alphaBeta default', rule: 'alphaBeta', params: {}, takesZeroBias: true },
  { label: 'gamma(0.25)', rule: 'gamma', params: { gamma: 0.25 }, takesZeroBias: true },
  { label: 'gamma(1)', rule: 'gamma', params: { gamma: 1 }, takesZeroBias: true },
  { label: 'gamma default, ε=0.05', rule: 'gamma', params: { epsilon: 0.05 }, takesZeroBias: true },
  { label: 'zBox scalar bounds', rule: 'zBox', params: { low: -1, high: 1 }, takesZeroBias: false },
  { label: 'zBox per-channel bounds', rule: 'zBox', params: {}, takesZeroBias: false, perChannel: true },
  { label: 'flat', rule: 'flat', params: {}, takesZeroBias: false },
  { label: 'flat ε=0.5', rule: 'flat', params: { epsilon: 0.5 }, takesZeroBias: false },
  { label: 'wSquare', rule: 'wSquare', params: {}, takesZeroBias: true },
  { label: 'norm', rule: 'norm', params: {}, takesZeroBias: false },
  { label: 'norm ε=0.1', rule: 'norm', params: { epsilon: 0.1 }, takesZeroBias: false },
  { label: 'gradient', rule: 'gradient', params: {}, takesZeroBias: false },
  { label: 'pass', rule: 'pass', params: {}, takesZeroBias: false },
];

/** per-channel bounds [−1.5, −1] / [1, 1.5]: they contain every test input */
function channelBounds(c: LayerCase): { low: number[]; high: number[] } {
  const rand = prng(7 * c.channels + 1);
  const low: number[] = [];
  const high: number[] = [];
  for (let i = 0; i < c.channels; i++) {
    low.push(Math.fround(-1 - 0.5 * rand()));
    high.push(Math.fround(1 + 0.5 * rand()));
  }
  return { low, high };
}

function specFor(cfg: Config, c: LayerCase, zeroBias: boolean): { lib: RuleParams; ref: RefParams } {
  const lib: RuleParams = { ...cfg.params };
  if (cfg.perChannel) Object.assign(lib, channelBounds(c));
  if (zeroBias) lib.zeroBias = true;
  const ref: RefParams = { epsilon: lib.epsilon, alpha: lib.alpha, beta: lib.beta, gamma: lib.gamma, zeroBias, plain: lib.stabilizer === 'plain' };
  if (cfg.rule === 'zBox') {
    ref.low = expandPerChannel(lib.low as number | number[], c.xDims);
    ref.high = expandPerChannel(lib.high as number | number[], c.xDims);
  }
  return { lib, ref };
}

const CASES = allCases();

interface Stats { runs: number; outputs: number; masked: number }

async function checkRule(cfg: Config, family: Family): Promise<Stats> {
  const failures: string[] = [];
  const stats: Stats = { runs: 0, outputs: 0, masked: 0 };
  let seed = 0;
  for (const c of CASES.filter((k) => k.family === family)) {
    for (const kind of INPUT_KINDS) {
      for (const zeroBias of cfg.takesZeroBias ? [false, true] : [false]) {
        seed++;
        const where = `${cfg.label} on ${c.label}, ${kind} input${zeroBias ? ', zeroBias' : ''}`;
        const { lib, ref } = specFor(cfg, c, zeroBias);
        const rule = createRule({ rule: cfg.rule, params: lib });
        const x = makeInput(seed * 31 + c.ref.nIn, c.ref.nIn, kind);
        const R0 = uniform(prng(seed * 17 + c.ref.nOut), c.ref.nOut, -1, 1);
        if (cfg.rule === 'pass' && c.ref.nIn !== c.ref.nOut) {
          let threw = false;
          try { await rule.apply({ kernel: c.kernel, x, xDims: c.xDims }, R0); } catch { threw = true; }
          if (!threw) failures.push(`${where}: pass on ${c.ref.nIn} → ${c.ref.nOut} values did not throw`);
          continue;
        }
        const R = Float32Array.from(R0);
        const { cond } = referenceRule(cfg.rule as RefRuleName, ref, c.ref, x, R0);
        for (let k = 0; k < R.length; k++) if (!(cond[k] <= COND_MAX)) { R[k] = 0; stats.masked++; }
        stats.outputs += R.length;
        stats.runs++;
        const expected = referenceRule(cfg.rule as RefRuleName, ref, c.ref, x, R).R;
        const actual = await rule.apply({ kernel: c.kernel, x, xDims: c.xDims }, R);
        if (actual.length !== expected.length) {
          failures.push(`${where}: ${actual.length} values, expected ${expected.length}`);
          continue;
        }
        if (!actual.every(Number.isFinite)) { failures.push(`${where}: non-finite relevance`); continue; }
        const err = relL2(actual, expected);
        if (!(err <= TOL)) failures.push(`${where}: relative L2 error ${err.toExponential(2)}`);
      }
    }
  }
  expect(failures, failures.slice(0, 8).join('\n')).to.deep.equal([]);
  return stats;
}

describe('rules: against the float64 reference', () => {
  it('the grid covers every family, with and without bias', () => {
    for (const f of FAMILIES) expect(CASES.some((c) => c.family === f), f).to.equal(true);
    for (const f of FAMILIES.filter((k) => k !== 'avgPool')) {
      expect(CASES.some((c) => c.family === f && c.hasBias), f).to.equal(true);
      expect(CASES.some((c) => c.family === f && !c.hasBias), f).to.equal(true);
    }
    expect(CASES.some((c) => c.ref.nIn === c.ref.nOut), 'a shape-keeping case for pass').to.equal(true);
  });

  for (const cfg of CONFIGS) {
    describe(cfg.label, () => {
      for (const family of FAMILIES) {
        it(family, async () => {
          const s = await checkRule(cfg, family);
          // the ill-conditioning mask must leave most of the relevance in place
          if (s.outputs) expect(s.masked / s.outputs, `masked ${s.masked} of ${s.outputs} outputs`).to.be.below(0.1);
        });
      }
    });
  }

  it('zero denominators pass nothing (ε = 0: zero, epsilon, gamma, zBox, wSquare, alphaBeta)', async () => {
    // output 0 has an all-zero weight column and no bias; output 1 reads only x = 0; output 2 is ordinary
    const K = 3;
    const M = 3;
    const w = Float32Array.from([0, 0, 0.5, 0, 0.7, -0.25, 0, -0.3, 0.8]);
    const b = Float32Array.from([0, 0, 0.1]);
    const x = Float32Array.from([0.5, 0, -0.75]);
    // make output 1 read only x[1] = 0
    w[0 * M + 1] = 0; w[2 * M + 1] = 0;
    const kernel = denseKernel(1, K, M, w, b);
    const ref = denseLayer(1, K, M, w, b);
    const R = Float32Array.from([1, -2, 0.5]);
    const specs: [RuleName, RuleParams, RefParams][] = [
      ['zero', {}, {}],
      ['epsilon', { epsilon: 0 }, { epsilon: 0 }],
      ['gamma', { epsilon: 0 }, { epsilon: 0 }],
      ['zBox', { epsilon: 0, low: 0, high: 0 }, { epsilon: 0, low: [0, 0, 0], high: [0, 0, 0] }],
      ['wSquare', { epsilon: 0, zeroBias: true }, { epsilon: 0, zeroBias: true }],
      ['alphaBeta', { epsilon: 0 }, { epsilon: 0 }],
      ['zPlus', { epsilon: 0 }, { epsilon: 0 }],
    ];
    for (const [name, lp, rp] of specs) {
      const got = await createRule({ rule: name, params: lp }).apply({ kernel, x, xDims: [1, K] }, R);
      const exp = referenceRule(name, rp, ref, x, R).R;
      expect(got.every(Number.isFinite), name).to.equal(true);
      expect(relL2(got, exp), `${name}: got [${got}], expected [${exp}]`).to.be.at.most(TOL);
    }
  });

  it('gamma chooses the branch from z with the bias (and without it under zeroBias)', async () => {
    // one input, one output: x·w = 0.5, bias −1: z = −0.5 < 0 takes the negative branch; zeroBias: z = 0.5 > 0
    const kernel = denseKernel(1, 2, 1, Float32Array.from([0.5, -0.25]), Float32Array.from([-1]));
    const ref = denseLayer(1, 2, 1, [0.5, -0.25], [-1]);
    const x = Float32Array.from([1, 1]);
    const R = Float32Array.from([1]);
    for (const zeroBias of [false, true]) {
      const got = await createRule({ rule: 'gamma', params: { gamma: 0.5, zeroBias } }).apply({ kernel, x, xDims: [1, 2] }, R);
      const exp = referenceRule('gamma', { gamma: 0.5, zeroBias }, ref, x, R).R;
      expect(relL2(got, exp), `zeroBias=${zeroBias}: got [${got}], expected [${exp}]`).to.be.at.most(TOL);
    }
    // by hand, with bias: z < 0: x⁺ through w + γw⁻ = [0.5, −0.375], bias b + γb⁻ = −1.5; Σ = −1.375
    const got = await createRule({ rule: 'gamma', params: { gamma: 0.5 } }).apply({ kernel, x, xDims: [1, 2] }, R);
    expect(got[0]).to.be.closeTo(0.5 / (-1.375 - 1e-6), 1e-6);
    expect(got[1]).to.be.closeTo(-0.375 / (-1.375 - 1e-6), 1e-6);
  });

  it('zBox keeps the bias out of the denominator (Zennit 0.5.1: b − b⁺ − b⁻ = 0)', async () => {
    const kernel = denseKernel(1, 2, 1, Float32Array.from([1, -1]), Float32Array.from([0.5]));
    const x = Float32Array.from([0.5, 0.25]);
    const got = await createRule({ rule: 'zBox', params: { low: 0, high: 1, epsilon: 0 } }).apply({ kernel, x, xDims: [1, 2] }, Float32Array.from([1]));
    // terms: (x − l)w⁺ + (x − h)w⁻ = [0.5, 0.75]; denominator 1.25, the bias 0.5 cancels: relevance is conserved
    expect(got[0]).to.be.closeTo(0.5 / 1.25, 1e-7);
    expect(got[1]).to.be.closeTo(0.75 / 1.25, 1e-7);
  });

  it('alphaBeta uses b⁺ in the positive and b⁻ in the negative denominator', async () => {
    const kernel = denseKernel(1, 2, 2, Float32Array.from([1, 1, -1, -1]), Float32Array.from([0.5, -0.5]));
    const x = Float32Array.from([1, 1]);
    const got = await createRule({ rule: 'alphaBeta', params: { alpha: 2, beta: 1, epsilon: 0 } }).apply({ kernel, x, xDims: [1, 2] }, Float32Array.from([1, 1]));
    // output 0 (b = 0.5): p = [1, 0] / 1.5, n = [0, −1] / −1; output 1 (b = −0.5): p = [1, 0] / 1, n = [0, −1] / −1.5
    const r0 = 2 * (1 / 1.5) + 2 * 1;
    const r1 = -1 * 1 - 1 * (1 / 1.5);
    expect(got[0]).to.be.closeTo(r0, 1e-6);
    expect(got[1]).to.be.closeTo(r1, 1e-6);
  });

  it('flat on a conv counts only in-bounds taps', async () => {
    // 1-D, k = 3, pad 1 on both sides, 3 inputs: the border outputs see 2 taps, the middle one 3
    const c = convCase(5, { batch: 1, inChannels: 1, outChannels: 1, groups: 1, inSpatial: [3], kernel: [3], padsBegin: [1], padsEnd: [1] }, false, 0);
    const R = Float32Array.from([1, 1, 1]);
    const x = Float32Array.from([5, -7, 9]);
    const got = await createRule({ rule: 'flat', params: { epsilon: 0 } }).apply({ kernel: c.kernel, x, xDims: c.xDims }, R);
    const exp = [1 / 2 + 1 / 3, 1 / 2 + 1 / 3 + 1 / 2, 1 / 3 + 1 / 2];
    for (let i = 0; i < 3; i++) expect(got[i]).to.be.closeTo(exp[i], 1e-6);
  });
});

describe('rules: parameter checks', () => {
  it('alphaBeta accepts α ≥ 0, β ≥ 0, α − β = 1 and nothing else', () => {
    for (const [a, b] of [[2, 1], [1, 0], [3, 2], [1.5, 0.5]]) {
      expect(() => alphaBeta({ alpha: a, beta: b }), `(${a}, ${b})`).not.to.throw();
      expect(() => createRule({ rule: 'alphaBeta', params: { alpha: a, beta: b } }), `(${a}, ${b})`).not.to.throw();
    }
    for (const [a, b] of [[1, 1], [2, 0], [0, 0], [0, -1], [-0.5, -1.5], [2, 2], [NaN, 0], [Infinity, Infinity], [1, -0.5]]) {
      expect(() => alphaBeta({ alpha: a, beta: b }), `(${a}, ${b})`).to.throw();
      expect(() => createRule({ rule: 'alphaBeta', params: { alpha: a, beta: b } }), `(${a}, ${b})`).to.throw(/alpha|beta/);
    }
    // a default for the one not given: α = 2 with β = 1
    expect(() => createRule({ rule: 'alphaBeta', params: { alpha: 3 } })).to.throw(/alpha/);
    expect(() => createRule({ rule: 'alphaBeta', params: { alpha: 2 } })).not.to.throw();
  });

  it('an unknown rule throws, naming it', () => {
    expect(() => createRule({ rule: 'lrpMagic' as RuleName })).to.throw(/unknown rule 'lrpMagic'/);
    expect(() => createRule({ rule: 'Epsilon' as RuleName })).to.throw(/Epsilon/);
    expect(isRuleName('lrpMagic')).to.equal(false);
  });

  it('an unknown parameter throws, naming it', () => {
    expect(() => createRule({ rule: 'epsilon', params: { gamma: 0.25 } })).to.throw(/gamma/);
    expect(() => createRule({ rule: 'zero', params: { epsilon: 0.1 } })).to.throw(/epsilon/);
    expect(() => createRule({ rule: 'pass', params: { epsilon: 0.1 } })).to.throw(/epsilon/);
    expect(() => createRule({ rule: 'gamma', params: { eps: 0.1 } as RuleParams })).to.throw(/eps/);
  });

  it('flat and zBox take no zeroBias: neither has a bias to drop (Zennit 0.5.1: Flat zeroes it, ZBox cancels it)', () => {
    expect(() => createRule({ rule: 'flat', params: { zeroBias: true } })).to.throw(/zeroBias/);
    expect(() => createRule({ rule: 'zBox', params: { low: -1, high: 1, zeroBias: true } })).to.throw(/zeroBias/);
  });

  it('negative or non-finite stabilisers throw', () => {
    expect(() => createRule({ rule: 'epsilon', params: { epsilon: -1 } })).to.throw(/epsilon/);
    expect(() => createRule({ rule: 'gamma', params: { gamma: -0.5 } })).to.throw(/gamma/);
    expect(() => createRule({ rule: 'zPlus', params: { epsilon: NaN } })).to.throw(/epsilon/);
  });

  it('zBox without bounds throws', () => {
    expect(() => createRule({ rule: 'zBox' })).to.throw(/zBox/);
    expect(() => createRule({ rule: 'zBox', params: { low: 0 } })).to.throw(/high/);
    expect(() => createRule({ rule: 'zBox', params: { high: 1 } })).to.throw(/low/);
    expect(() => zBox({})).to.throw();
    expect(() => createRule({ rule: 'zBox', params: { low: NaN, high: 1 } })).to.throw(/low/);
  });

  it('per-channel bounds of the wrong length throw', async () => {
    const c = convCase(3, { batch: 1, inChannels: 2, outChannels: 1, groups: 1, inSpatial: [3, 3], kernel: [2, 2] }, true);
    const x = makeInput(1, c.ref.nIn, 'mixed');
    const R = new Float32Array(c.ref.nOut).fill(1);
    const bad: RuleParams[] = [
      { low: [-1, -1, -1], high: [1, 1] },
      { low: [-1, -1], high: [1, 1, 1, 1] },
      { low: [], high: 1 },
    ];
    for (const p of bad) {
      let msg = '';
      try { await createRule({ rule: 'zBox', params: p }).apply({ kernel: c.kernel, x, xDims: c.xDims }, R); } catch (e) { msg = (e as Error).message; }
      expect(msg, JSON.stringify(p)).to.match(/low|high/);
    }
    // length 1 and length C are fine
    for (const p of [{ low: [-1], high: [1] }, { low: [-1, -2], high: [1, 2] }] as RuleParams[]) {
      const got = await createRule({ rule: 'zBox', params: p }).apply({ kernel: c.kernel, x, xDims: c.xDims }, R);
      expect(got.every(Number.isFinite)).to.equal(true);
    }
  });

  it('rule params are recorded', () => {
    expect(createRule({ rule: 'alphaBeta', params: { alpha: 3, beta: 2 } }).params).to.include({ alpha: 3, beta: 2 });
    expect(createRule({ rule: 'epsilon' }).params).to.include({ epsilon: 1e-6 });
    expect(createRule({ rule: 'zPlus' }).name).to.equal('zPlus');
  });

  it('a dense case with per-feature bounds: one bound per column', async () => {
    const c = denseCase(9, 2, 3, 2, true);
    const x = makeInput(2, c.ref.nIn, 'mixed');
    const R = uniform(prng(3), c.ref.nOut);
    const low = [-1, -1.25, -1.5];
    const high = [1, 1.25, 1.5];
    const got = await createRule({ rule: 'zBox', params: { low, high } }).apply({ kernel: c.kernel, x, xDims: c.xDims }, R);
    const exp = referenceRule('zBox', { low: expandPerChannel(low, c.xDims), high: expandPerChannel(high, c.xDims) }, c.ref, x, R).R;
    expect(relL2(got, exp)).to.be.at.most(TOL);
  });
});

/** Cases that fail against lib/ as it stands (reported; not fixed here, lib/ belongs to others). */
describe('rules: regressions (fixed defects)', () => {
  it('names inherited from Object.prototype are unknown rules (constructor, toString, __proto__)', () => {
    // lib/rules/index.ts looks names up with `RULES[name]` / `name in RULES`, which also finds prototype members
    for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      expect(isRuleName(name), name).to.equal(false);
      expect(() => createRule({ rule: name as RuleName }), name).to.throw(new RegExp(`unknown rule '${name}'`));
    }
  });

  it('zBox keeps float32 accuracy for an input next to a bound', async () => {
    // one output; input 0 sits 1e-5 below high = 1 on a negative weight, input 1 sits on low = −1 on a positive
    // one: the only non-zero term is (x₀ − h)·w₀ (> 0), so all of R goes to input 0: exactly [1, 0]. lib/
    // computes x·w − l·w⁺ − h·w⁻ as three separate float32 products, and x₀·w₀ − h·w₀ cancels: it returns
    // [1.0078125, 0] (also the denominator carries the cancellation). Forming (x − l) and (x − h) first,
    // z = W⁺ᵀ(x − l) + W⁻ᵀ(x − h) + b and R = (x − l)·W⁺s + (x − h)·W⁻s, is algebraically the same and exact here.
    const kernel = denseKernel(1, 2, 1, Float32Array.from([-0.3, 0.3]), null);
    const x = Float32Array.from([0.99999, -1]);
    const got = await createRule({ rule: 'zBox', params: { low: -1, high: 1, epsilon: 0 } }).apply({ kernel, x, xDims: [1, 2] }, Float32Array.from([1]));
    const exp = referenceRule('zBox', { epsilon: 0, low: [-1, -1], high: [1, 1] }, denseLayer(1, 2, 1, [-0.3, 0.3], null), x, [1]).R;
    expect(exp[0]).to.be.closeTo(1, 1e-12);
    expect(exp[1]).to.equal(0);
    expect(relL2(got, exp), `got [${got}]`).to.be.at.most(TOL);
  });
});
