/** The class-discriminative seeds (lib/explain/contrast.ts): the seed values, one batched backward pass equal to
 * separate passes, per-sample targets, models with a fixed batch, the negated head, and the errors. */
import { expect } from 'chai';
import * as path from 'path';
import { Explainer, Graph, attribute, float32, openModel, readNpy } from '../../lib';
import { seedBlocks, softmax } from '../../lib/explain/contrast';
import { FIXTURES } from '../helpers/paths';
import { relL2 } from '../rules/reference';

type F32 = ReturnType<typeof float32>;
const DIR = path.join(FIXTURES, 'golden');
const model = (name: string) => ({ e: openModel(path.join(DIR, `${name}-op17.onnx`)), x: readNpy(path.join(DIR, `${name}.input.npy`)) as F32 });
const diff = (a: Float32Array, b: Float32Array, clip: boolean) => a.map((v, i) => (clip ? Math.max(0, v - b[i]) : v - b[i]));

describe('class-discriminative output relevance', () => {
  it('seeds: softmax gradient, the others dual class, contrasts; sums and norms per sample', () => {
    const z = Float32Array.from([1, 2, 0.5, -1, 3, 0]);
    const p = softmax([1, 2, 0.5]);
    const sm = seedBlocks(z, 3, [1, 0], { mode: 'softmax', scale: 'logit' });
    expect(sm.blocks).to.have.length(1);
    expect(sm.blocks[0][1]).to.be.closeTo(p[1] * (1 - p[1]), 1e-7);
    expect(sm.blocks[0][0]).to.be.closeTo(-p[1] * p[0], 1e-7);
    expect(sm.sums[0][0]).to.be.closeTo(0, 1e-12);
    expect(sm.norms[0][0]).to.be.closeTo(2 * p[1] * (1 - p[1]), 1e-12);
    const cl = seedBlocks(z, 3, [1, 0], { mode: 'contrastive', scale: 'logit', dual: 'others' });
    expect([...cl.blocks[0]]).to.deep.equal([0, 2, 0, -1, 0, 0]);
    expect([...cl.blocks[1]]).to.deep.equal([1, 0, 1, 0, -0.5, -0.5]);
    const neg = seedBlocks(z, 3, [1, 0], { mode: 'contrastive', scale: 'one', dual: 'negated' }, 6);
    expect([...neg.blocks[1]]).to.deep.equal([0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0]);
    const ct = seedBlocks(z, 3, [1, 0], { mode: 'contrast', scale: 'logit', contrast: [2, 1] });
    expect([...ct.blocks[0]]).to.deep.equal([0, 2, -0.5, -1, 0, 0]);
    expect([...ct.blocks[1]]).to.deep.equal([0, 0, 0, -1, -3, 0]);
    expect(ct.sums[1]).to.deep.equal([0, -4]);
  });

  it('one batched pass equals separate passes (per-sample targets, both engines), and each contrast is its own map', async () => {
    const { e, x } = model('vgg');
    try {
      for (const engine of ['reference', 'ort'] as const) {
        const o = { composite: 'epsilon_plus', target: [3, 7], engine };
        const t = await e.explain(x, { ...o, outputRelevance: 'logit' });
        const z = t.output.data, C = z.length / 2;
        const dualSeed = (k: number, s: number, tt: number) => (k === tt ? 0 : z[s * C + tt] / (C - 1));
        // the dual by linearity: sum over the other classes of their one-hot maps, scaled
        let dual = new Float32Array(t.relevance.data.length);
        for (let k = 0; k < C; k++) {
          const one = (await e.explain(x, { ...o, target: k, outputRelevance: 'one' })).relevance.data;
          const per = one.length / 2;
          dual = dual.map((v, i) => v + one[i] * dualSeed(k, Math.floor(i / per), o.target[Math.floor(i / per)]));
        }
        for (const clip of [true, false]) {
          const c = await e.explain(x, { ...o, outputRelevance: 'contrastive', clip });
          expect(relL2(c.relevance.data, diff(t.relevance.data, dual, clip)), `${engine} clip ${clip}`).to.be.below(1e-5);
          expect(c.targets).to.deep.equal([3, 7]);
        }
        const both = await e.explain(x, { ...o, contrast: [1, 5] });
        expect(both.contrast).to.equal(1);
        expect(both.moreContrasts!.map((m) => m.contrast)).to.deep.equal([5]);
        for (const [k, m] of [[1, both], [5, both.moreContrasts![0]]] as const) {
          const alone = await e.explain(x, { ...o, contrast: k });
          expect(relL2(m.relevance.data, alone.relevance.data), `contrast ${k}`).to.be.below(1e-6);
          expect(m.conservation.outputRelevance.map((v, s) => v - (z[s * C + o.target[s]] - z[s * C + k]))).to.satisfy((d: number[]) => d.every((v) => Math.abs(v) < 1e-5));
        }
      }
    } finally {
      await e.release();
    }
  });

  it('a model with a fixed batch runs the blocks one after the other, with the same maps', async () => {
    const { e, x } = model('cnn_bn');
    const spec = e.graph.toSpec();
    spec.inputs = spec.inputs.map((i) => ({ ...i, dims: [2, ...(i.dims ?? []).slice(1)] }));
    const fixed = e.derive(new Graph(spec), 'fixed batch');
    try {
      for (const opts of [{ outputRelevance: 'contrastive' as const }, { contrast: [0, 4] }]) {
        const a = await e.explain(x, { composite: 'epsilon_alpha2_beta1', target: [2, 6], ...opts });
        const b = await fixed.explain(x, { composite: 'epsilon_alpha2_beta1', target: [2, 6], ...opts });
        expect(relL2(b.relevance.data, a.relevance.data)).to.be.below(1e-6);
        expect(b.moreContrasts?.length).to.equal(a.moreContrasts?.length);
      }
    } finally {
      await fixed.release();
      await e.release();
    }
  });

  it('the gradient baselines take the modes: contrastive, softmax and a contrast through attribute', async () => {
    const { e, x } = model('mlp');
    try {
      const g = await attribute(e, x, { method: 'gradient', target: [1, 2], outputRelevance: 'softmax' });
      expect(g.outputRelevance).to.equal('softmax');
      const c = await attribute(e, x, { method: 'gradient_x_input', target: [1, 2], outputRelevance: 'contrastive', clip: false });
      expect([c.outputRelevance, c.dual, c.clipped]).to.deep.equal(['contrastive', 'others', false]);
      const k = await attribute(e, x, { method: 'guided_backprop', target: [1, 2], contrast: 0 });
      expect(k.contrast).to.equal(0);
      const lrp = await attribute(e, x, { method: 'epsilon', target: [1, 2], contrast: 0 });
      expect(lrp.contrast).to.equal(0);
    } finally {
      await e.release();
    }
  });

  it('refuses options that mean nothing, a contrast out of range and the negated head on an output no dense layer makes', async () => {
    const { e, x } = model('mlp');
    const reject = async (opts: Parameters<Explainer['explain']>[1], re: RegExp, ex: Explainer = e) => {
      let err: Error | undefined;
      try { await ex.explain(x, opts); } catch (er) { err = er as Error; }
      expect(err?.message, JSON.stringify(opts)).to.match(re);
    };
    const spec = e.graph.toSpec();
    const out = spec.outputs[0].name;
    spec.nodes = [...spec.nodes.map((n) => (n.outputs.includes(out) ? { ...n, outputs: ['pre'] } : n)),
      { name: 'relu_out', opType: 'Relu', domain: '', inputs: ['pre'], outputs: [out], attrs: {} }];
    const relu = e.derive(new Graph(spec), 'relu head');
    try {
      await reject({ dual: 'others' }, /dual class .* applies to the contrastive output relevance only/);
      await reject({ clip: false, outputRelevance: 'softmax' }, /clip applies to the contrastive/);
      await reject({ outputRelevance: 'softmax', contrast: 1 }, /does not combine with the softmax/);
      await reject({ contrast: 10 }, /contrast class 10 is out of range: the output has 10 classes/);
      await reject({ contrast: [1, 1] }, /contrast classes repeat/);
      await reject({ outputRelevance: 'contrastive', dual: 'sideways' as never }, /dual class must be one of others, negated/);
      await reject({ outputRelevance: 'contrastive', dual: 'negated' }, /negated dual class \(CLRP2\) widens the dense layer .* node 'relu_out' \(Relu\); use the 'others' dual class/, relu);
    } finally {
      await relu.release();
      await e.release();
    }
  });
});
