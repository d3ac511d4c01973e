/** Evaluation: region perturbation against a hand computation on a linear model, orders, replacements,
 * localisation metrics, Spearman, randomisation, conservation summary, the plot, the batch rewrite. */
import { expect } from 'chai';
import * as path from 'path';
import { Explainer, Graph, Tensor, float32, methodFor, openModel, ortBackend, readNpy } from '../../lib';
import {
  checkDynamicBatch, conservationReport, curvesToCsv, dynamicBatch, evaluateMethods, formatConservation, gaussianBlur, linePlot,
  localization, masksFor, modelRandomization, parametricLayers, perturbationCurve, randomizeLayers, regionGrid, regionOrder,
  replacementFor, spearman,
} from '../../lib/evaluate';
import { prng } from '../../lib/methods';
import { FIXTURES, needShared } from '../helpers/paths';

const DIR = path.join(FIXTURES, 'golden');
type F32 = Tensor & { data: Float32Array };

/** input [N, 2, 6, 6] → Flatten → Gemm (72 → 3): logits = W x + b. */
function tinyLinear(seed = 1): { e: Explainer; W: Float32Array; b: Float32Array } {
  const rng = prng(seed);
  const W = Float32Array.from({ length: 3 * 72 }, () => rng() * 2 - 1);
  const b = Float32Array.from({ length: 3 }, () => rng() - 0.5);
  const graph = new Graph({
    nodes: [
      { name: 'flat', opType: 'Flatten', domain: '', inputs: ['input'], outputs: ['f'], attrs: { axis: 1 } },
      { name: 'fc', opType: 'Gemm', domain: '', inputs: ['f', 'W', 'b'], outputs: ['logits'], attrs: { transB: 1 } },
    ],
    inputs: [{ name: 'input', dtype: 'float32', dims: ['N', 2, 6, 6] }],
    outputs: [{ name: 'logits', dtype: 'float32', dims: ['N', 3] }],
    constants: new Map<string, Tensor>([['W', float32([3, 72], W)], ['b', float32([3], b)]]),
    opsets: { '': 17 },
  });
  return { e: Explainer.create({ graph, irVersion: 8, producer: 'spec', metadata: {} }, ortBackend, { source: 'tiny-linear' }), W, b };
}

describe('evaluation', () => {
  describe('region perturbation', () => {
    it('regions tile the image; orders rank by relevance mass with seeded tie-breaking', () => {
      const g = regionGrid(7, 7, 3);
      expect(g).to.have.length(9);
      expect(g[8]).to.deep.equal({ y0: 6, x0: 6, y1: 7, x1: 7 });
      const R = new Float32Array(2 * 4 * 4);
      // 1 channel of two: region masses (patch 2 on 4×4) 5, -1, 0, 0 (channel 1 adds to region 0)
      R[0] = 2; R[1 * 16 + 1] = 3; R[2] = -1;
      const regions = regionGrid(4, 4, 2);
      expect(regionOrder(R, 2, 4, 4, regions, 'morf', prng(1)).slice(0, 1)).to.deep.equal([0]);
      const lerf = regionOrder(R, 2, 4, 4, regions, 'lerf', prng(1));
      expect(lerf[0]).to.equal(1);
      expect(lerf[3]).to.equal(0);
      const rand = regionOrder(R, 2, 4, 4, regions, 'random', prng(1));
      expect([...rand].sort()).to.deep.equal([0, 1, 2, 3]);
      // ties (regions 2 and 3) are broken differently by different seeds, never by index alone
      const firsts = new Set([...Array(16).keys()].map((s) => regionOrder(R, 2, 4, 4, regions, 'morf', prng(s))[1]));
      expect([...firsts].sort()).to.deep.equal([2, 3]);
    });

    it('replacements: zeros, a value per channel, the mean, blur, uniform', () => {
      const x = Float32Array.from({ length: 2 * 3 * 3 }, (_, i) => i);
      const o = { patch: 2, rng: prng(0) };
      expect(Array.from(replacementFor(x, 2, 3, 3, 'zeros', o)).every((v) => v === 0)).to.equal(true);
      expect(Array.from(replacementFor(x, 2, 3, 3, [1, -2], o))).to.deep.equal([...new Array(9).fill(1), ...new Array(9).fill(-2)]);
      expect(Array.from(replacementFor(x, 2, 3, 3, 'mean', o))).to.deep.equal([...new Array(9).fill(4), ...new Array(9).fill(13)]);
      const flat = new Float32Array(25).fill(0.7);
      gaussianBlur(flat, 1, 5, 5, 1.3).forEach((v) => expect(v).to.be.closeTo(0.7, 1e-6));
      const u = replacementFor(x, 2, 3, 3, 'uniform', o);
      expect(u.every((v) => v >= 0 && v <= 17)).to.equal(true);
      expect(() => replacementFor(x, 2, 3, 3, [1], o)).to.throw(/1 replacement values for 2 channels/);
    });

    it('the curve and AOPC equal the hand computation on a linear model', async () => {
      const { e, W, b } = tinyLinear(5);
      try {
        const rng = prng(9);
        const x = float32([2, 2, 6, 6], Float32Array.from({ length: 144 }, () => rng() * 2 - 1));
        // relevance: gradient × input for class 1 (exact contributions of a linear model)
        const R = float32(x.dims, Float32Array.from(x.data, (v, i) => v * W[72 + (i % 72)]));
        const c = await perturbationCurve(e, x, R, { patch: 3, order: 'morf', replacement: 0.5, target: 1, perStep: 1 });
        expect(c.regions).to.equal(4);
        expect(c.fractions).to.deep.equal([0, 0.25, 0.5, 0.75, 1]);
        const regions = regionGrid(6, 6, 3);
        for (let s = 0; s < 2; s++) {
          const contrib = (r: number) => {
            let v = 0;
            const g = regions[r];
            for (let ch = 0; ch < 2; ch++) for (let y = g.y0; y < g.y1; y++) for (let xx = g.x0; xx < g.x1; xx++) {
              const i = ch * 36 + y * 6 + xx;
              v += W[72 + i] * (x.data[s * 72 + i] - 0.5);
            }
            return v;
          };
          const mass = (r: number) => {
            let v = 0;
            const g = regions[r];
            for (let ch = 0; ch < 2; ch++) for (let y = g.y0; y < g.y1; y++) for (let xx = g.x0; xx < g.x1; xx++) v += R.data[s * 72 + ch * 36 + y * 6 + xx];
            return v;
          };
          const order = [0, 1, 2, 3].sort((p, q) => mass(q) - mass(p));
          let f = b[1];
          for (let i = 0; i < 72; i++) f += W[72 + i] * x.data[s * 72 + i];
          const expected = [f];
          for (const r of order) expected.push(expected[expected.length - 1] - contrib(r));
          c.scores[s].forEach((v, k) => expect(v).to.be.closeTo(expected[k], 1e-4));
          const aopc = expected.reduce((a, v) => a + (expected[0] - v), 0) / 5;
          expect(c.aopcPerSample[s]).to.be.closeTo(aopc, 1e-4);
        }
        expect(c.aopc).to.be.closeTo((c.aopcPerSample[0] + c.aopcPerSample[1]) / 2, 1e-9);
        // probabilities start at the softmax of the target; several regions per step shorten the curve
        const p = await perturbationCurve(e, x, R, { patch: 3, replacement: 0.5, target: 1, perStep: 3, score: 'probability' });
        expect(p.fractions).to.deep.equal([0, 0.75, 1]);
        expect(p.scores[0][0]).to.be.within(0, 1);
        const csv = curvesToCsv([{ label: 'morf', curve: c }, { label: 'prob', curve: p }]);
        expect(csv.split('\n')[0]).to.equal('step,fraction,morf,prob');
        expect(csv.trim().split('\n')).to.have.length(6);
      } finally { await e.release(); }
    });

    it('MoRF of gradient × input beats LeRF on a linear model; a mismatched map fails clearly', async () => {
      const { e, W } = tinyLinear(6);
      try {
        const rng = prng(3);
        const x = float32([4, 2, 6, 6], Float32Array.from({ length: 288 }, () => rng() * 2 - 1));
        const R = float32(x.dims, Float32Array.from(x.data, (v, i) => v * W[(i % 72)]));
        const morf = await perturbationCurve(e, x, R, { patch: 2, order: 'morf', target: 0 });
        const lerf = await perturbationCurve(e, x, R, { patch: 2, order: 'lerf', target: 0 });
        expect(morf.aopc).to.be.greaterThan(lerf.aopc);
        let err: Error | undefined;
        try { await perturbationCurve(e, x, float32([4, 72], new Float32Array(288))); } catch (z) { err = z as Error; }
        expect(err?.message).to.match(/relevance of shape \[4x72\] does not match the input \[4x2x6x6\]/);
      } finally { await e.release(); }
    });
  });

  describe('localisation', () => {
    it('relevance mass accuracy and the pointing game on hand-made maps', () => {
      const R = float32([2, 1, 4, 4], new Float32Array(32));
      R.data[5] = 3; R.data[0] = 1; R.data[15] = -4; // sample 0: max at (1,1)
      R.data[16 + 15] = 2; R.data[16 + 5] = 1; // sample 1: max at (3,3)
      const box: [number, number, number, number] = [0, 0, 2, 2];
      const r = localization(R, box);
      expect(r.massAccuracy).to.deep.equal([1, 1 / 3]);
      expect(r.pointingHits).to.deep.equal([1, 0]);
      expect(r.pointingAccuracy).to.equal(0.5);
      // sample 1's maximum (3,3) is √8 ≈ 2.83 pixels from the box's nearest pixel (1,1)
      expect(localization(R, box, { tolerance: 2 }).pointingHits).to.deep.equal([1, 0]);
      expect(localization(R, box, { tolerance: 3 }).pointingHits).to.deep.equal([1, 1]);
      // the same box as a mask tensor, one per sample
      const m = masksFor(box, 2, 4, 4);
      const r2 = localization(R, float32([2, 1, 4, 4], m));
      expect(r2.massAccuracy).to.deep.equal(r.massAccuracy);
      expect(() => localization(R, float32([3, 3], new Float32Array(9)))).to.throw(/does not match the input's 4x4/);
    });
  });

  describe('model randomisation', () => {
    it('Spearman: ranks with ties', () => {
      expect(spearman([1, 2, 3, 4], [10, 20, 30, 40])).to.be.closeTo(1, 1e-12);
      expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).to.be.closeTo(-1, 1e-12);
      expect(spearman([1, 2, 2, 3], [1, 2, 3, 4])).to.be.closeTo(0.9486832980505138, 1e-12);
      expect(Number.isNaN(spearman([1, 1, 1], [1, 2, 3]))).to.equal(true);
    });

    it('randomises exactly the chosen layers, seeded, with the original scale', () => {
      const e = openModel(path.join(DIR, 'cnn_pool-op17.onnx'));
      const layers = parametricLayers(e.graph);
      expect(layers.map((n) => n.opType)).to.deep.equal(['Conv', 'Conv', 'Gemm']);
      const top = layers[2];
      const g1 = randomizeLayers(e.graph, [top.name], 1);
      const g2 = randomizeLayers(e.graph, [top.name], 1);
      const g3 = randomizeLayers(e.graph, [top.name], 2);
      const w = (g: Graph) => Array.from(g.constant(top.inputs[1])!.data as Float32Array);
      expect(w(g1)).to.deep.equal(w(g2));
      expect(w(g1)).to.not.deep.equal(w(g3));
      expect(w(g1)).to.not.deep.equal(w(e.graph));
      const conv = layers[0].inputs[1];
      expect(g1.constant(conv)).to.equal(e.graph.constant(conv));
      const sd = (v: number[]) => { const m = v.reduce((a, b) => a + b, 0) / v.length; return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length); };
      expect(sd(w(g1)) / sd(w(e.graph))).to.be.within(0.8, 1.2);
      expect(() => randomizeLayers(e.graph, ['/1/Relu'], 0)).to.throw(/not a conv or dense layer/);
    });

    it('cascading randomisation changes the maps (rank correlation below 1)', async () => {
      const e = openModel(path.join(DIR, 'cnn_pool-op17.onnx'));
      try {
        const x = readNpy(path.join(DIR, 'cnn_pool.input.npy'));
        const r = await modelRandomization(e, x, { method: 'epsilon_plus', layers: 2, seed: 0 });
        expect(r.steps).to.have.length(2);
        expect(r.steps[0].layers).to.deep.equal([parametricLayers(e.graph)[2].name]);
        expect(r.steps[1].layers).to.have.length(2);
        for (const s of r.steps) {
          expect(s.spearman).to.have.length(2);
          expect(s.meanSpearman).to.be.below(0.99);
          expect(s.meanSpearmanAbs).to.be.within(-1, 1);
        }
        // chosen steps only: the top layer, then all of them
        const r2 = await modelRandomization(e, x, { method: 'gradient', layers: [1, Infinity] });
        expect(r2.steps.map((s) => s.layers.length)).to.deep.equal([1, 3]);
      } finally { await e.release(); }
    });
  });

  it('conservation report: end to end and per node, from the explanation', async () => {
    const e = openModel(path.join(DIR, 'resnet-op17.onnx'));
    try {
      const x = readNpy(path.join(DIR, 'resnet.input.npy'));
      const ex = await e.explain(x, { composite: 'epsilon', options: { epsilon: 1e-6 } });
      const r = conservationReport(ex);
      expect(r.output).to.be.closeTo((ex.scores[0] + ex.scores[1]) / 2, 1e-5);
      expect(r.input).to.be.closeTo((ex.conservation.inputRelevance[0] + ex.conservation.inputRelevance[1]) / 2, 1e-5);
      expect(r.nodes.map((n) => n.node)).to.include('/3/Add');
      const text = formatConservation(r);
      expect(text).to.match(/\/3\/Add\s+Sum\s+norm/);
      expect(text).to.match(/end to end/);
    } finally { await e.release(); }
  });

  it('evaluateMethods: one row per method, n/a where a method does not apply, chunks merge exactly', async () => {
    const e = openModel(path.join(DIR, 'cnn_pool-op17.onnx'));
    try {
      const x = readNpy(path.join(DIR, 'cnn_pool.input.npy')) as F32;
      const methods = ['epsilon_plus', 'gradient', 'cam', 'random'].map((m) => methodFor(m));
      const opts = { methods, orders: ['morf', 'lerf'] as ('morf' | 'lerf')[], perturbation: { patch: 4 }, region: [0, 0, 8, 8] as [number, number, number, number] };
      const one = await evaluateMethods(e, x, { ...opts, chunk: 2 });
      const two = await evaluateMethods(e, x, { ...opts, chunk: 1 });
      expect(one.map((r) => r.label)).to.deep.equal(['epsilon_plus', 'gradient', 'cam', 'random']);
      expect(one[2].error).to.match(/no CAM head/);
      expect(one[0].conservation?.composite).to.equal('epsilon_plus');
      expect(one[1].conservation).to.equal(undefined);
      for (const i of [0, 1]) {
        expect(two[i].aopc.morf).to.be.closeTo(one[i].aopc.morf!, 1e-6);
        expect(one[i].localization?.pointingHits).to.have.length(2);
        expect(two[i].curves.morf!.meanScore).to.have.length(17);
      }
      // the random map's order is seeded by chunk start, so only the shape is compared across chunkings
      expect(two[3].aopc.lerf).to.be.a('number');
    } finally { await e.release(); }
  });

  it('plots curves into an RGBA image', () => {
    const img = linePlot([{ label: 'epsilon_plus', y: [3, 2, 1, 0.5] }, { label: 'random', y: [3, 2.8, 2.5, 2] }], { title: 'MoRF', xLabel: 'fraction removed', yLabel: 'logit' });
    expect(img.rgba.length).to.equal(img.width * img.height * 4);
    // the first series' colour (tab10 blue) appears
    let blue = 0;
    for (let i = 0; i < img.rgba.length; i += 4) if (img.rgba[i] === 31 && img.rgba[i + 1] === 119 && img.rgba[i + 2] === 180) blue++;
    expect(blue).to.be.greaterThan(20);
  });

  describe('fixed batch size', () => {
    it('leaves a model with a symbolic batch alone', () => {
      const e = openModel(path.join(DIR, 'mlp-op17.onnx'));
      const r = dynamicBatch(e.graph);
      expect(r.actions).to.deep.equal([]);
      expect(r.graph).to.equal(e.graph);
    });

    it('makes mnist-8 batchable (outputs equal single runs)', async function () {
      const file = needShared(this, 'models/mnist-8.onnx');
      const e = openModel(file);
      const r = dynamicBatch(e.graph);
      expect(r.actions.join('\n')).to.match(/Reshape .*\[1,256\] → \[-1,256\]/);
      const b = e.derive(r.graph, `${file} (batch)`);
      try {
        const rng = prng(4);
        const x = float32([3, 1, 28, 28], Float32Array.from({ length: 3 * 784 }, () => rng()));
        await checkDynamicBatch(e, b, x);
      } finally { await e.release(); await b.release(); }
    });
  });
});
