/** The same name, the same numbers: a gradient-family map (gradient, gradient_x_input, guided_backprop,
 * deconvnet) starts from the one-hot whichever flag or entry point names it, unless an output relevance is
 * asked for; the result and the CLI's JSON record say which was used and whether it was the default. */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Explainer, attribute, imageOptionsFor, loadInput, openModel, readMetadata, readNpy } from '../../lib';
import { MODELS, ROOT } from '../helpers/paths';
import { relL2 } from '../rules/reference';

const MODEL = path.join(MODELS, 'fashion-resnet.onnx');
const IMAGE = path.join(MODELS, 'samples', '7-sneaker.png');
const CLI = path.join(ROOT, 'dist/scripts/cli.js');
const FAMILY = ['gradient', 'gradient_x_input', 'guided_backprop', 'deconvnet'];


describe('the same name, the same numbers (gradient family)', () => {
  let explainer: Explainer;
  let x: Awaited<ReturnType<typeof loadInput>>['tensor'];
  before(async () => {
    explainer = openModel(MODEL);
    x = (await loadInput(IMAGE, imageOptionsFor(explainer, readMetadata(MODEL)))).tensor;
  });
  after(async () => { await explainer.release(); });

  it('library: explain({ composite }) and attribute({ method }) give the one-hot map by default, and say so', async () => {
    for (const name of FAMILY) {
      const e = await explainer.explain(x, { composite: name });
      const a = await attribute(explainer, x, { method: name });
      const one = await explainer.explain(x, { composite: name, outputRelevance: 'one' });
      expect(e.outputRelevance, name).to.equal('one');
      expect(e.outputRelevanceDefault, name).to.equal(true);
      expect(a.outputRelevance, name).to.equal('one');
      expect(a.outputRelevanceDefault, name).to.equal(true);
      expect(one.outputRelevanceDefault, name).to.equal(false);
      expect(Array.from(a.relevance.data), name).to.deep.equal(Array.from(e.relevance.data));
      expect(Array.from(one.relevance.data), name).to.deep.equal(Array.from(e.relevance.data));
      expect(e.conservation.outputRelevance).to.deep.equal([1]);
    }
  });

  it('library: an explicit output relevance wins, by either name; LRP keeps the logit default', async () => {
    const e = await explainer.explain(x, { composite: 'gradient', outputRelevance: 'logit' });
    const a = await attribute(explainer, x, { method: 'gradient', outputRelevance: 'logit' });
    const one = await explainer.explain(x, { composite: 'gradient' });
    expect(e.outputRelevance).to.equal('logit');
    expect(e.outputRelevanceDefault).to.equal(false);
    expect(a.outputRelevance).to.equal('logit');
    expect(a.outputRelevanceDefault).to.equal(false);
    expect(Array.from(a.relevance.data)).to.deep.equal(Array.from(e.relevance.data));
    // the logit seed scales the map by the target logit (the gradient is linear in its seed)
    const scaled = one.relevance.data.map((v) => v * one.scores[0]);
    expect(relL2(e.relevance.data, scaled)).to.be.below(1e-5);
    expect(Math.abs(one.scores[0])).to.be.above(1.5); // the two maps really differ on this input
    const lrp = await explainer.explain(x, { composite: 'epsilon_plus_flat' });
    expect(lrp.outputRelevance).to.equal('logit');
    expect(lrp.outputRelevanceDefault).to.equal(true);
    expect(lrp.conservation.outputRelevance).to.deep.equal(lrp.scores);
  });

  it('CLI: --composite gradient and --method gradient write the same map and record the one-hot as the default', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-same-name-'));
    const run = (tag: string, ...args: string[]) => {
      const npy = path.join(tmp, `${tag}.npy`), json = path.join(tmp, `${tag}.json`);
      const r = spawnSync(process.execPath, [CLI, 'explain', MODEL, IMAGE, ...args, '--save-npy', npy, '--json', json, '--quiet'], { encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
      return { map: Array.from(readNpy(npy).data as Float32Array), record: JSON.parse(fs.readFileSync(json, 'utf8')) };
    };
    for (const name of ['gradient', 'guided_backprop']) {
      const c = run(`c-${name}`, '--composite', name);
      const m = run(`m-${name}`, '--method', name);
      expect(c.map, name).to.deep.equal(m.map);
      for (const r of [c, m]) {
        expect(r.record.outputRelevance, name).to.equal('one');
        expect(r.record.outputRelevanceDefault, name).to.equal(true);
      }
    }
    const logit = run('m-logit', '--method', 'gradient', '--output-relevance', 'logit');
    expect(logit.record.outputRelevance).to.equal('logit');
    expect(logit.record.outputRelevanceDefault).to.equal(false);
    const plain = run('c-plain', '--composite', 'gradient');
    const score = logit.record.samples[0].score as number;
    expect(relL2(logit.map, plain.map.map((v) => v * score))).to.be.below(1e-5);
    const lrp = run('lrp', '--composite', 'epsilon_plus_flat');
    expect(lrp.record.outputRelevance).to.equal('logit');
    expect(lrp.record.outputRelevanceDefault).to.equal(true);
  });
});
