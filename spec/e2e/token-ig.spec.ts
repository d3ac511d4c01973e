/** Integrated gradients in embedding space on the shipped text model (models/text-evidence.onnx, both opsets):
 * the model cut at its embedding reproduces the model (its padding mask still read from the ids), completeness
 * holds at the default 32 steps, and padding tokens, equal to the [PAD] baseline, get exactly 0. */
import { expect } from 'chai';
import * as path from 'path';
import { Explainer, attribute, embeddingCut, encodeTexts, openModel, padTokenId, readMetadata, tokenInputOf } from '../../lib';
import { ROOT } from '../helpers/paths';

const TEXTS = ['the referee saw a goal in the stadium', 'rain and storm in the city tomorrow with a guitar'];

for (const name of ['text-evidence', 'text-evidence-op13']) {
  describe(`integrated gradients on tokens: models/${name}.onnx`, function () {
    this.timeout(120000);
    const file = path.join(ROOT, 'models', `${name}.onnx`);
    let e: Explainer;
    before(() => { e = openModel(file, { threads: 1 }); });
    after(() => e.release());

    it('the model cut at the embedding output gives the model\'s logits (the ids still feed the padding mask)', async () => {
      const spec = tokenInputOf(e, readMetadata(file))!;
      const b = encodeTexts(spec, TEXTS);
      const cut = embeddingCut(e);
      expect(cut.readsIds).to.equal(true);
      const [V, D] = cut.table.dims;
      expect(V).to.equal(spec.vocab!.length);
      const emb = new Float32Array(b.tensor.data.length * D);
      b.tensor.data.forEach((id, i) => emb.set(cut.table.data.subarray(Number(id) * D, (Number(id) + 1) * D), i * D));
      const y = await cut.explainer.predict({ [cut.embedding]: { dtype: 'float32', dims: [...b.tensor.dims, D], data: emb }, [cut.input]: b.tensor });
      const ref = await e.predict(b.tensor);
      ref.data.forEach((v, i) => expect(y.data[i]).to.be.closeTo(v, 1e-4));
    });

    it('completeness within 1% at 32 steps from the [PAD] baseline; padding gets 0', async () => {
      const spec = tokenInputOf(e, readMetadata(file))!;
      const b = encodeTexts(spec, TEXTS);
      const pad = padTokenId(spec)!;
      const a = await attribute(e, b.tensor, { method: 'integrated_gradients', baseline: pad });
      const d = a.details as { sums: number[]; delta: number[] };
      d.sums.forEach((s, k) => expect(Math.abs(s / d.delta[k] - 1), `sentence ${k}`).to.be.below(1e-2));
      const T = b.tensor.dims[1];
      b.tokens.forEach((row, s) => row.forEach((t, k) => { if (t === '[PAD]') expect(a.relevance.data[s * T + k]).to.equal(0); }));
      // the evidence words are the most relevant content tokens
      const top = (s: number) => b.tokens[s].map((t, k) => [t, a.relevance.data[s * T + k]] as const).filter(([t]) => t !== '[CLS]' && t !== '[PAD]').sort((x, y) => y[1] - x[1])[0][0];
      expect(['referee', 'goal', 'stadium']).to.include(top(0));
      expect(['rain', 'storm']).to.include(top(1));
    });
  });
}
