/** Token evaluation: MoRF/LeRF deletion of tokens through the one perturbation orchestrator (perturbationCurve,
 * measureMap), checked against a float64 forward of the hand-built transformer, and the token localisation score. */
import { expect } from 'chai';
import { evaluationSettings, measureMap, perturbationCurve, tokenLocalization } from '../../lib/evaluate';
import { float32 } from '../../lib';
import { ids, referenceAttention, textModel } from '../helpers/text-model';

describe('token evaluation (lib/evaluate)', () => {
  it('MoRF deletes the most relevant tokens first, never the kept ones; scores equal a float64 forward', async () => {
    const m = textModel({ layers: 2, seed: 5 });
    try {
      const row = [1, 4, 9, 2, 3], PAD = 0;
      const rel = float32([1, 5], [10, 3, 1, 2, -1]); // [CLS] most relevant but kept
      const c = await perturbationCurve(m.explainer, ids([row]), rel, { order: 'morf', replacement: PAD, keep: [[0]], target: 1 });
      expect(c.regions).to.equal(4);
      expect(c.fractions).to.deep.equal([0, 0.25, 0.5, 0.75, 1]);
      const cur = [...row], expected = [referenceAttention(m, cur).logits[1]];
      for (const p of [1, 3, 2, 4]) { cur[p] = PAD; expected.push(referenceAttention(m, cur).logits[1]); }
      c.scores[0].forEach((v, k) => expect(v).to.be.closeTo(expected[k], 1e-4));
      const aopc = expected.reduce((a, v) => a + (expected[0] - v), 0) / 5;
      expect(c.aopc).to.be.closeTo(aopc, 1e-4);
      const lerf = await perturbationCurve(m.explainer, ids([row]), rel, { order: 'lerf', replacement: PAD, keep: [[0]], target: 1, perStep: 2 });
      const l = [...row];
      l[4] = PAD; l[2] = PAD; // the two least relevant
      expect(lerf.scores[0][1]).to.be.closeTo(referenceAttention(m, l).logits[1], 1e-4);
      expect(lerf.scores[0]).to.have.length(3);
    } finally {
      await m.explainer.release();
    }
  });

  it('a batch: each sample deletes its own tokens, its AOPC over its own steps', async () => {
    const m = textModel({ layers: 1, seed: 8 });
    try {
      const rel = float32([2, 5], [0, 1, 2, 3, 4, 0, 5, 6, 0, 0]);
      const c = await perturbationCurve(m.explainer, ids([[1, 4, 9, 2, 3], [1, 7, 8, 0, 0]]), rel, { replacement: 0, keep: [[0], [0, 3, 4]], target: [0, 0] });
      expect(c.scores[1]).to.have.length(5); // L from the longest sample
      const want = [[1, 7, 8, 0, 0], [1, 7, 0, 0, 0], [1, 0, 0, 0, 0]].map((r) => referenceAttention(m, r).logits[0]);
      want.forEach((v, k) => expect(c.scores[1][k]).to.be.closeTo(v, 1e-4));
      expect(c.scores[1][4]).to.be.closeTo(want[2], 1e-4); // fully deleted to the end
      expect(c.aopcPerSample[1]).to.be.closeTo(want.reduce((a, v) => a + (want[0] - v), 0) / 3, 1e-4);
    } finally {
      await m.explainer.release();
    }
  });

  it('refuses a replacement that is not a token id', async () => {
    const m = textModel({ layers: 1 });
    try {
      let err: Error | undefined;
      try { await perturbationCurve(m.explainer, ids([[1, 2, 3]]), float32([1, 3], [1, 2, 3]), { replacement: 'zeros' }); } catch (e) { err = e as Error; }
      expect(err?.message).to.match(/replacement must be a token id/);
    } finally {
      await m.explainer.release();
    }
  });

  it('localisation: relevance mass and rank accuracy on the evidence tokens, special tokens left out', () => {
    // sample 0: positive mass 1 + 3 + 2 = 6 ([CLS] at 0 ignored), on the evidence {1, 3}: 1 + 2 = 3
    const r = [9, 1, 3, 2, -4, 0, 0.5, 0, 0, 2];
    const loc = tokenLocalization(r, 2, [[1, 3], [4]], [[0], [0]]);
    expect(loc.massAccuracy[0]).to.be.closeTo(3 / 6, 1e-12);
    expect(loc.rankAccuracy[0]).to.equal(0.5); // top-2 of positions 1..4: 2 (3) and 3 (2)
    expect(loc.massAccuracy[1]).to.be.closeTo(2 / 2.5, 1e-12);
    expect(loc.rankAccuracy[1]).to.equal(1);
    expect(() => tokenLocalization(r, 2, [[7], [1]])).to.throw(/evidence position 7 outside the 5 tokens/);
  });

  it('measureMap: curves and token localisation with evidence', async () => {
    const m = textModel({ layers: 1, seed: 2 });
    try {
      const s = evaluationSettings({ orders: ['morf', 'random'], replacement: 0 });
      const r = await measureMap(m.explainer, ids([[1, 4, 9, 2]]), float32([1, 4], [0, 1, 2, 3]), [0], s, undefined, undefined, { keep: [[0]], evidence: [[3]] });
      expect(Object.keys(r.curves)).to.deep.equal(['morf', 'random']);
      expect(r.tokenLocalization?.massAccuracy[0]).to.be.closeTo(3 / 6, 1e-7);
      expect(r.tokenLocalization?.rankAccuracy[0]).to.equal(1);
    } finally {
      await m.explainer.release();
    }
  });
});
