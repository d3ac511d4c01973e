/** Attention rollout against hand computations: uniform attention (closed form), and random attention against a
 * float64 reference of the model's attention matrices with the rollout written out here. */
import { expect } from 'chai';
import { Explainer, Graph, float32, ortBackend } from '../../lib';
import { attribute, attentionSoftmaxes } from '../../lib/methods';
import { HEADS, ids, patchModel, patchTokens, referenceAttention, textModel } from '../helpers/text-model';

/** Rollout by the paper's recipe, written independently: per layer Ã = ½·mean_h A_h + ½I (rows renormalised),
 * R = Ã_L ⋯ Ã_1, row 0. */
function referenceRollout(attention: Float64Array[], T: number): number[] {
  return referenceRolloutMatrix(attention, T)[0];
}

function referenceRolloutMatrix(attention: Float64Array[], T: number): number[][] {
  let R: number[][] = [...Array(T).keys()].map((i) => [...Array(T).keys()].map((j) => (i === j ? 1 : 0)));
  for (const A of attention) {
    const M = R.map((_, i) => R.map((__, j) => {
      let a = 0;
      for (let h = 0; h < HEADS; h++) a += A[(h * T + i) * T + j] / HEADS;
      return 0.5 * a + (i === j ? 0.5 : 0);
    }));
    const rows = M.map((r) => { const s = r.reduce((a, b) => a + b, 0); return r.map((v) => v / s); });
    R = rows.map((r) => R.map((_, j) => r.reduce((s, v, k) => s + v * R[k][j], 0)));
  }
  return R;
}

describe('attention rollout (lib/methods/rollout.ts)', () => {
  it('finds the attention Softmaxes (those whose output weights the values), in layer order', () => {
    const m = textModel({ layers: 3 });
    expect(attentionSoftmaxes(m.graph)).to.deep.equal(['A0', 'A1', 'A2']);
  });

  it('uniform attention: row 0 of (½U + ½I)^L, (½)^L + (1 − (½)^L)/T at [CLS], (1 − (½)^L)/T elsewhere', async () => {
    const m = textModel({ layers: 2, zeroQK: true });
    try {
      const r = await attribute(m.explainer, ids([[1, 5, 7, 2]]), { method: 'attention_rollout' });
      expect(r.relevance.dims).to.deep.equal([1, 4]);
      const expected = [7 / 16, 3 / 16, 3 / 16, 3 / 16];
      expect(Array.from(r.relevance.data).map((v, k) => Math.abs(v - expected[k]))).to.satisfy((d: number[]) => d.every((x) => x < 1e-6));
      expect(r.details).to.deep.include({ tokens: 4, row: 'class token', layers: ['A0', 'A1'] });
    } finally {
      await m.explainer.release();
    }
  });

  it('random attention: equals the rollout of a float64 reference of the attention, per sample of a batch', async () => {
    const m = textModel({ layers: 3, seed: 11 });
    try {
      const rows = [[1, 4, 9, 2, 3], [1, 8, 8, 6, 0]];
      const r = await attribute(m.explainer, ids(rows), { method: 'attention_rollout' });
      rows.forEach((row, s) => {
        const ref = referenceAttention(m, row);
        const want = referenceRollout(ref.attention, row.length);
        const got = Array.from(r.relevance.data.subarray(s * 5, (s + 1) * 5));
        got.forEach((v, k) => expect(v).to.be.closeTo(want[k], 1e-5));
        expect(got.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-5); // a row of a row-stochastic matrix
        expect(Math.max(...got) - Math.min(...got)).to.be.greaterThan(1e-3); // not uniform: the check has teeth
        expect(r.scores[s]).to.be.closeTo(Math.max(...ref.logits), 1e-4);
      });
    } finally {
      await m.explainer.release();
    }
  });

  it('refuses a model without attention, naming it', async () => {
    const m = textModel({ layers: 1 });
    const spec = m.graph.toSpec();
    spec.nodes = spec.nodes.map((n) => (n.opType === 'Softmax' ? { ...n, opType: 'Sigmoid', attrs: {} } : n));
    const e = Explainer.create({ graph: new Graph(spec), irVersion: 8, producer: 'spec', metadata: {} }, ortBackend, { source: 'no-attention' });
    try {
      let err: Error | undefined;
      try { await attribute(e, ids([[1, 2]]), { method: 'attention_rollout' }); } catch (x) { err = x as Error; }
      expect(err?.message).to.match(/found no attention Softmax/);
    } finally {
      await e.release();
      await m.explainer.release();
    }
  });
});

describe('attention rollout on image patches (a tiny ViT without a class token)', () => {
  it('the mean row of the rollout, each patch spread over its pixels, equals the float64 reference', async () => {
    const m = patchModel({ seed: 9 });
    try {
      const img = Float32Array.from({ length: 16 }, (_, k) => Math.sin(1.7 * k) * 2);
      const r = await attribute(m.explainer, float32([1, 1, 4, 4], img), { method: 'attention_rollout' });
      expect(r.details).to.deep.include({ tokens: 4, row: 'mean' });
      const ref = referenceAttention(m, [], patchTokens(img));
      const R = ref.attention.length ? referenceRolloutMatrix(ref.attention, 4) : [];
      const meanRow = [0, 1, 2, 3].map((j) => R.reduce((a, row) => a + row[j] / 4, 0));
      for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) {
        expect(r.relevance.data[y * 4 + x]).to.be.closeTo(meanRow[(y >> 1) * 2 + (x >> 1)] / 4, 1e-6);
      }
      expect(Array.from(r.relevance.data).reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-5);
      expect(Math.max(...meanRow) - Math.min(...meanRow)).to.be.greaterThan(1e-3);
    } finally {
      await m.explainer.release();
    }
  });
});
