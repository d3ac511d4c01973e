/** The exported transformer graphs of spec/fixtures/transformer (nn.TransformerEncoder(Layer) both ways,
 * nn.MultiheadAttention, hand-written attention with mask inputs and causal masks, embeddings, GELU/SiLU MLPs,
 * RMSNorm; opsets 13, 14, 17): after canonizing, onnxruntime still gives PyTorch's output and no node is
 * unsupported; attnlrp and cp_lrp explain them with finite relevance, the same on both engines, with masks
 * getting none. */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { Tensor, openModel, readNpy, unsupportedNodes } from '../../lib';
import { FIXTURES } from '../helpers/paths';
import { relL2 } from '../rules/reference';

const DIR = path.join(FIXTURES, 'transformer');

interface Case { name: string; inputs: { name: string; file: string }[]; output: { file: string }; files: Record<string, { file: string }> }
const manifest: { cases: Case[] } = JSON.parse(fs.readFileSync(path.join(DIR, 'manifest.json'), 'utf8'));

describe('exported transformers (spec/fixtures/transformer)', () => {
  for (const c of manifest.cases) {
    for (const [opset, { file }] of Object.entries(c.files)) {
      it(`${c.name} at opset ${opset}: canonized graph keeps PyTorch's output; attnlrp and cp_lrp explain it on the three engines`, async () => {
        const feeds: Record<string, Tensor> = Object.fromEntries(c.inputs.map((i) => [i.name, readNpy(path.join(DIR, i.file))]));
        const ex = openModel(path.join(DIR, file));
        try {
          expect(unsupportedNodes(ex.graph).map((u) => u.reason)).to.deep.equal([]);
          const expected = readNpy(path.join(DIR, c.output.file)).data as Float32Array;
          expect(relL2((await ex.predict(feeds)).data, expected)).to.be.below(1e-5);
          for (const composite of ['attnlrp', 'cp_lrp']) {
            const [ref, ort, fused] = [await ex.explain(feeds, { composite, engine: 'reference' }), await ex.explain(feeds, { composite, engine: 'ort' }), await ex.explain(feeds, { composite })];
            expect(fused.engine, `${composite}: engine auto chooses the fused engine`).to.deep.equal({ used: 'fused' });
            for (const [name, r] of ref.inputs) {
              expect(r.data.every(Number.isFinite), `${composite}: ${name} finite`).to.equal(true);
              for (const [engine, e] of [['ort', ort], ['fused', fused]] as const) {
                const o = e.inputs.get(name)?.data ?? new Float32Array(r.data.length);
                if (r.data.some((v) => v !== 0)) expect(relL2(o, r.data), `${composite}: ${engine} agrees with the reference on ${name}`).to.be.below(1e-5);
                else expect(o.every((v) => v === 0), `${composite}: ${engine} gives ${name} no relevance either`).to.equal(true);
              }
            }
            ref.conservation.nodes.forEach((n) => {
              const f = fused.conservation.nodes.find((m) => m.node === n.node);
              expect(f, `${composite}: fused conservation row for ${n.node}`).to.not.equal(undefined);
              n.atInputs.forEach((v, s) => expect(f!.atInputs[s], `${composite}: ${n.node} relevance at its inputs`).to.be.closeTo(v, 1e-4 * Math.max(1, Math.abs(v))));
            });
            const first = ref.inputs.get(c.inputs[0].name)!.data;
            expect(first.some((v) => v !== 0), `${composite}: relevance reaches ${c.inputs[0].name}`).to.equal(true);
            if (feeds.mask) expect(ref.inputs.get('mask')!.data.every((v) => v === 0), 'the mask input gets no relevance').to.equal(true);
            expect(ref.conservation.nodes.length).to.be.greaterThan(0);
          }
        } finally {
          await ex.release();
        }
      });
    }
  }

  it('gradient × input on token ids: each id gets the sum over the width of gradient ⊙ embedding', async () => {
    const c = manifest.cases.find((k) => k.name === 'embed_meanpool')!;
    const ids = readNpy(path.join(DIR, c.inputs[0].file));
    const ex = openModel(path.join(DIR, c.files['17'].file));
    try {
      const gather = ex.graph.nodes.find((n) => n.opType === 'Gather')!;
      const table = ex.graph.constant(gather.inputs[0])!;
      const W = table.dims[1];
      const g = (await ex.explain({ ids }, { composite: 'gradient', keepAll: true })).values!.get(gather.outputs[0])!;
      const got = (await ex.explain({ ids }, { composite: 'gradient_x_input' })).inputs.get('ids')!.data;
      const idv = Array.from(ids.data as BigInt64Array, Number);
      const rows = table.data as Float32Array;
      const expected = idv.map((id, t) => { let s = 0; for (let d = 0; d < W; d++) s += g[t * W + d] * rows[id * W + d]; return s; });
      expect(relL2(got, expected)).to.be.below(1e-5);
    } finally {
      await ex.release();
    }
  });
});
