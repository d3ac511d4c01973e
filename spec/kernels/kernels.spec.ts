/** The linear kernels: forward and transposed against the explicit float64 matrices of spec/rules/reference,
 * the adjoint identity ⟨W'x, g⟩ = ⟨x, W'ᵀg⟩ for every weight modifier, and that weight and bias modifiers act
 * (a modified forward equals the forward of a kernel built from the modified weights). */
import { expect } from 'chai';
import { LinearKernel, WeightMod, mod } from '../../lib/kernels/kernel';
import { denseKernel } from '../../lib/kernels/dense';
import { convKernel, convTransposeKernel } from '../../lib/kernels/conv';
import { meanKernel, reduceKernel, sumKernel } from '../../lib/kernels/pool';
import { outputLength, resolvePads, windowTable } from '../../lib/kernels/window';
import { LayerCase, allCases } from '../rules/cases';
import { DenseLayer, convOutSpatial, dot, forEachIndex, prng, referenceForward, relL2, uniform } from '../rules/reference';

const TOL = 1e-5;

const MODS: WeightMod[] = [mod.id, mod.pos, mod.neg, mod.one, mod.square, mod.gammaPos(0.25), mod.gammaNeg(1), mod.gammaPos(3)];

/** The dense matrix with every connected weight (mask = 1) replaced by fn(w): what a modified kernel is. */
function modified(L: DenseLayer, m: WeightMod | null, bm: WeightMod | null): DenseLayer {
  const W = new Float64Array(L.W.length);
  if (m) for (let i = 0; i < W.length; i++) W[i] = L.mask[i] ? m.fn(L.W[i]) : 0;
  return { ...L, W, bias: L.bias && bm ? L.bias.map(bm.fn) : null };
}

function transposeRef(L: DenseLayer, g: ArrayLike<number>): Float64Array {
  const out = new Float64Array(L.nIn);
  for (let j = 0; j < L.nIn; j++) {
    let s = 0;
    for (let k = 0; k < L.nOut; k++) s += L.W[j * L.nOut + k] * g[k];
    out[j] = s;
  }
  return out;
}

/** |⟨Wx, g⟩ − ⟨x, Wᵀg⟩| relative to ‖Wx‖‖g‖ + ‖x‖‖Wᵀg‖ (Cauchy–Schwarz bounds of either side). */
async function adjointGap(k: LinearKernel, x: Float32Array, g: Float32Array, m: WeightMod): Promise<number> {
  const z = await k.forward(x, m, null);
  const t = await k.transposed(g, m);
  const n2 = (a: ArrayLike<number>) => Math.sqrt(dot(a, a));
  const scale = n2(z) * n2(g) + n2(x) * n2(t);
  return scale === 0 ? 0 : Math.abs(dot(z, g) - dot(x, t)) / scale;
}

interface SimpleCase { label: string; kernel: LinearKernel; ref: DenseLayer }

/** Sum with broadcasting: output [2, 3] from A [2, 3], B [3] (rows), C [1] (scalar), D [2, 1] (columns). */
function sumCases(): SimpleCase[] {
  const out: SimpleCase[] = [];
  const O = 6;
  const maps = [
    Int32Array.from({ length: O }, (_, o) => o),
    Int32Array.from({ length: O }, (_, o) => o % 3),
    new Int32Array(O),
    Int32Array.from({ length: O }, (_, o) => Math.floor(o / 3)),
  ];
  const sizes = [6, 3, 1, 2];
  for (const [label, coef] of [['A + B + C + D', []], ['A − B + 0.5·C − 2·D', [1, -1, 0.5, -2]]] as [string, number[]][]) {
    const nIn = sizes.reduce((a, b) => a + b, 0);
    const W = new Float64Array(nIn * O);
    const mask = new Uint8Array(nIn * O);
    let off = 0;
    maps.forEach((map, i) => {
      for (let o = 0; o < O; o++) {
        W[(off + map[o]) * O + o] += coef[i] ?? 1;
        mask[(off + map[o]) * O + o] = 1;
      }
      off += sizes[i];
    });
    out.push({ label: `sum ${label}`, kernel: sumKernel(maps, sizes, O, coef), ref: { nIn, nOut: O, W, mask, bias: null } });
  }
  // Sub of a tensor and itself broadcast along another axis: A [3] − A [3, 1]ᵀ … as two inputs [3] and [3]
  const mapsB = [Int32Array.from({ length: 9 }, (_, o) => o % 3), Int32Array.from({ length: 9 }, (_, o) => Math.floor(o / 3))];
  const Wb = new Float64Array(6 * 9);
  const maskB = new Uint8Array(6 * 9);
  for (let o = 0; o < 9; o++) {
    Wb[(o % 3) * 9 + o] += 1; maskB[(o % 3) * 9 + o] = 1;
    Wb[(3 + Math.floor(o / 3)) * 9 + o] += -1; maskB[(3 + Math.floor(o / 3)) * 9 + o] = 1;
  }
  out.push({ label: 'sub [3] − [3,1] → [3,3]', kernel: sumKernel(mapsB, [3, 3], 9, [1, -1]), ref: { nIn: 6, nOut: 9, W: Wb, mask: maskB, bias: null } });
  return out;
}

/** ReduceMean / ReduceSum over axes of a [2, 3, 4] tensor. */
function reduceCases(): SimpleCase[] {
  const dims = [2, 3, 4];
  const out: SimpleCase[] = [];
  for (const axes of [[1], [0, 2], [2], [0, 1, 2], [0]]) {
    for (const mean of [true, false]) {
      const keep = dims.map((d, i) => (axes.includes(i) ? 1 : d));
      const nOut = keep.reduce((a, b) => a * b, 1);
      const count = axes.reduce((a, d) => a * dims[d], 1);
      const w = mean ? 1 / count : 1;
      const map = new Int32Array(24);
      const W = new Float64Array(24 * nOut);
      const mask = new Uint8Array(24 * nOut);
      forEachIndex(dims, (idx, f) => {
        let o = 0;
        for (let d = 0; d < 3; d++) o = o * keep[d] + (axes.includes(d) ? 0 : idx[d]);
        map[f] = o;
        W[f * nOut + o] = w;
        mask[f * nOut + o] = 1;
      });
      out.push({ label: `${mean ? 'ReduceMean' : 'ReduceSum'} axes=${axes}`, kernel: reduceKernel(map, nOut, w), ref: { nIn: 24, nOut, W, mask, bias: null } });
    }
  }
  return out;
}

const CASES: SimpleCase[] = [...allCases(), ...sumCases(), ...reduceCases()];

describe('kernels', () => {
  it('report their sizes and whether they have a bias', () => {
    for (const c of CASES) {
      expect(c.kernel.inSize, c.label).to.equal(c.ref.nIn);
      expect(c.kernel.outSize, c.label).to.equal(c.ref.nOut);
      expect(c.kernel.hasBias, c.label).to.equal(c.ref.bias !== null);
    }
  });

  it('forward = W x + b and transposed = Wᵀ g (explicit matrices)', async () => {
    const failures: string[] = [];
    let seed = 0;
    for (const c of CASES) {
      seed++;
      const x = uniform(prng(seed), c.ref.nIn, -1, 1, 0.1);
      const g = uniform(prng(seed + 1000), c.ref.nOut, -1, 1);
      for (const withBias of [true, false]) {
        const z = await c.kernel.forward(x, mod.id, withBias ? mod.id : null);
        const e = relL2(z, referenceForward(c.ref, x, withBias));
        if (!(e <= TOL)) failures.push(`${c.label} forward${withBias ? ' with bias' : ''}: ${e.toExponential(2)}`);
      }
      const t = await c.kernel.transposed(g, mod.id);
      const e = relL2(t, transposeRef(c.ref, g));
      if (!(e <= TOL)) failures.push(`${c.label} transposed: ${e.toExponential(2)}`);
    }
    expect(failures, failures.slice(0, 6).join('\n')).to.deep.equal([]);
  });

  describe('adjoint: ⟨forward(x), g⟩ = ⟨x, transposed(g)⟩', () => {
    const groupOf = (c: SimpleCase) => ('family' in c ? (c as LayerCase).family : c.label.split(' ')[0]);
    const families = [...new Set(CASES.map(groupOf))];
    for (const fam of families) {
      it(fam, async () => {
        const failures: string[] = [];
        let seed = 0;
        for (const c of CASES.filter((k) => groupOf(k) === fam)) {
          for (const m of MODS) {
            seed++;
            const x = uniform(prng(seed), c.ref.nIn, -1, 1, 0.1);
            const g = uniform(prng(seed + 77), c.ref.nOut, -1, 1);
            const gap = await adjointGap(c.kernel, x, g, m);
            if (!(gap <= TOL)) failures.push(`${c.label}, ${m.key}: ${gap.toExponential(2)}`);
          }
        }
        expect(failures, failures.slice(0, 6).join('\n')).to.deep.equal([]);
      });
    }
  });

  it('weight and bias modifiers act on the connected weights (all kernels, explicit matrices)', async () => {
    const failures: string[] = [];
    let seed = 0;
    for (const c of CASES) {
      for (const m of MODS) {
        seed++;
        const x = uniform(prng(seed), c.ref.nIn, -1, 1, 0.1);
        const g = uniform(prng(seed + 5), c.ref.nOut, -1, 1);
        for (const bm of c.ref.bias ? [null, mod.pos, mod.neg, mod.square] : [null]) {
          const z = await c.kernel.forward(x, m, bm);
          const e = relL2(z, referenceForward(modified(c.ref, m, bm), x, bm !== null));
          if (!(e <= TOL)) failures.push(`${c.label} forward ${m.key}/${bm?.key}: ${e.toExponential(2)}`);
        }
        const t = await c.kernel.transposed(g, m);
        const e = relL2(t, transposeRef(modified(c.ref, m, null), g));
        if (!(e <= TOL)) failures.push(`${c.label} transposed ${m.key}: ${e.toExponential(2)}`);
      }
    }
    expect(failures, failures.slice(0, 6).join('\n')).to.deep.equal([]);
  });

  describe('a modified forward equals the forward of manually modified weights', () => {
    const manual: [string, (w: number) => number, WeightMod][] = [
      ['pos', (w) => Math.max(w, 0), mod.pos],
      ['neg', (w) => Math.min(w, 0), mod.neg],
      ['one', () => 1, mod.one],
      ['square', (w) => w * w, mod.square],
      ['gammaPos(0.5)', (w) => w + 0.5 * Math.max(w, 0), mod.gammaPos(0.5)],
      ['gammaNeg(0.5)', (w) => w + 0.5 * Math.min(w, 0), mod.gammaNeg(0.5)],
    ];
    const apply = (a: Float32Array, f: (w: number) => number) => Float32Array.from(a, f);

    it('dense', async () => {
      const rand = prng(11);
      const [rows, K, M] = [3, 5, 4];
      const w = uniform(rand, K * M, -1, 1, 0.2);
      const b = uniform(rand, M, -1, 1);
      const k = denseKernel(rows, K, M, w, b);
      const x = uniform(rand, rows * K);
      const g = uniform(rand, rows * M);
      for (const [name, f, m] of manual) {
        const km = denseKernel(rows, K, M, apply(w, f), apply(b, f));
        expect(Array.from(await k.forward(x, m, m)), name).to.deep.equal(Array.from(await km.forward(x, mod.id, mod.id)));
        expect(Array.from(await k.forward(x, m, null)), name).to.deep.equal(Array.from(await km.forward(x, mod.id, null)));
        expect(Array.from(await k.transposed(g, m)), name).to.deep.equal(Array.from(await km.transposed(g, mod.id)));
      }
      // the caches never leak into the unmodified weights
      const fresh = denseKernel(rows, K, M, Float32Array.from(w), Float32Array.from(b));
      expect(Array.from(await k.forward(x, mod.id, mod.id))).to.deep.equal(Array.from(await fresh.forward(x, mod.id, mod.id)));
    });

    it('conv (2-D, groups, dilation, pads) and convTranspose', async () => {
      const rand = prng(12);
      const table = windowTable({ inSpatial: [5, 4], outSpatial: [3, 4], kernel: [2, 3], strides: [2, 1], dilations: [1, 2], padsBegin: [1, 2] });
      const shape = { batch: 2, inChannels: 4, outChannels: 6, groups: 2, table };
      const w = uniform(rand, 6 * 2 * 6, -1, 1, 0.2);
      const b = uniform(rand, 6, -1, 1);
      const bT = uniform(rand, 4, -1, 1);
      const k = convKernel(shape, w, b);
      const kT = convTransposeKernel(shape, w, bT);
      const x = uniform(rand, k.inSize);
      const xT = uniform(rand, kT.inSize);
      for (const [name, f, m] of manual) {
        const km = convKernel(shape, apply(w, f), apply(b, f));
        const kTm = convTransposeKernel(shape, apply(w, f), apply(bT, f));
        expect(Array.from(await k.forward(x, m, m)), name).to.deep.equal(Array.from(await km.forward(x, mod.id, mod.id)));
        expect(Array.from(await k.transposed(xT, m)), name).to.deep.equal(Array.from(await km.transposed(xT, mod.id)));
        expect(Array.from(await kT.forward(xT, m, m)), name).to.deep.equal(Array.from(await kTm.forward(xT, mod.id, mod.id)));
        expect(Array.from(await kT.transposed(x, m)), name).to.deep.equal(Array.from(await kTm.transposed(x, mod.id)));
      }
    });

    it('sum and reduce: the modifiers act on the coefficients', async () => {
      const maps = [Int32Array.from([0, 1, 2]), Int32Array.from([0, 0, 0])];
      const x = Float32Array.from([1, 2, 3, 10]);
      const k = sumKernel(maps, [3, 1], 3, [2, -0.5]);
      expect(Array.from(await k.forward(x, mod.pos, null))).to.deep.equal([2, 4, 6]);
      expect(Array.from(await k.forward(x, mod.neg, null))).to.deep.equal([-5, -5, -5]);
      expect(Array.from(await k.forward(x, mod.square, null))).to.deep.equal([6.5, 10.5, 14.5]);
      expect(Array.from(await k.forward(x, mod.one, null))).to.deep.equal([11, 12, 13]);
      const r = reduceKernel(Int32Array.from([0, 0, 1, 1]), 2, 0.5);
      expect(Array.from(await r.forward(Float32Array.from([1, 3, 5, -7]), mod.square, null))).to.deep.equal([1, -0.5]);
      expect(Array.from(await r.transposed(Float32Array.from([4, 8]), mod.neg))).to.deep.equal([0, 0, 0, 0]);
      const mk = meanKernel(2, 4);
      expect(Array.from(await mk.forward(Float32Array.from([1, 2, 3, 4, 4, 4, 4, 4]), mod.one, null))).to.deep.equal([10, 16]);
    });
  });

  it('window geometry: outputLength agrees with the ONNX formula, and resolvePads with SAME_* / VALID', () => {
    for (const [n, k, s, d, pb, pe] of [[7, 3, 2, 1, 1, 1], [8, 3, 2, 3, 0, 2], [5, 1, 3, 1, 0, 0], [6, 2, 1, 2, 1, 0], [4, 4, 1, 1, 0, 0]]) {
      expect(outputLength(n, k, s, d, pb, pe), `${[n, k, s, d, pb, pe]}`).to.equal(convOutSpatial({ inSpatial: [n], kernel: [k], strides: [s], dilations: [d], padsBegin: [pb], padsEnd: [pe] })[0]);
    }
    // SAME_UPPER: output ceil(n / s), the odd pad at the end; SAME_LOWER: at the beginning
    for (const [n, k, s, d] of [[7, 3, 2, 1], [8, 2, 2, 1], [5, 3, 1, 2], [6, 4, 3, 1]]) {
      const up = resolvePads('SAME_UPPER', [n], [k], [s], [d], []);
      const lo = resolvePads('SAME_LOWER', [n], [k], [s], [d], []);
      const total = Math.max(0, (Math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n);
      expect([up.begin[0], up.end[0]], `${[n, k, s, d]}`).to.deep.equal([Math.floor(total / 2), total - Math.floor(total / 2)]);
      expect([lo.begin[0], lo.end[0]], `${[n, k, s, d]}`).to.deep.equal([total - Math.floor(total / 2), Math.floor(total / 2)]);
      expect(outputLength(n, k, s, d, up.begin[0], up.end[0])).to.equal(Math.ceil(n / s));
    }
    expect(resolvePads('VALID', [5, 5], [3, 3], [1, 1], [1, 1], [1, 1, 1, 1])).to.deep.equal({ begin: [0, 0], end: [0, 0] });
    expect(resolvePads('NOTSET', [5, 5], [3, 3], [1, 1], [1, 1], [1, 2, 3, 4])).to.deep.equal({ begin: [1, 2], end: [3, 4] });
  });

  it('kernels never mutate their arguments', async () => {
    for (const c of CASES) {
      const x = uniform(prng(1), c.ref.nIn);
      const g = uniform(prng(2), c.ref.nOut);
      const xc = Float32Array.from(x);
      const gc = Float32Array.from(g);
      const z = await c.kernel.forward(x, mod.pos, c.ref.bias ? mod.neg : null);
      const t = await c.kernel.transposed(g, mod.gammaPos(0.25));
      expect(z).not.to.equal(x);
      expect(t).not.to.equal(g);
      expect(Array.from(x), c.label).to.deep.equal(Array.from(xc));
      expect(Array.from(g), c.label).to.deep.equal(Array.from(gc));
    }
  });
});
