/** Integrated Gradients on token ids, in embedding space (lib/methods/token-ig.ts), against a float64 reference
 * written here: the model's forward in float64 (spec/helpers/text-model.ts), its gradient by central differences,
 * the quadrature sums over the path from the baseline embedding written out; and completeness (Σ tokens →
 * f(e) − f(e′) as the steps grow). */
import { expect } from 'chai';
import { attribute, quadrature, tokenIntegratedGradients } from '../../lib/methods';
import { Integration } from '../../lib/methods/gradient';
import { D, TextModel, ids, referenceAttention, textModel } from '../helpers/text-model';

type Emb = number[][];

const embed = (m: TextModel, row: number[]): Emb => row.map((id) => Array.from(m.E.subarray(id * D, (id + 1) * D), Number));
const logit = (m: TextModel, x: Emb, c: number) => referenceAttention(m, x.map(() => 0), x).logits[c];

/** ∂ logit_c / ∂ x by central differences of the float64 forward. */
function gradient(m: TextModel, x: Emb, c: number): Emb {
  const h = 1e-5;
  return x.map((r, t) => r.map((_, d) => {
    const up = x.map((q) => [...q]), dn = x.map((q) => [...q]);
    up[t][d] += h; dn[t][d] -= h;
    return (logit(m, up, c) - logit(m, dn, c)) / (2 * h);
  }));
}

/** Per token Σ_d (x − b)_td Σ_k w_k ∂f/∂x_td (b + α_k (x − b)), in float64. */
function referenceIg(m: TextModel, x: Emb, b: Emb, c: number, steps: number, rule: Integration): number[] {
  const { alphas, weights } = quadrature(steps, rule);
  const g = x.map((r) => r.map(() => 0));
  alphas.forEach((a, k) => {
    const gk = gradient(m, x.map((r, t) => r.map((v, d) => b[t][d] + a * (v - b[t][d]))), c);
    gk.forEach((r, t) => r.forEach((v, d) => { g[t][d] += weights[k] * v; }));
  });
  return x.map((r, t) => r.reduce((s, v, d) => s + (v - b[t][d]) * g[t][d], 0));
}

describe('integrated gradients on tokens (embedding space)', function () {
  this.timeout(60000);
  const m = textModel({ layers: 1, vocab: 10, T: 5, seed: 7 });
  const rows = [[1, 4, 7, 2, 0], [1, 9, 3, 3, 5]];
  after(() => m.explainer.release());

  for (const [baseline, rule, steps] of [[0, 'trapezoid', 8], [undefined, 'riemann_middle', 5], [3, 'riemann_left', 6]] as [number | undefined, Integration, number][]) {
    it(`matches the float64 reference: baseline ${baseline === undefined ? 'zeros' : `token ${baseline}`}, ${rule}, ${steps} steps`, async () => {
      const a = await attribute(m.explainer, ids(rows), { method: 'integrated_gradients', baseline, integration: rule, steps, target: 1 });
      expect(a.relevance.dims).to.deep.equal([2, 5]);
      expect(a.details).to.include({ space: 'embedding', baseline: baseline === undefined ? 'zeros' : `token ${baseline}` });
      rows.forEach((row, s) => {
        const x = embed(m, row), b = baseline === undefined ? x.map((r) => r.map(() => 0)) : embed(m, row.map(() => baseline));
        const ref = referenceIg(m, x, b, 1, steps, rule);
        const scale = Math.max(...ref.map(Math.abs));
        ref.forEach((v, t) => expect(a.relevance.data[s * 5 + t], `sample ${s} token ${t}`).to.be.closeTo(v, 1e-4 * scale + 1e-6));
        // f(e) − f(e′) in float64
        expect((a.details as { delta: number[] }).delta[s]).to.be.closeTo(logit(m, x, 1) - logit(m, b, 1), 1e-4);
      });
    });
  }

  it('completeness: the token sum approaches f(e) − f(e′), the gap shrinking as the steps grow (as in float64)', async () => {
    const gaps: number[] = [];
    for (const steps of [1, 2, 4, 16, 64]) {
      const r = await tokenIntegratedGradients(m.explainer, ids(rows), { steps, baseline: 0, targets: [0, 1] });
      gaps.push(Math.max(...r.sums.map((v, s) => Math.abs(v - r.delta[s]) / Math.abs(r.delta[s]))));
      if (steps === 2) {
        // the same gap as the float64 quadrature: the step error, not float32 noise
        const x = embed(m, rows[1]), b = embed(m, rows[1].map(() => 0));
        const ref = referenceIg(m, x, b, 1, 2, 'trapezoid').reduce((p, v) => p + v, 0);
        expect(r.sums[1]).to.be.closeTo(ref, 1e-4 * Math.abs(ref));
      }
    }
    for (let k = 1; k < 4; k++) expect(gaps[k], `gap at step set ${k}: ${gaps.join(', ')}`).to.be.below(gaps[k - 1]);
    expect(gaps[0], 'one step is far from complete').to.be.above(1e-2);
    expect(gaps[4]).to.be.below(1e-3);
  });

  it('baselines: one id everywhere = those ids as a tensor = their embedding; zeros = a zero embedding', async () => {
    const x = ids(rows);
    const byId = await tokenIntegratedGradients(m.explainer, x, { steps: 4, baseline: 2, targets: [0, 0] });
    const byIds = await tokenIntegratedGradients(m.explainer, x, { steps: 4, baseline: ids([[2, 2, 2, 2, 2]]), targets: [0, 0] });
    const emb = Float32Array.from({ length: 5 * D }, (_, i) => m.E[2 * D + (i % D)]);
    const byEmb = await tokenIntegratedGradients(m.explainer, x, { steps: 4, baseline: { dtype: 'float32', dims: [5, D], data: emb }, targets: [0, 0] });
    const zeros = await tokenIntegratedGradients(m.explainer, x, { steps: 4, targets: [0, 0] });
    const zeroEmb = await tokenIntegratedGradients(m.explainer, x, { steps: 4, baseline: { dtype: 'float32', dims: [2, 5, D], data: new Float32Array(2 * 5 * D) }, targets: [0, 0] });
    expect([byId.baseline, byIds.baseline, byEmb.baseline, zeros.baseline]).to.deep.equal(['token 2', 'ids', 'embedding', 'zeros']);
    expect(Array.from(byIds.relevance.data)).to.deep.equal(Array.from(byId.relevance.data));
    expect(Array.from(byEmb.relevance.data)).to.deep.equal(Array.from(byId.relevance.data));
    expect(Array.from(zeroEmb.relevance.data)).to.deep.equal(Array.from(zeros.relevance.data));
    // a token equal to the baseline's gets exactly 0 (e − e′ = 0 there)
    expect(byId.relevance.data[3]).to.equal(0);
  });

  it('refuses bad baselines and methods that do not apply to token ids, naming them', async () => {
    const x = ids(rows);
    await expectReject(attribute(m.explainer, x, { method: 'integrated_gradients', baseline: 0.5 }), /baseline 0\.5 is not a token id/);
    await expectReject(attribute(m.explainer, x, { method: 'integrated_gradients', baseline: 10 }), /baseline id 10 is outside the embedding table of 10 rows/);
    await expectReject(attribute(m.explainer, x, { method: 'integrated_gradients', baseline: ids([[1, 2]]) }), /baseline ids of shape \[1x2\] do not match the input \[2x5\]/);
    await expectReject(attribute(m.explainer, x, { method: 'smoothgrad' }), /method smoothgrad does not apply to token ids: it adds Gaussian noise/);
    await expectReject(attribute(m.explainer, x, { method: 'gradcam' }), /method gradcam does not apply to token ids: it needs a 4-D image input/);
  });
});

async function expectReject(p: Promise<unknown>, re: RegExp): Promise<void> {
  let err: Error | undefined;
  try { await p; } catch (e) { err = e as Error; }
  expect(err, `expected a rejection matching ${re}`).to.be.instanceOf(Error);
  expect(err!.message).to.match(re);
}
