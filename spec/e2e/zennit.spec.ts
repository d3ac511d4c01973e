/** End to end against Zennit 0.5.1 itself: maps and per-layer sums made by Zennit's own composites, rules and
 * BatchNorm canonizer on the golden models (scripts/golden/make_zennit_golden.py, regenerated only by that
 * script; Zennit is not needed here). The three engines (reference, ort, fused) must match to 1e-5 relative L2. */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { Engine, openModel, readNpy } from '../../lib';
import { FIXTURES } from '../helpers/paths';
import { relL2 } from '../rules/reference';

const DIR = path.join(FIXTURES, 'zennit');
const GOLDEN = path.join(FIXTURES, 'golden');

interface ZennitCase {
  id: string; zennitComposite: string; composite: string; outputRelevance: 'one';
  options: { epsilon?: number; gamma?: number; low?: number | number[]; high?: number | number[]; zeroBias?: boolean; betaSmooth?: number };
  relevance: string; inputSum: number[]; layerSums?: number[][]; float32Deviation: number;
}
interface ZennitGolden { model: string; files: string[]; input: string; targets: number[]; zennit: { tag: string; commit: string }; cases: ZennitCase[] }


const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.zennit.json'));
const ENGINES: Engine[] = ['reference', 'ort', 'fused'];

describe('Zennit 0.5.1 goldens (maps made by Zennit itself)', () => {
  let worst = 0;
  let worstIll = 0;
  after(() => console.log(`      largest relative L2 against Zennit's maps: ${worst.toExponential(1)} (ill-conditioned zero-bias cases: ${worstIll.toExponential(1)})`));
  it('covers every composite Zennit registers, on six models', () => {
    expect(files.length).to.equal(6);
    const seen = new Set(files.flatMap((f) => (JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as ZennitGolden).cases.map((c) => c.zennitComposite)));
    for (const c of ['epsilon_gamma_box', 'epsilon_plus', 'epsilon_alpha2_beta1', 'epsilon_plus_flat', 'epsilon_alpha2_beta1_flat',
      'excitation_backprop', 'guided_backprop', 'deconvnet', 'beta_smooth']) expect(seen.has(c), c).to.equal(true);
  });
  for (const zf of files) {
    const g: ZennitGolden = JSON.parse(fs.readFileSync(path.join(DIR, zf), 'utf8'));
    for (const file of g.files) {
      describe(file, () => {
        const explainer = openModel(path.join(GOLDEN, file));
        const x = readNpy(path.join(GOLDEN, g.input));
        after(() => explainer.release());
        for (const c of g.cases) for (const engine of ENGINES) {
          it(`${c.id} (${engine})`, async () => {
            const r = await explainer.explain(x, { composite: c.composite, options: c.options, target: g.targets, outputRelevance: c.outputRelevance, engine });
            // the fused engine runs every LRP composite here; elsewhere it falls back, saying why
            if (engine === 'fused') expect(r.engine.used === 'fused' ? r.plan.mode : r.engine.note).to.match(r.plan.mode === 'lrp' ? /^lrp$/ : /^fused engine not used: ./);
            const ref = readNpy(path.join(DIR, c.relevance)).data as Float32Array;
            const err = relL2(r.relevance.data, ref);
            if (c.float32Deviation < 1e-5) worst = Math.max(worst, err);
            else worstIll = Math.max(worstIll, err);
            // float32Deviation: Zennit's own float32 run against its float64 one (rel. L2). Only the zero-bias
            // epsilon/gamma cases are ill-conditioned (denominators near 0 without the bias): ~1e-4 there.
            const tol = Math.max(1e-5, 5 * c.float32Deviation);
            expect(err, 'relative L2 of the input relevance').to.be.below(tol);
            r.conservation.inputRelevance.forEach((s, k) => expect(s).to.be.closeTo(c.inputSum[k], tol * Math.max(1, Math.abs(c.inputSum[k]))));
            if (!c.layerSums) return;
            // what each Conv/Gemm (forward order, BatchNorm merged) returns to its input
            const layers = r.conservation.nodes.filter((n) => r.plan.entries.find((e) => e.node === n.node && (e.category === 'conv' || e.category === 'dense')));
            expect(layers.length, 'linear layers').to.equal(c.layerSums[0].length);
            c.layerSums.forEach((sums, s) => sums.forEach((v, i) => {
              expect(layers[i].atInputs[s], `layer ${i} (${layers[i].node}), sample ${s}`).to.be.closeTo(v, tol * Math.max(1, Math.abs(v)));
            }));
          });
        }
      });
    }
  }
});
