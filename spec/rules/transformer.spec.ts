/** The transformer rules (attnlrp, cp_lrp; rule maps by category) against the float64 reference
 * (./reference-transformer) over a seeded grid of shapes and stabilisers, through the plan and the propagation
 * core on one-node models run by onnxruntime; conservation per node as AttnLRP gives it. */
import { expect } from 'chai';
import { Graph } from '../../lib/ir/graph';
import { RuleMap, buildPlan } from '../../lib/plan/plan';
import { propagate } from '../../lib/propagate/core';
import { Tensor } from '../../lib/tensor';
import { Forward, In, f32of, int64, prng, randomTensor, runNode } from '../helpers/onnx';
import { relL2, uniform } from './reference';
import { bilinearRef, layerNormRef, softmaxRef, tokenSumRef } from './reference-transformer';

const rng = prng(2024);
const TOL = 1e-5;

async function relevance(f: Forward, opts: { composite?: string; ruleMap?: RuleMap }, R: Float32Array): Promise<{ rel: Map<string, Float32Array>; atOutputs: number; atInputs: number }> {
  const plan = buildPlan(f.graph as Graph, opts);
  const batch = f.y.dims[0] ?? 1;
  const p = await propagate(f.graph, plan, f.values as Map<string, Tensor>, { value: f.node.outputs[0], relevance: R }, batch);
  const c = p.conservation[0];
  return { rel: p.relevance, atOutputs: c.atOutputs.reduce((a, b) => a + b, 0), atInputs: c.atInputs.reduce((a, b) => a + b, 0) };
}

describe('rules: transformers against the float64 reference', () => {
  for (const [rows, D, eps] of [[3, 8, 1e-6], [4, 5, 1e-2], [1, 16, 0.3]] as [number, number, number][]) {
    it(`layer norm [${rows}×${D}], epsilon ${eps} (plain): x ⊙ Jᵀ(R / (y + ε)) with σ constant, the bias taking its share`, async () => {
      const w = randomTensor(rng, [D], 0.5, 1.5);
      const b = randomTensor(rng, [D], -0.5, 0.5);
      const f = await runNode(rng, 'LayerNormalization', [{ name: 'x', dims: [rows, D] }, { name: 'w', tensor: w }, { name: 'b', tensor: b }], { axis: -1, epsilon: 1e-5 }, 17, { attrTypes: { axis: 2, epsilon: 1 }, lo: -2, hi: 2 });
      // outputs with y near 0 are ill-conditioned under a small ε (float32 rounding decides them): no relevance there
      const R = uniform(rng, rows * D).map((r, i) => (Math.abs(f.y.data[i]) < 0.05 ? 0 : r));
      const map: RuleMap = { rules: [{ category: 'layernorm', rule: 'epsilon', params: { epsilon: eps, stabilizer: 'plain' } }] };
      const got = await relevance(f, { ruleMap: map }, R);
      const exp = layerNormRef(f32of(f.feeds.x), D, 1e-5, w.data, b.data, R, eps);
      expect(relL2(got.rel.get('x')!, exp)).to.be.at.most(TOL);
      if (eps === 1e-6) {
        const viaComposite = await relevance(f, { composite: 'attnlrp' }, R);
        expect(relL2(viaComposite.rel.get('x')!, exp)).to.be.at.most(TOL);
      }
    });
  }

  it('RMSNorm under attnlrp: the identity (LXT rms_norm_identity)', async () => {
    const f = await runNode(rng, 'SimplifiedLayerNormalization', [{ name: 'x', dims: [2, 6] }, { name: 'w', tensor: randomTensor(rng, [6], 0.5, 1.5) }], { axis: -1, epsilon: 1e-6 }, 13, { attrTypes: { axis: 2, epsilon: 1 } });
    const R = uniform(rng, 12);
    expect(Array.from((await relevance(f, { composite: 'attnlrp' }, R)).rel.get('x')!)).to.deep.equal(Array.from(R));
  });

  const products: [number[], number[], [number, number, number, number]][] = [
    [[2, 3, 4], [2, 4, 5], [2, 3, 4, 5]], [[1, 5, 2], [1, 2, 5], [1, 5, 2, 5]], [[3, 4, 4], [3, 4, 6], [3, 4, 4, 6]],
  ];
  for (const [aD, bD, dims] of products) {
    for (const eps of [1e-8, 1e-3]) {
      it(`attention [${aD}]·[${bD}], ε=${eps}: epsilon then an even split (bilinear); conservation up to the stabiliser`, async () => {
        const f = await runNode(rng, 'MatMul', [{ name: 'a', dims: aD }, { name: 'b', dims: bD }], {}, 13);
        const R = uniform(rng, f.y.data.length);
        const map: RuleMap = { composite: 'attnlrp', rules: [{ category: 'attention', rule: 'bilinear', params: { epsilon: eps } }] };
        const got = await relevance(f, { ruleMap: map }, R);
        const [ra, rb] = bilinearRef(f32of(f.feeds.a), f32of(f.feeds.b), R, dims, eps);
        expect(relL2(got.rel.get('a')!, ra)).to.be.at.most(TOL);
        expect(relL2(got.rel.get('b')!, rb)).to.be.at.most(TOL);
        // each operand gets half of each output's relevance, scaled by 2z / (2z + ε)
        const z = f.y.data;
        const kept = Array.from(R).reduce((s, r, i) => s + (r * 2 * z[i]) / (2 * z[i] + eps), 0);
        expect(got.atInputs).to.be.closeTo(kept, 1e-4 * Math.max(1, Math.abs(kept)));
      });
    }
  }

  it('cp_lrp on A·V: A (from a Softmax) is a constant weight, V gets everything; no operand from a Softmax is an error', async () => {
    const f = await runNode(rng, 'MatMul', [{ name: 'a', dims: [2, 3, 4] }, { name: 'v', dims: [2, 4, 5] }], {}, 13);
    // put a Softmax in front of operand a
    const spec = f.graph.toSpec();
    spec.inputs = spec.inputs.map((i) => (i.name === 'a' ? { ...i, name: 's' } : i));
    spec.nodes = [{ name: 'sm', opType: 'Softmax', domain: '', inputs: ['s'], outputs: ['a'], attrs: { axis: -1 } }, ...spec.nodes];
    const g = new Graph(spec);
    const values = new Map(f.values);
    values.set('s', f.feeds.a);
    const R = uniform(rng, f.y.data.length);
    const plan = buildPlan(g, { composite: 'cp_lrp' });
    expect(plan.entries.map((e) => [e.category, e.rule])).to.deep.equal([['softmax', 'stop'], ['attention', 'valueOnly']]);
    const p = await propagate(g, plan, values, { value: 'y', relevance: R }, 2);
    const [, rv] = bilinearRef(f32of(f.feeds.a), f32of(f.feeds.v), R, [2, 3, 4, 5], 1e-6, true);
    expect(relL2(p.relevance.get('v')!, rv)).to.be.at.most(TOL);
    expect(p.relevance.has('a')).to.equal(false);
    expect(p.relevance.has('s')).to.equal(false);
    let err = '';
    await relevance(f, { composite: 'cp_lrp' }, R).catch((e: Error) => { err = e.message; });
    expect(err).to.match(/valueOnly.*neither is/);
  });

  for (const [dims, masked] of [[[2, 3, 5], false], [[4, 7], true]] as [number[], boolean][]) {
    it(`softmax [${dims}]${masked ? ' with −∞ (masked) logits' : ''}: x ⊙ (R − s Σ R)`, async () => {
      const n = dims.reduce((a, b) => a * b, 1);
      const x = randomTensor(rng, dims, -3, 3);
      if (masked) for (let i = 0; i < n; i += 3) x.data[i] = -Infinity;
      const f = await runNode(rng, 'Softmax', [{ name: 'x', dims }], { axis: -1 }, 13, { feeds: { x }, attrTypes: { axis: 2 } });
      const R = uniform(rng, n);
      const got = (await relevance(f, { composite: 'attnlrp' }, R)).rel.get('x')!;
      expect(got.every(Number.isFinite)).to.equal(true);
      expect(relL2(got, softmaxRef(x.data, R, dims[dims.length - 1]))).to.be.at.most(TOL);
    });
  }

  it('token embedding: the relevance of each id is the sum over the width; the table gets none', async () => {
    const table = randomTensor(rng, [11, 6]);
    const ids = int64([2, 4], [3, 1, 10, 0, 5, 5, 2, 9]);
    const inputs: In[] = [{ name: 'E', tensor: table }, { name: 'ids', dims: [2, 4], dtype: 'int64' }];
    const f = await runNode(rng, 'Gather', inputs, { axis: 0 }, 13, { feeds: { ids }, attrTypes: { axis: 2 } });
    const R = uniform(rng, 48);
    const got = await relevance(f, { composite: 'attnlrp' }, R);
    expect(relL2(got.rel.get('ids')!, tokenSumRef(R, 6))).to.be.at.most(TOL);
    expect(got.atInputs).to.be.closeTo(got.atOutputs, 1e-5);
    // gradient × input: Σ over the width of R ⊙ embedding
    const gx = await relevance(f, { composite: 'gradient_x_input' }, R);
    const e = f.y.data;
    expect(relL2(gx.rel.get('ids')!, tokenSumRef(Array.from(R).map((r, i) => r * e[i]), 6))).to.be.at.most(TOL);
  });

  it('Add of a constant (position embedding) under attnlrp: x/(x + p + ε) of R, the constant\'s share dropped', async () => {
    const p = randomTensor(rng, [1, 4, 3]);
    const f = await runNode(rng, 'Add', [{ name: 'x', dims: [2, 4, 3] }, { name: 'p', tensor: p }], {}, 13);
    const R = uniform(rng, 24);
    const got = await relevance(f, { composite: 'attnlrp' }, R);
    const x = f32of(f.feeds.x);
    const exp = Array.from(x).map((v, i) => (v * R[i]) / (v + p.data[i % 12] + 1e-8));
    expect(relL2(got.rel.get('x')!, exp)).to.be.at.most(TOL);
    // the CNN composites keep passing relevance through a constant Add
    expect(Array.from((await relevance(f, { composite: 'epsilon_plus_flat' }, R)).rel.get('x')!)).to.deep.equal(Array.from(R));
  });
});
