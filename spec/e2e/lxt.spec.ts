/** End to end: attnlrp and cp_lrp against golden maps made by LXT itself (its explicit rule functions, commit
 * in each file; scripts/golden/make_lxt_golden.py, regenerated only by that script) on the project's shipped
 * transformers, at every opset they are shipped in, on the three engines: relative L2 ≤ 1e-5. */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { Engine, Tensor, openModel, readNpy } from '../../lib';
import { FIXTURES, ROOT } from '../helpers/paths';
import { relL2 } from '../rules/reference';

const DIR = path.join(FIXTURES, 'lxt');
const ENGINES: Engine[] = ['reference', 'ort', 'fused'];
const TOL = 1e-5;

/** `float32Deviation` (optional): how far LXT's own float32 run is from its float64 map for this sample (an
 * ill-conditioned input); the tolerance against the float64 map is then max(1e-5, 2 × it). `relevanceFloat32`
 * (optional): LXT's own float32 map of the same sample, which onnx-lrp (float32 too) must match to 1e-5. */
interface Sample { ids?: number[]; input?: number[]; float32Deviation?: number; relevanceFloat32?: number[]; target: number; logits: number[]; relevance: number[]; outputSum: number; inputSum: number }
interface LxtGolden { model: string; onnx: string[]; composite: string; outputRelevance: 'logit' | 'one'; input: { name: string; kind: string; dtype: string }; samples: Sample[] }

const files = fs.existsSync(DIR) ? fs.readdirSync(DIR).filter((f) => f.endsWith('.json')) : [];

/** The sample's input: token ids [1, T], or an image's normalised values in the model input's shape (batch 1). */
function inputOf(s: Sample, dims: readonly (number | string | null)[] | null): Tensor {
  if (s.ids) return { dtype: 'int64', dims: [1, s.ids.length], data: BigInt64Array.from(s.ids.map(BigInt)) };
  const shape = (dims ?? []).map((d, i) => (i === 0 ? 1 : (d as number)));
  return { dtype: 'float32', dims: shape, data: Float32Array.from(s.input!) };
}

function relevanceOf(s: Sample): ArrayLike<number> {
  return s.relevance;
}

describe('LXT golden relevance (attnlrp, cp_lrp)', () => {
  let worst = 0, worst32 = 0;
  after(() => console.log(`      largest relative L2 against LXT's float64 maps: ${worst.toExponential(1)}; against its float32 maps (ViT): ${worst32.toExponential(1)}`));
  it('has golden files for both composites', () => {
    expect(files.some((f) => f.includes('attnlrp'))).to.equal(true);
    expect(files.some((f) => f.includes('cp_lrp'))).to.equal(true);
  });
  // nn.MultiheadAttention's export (spec/fixtures/transformer-attn, scripts/golden/make_attn_encoder_golden.py)
  describe('nn.TransformerEncoder export (opset 13)', () => {
    const dir = path.join(FIXTURES, 'transformer-attn');
    const explainer = openModel(path.join(dir, 'encoder.onnx'));
    after(() => explainer.release());
    for (const composite of ['attnlrp', 'cp_lrp']) for (const engine of ENGINES) {
      it(`${composite} (${engine})`, async () => {
        const r = await explainer.explain(readNpy(path.join(dir, 'encoder.x.npy')), { composite, engine });
        expect(r.engine.used, r.engine.note).to.equal(engine);
        const err = relL2(r.relevance.data, readNpy(path.join(dir, `encoder.${composite}.npy`)).data as Float32Array);
        worst = Math.max(worst, err);
        expect(err).to.be.at.most(TOL);
      });
    }
  });
  for (const gf of files) {
    const g: LxtGolden = JSON.parse(fs.readFileSync(path.join(DIR, gf), 'utf8'));
    for (const model of g.onnx) {
      describe(`${model} (${g.composite})`, () => {
        const explainer = openModel(path.join(ROOT, model));
        after(() => explainer.release());
        for (const engine of ENGINES) {
          it(`${g.samples.length} samples (${engine})`, async () => {
            for (const [k, s] of g.samples.entries()) {
              const r = await explainer.explain({ [g.input.name]: inputOf(s, explainer.graph.inputs[0].dims) }, { composite: g.composite, target: s.target, outputRelevance: g.outputRelevance, engine });
              expect(r.engine.used, r.engine.note).to.equal(engine);
              expect(relL2(r.output.data, s.logits), `sample ${k}: logits`).to.be.below(1e-5);
              const got = r.inputs.get(g.input.name)!.data;
              const err = relL2(got, relevanceOf(s));
              worst = Math.max(worst, err);
              expect(err, `sample ${k}: relative L2 of the input relevance`).to.be.at.most(Math.max(TOL, 2 * (s.float32Deviation ?? 0)));
              if (s.relevanceFloat32) {
                const err32 = relL2(got, s.relevanceFloat32);
                worst32 = Math.max(worst32, err32);
                expect(err32, `sample ${k}: relative L2 against LXT's own float32 map`).to.be.at.most(TOL);
              }
            }
          });
        }
      });
    }
  }
});
