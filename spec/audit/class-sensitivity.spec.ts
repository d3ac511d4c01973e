/** Class sensitivity (issue 15): box files with a box per class, audit --evaluate explaining every listed class,
 * the measures against hand-made maps, and the CLI's seed flags. On the shipped two-item model and scenes. */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { audit, classSensitivity, float32, mergeShards } from '../../lib';
import { readGroundTruth, regionFor } from '../../lib/audit/evaluate-input';
import { MODELS, ROOT } from '../helpers/paths';

const MODEL = path.join(MODELS, 'fashion-two-item.onnx');
const SCENES = path.join(MODELS, 'two-item-samples');
const CLI = path.join(ROOT, 'dist/scripts/cli.js');

describe('class sensitivity', () => {
  let tmp: string;
  before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-class-')); });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('measures mass and pointing on each class\'s own box and the rank correlation between the maps', () => {
    const left = new Float32Array(2 * 4), right = new Float32Array(2 * 4);
    left[0] = 3; left[4] = 1; right[3] = 2; right[7] = 1; right[2] = -5;      // [1, 1, 2, 4]: columns 0–1 left, 2–3 right
    const cs = classSensitivity([float32([1, 1, 2, 4], left), float32([1, 1, 2, 4], right)], [4, 9], [[0, 0, 2, 2], [2, 0, 4, 2]]);
    expect(cs.classes).to.deep.equal([4, 9]);
    expect(cs.massOnOwn).to.deep.equal([1, 1]);
    expect(cs.pointingOnOwn).to.deep.equal([1, 1]);
    expect(cs.rankCorrelation!).to.be.below(0);
    const same = classSensitivity([float32([1, 1, 2, 4], left), float32([1, 1, 2, 4], left)], [4, 9], [[0, 0, 2, 2], [2, 0, 4, 2]]);
    expect(same.rankCorrelation).to.be.closeTo(1, 1e-12);
    expect(same.massOnOwn).to.deep.equal([1, 0]);
  });

  it('reads {"classes": {K: box}} and scores each target against its own box; refuses a malformed one', () => {
    fs.writeFileSync(path.join(tmp, 'a.png'), '');
    fs.writeFileSync(path.join(tmp, 'a.box.json'), JSON.stringify({ classes: { 2: [0, 0, 28, 28], 7: [28, 0, 56, 28] } }));
    const t = readGroundTruth(path.join(tmp, 'a.png'))!;
    expect([...t.classes!.keys()]).to.deep.equal([2, 7]);
    expect(regionFor(t, [7])).to.deep.equal([[28, 0, 56, 28]]);
    expect(regionFor(t, [3])).to.equal(undefined);
    fs.writeFileSync(path.join(tmp, 'a.box.json'), JSON.stringify({ classes: { dog: [0, 0, 1, 1] } }));
    expect(() => readGroundTruth(path.join(tmp, 'a.png'))).to.throw(/"classes" must map class indices to boxes/);
  });

  it('audit --evaluate on the two-item scenes records it per method, with the means in the summary', async function () {
    if (!fs.existsSync(MODEL) || !fs.existsSync(SCENES)) this.skip();
    const inDir = path.join(tmp, 'scenes'), out = path.join(tmp, 'out');
    fs.mkdirSync(inDir);
    const names = fs.readdirSync(SCENES).filter((f) => f.endsWith('.png')).slice(0, 2);
    for (const n of names) for (const f of [n, n.replace(/\.png$/, '.box.json')]) fs.copyFileSync(path.join(SCENES, f), path.join(inDir, f));
    const s = await audit({
      model: MODEL, folder: inDir, out, outputRelevance: 'contrastive',
      methods: [{ title: 'epsilon_plus', composite: 'epsilon_plus', options: {} }, { title: 'gradient', attribution: 'gradient' }],
      evaluate: { orders: ['morf'], patch: 14, steps: 2 },
    });
    expect(s.counts).to.include({ ok: 2, failed: 0 });
    const rec = JSON.parse(fs.readFileSync(path.join(out, names[0].replace(/\.png$/, '.record.json')), 'utf8'));
    const truth = JSON.parse(fs.readFileSync(path.join(inDir, names[0].replace(/\.png$/, '.box.json')), 'utf8'));
    for (const m of rec.samples[0].methods) {
      expect(m.outputRelevance).to.equal('contrastive');
      expect(m.dual).to.equal('others');
      const cs = m.evaluation.classSensitivity;
      expect(cs.classes.map(String)).to.deep.equal(Object.keys(truth.classes));
      expect(cs.massOnOwn).to.have.length(2);
      expect(cs.rankCorrelation).to.be.a('number');
    }
    expect(s.evaluation!.methods.epsilon_plus.classSensitivity!.rows).to.equal(2);
    expect(s.evaluation!.methods.gradient.classSensitivity!.massOnOwn).to.be.within(0, 1);
  });

  it('a sharded audit with seed settings merges to the single run\'s summary (dual, clip, contrast, titles, rows)', async function () {
    this.timeout(120000);
    const cases = [
      { seed: { outputRelevance: 'contrastive' as const, dual: 'negated' as const, clip: false }, facts: ['contrastive', 'negated', false, undefined], titles: ['epsilon_alpha2_beta1'] },
      { seed: { contrast: [1, 2] }, facts: ['default', undefined, undefined, [1, 2]], titles: ['epsilon_alpha2_beta1 vs 1', 'epsilon_alpha2_beta1 vs 2'] },
    ];
    const scenes = fs.readdirSync(SCENES).filter((f) => f.endsWith('.png')).length;
    for (const [i, c] of cases.entries()) {
      const common = { model: MODEL, folder: SCENES, composites: ['epsilon_alpha2_beta1'], ...c.seed, grid: false, npy: false };
      const single = await audit({ ...common, out: path.join(tmp, `single-${i}`) });
      const out = path.join(tmp, `sharded-${i}`);
      for (const index of [0, 1]) await audit({ ...common, out, shard: { index, count: 2 } });
      const merged = await mergeShards(out);
      for (const s of [single, merged]) {
        expect([s.outputRelevance, s.dual, s.clip, s.contrast]).to.deep.equal(c.facts);
        expect(s.methods).to.deep.equal(c.titles);
      }
      const rows = (s: typeof single) => s.inputs.map((r) => JSON.stringify({ input: r.input, status: r.status, prediction: r.prediction, methods: r.methods }));
      expect(single.counts.ok).to.equal(scenes);
      expect(rows(merged)).to.deep.equal(rows(single));
    }
  });

  it('the CLI: --output-relevance contrastive|softmax, --dual, --no-clip, --contrast; usage errors exit 2', function () {
    if (!fs.existsSync(MODEL) || !fs.existsSync(SCENES)) this.skip();
    const scene = path.join(SCENES, fs.readdirSync(SCENES).find((f) => f.endsWith('.png'))!);
    const run = (...a: string[]) => spawnSync(process.execPath, [CLI, ...a], { encoding: 'utf8' });
    const out = path.join(tmp, 'cli');
    const r = run('explain', MODEL, scene, '--composite', 'epsilon_plus', '--method', 'gradient', '--contrast', '1,Bag', '--out', out, '--quiet', '--no-grid');
    expect(r.status, r.stderr).to.equal(0);
    const rec = JSON.parse(fs.readFileSync(path.join(out, path.basename(scene).replace(/\.png$/, '.record.json')), 'utf8'));
    expect(rec.samples[0].methods.map((m: { title: string; contrast: number }) => [m.title, m.contrast])).to.deep.equal([
      ['epsilon_plus vs 1', 1], ['epsilon_plus vs 8', 8], ['gradient vs 1', 1], ['gradient vs 8', 8]]);
    expect(fs.existsSync(path.join(out, path.basename(scene).replace(/\.png$/, '.epsilon_plus_vs_8.relevance.npy')))).to.equal(true);
    const json = path.join(tmp, 'r.json');
    const j = run('explain', MODEL, scene, '--output-relevance', 'contrastive', '--dual', 'others', '--no-clip', '--json', json, '--quiet');
    expect(j.status, j.stderr).to.equal(0);
    expect(JSON.parse(fs.readFileSync(json, 'utf8'))).to.include({ outputRelevance: 'contrastive', dual: 'others', clipped: false });
    for (const [args, msg] of [
      [['--dual', 'negated'], /--dual needs --output-relevance contrastive/],
      [['--output-relevance', 'softmax', '--contrast', '2'], /--contrast starts from target − K/],
      [['--output-relevance', 'contrastive', '--dual', 'up'], /--dual must be one of others, negated/],
      [['--output-relevance', 'sideways'], /--output-relevance must be one of logit, one, contrastive, softmax/],
    ] as [string[], RegExp][]) {
      const e = run('explain', MODEL, scene, ...args);
      expect(e.status, args.join(' ')).to.equal(2);
      expect(e.stderr).to.match(msg);
    }
  });
});
