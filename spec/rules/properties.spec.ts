/** Properties every rule must have whatever the reference says: conservation (zero biases), identity of pass,
 * signs, finiteness at ε = 0 on dead inputs and dead weights, and that no rule touches its inputs. */
import { expect } from 'chai';
import { RULE_NAMES, RuleName, RuleParams, createRule, RULES } from '../../lib/rules/index';
import { LinearKernel } from '../../lib/kernels/kernel';
import { denseKernel } from '../../lib/kernels/dense';
import { convKernel } from '../../lib/kernels/conv';
import { windowTable } from '../../lib/kernels/window';
import { LayerCase, allCases, avgPoolCase, convCase, convTransposeCase, denseCase, makeInput } from './cases';
import { prng, referenceForward, sum, uniform } from './reference';

const CASES = allCases();
const TOL = 1e-5;

type Den = 'z' | 'p' | 'n' | 'w2' | 'box' | 'count';

/** Σ_j c_jk per output for the contributions c of a rule's denominator (without bias), from the reference
 * matrix: used only to keep R away from outputs whose denominator is near 0. */
function outputSums(c: LayerCase, x: Float32Array, which: Den): Float64Array {
  const { nIn, nOut, W, mask } = c.ref;
  const out = new Float64Array(nOut);
  for (let k = 0; k < nOut; k++) {
    let s = 0;
    for (let j = 0; j < nIn; j++) {
      const xv = x[j];
      const w = W[j * nOut + k];
      if (which === 'z') s += xv * w;
      else if (which === 'w2') s += w * w;
      else if (which === 'count') s += mask[j * nOut + k];
      else if (which === 'box') s += (xv + 1) * (w > 0 ? w : 0) + (xv - 1) * (w < 0 ? w : 0);
      else if (which === 'p') s += (xv > 0 ? xv : 0) * (w > 0 ? w : 0) + (xv < 0 ? xv : 0) * (w < 0 ? w : 0);
      else s += (xv > 0 ? xv : 0) * (w < 0 ? w : 0) + (xv < 0 ? xv : 0) * (w > 0 ? w : 0);
    }
    out[k] = s;
  }
  return out;
}

/** Non-zero inputs: mixed sign in ±[0.05, 1] (no exact zeros, so no output is dead). */
function liveInput(seed: number, n: number): Float32Array {
  const rand = prng(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (rand() < 0.5 ? -1 : 1) * (0.05 + 0.95 * rand());
  return x;
}

/** R ≥ 0, zeroed where any of the given denominators is small (|d| < 0.2): there ε/d would show. */
function safeRelevance(seed: number, n: number, dens: Float64Array[]): Float32Array {
  const R = uniform(prng(seed), n, 0, 1);
  for (let k = 0; k < n; k++) if (dens.some((d) => Math.abs(d[k]) < 0.2)) R[k] = 0;
  return R;
}

function relGap(a: number, b: number, scale: number): number {
  return Math.abs(a - b) / scale;
}

interface ConservingRule { label: string; rule: RuleName; params: RuleParams; dens: Den[] }

const CONSERVING: ConservingRule[] = [
  { label: 'epsilon', rule: 'epsilon', params: { zeroBias: true }, dens: ['z'] },
  { label: 'epsilon ε=1e-9', rule: 'epsilon', params: { epsilon: 1e-9, zeroBias: true }, dens: ['z'] },
  { label: 'zero', rule: 'zero', params: { zeroBias: true }, dens: ['z'] },
  { label: 'norm', rule: 'norm', params: {}, dens: ['z'] },
  { label: 'zPlus', rule: 'zPlus', params: { zeroBias: true }, dens: ['p'] },
  { label: 'alphaBeta(2,1)', rule: 'alphaBeta', params: { alpha: 2, beta: 1, zeroBias: true }, dens: ['p', 'n'] },
  { label: 'alphaBeta(3,2)', rule: 'alphaBeta', params: { alpha: 3, beta: 2, zeroBias: true }, dens: ['p', 'n'] },
  { label: 'gamma(0.25)', rule: 'gamma', params: { gamma: 0.25, zeroBias: true }, dens: ['z'] },
  // (a ConvTranspose output that no input reaches, e.g. in the output padding, has nothing to pass to)
  { label: 'flat', rule: 'flat', params: {}, dens: ['count'] },
  { label: 'wSquare', rule: 'wSquare', params: { zeroBias: true }, dens: ['w2'] },
];

describe('rules: properties', () => {
  describe('conservation with zero biases: Σ R_in = Σ R_out', () => {
    for (const cr of CONSERVING) {
      it(cr.label, async () => {
        const failures: string[] = [];
        let checked = 0;
        let seed = 50;
        for (const c of CASES) {
          // norm keeps the bias (it is meant for bias-free ops): only bias-free layers for it
          if (cr.rule === 'norm' && c.hasBias) continue;
          seed++;
          const x = liveInput(seed, c.ref.nIn);
          const dens = cr.dens.map((d) => outputSums(c, x, d));
          // (gamma: the amplified denominator has the sign of z and at least its size)
          const R = safeRelevance(seed + 7, c.ref.nOut, dens);
          const out = await createRule({ rule: cr.rule, params: cr.params }).apply({ kernel: c.kernel, x, xDims: c.xDims }, R);
          const sIn = sum(out);
          const sOut = sum(R);
          if (sOut === 0) continue;
          checked++;
          const gap = relGap(sIn, sOut, sOut);
          if (!(gap <= TOL)) failures.push(`${c.label}: Σ R_in = ${sIn}, Σ R_out = ${sOut} (gap ${gap.toExponential(2)})`);
        }
        expect(failures, failures.slice(0, 6).join('\n')).to.deep.equal([]);
        expect(checked).to.be.greaterThan(CASES.length / 3);
      });
    }

    it('zBox with x inside [low, high] and zero bias', async () => {
      const failures: string[] = [];
      let seed = 500;
      for (const c of CASES) {
        seed++;
        const x = uniform(prng(seed), c.ref.nIn, -0.9, 0.9);
        // every term (x − l)w⁺ + (x − h)w⁻ ≥ 0.1|w|
        const R = safeRelevance(seed, c.ref.nOut, [outputSums(c, x, 'box')]);
        const out = await createRule({ rule: 'zBox', params: { low: -1, high: 1 } }).apply({ kernel: c.kernel, x, xDims: c.xDims }, R);
        const sOut = sum(R);
        if (sOut === 0) continue;
        const gap = relGap(sum(out), sOut, sOut);
        if (!(gap <= TOL)) failures.push(`${c.label}: gap ${gap.toExponential(2)}`);
      }
      expect(failures, failures.slice(0, 6).join('\n')).to.deep.equal([]);
    });

    it('epsilon with a bias absorbs exactly Σ_k b_k R_k / stab(z_k)', async () => {
      for (const c of CASES.filter((k) => k.hasBias)) {
        const x = liveInput(3, c.ref.nIn);
        const z = referenceForward(c.ref, x, true);
        const R = safeRelevance(4, c.ref.nOut, [z]);
        const out = await createRule({ rule: 'epsilon', params: { epsilon: 1e-9 } }).apply({ kernel: c.kernel, x, xDims: c.xDims }, R);
        let absorbed = 0;
        for (let k = 0; k < R.length; k++) absorbed += (c.ref.bias![k] * R[k]) / z[k];
        const scale = sum(R.map(Math.abs)) || 1;
        expect(relGap(sum(out) + absorbed, sum(R), scale), c.label).to.be.at.most(TOL);
      }
    });
  });

  describe('pass', () => {
    it('is the identity on every shape-keeping layer (a fresh array)', async () => {
      const rule = createRule({ rule: 'pass' });
      let n = 0;
      for (const c of CASES.filter((k) => k.ref.nIn === k.ref.nOut)) {
        const R = uniform(prng(n++), c.ref.nOut);
        const out = await rule.apply({ kernel: c.kernel, x: makeInput(1, c.ref.nIn, 'mixed'), xDims: c.xDims }, R);
        expect(out).not.to.equal(R);
        expect(Array.from(out)).to.deep.equal(Array.from(R));
      }
      expect(n).to.be.greaterThan(2);
    });

    it('refuses a layer that changes the number of values', async () => {
      const c = denseCase(1, 1, 3, 2, false);
      let msg = '';
      try { await createRule({ rule: 'pass' }).apply({ kernel: c.kernel, x: new Float32Array(3), xDims: [1, 3] }, new Float32Array(2)); } catch (e) { msg = (e as Error).message; }
      expect(msg).to.match(/pass/);
    });
  });

  describe('signs', () => {
    const positiveRules: [string, RuleName, RuleParams][] = [
      ['zPlus', 'zPlus', {}],
      ['zPlus, zeroBias', 'zPlus', { zeroBias: true }],
      ['alphaBeta(1,0)', 'alphaBeta', { alpha: 1, beta: 0 }],
      ['flat', 'flat', {}],
      ['wSquare', 'wSquare', {}],
    ];
    for (const [label, rule, params] of positiveRules) {
      it(`${label}: non-negative relevance for non-negative inputs and R ≥ 0`, async () => {
        let seed = 900;
        for (const c of CASES) {
          seed++;
          for (const kind of ['relu', 'mixed'] as const) {
            const x = makeInput(seed, c.ref.nIn, kind);
            const R = uniform(prng(seed + 1), c.ref.nOut, 0, 1, 0.2);
            const out = await createRule({ rule, params }).apply({ kernel: c.kernel, x, xDims: c.xDims }, R);
            const bad = out.findIndex((v) => !(v >= 0));
            expect(bad, `${c.label}, ${kind} input: R[${bad}] = ${out[bad]}`).to.equal(-1);
          }
        }
      });
    }

    it('zBox: non-negative relevance for x inside [low, high], R ≥ 0 and zero bias', async () => {
      let seed = 1300;
      for (const c of CASES) {
        seed++;
        const x = uniform(prng(seed), c.ref.nIn, -0.5, 0.5);
        const R = uniform(prng(seed + 1), c.ref.nOut, 0, 1);
        const out = await createRule({ rule: 'zBox', params: { low: -1, high: 1 } }).apply({ kernel: c.kernel, x, xDims: c.xDims }, R);
        const bad = out.findIndex((v) => !(v >= 0));
        expect(bad, `${c.label}: R[${bad}] = ${out[bad]}`).to.equal(-1);
      }
    });
  });

  describe('dead inputs and dead weights at ε = 0', () => {
    /** dense 2 rows, K = 4, M = 3: input 1 has an all-zero weight row, output 2 an all-zero column */
    function deadDense(bias: Float32Array | null): { kernel: LinearKernel; xDims: number[]; n: number; m: number } {
      const w = Float32Array.from([0.5, -0.25, 0, 0, 0, 0, -1, 0.75, 0, 0.3, 0.2, 0]);
      return { kernel: denseKernel(2, 4, 3, w, bias), xDims: [2, 4], n: 8, m: 6 };
    }
    /** 2-D conv, 2 → 2 channels, output channel 1 has all-zero weights, pad 1 */
    function deadConv(bias: Float32Array | null): { kernel: LinearKernel; xDims: number[]; n: number; m: number } {
      const w = uniform(prng(3), 2 * 2 * 4);
      w.fill(0, 8, 16);
      const table = windowTable({ inSpatial: [3, 3], outSpatial: [4, 4], kernel: [2, 2], strides: [1, 1], dilations: [1, 1], padsBegin: [1, 1] });
      return { kernel: convKernel({ batch: 1, inChannels: 2, outChannels: 2, groups: 1, table }, w, bias), xDims: [1, 2, 3, 3], n: 18, m: 32 };
    }
    const pool = avgPoolCase({ batch: 1, channels: 2, inSpatial: [4, 4], kernel: [3, 3], padsBegin: [1, 1], padsEnd: [1, 1], countIncludePad: false });
    const layers: [string, () => { kernel: LinearKernel; xDims: number[]; n: number; m: number }][] = [
      ['dense, no bias', () => deadDense(null)],
      ['dense, zero bias', () => deadDense(new Float32Array(3))],
      ['dense, bias', () => deadDense(Float32Array.from([0.5, -0.5, 0]))],
      ['conv, no bias', () => deadConv(null)],
      ['conv, zero bias', () => deadConv(new Float32Array(2))],
      ['conv, bias', () => deadConv(Float32Array.from([0, -0.1]))],
      ['avgPool', () => ({ kernel: pool.kernel, xDims: pool.xDims, n: pool.ref.nIn, m: pool.ref.nOut })],
    ];

    function paramsAtZero(rule: RuleName, bounds: 'zero' | 'unit'): RuleParams[] {
      const takes = RULES[rule].params;
      const base: RuleParams = {};
      if (takes.includes('epsilon')) base.epsilon = 0;
      if (rule === 'zBox') Object.assign(base, bounds === 'zero' ? { low: 0, high: 0 } : { low: -1, high: 1 });
      const out = [base];
      if (takes.includes('zeroBias')) out.push({ ...base, zeroBias: true });
      return out;
    }

    for (const rule of RULE_NAMES) {
      it(`${rule}: finite relevance on x = 0, on dead weights, with R = 0 and R ≠ 0`, async () => {
        for (const [label, make] of layers) {
          const { kernel, xDims, n, m } = make();
          for (const xKind of ['zero', 'live'] as const) {
            const x = xKind === 'zero' ? new Float32Array(n) : uniform(prng(n), n, -1, 1, 0.3);
            for (const rKind of ['zero', 'live'] as const) {
              const R = rKind === 'zero' ? new Float32Array(m) : uniform(prng(m), m, -1, 1);
              for (const params of paramsAtZero(rule, xKind === 'zero' ? 'zero' : 'unit')) {
                const where = `${label}, x ${xKind}, R ${rKind}, ${JSON.stringify(params)}`;
                if (rule === 'pass' && n !== m) continue;
                const out = await createRule({ rule, params }).apply({ kernel, x, xDims }, R);
                expect(out.length, where).to.equal(n);
                const bad = out.findIndex((v) => !Number.isFinite(v));
                expect(bad, `${where}: R[${bad}] = ${out[bad]}`).to.equal(-1);
                // R = 0 everywhere gives 0 everywhere
                if (rKind === 'zero') expect(out.every((v) => v === 0), where).to.equal(true);
                // x = 0 leaves nothing for the rules that multiply by the input (not zBox: its bounds take a share)
                if (xKind === 'zero' && ['epsilon', 'zero', 'norm', 'zPlus', 'alphaBeta', 'gamma'].includes(rule)) {
                  expect(out.every((v) => v === 0), where).to.equal(true);
                }
              }
            }
          }
        }
      });
    }

    it('an all-zero weight row receives no relevance (epsilon, zPlus, alphaBeta, gamma, wSquare, gradient)', async () => {
      const { kernel, xDims, n, m } = deadDense(Float32Array.from([0.5, -0.5, 0]));
      const x = uniform(prng(8), n, -1, 1);
      const R = uniform(prng(9), m, -1, 1);
      for (const rule of ['epsilon', 'zPlus', 'alphaBeta', 'gamma', 'wSquare', 'gradient'] as RuleName[]) {
        const out = await createRule({ rule }).apply({ kernel, x, xDims }, R);
        // input 1 of each row (index 1 and 5) has no weights
        expect(out[1] === 0 && out[5] === 0, `${rule}: [${out[1]}, ${out[5]}]`).to.equal(true);
      }
    });
  });

  describe('no rule mutates its inputs', () => {
    const layers: LayerCase[] = [
      denseCase(21, 2, 4, 3, true),
      convCase(22, { batch: 1, inChannels: 2, outChannels: 4, groups: 2, inSpatial: [4, 4], kernel: [3, 3], padsBegin: [1, 1], padsEnd: [1, 1] }, true),
      convTransposeCase(23, { batch: 1, inChannels: 2, outChannels: 2, groups: 1, inSpatial: [3], kernel: [3], strides: [2] }, true),
      avgPoolCase({ batch: 1, channels: 2, inSpatial: [4, 4], kernel: [2, 2], strides: [2, 2], countIncludePad: true }),
    ];
    for (const rule of RULE_NAMES) {
      it(rule, async () => {
        for (const c of layers) {
          if (rule === 'pass' && c.ref.nIn !== c.ref.nOut) continue;
          const x = makeInput(5, c.ref.nIn, 'mixed');
          x[0] = -0; // a negative zero must stay one
          const R = uniform(prng(6), c.ref.nOut, -1, 1);
          const low = new Array<number>(c.channels).fill(-1);
          const high = new Array<number>(c.channels).fill(1);
          const params: RuleParams = rule === 'zBox' ? { low, high } : {};
          const copies = { x: Float32Array.from(x), R: Float32Array.from(R), w: c.weight && Float32Array.from(c.weight), b: c.bias && Float32Array.from(c.bias), low: [...low], high: [...high] };
          const r = createRule({ rule, params });
          const first = await r.apply({ kernel: c.kernel, x, xDims: c.xDims }, R);
          const second = await r.apply({ kernel: c.kernel, x, xDims: c.xDims }, R);
          const same = (a: ArrayLike<number> | null, b: ArrayLike<number> | null) => (a === null ? b === null : Array.from(a).every((v, i) => Object.is(v, b![i])));
          expect(same(x, copies.x), `${c.label}: x`).to.equal(true);
          expect(same(R, copies.R), `${c.label}: R`).to.equal(true);
          expect(same(c.weight, copies.w), `${c.label}: weight`).to.equal(true);
          expect(same(c.bias, copies.b), `${c.label}: bias`).to.equal(true);
          expect(low, `${c.label}: low`).to.deep.equal(copies.low);
          expect(high, `${c.label}: high`).to.deep.equal(copies.high);
          expect(first).not.to.equal(R);
          expect(first).not.to.equal(x);
          // the kernel's weight caches are not disturbed by a rule: the same call gives the same answer
          expect(same(first, second), `${c.label}: repeat`).to.equal(true);
        }
      });
    }
  });
});
