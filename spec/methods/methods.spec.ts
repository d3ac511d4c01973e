/** Attribution methods: gradients against finite differences of onnxruntime outputs, guided backprop and
 * deconvnet against a hand-written backward pass, SmoothGrad / IG properties (IG completeness), occlusion and
 * CAM against hand computations, Grad-CAM against the CAM identity of a GAP → linear head, shapes. */
import { expect } from 'chai';
import * as path from 'path';
import { Explainer, Graph, float32, openModel, ortBackend, readNpy, sizeOf, Tensor, COMPOSITE_NAMES } from '../../lib';
import {
  ATTRIBUTION_NAMES, METHODS, attribute, cam, findCamHead, gradCam, prng, quadrature, upsampleBilinear, windowStarts,
} from '../../lib/methods';
import { FIXTURES } from '../helpers/paths';

const DIR = path.join(FIXTURES, 'golden');
type F32 = Tensor & { data: Float32Array };

function open(name: string): { e: Explainer; x: F32 } {
  return { e: openModel(path.join(DIR, `${name}-op17.onnx`)), x: readNpy(path.join(DIR, `${name}.input.npy`)) as F32 };
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** A linear model input [N, 2, 6, 6] → Flatten → Gemm (72 → 3), seeded weights. */
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

const MODELS = ['mlp', 'cnn_pool', 'cnn_bn', 'gap', 'resnet', 'vgg'];

describe('attribution methods', () => {
  describe('gradient against finite differences of onnxruntime outputs', () => {
    for (const name of MODELS) {
      it(name, async () => {
        const { e, x } = open(name);
        try {
          const sample = float32([1, ...x.dims.slice(1)], x.data.subarray(0, sizeOf(x.dims.slice(1))));
          const r = await attribute(e, sample, { method: 'gradient' });
          const n = sample.data.length, t = r.targets[0];
          const rng = prng(7);
          const coords = [...Array(24)].map(() => Math.floor(rng() * n));
          const h = 1e-2;
          const rows = new Float32Array((2 * coords.length + 1) * n);
          coords.forEach((c, k) => {
            rows.set(sample.data, 2 * k * n); rows[2 * k * n + c] += h;
            rows.set(sample.data, (2 * k + 1) * n); rows[(2 * k + 1) * n + c] -= h;
          });
          rows.set(sample.data, 2 * coords.length * n);
          const out = await e.predict(float32([2 * coords.length + 1, ...x.dims.slice(1)], rows));
          const K = out.data.length / (2 * coords.length + 1);
          const f0 = out.data[2 * coords.length * K + t];
          const scale = maxAbs(r.relevance.data);
          let bad = 0;
          // one-sided differences: a ReLU / max-pool kink within h on one side leaves the other side exact
          coords.forEach((c, k) => {
            const fwd = (out.data[2 * k * K + t] - f0) / h, bwd = (f0 - out.data[(2 * k + 1) * K + t]) / h;
            const g = r.relevance.data[c], tol = 1e-3 * scale + 1e-4;
            if (Math.abs(fwd - g) > tol && Math.abs(bwd - g) > tol) bad++;
          });
          expect(bad, `${bad} of ${coords.length} coordinates disagree`).to.be.at.most(1);
        } finally { await e.release(); }
      });
    }
  });

  it('gradient × input is the gradient times the input; outputRelevance logit scales by the logit', async () => {
    const { e, x } = open('cnn_bn');
    try {
      const g = await attribute(e, x, { method: 'gradient' });
      const gx = await attribute(e, x, { method: 'gradient_x_input' });
      const gl = await attribute(e, x, { method: 'gradient', outputRelevance: 'logit' });
      const per = x.data.length / 2;
      for (let i = 0; i < x.data.length; i++) {
        expect(gx.relevance.data[i]).to.be.closeTo(g.relevance.data[i] * x.data[i], 1e-5);
        expect(gl.relevance.data[i]).to.be.closeTo(g.relevance.data[i] * g.scores[Math.floor(i / per)], 1e-4);
      }
    } finally { await e.release(); }
  });

  it('guided backprop and deconvnet match a hand-written backward pass on the MLP', async () => {
    const { e, x } = open('mlp');
    try {
      const values = await e.forward({ input: x });
      const gemms = e.graph.nodes.filter((n) => n.opType === 'Gemm');
      expect(gemms.length).to.equal(3);
      const w = gemms.map((n) => ({ W: e.graph.constant(n.inputs[1])!.data as Float32Array, dims: e.graph.constant(n.inputs[1])!.dims, transB: !!n.attrs.transB, in: n.inputs[0], out: n.outputs[0] }));
      const pre = [w[0].out, w[1].out].map((v) => values.get(v)!.data as Float32Array);
      const res = { guided: await attribute(e, x, { method: 'guided_backprop' }), deconv: await attribute(e, x, { method: 'deconvnet' }) };
      const N = 2, per = x.data.length / N;
      // W·g for a Gemm with weights stored [out, in] (transB) or [in, out]
      const back = (l: number, g: number[]): number[] => {
        const { W, dims, transB } = w[l];
        const [nIn, nOut] = transB ? [dims[1], dims[0]] : [dims[0], dims[1]];
        return [...Array(nIn).keys()].map((j) => { let s = 0; for (let k = 0; k < nOut; k++) s += (transB ? W[k * nIn + j] : W[j * nOut + k]) * g[k]; return s; });
      };
      for (const mode of ['guided', 'deconv'] as const) {
        for (let s = 0; s < N; s++) {
          const K = 10;
          let g: number[] = [...Array(K).keys()].map((k) => (k === res[mode].targets[s] ? 1 : 0));
          for (let l = 2; l >= 1; l--) {
            g = back(l, g);
            const z = pre[l - 1], n = g.length;
            g = g.map((v, j) => (mode === 'guided' ? (z[s * n + j] > 0 && v > 0 ? v : 0) : Math.max(0, v)));
          }
          g = back(0, g);
          const got = res[mode].relevance.data.subarray(s * per, (s + 1) * per);
          for (let i = 0; i < per; i++) expect(got[i], `${mode} sample ${s} pixel ${i}`).to.be.closeTo(g[i], 1e-5);
        }
      }
    } finally { await e.release(); }
  });

  describe('SmoothGrad', () => {
    it('with zero noise equals the gradient; seeded; averages over samples', async () => {
      const { e, x } = open('cnn_pool');
      try {
        const g = await attribute(e, x, { method: 'gradient' });
        const s0 = await attribute(e, x, { method: 'smoothgrad', noise: 0, samples: 3 });
        for (let i = 0; i < x.data.length; i++) expect(s0.relevance.data[i]).to.be.closeTo(g.relevance.data[i], 1e-5);
        const a = await attribute(e, x, { method: 'smoothgrad', samples: 4, noise: 0.2, seed: 3 });
        const b = await attribute(e, x, { method: 'smoothgrad', samples: 4, noise: 0.2, seed: 3 });
        const c = await attribute(e, x, { method: 'smoothgrad', samples: 4, noise: 0.2, seed: 4 });
        expect(Array.from(a.relevance.data)).to.deep.equal(Array.from(b.relevance.data));
        expect(Array.from(a.relevance.data)).to.not.deep.equal(Array.from(c.relevance.data));
        // the same average in chunks of 3 rows
        const d = await attribute(e, x, { method: 'smoothgrad', samples: 4, noise: 0.2, seed: 3, batchSize: 3 });
        for (let i = 0; i < x.data.length; i++) expect(d.relevance.data[i]).to.be.closeTo(a.relevance.data[i], 1e-6);
      } finally { await e.release(); }
    });

    it('on a linear model equals the gradient whatever the noise', async () => {
      const { e, W } = tinyLinear();
      try {
        const x = float32([2, 2, 6, 6], Float32Array.from({ length: 144 }, (_, i) => Math.sin(i)));
        const r = await attribute(e, x, { method: 'smoothgrad', samples: 5, noise: 0.5 });
        for (let s = 0; s < 2; s++) for (let i = 0; i < 72; i++) expect(r.relevance.data[s * 72 + i]).to.be.closeTo(W[r.targets[s] * 72 + i], 1e-5);
      } finally { await e.release(); }
    });
  });

  describe('Integrated Gradients', () => {
    it('quadrature weights sum to 1', () => {
      for (const rule of ['riemann_left', 'riemann_right', 'riemann_middle', 'trapezoid'] as const) {
        const q = quadrature(7, rule);
        expect(q.weights.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-12);
        expect(q.alphas.every((a) => a >= 0 && a <= 1)).to.equal(true);
      }
      expect(() => quadrature(0, 'trapezoid')).to.throw(/positive integer/);
    });

    for (const name of ['mlp', 'cnn_pool', 'gap', 'resnet']) {
      it(`completeness on ${name}: Σ attributions ≈ f(x) − f(baseline)`, async () => {
        const { e, x } = open(name);
        try {
          const r = await attribute(e, x, { method: 'integrated_gradients', steps: 64 });
          const { sums, delta } = r.details as { sums: number[]; delta: number[] };
          sums.forEach((s, k) => expect(Math.abs(s - delta[k]), `sample ${k}: Σ ${s} vs Δf ${delta[k]}`).to.be.below(0.02 * Math.abs(delta[k]) + 1e-3));
          // a non-zero baseline tensor (one sample, broadcast over the batch)
          const base = float32([1, ...x.dims.slice(1)], new Float32Array(x.data.length / 2).fill(0.3));
          const rb = await attribute(e, x, { method: 'integrated_gradients', steps: 64, baseline: base, integration: 'riemann_middle' });
          const d = rb.details as { sums: number[]; delta: number[] };
          d.sums.forEach((s, k) => expect(Math.abs(s - d.delta[k])).to.be.below(0.02 * Math.abs(d.delta[k]) + 1e-3));
        } finally { await e.release(); }
      });
    }

    it('on a linear model is exactly (x − x′) ⊙ w', async () => {
      const { e, W } = tinyLinear(2);
      try {
        const x = float32([1, 2, 6, 6], Float32Array.from({ length: 72 }, (_, i) => Math.cos(i)));
        const r = await attribute(e, x, { method: 'integrated_gradients', steps: 3, baseline: 0.5, target: 1 });
        for (let i = 0; i < 72; i++) expect(r.relevance.data[i]).to.be.closeTo((x.data[i] - 0.5) * W[72 + i], 1e-5);
      } finally { await e.release(); }
    });
  });

  describe('occlusion', () => {
    it('window starts cover every position', () => {
      expect(windowStarts(8, 4, 4)).to.deep.equal([0, 4]);
      expect(windowStarts(7, 3, 3)).to.deep.equal([0, 3, 4]);
      expect(windowStarts(5, 2, 1)).to.deep.equal([0, 1, 2, 3]);
    });

    it('equals the hand computation on a linear model (overlapping windows, per-channel fill)', async () => {
      const { e, W } = tinyLinear(3);
      try {
        const rng = prng(11);
        const x = float32([2, 2, 6, 6], Float32Array.from({ length: 144 }, () => rng() * 2 - 1));
        const fill = [0.25, -0.5];
        const r = await attribute(e, x, { method: 'occlusion', patch: 3, stride: 2, fill, target: [0, 2] });
        // by hand: the drop of a window is Σ_{c, (y,x) in window} W[t, c, y, x] (x − fill_c); a pixel averages the
        // drops of the windows covering it. Windows start at 0, 2 and 3 (flush with the edge) on both axes.
        const starts = [0, 2, 3];
        for (let s = 0; s < 2; s++) {
          const t = r.targets[s];
          const sum = new Float64Array(36), cnt = new Float64Array(36);
          for (const y0 of starts) for (const x0 of starts) {
            let drop = 0;
            for (let c = 0; c < 2; c++) for (let y = y0; y < y0 + 3; y++) for (let xx = x0; xx < x0 + 3; xx++) {
              const i = c * 36 + y * 6 + xx;
              drop += W[t * 72 + i] * (x.data[s * 72 + i] - fill[c]);
            }
            for (let y = y0; y < y0 + 3; y++) for (let xx = x0; xx < x0 + 3; xx++) { sum[y * 6 + xx] += drop; cnt[y * 6 + xx]++; }
          }
          for (let c = 0; c < 2; c++) for (let i = 0; i < 36; i++) {
            expect(r.relevance.data[s * 72 + c * 36 + i]).to.be.closeTo(sum[i] / cnt[i], 1e-4);
          }
        }
      } finally { await e.release(); }
    });
  });

  describe('CAM and Grad-CAM', () => {
    it('bilinear upsampling matches PyTorch (align_corners=False)', () => {
      const up = upsampleBilinear([1, 2, 3, 4], 2, 2, 4, 4);
      expect(Array.from(up)).to.deep.equal([1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4]);
      expect(Array.from(upsampleBilinear([5, 6], 1, 2, 1, 2))).to.deep.equal([5, 6]);
    });

    it('CAM on the gap model equals the hand-computed weighted sum; its mean plus the bias is the logit', async () => {
      const { e, x } = open('gap');
      try {
        const head = findCamHead(e.graph, e.source);
        expect(head.pool.opType).to.equal('GlobalAveragePool');
        const values = await e.forward({ input: x });
        const A = values.get(head.feature)!;
        const [N, K, h, w] = A.dims;
        const Wc = e.graph.constant(head.head.inputs[1])!.data as Float32Array; // [classes, K], transB = 1
        const bc = e.graph.constant(head.head.inputs[2])!.data as Float32Array;
        const logits = values.get('logits')!.data as Float32Array;
        const r = await cam(e, x, { target: [5, 8] });
        for (let n = 0; n < N; n++) {
          const t = r.targets[n];
          let mean = 0;
          for (let i = 0; i < h * w; i++) {
            let v = 0;
            for (let k = 0; k < K; k++) v += Wc[t * K + k] * (A.data as Float32Array)[(n * K + k) * h * w + i];
            expect(r.lowRes[n * h * w + i]).to.be.closeTo(v, 1e-5);
            mean += v / (h * w);
          }
          expect(mean + bc[t]).to.be.closeTo(logits[n * 10 + t], 1e-4);
        }
        // upsampled to the input size and broadcast over the channels
        expect(r.relevance.dims).to.deep.equal(x.dims);
        const [, C, H, W] = x.dims;
        const up = upsampleBilinear(r.lowRes.subarray(0, h * w), h, w, H, W);
        for (let c = 0; c < C; c++) for (let i = 0; i < H * W; i++) expect(r.relevance.data[c * H * W + i]).to.be.closeTo(up[i], 1e-5);
      } finally { await e.release(); }
    });

    it('CAM finds the head of the ResNet; a model without one gets an error naming it', async () => {
      const { e } = open('resnet');
      expect(findCamHead(e.graph, e.source).head.opType).to.equal('Gemm');
      const m = open('mlp');
      try {
        expect(() => findCamHead(m.e.graph, m.e.source)).to.throw(/mlp-op17\.onnx: no CAM head found.*Grad-CAM/);
        let err: Error | undefined;
        try { await attribute(m.e, m.x, { method: 'cam' }); } catch (x) { err = x as Error; }
        expect(err?.message).to.match(/mlp-op17\.onnx/);
      } finally { await e.release(); await m.e.release(); }
    });

    it('Grad-CAM at the input of a GAP → linear head is ReLU(CAM) / (h·w) (the gradient there is W / (h·w))', async () => {
      const { e, x } = open('gap');
      try {
        const c = await cam(e, x);
        const g = await gradCam(e, x);
        expect(g.layer).to.equal(c.layer);
        const [h, w] = g.size;
        for (let i = 0; i < c.lowRes.length; i++) expect(g.lowRes[i]).to.be.closeTo(Math.max(0, c.lowRes[i]) / (h * w), 1e-5);
        // in chunks of one sample: the same
        const g1 = await gradCam(e, x, { batchSize: 1 });
        for (let i = 0; i < g.relevance.data.length; i++) expect(g1.relevance.data[i]).to.be.closeTo(g.relevance.data[i], 1e-6);
      } finally { await e.release(); }
    });

    it('Grad-CAM at a chosen node; the default follows the last Conv through its ReLU / residual sum', async () => {
      const { e, x } = open('resnet');
      try {
        const d = await gradCam(e, x);
        expect(d.layer).to.equal('/4/relu2/Relu_output_0');
        const r = await attribute(e, x, { method: 'gradcam', layer: '/3/conv1/Conv' });
        expect(r.details!.layer).to.equal('/3/conv1/Conv_output_0');
        expect(r.relevance.dims).to.deep.equal(x.dims);
        expect(r.relevance.data.every((v) => v >= 0)).to.equal(true);
        let err: Error | undefined;
        try { await gradCam(e, x, { layer: 'nope' }); } catch (z) { err = z as Error; }
        expect(err?.message).to.match(/no node or value named 'nope'.*Conv nodes: \/0\/Conv/);
        err = undefined;
        try { await gradCam(e, x, { layer: '/6/Flatten' }); } catch (z) { err = z as Error; }
        expect(err?.message).to.match(/4-D activation.*\/6\/Flatten_output_0/);
      } finally { await e.release(); }
    });
  });

  describe('attribute()', () => {
    it('accepts every method and LRP composite and returns maps shaped like the input', async () => {
      const { e, x } = open('gap');
      try {
        for (const m of ATTRIBUTION_NAMES.filter((n) => !METHODS[n]?.attention)) { // attention rollout: spec/methods/rollout.spec.ts
          const options = { low: -3.5, high: 3.5 };
          const r = await attribute(e, x, { method: m, options, samples: 2, steps: 4 });
          expect(r.relevance.dims, m).to.deep.equal(x.dims);
          expect(r.targets, m).to.have.length(2);
          expect(r.relevance.data.every(Number.isFinite), m).to.equal(true);
        }
      } finally { await e.release(); }
    });

    it('delegates LRP composites to explain', async () => {
      const { e, x } = open('cnn_bn');
      try {
        for (const c of COMPOSITE_NAMES.filter((n) => !(n in METHODS)).slice(0, 3)) {
          const a = await attribute(e, x, { method: c, target: 3 });
          const b = await e.explain(x, { composite: c, target: 3 });
          expect(Array.from(a.relevance.data)).to.deep.equal(Array.from(b.relevance.data));
          expect(a.explanation?.conservation.inputRelevance).to.deep.equal(b.conservation.inputRelevance);
        }
      } finally { await e.release(); }
    });

    it('random is seeded; unknown methods and non-image inputs fail clearly', async () => {
      const { e, x } = open('mlp');
      try {
        const a = await attribute(e, x, { method: 'random', seed: 1 });
        const b = await attribute(e, x, { method: 'random', seed: 1 });
        expect(Array.from(a.relevance.data)).to.deep.equal(Array.from(b.relevance.data));
        let err: Error | undefined;
        try { await attribute(e, x, { method: 'lime' }); } catch (z) { err = z as Error; }
        expect(err?.message).to.match(/unknown method 'lime'; known: .*occlusion/);
      } finally { await e.release(); }
    });
  });
});
