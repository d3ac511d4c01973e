/** End to end: relevance maps and per-layer sums against golden files made by an independent PyTorch
 * implementation (scripts/golden/make_golden.py, regenerated only by that script). */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { Engine, openModel, readNpy } from '../../lib';
import { FIXTURES } from '../helpers/paths';
import { relL2 } from '../rules/reference';

const DIR = path.join(FIXTURES, 'golden');

interface GoldenCase {
  id: string; composite: string; outputRelevance: 'logit' | 'one';
  params: { epsilon?: number; gamma?: number; low?: number | number[]; high?: number | number[]; zeroBias?: boolean };
  relevance: string; inputSum: number[]; layerSums: number[][]; float32Deviation?: number;
}
interface Golden { model: string; files: string[]; input: string; targets: number[]; logits: number[][]; cases: GoldenCase[] }


const goldens = fs.readdirSync(DIR).filter((f) => f.endsWith('.golden.json'));
/** the three engines: the reference kernels, the per-layer onnxruntime kernels (lib/propagate/engine/ort) and
 * the whole explanation as one onnxruntime graph (lib/propagate/engine/fused) */
const ENGINES: Engine[] = ['reference', 'ort', 'fused'];

describe('golden relevance (independent PyTorch reference)', () => {
  let worst = 0;
  let worstIll = 0;
  after(() => console.log(`      largest relative L2 against the golden maps: ${worst.toExponential(1)} (ill-conditioned gamma zero-bias case: ${worstIll.toExponential(1)})`));
  it('has golden files', () => expect(goldens.length).to.be.greaterThan(5));
  for (const gf of goldens) {
    const g: Golden = JSON.parse(fs.readFileSync(path.join(DIR, gf), 'utf8'));
    for (const file of g.files) {
      describe(file, () => {
        const explainer = openModel(path.join(DIR, file));
        const x = readNpy(path.join(DIR, g.input));
        after(() => explainer.release());
        for (const c of g.cases) for (const engine of ENGINES) {
          it(`${c.id} (${engine})`, async () => {
            const { epsilon, gamma, low, high, zeroBias } = c.params;
            const r = await explainer.explain(x, {
              composite: c.composite, options: { epsilon, gamma, low, high, zeroBias }, target: g.targets, outputRelevance: c.outputRelevance, engine,
            });
            // the fused engine runs every LRP composite here; elsewhere it falls back, saying why
            if (engine === 'fused') expect(r.engine.used === 'fused' ? r.plan.mode : r.engine.note).to.match(r.plan.mode === 'lrp' ? /^lrp$/ : /^fused engine not used: ./);
            const logits = g.logits.flat();
            expect(relL2(r.output.data, logits)).to.be.below(1e-5);
            const ref = readNpy(path.join(DIR, c.relevance)).data as Float32Array;
            const err = relL2(r.relevance.data, ref);
            if ((c.float32Deviation ?? 0) < 1e-5) worst = Math.max(worst, err);
            else worstIll = Math.max(worstIll, err);
            // float32Deviation: how far the generator's own float32 run is from its float64 one, i.e. how
            // ill-conditioned the case is (gamma with zeroBias divides by sums the mask does not see: ~1e-4)
            expect(err, 'relative L2 of the input relevance').to.be.below(Math.max(1e-4, 5 * (c.float32Deviation ?? 0)));
            // per-sample input sums
            r.conservation.inputRelevance.forEach((s, k) => expect(s).to.be.closeTo(c.inputSum[k], 1e-4 * Math.max(1, Math.abs(c.inputSum[k]))));
            // per-layer sums: what each linear layer (forward order) returns to its input
            const layers = r.conservation.nodes.filter((n) => r.plan.entries.find((e) => e.node === n.node && (e.category === 'conv' || e.category === 'dense')));
            expect(layers.length, 'linear layers').to.equal(c.layerSums[0].length);
            c.layerSums.forEach((sums, s) => sums.forEach((v, i) => {
              expect(layers[i].atInputs[s], `layer ${i} (${layers[i].node}), sample ${s}`).to.be.closeTo(v, 1e-4 * Math.max(1, Math.abs(v)));
            }));
          });
        }
      });
    }
  }
});
