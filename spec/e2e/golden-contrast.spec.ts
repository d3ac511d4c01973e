/** End to end: the class-discriminative output relevance modes (contrastive with both dual classes, softmax, a
 * contrast class) against float64 references made by scripts/golden/make_contrast_golden.py from the independent
 * PyTorch LRP of scripts/golden/make_golden.py, on the golden models, with both engines. */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { Engine, ExplainOptions, openModel, readNpy } from '../../lib';
import { FIXTURES } from '../helpers/paths';
import { relL2 } from '../rules/reference';

const DIR = path.join(FIXTURES, 'golden-contrast');
const GOLDEN = path.join(FIXTURES, 'golden');

interface Case { id: string; composite: string; params: ExplainOptions['options']; options: Partial<ExplainOptions>; relevance: string; maxAbs: number }
interface Doc { model: string; file: string; input: string; targets: number[]; cases: Case[] }

const docs = fs.readdirSync(DIR).filter((f) => f.endsWith('.contrast.json'));
const ENGINES: Engine[] = ['reference', 'ort'];

describe('class-discriminative output relevance against a float64 reference', () => {
  let worst = 0;
  after(() => console.log(`      largest relative L2 against the float64 references: ${worst.toExponential(1)}`));
  it('has reference files for several models and every mode', () => {
    expect(docs.length).to.be.at.least(3);
    const ids = docs.flatMap((f) => (JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as Doc).cases.map((c) => c.id.split('.').slice(1).join('.')));
    for (const m of ['contrastive.others', 'contrastive.others.unclipped', 'contrastive.negated.unclipped', 'softmax', 'contrast']) expect(ids).to.include(m);
  });
  for (const f of docs) {
    const d: Doc = JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8'));
    describe(d.file, () => {
      const explainer = openModel(path.join(GOLDEN, d.file));
      const x = readNpy(path.join(GOLDEN, d.input));
      after(() => explainer.release());
      for (const c of d.cases) for (const engine of ENGINES) {
        it(`${c.id} (${engine})`, async () => {
          const r = await explainer.explain(x, { composite: c.composite, options: c.params, target: d.targets, engine, ...c.options });
          const ref = readNpy(path.join(DIR, c.relevance)).data as Float32Array;
          if (c.maxAbs === 0) {
            // the negated dual class under the epsilon rule on the output layer: exactly the target's map
            expect(Math.max(...r.relevance.data.map(Math.abs)), 'a map that cancels').to.be.below(1e-6);
            return;
          }
          const err = relL2(r.relevance.data, ref);
          worst = Math.max(worst, err);
          expect(err, 'relative L2 of the input relevance').to.be.below(1e-4);
          expect(r.outputRelevance).to.equal(c.options.outputRelevance ?? (c.composite === 'gradient' ? 'one' : 'logit'));
          if (c.options.contrast !== undefined) expect(r.contrast).to.equal(c.options.contrast);
          if (c.options.outputRelevance === 'contrastive') expect([r.dual, r.clipped]).to.deep.equal([c.options.dual, c.options.clip ?? true]);
        });
      }
    });
  }
});
