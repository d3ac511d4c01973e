/** audit --evaluate: region-perturbation AOPC per input and method (and localisation with a ground-truth
 * sidecar) in records, summary.json, summary.csv and index.html; resumability; equality with the library
 * evaluation; the CLI flags. On the shipped Fashion-MNIST VGG with models/samples/*.png, few regions. */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  AuditSummary, Graph, audit, evaluateMethods, float32, imageOptionsFor, loadInput, localization, openModel, readMetadata, readNpy, saveModel, summaryCsv, writeNpy, methodFor,
} from '../../lib';
import { evaluationSettings, withoutSidecars } from '../../lib/audit/evaluate-input';
import { MODELS, ROOT } from '../helpers/paths';

const MODEL = path.join(MODELS, 'fashion-vgg.onnx');
const SAMPLES = path.join(MODELS, 'samples');
const CLI = path.join(ROOT, 'dist/scripts/cli.js');
const PICKED = ['0-tshirt-top.png', '1-trouser.png', '7-sneaker.png', '8-bag.png'];
const EVAL = { orders: ['morf', 'lerf'] as ('morf' | 'lerf')[], patch: 7, steps: 8 };
const METHODS = ['epsilon_plus_flat', 'gradient'];

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** A CSV line split into fields (the values here hold no quotes or commas). */
const fields = (line: string) => line.split(',');

describe('audit --evaluate', function () {
  let tmp: string, inDir: string, out: string;
  const methods = () => [{ title: 'epsilon_plus_flat', composite: 'epsilon_plus_flat', options: {} }, { title: 'gradient', attribution: 'gradient' }];

  before(function () {
    if (!fs.existsSync(MODEL) || !fs.existsSync(SAMPLES)) {
      console.log('      (skipped: models/fashion-vgg.onnx or models/samples/ not there)');
      this.skip();
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-audit-eval-'));
    inDir = path.join(tmp, 'in');
    out = path.join(tmp, 'out');
    fs.mkdirSync(path.join(inDir, 'sub'), { recursive: true });
    for (const f of PICKED.slice(0, 3)) fs.copyFileSync(path.join(SAMPLES, f), path.join(inDir, f));
    fs.copyFileSync(path.join(SAMPLES, PICKED[3]), path.join(inDir, 'sub', PICKED[3]));
    // ground truth: a box for the trouser (its left half), a mask for the bag (the centre)
    fs.writeFileSync(path.join(inDir, '1-trouser.box.json'), JSON.stringify({ box: [0, 0, 14, 28] }));
    const mask = new Float32Array(28 * 28);
    for (let y = 7; y < 21; y++) for (let x = 7; x < 21; x++) mask[y * 28 + x] = 1;
    writeNpy(path.join(inDir, 'sub/8-bag.mask.npy'), float32([28, 28], mask));
  });
  after(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

  let plain: AuditSummary, evaluated: AuditSummary;

  it('an audit without evaluation has no evaluation fields or columns (and the mask is not an input)', async () => {
    plain = await audit({ model: MODEL, folder: inDir, out, methods: methods() });
    expect(plain.counts).to.include({ inputs: 4, ok: 4, failed: 0 });
    expect(plain.inputs.map((r) => r.input)).to.deep.equal(['0-tshirt-top.png', '1-trouser.png', '7-sneaker.png', 'sub/8-bag.png']);
    expect(plain.evaluation).to.equal(undefined);
    expect(plain.inputs[0].methods.gradient.aopc).to.equal(undefined);
    expect(fs.readFileSync(path.join(out, 'summary.csv'), 'utf8')).not.to.contain('aopc');
    expect(fs.readFileSync(path.join(out, 'index.html'), 'utf8')).not.to.contain('Faithfulness');
    expect(withoutSidecars(['a.npy', 'a.mask.npy', 'b.mask.npy', 'c.png', 'c.mask.npy'])).to.deep.equal(['a.npy', 'b.mask.npy', 'c.png']);
  });

  it('adding evaluation redoes the earlier records and records AOPC per input and method, with means in summary.json', async () => {
    evaluated = await audit({ model: MODEL, folder: inDir, out, methods: methods(), evaluate: EVAL });
    expect(evaluated.counts).to.include({ inputs: 4, ok: 4, resumed: 0 });
    const ev = evaluated.evaluation!;
    expect(ev.settings).to.deep.include({ orders: ['morf', 'lerf'], patch: 7, steps: 8, perStep: 1, replacement: 'zeros', score: 'logit', seed: 0, tolerance: 0 });
    expect(Object.keys(ev.methods)).to.deep.equal(METHODS);
    for (const r of evaluated.inputs) {
      for (const m of METHODS) {
        const x = r.methods[m];
        expect(x.aopc!.morf, `${r.input} ${m}`).to.be.a('number').and.satisfy(Number.isFinite);
        expect(x.aopc!.lerf).to.be.a('number').and.satisfy(Number.isFinite);
        expect(x.aopc).not.to.have.property('random');
      }
    }
    for (const m of METHODS) {
      const mean = evaluated.inputs.reduce((a, r) => a + r.methods[m].aopc!.morf!, 0) / 4;
      expect(ev.methods[m].aopc.morf).to.be.closeTo(mean, 1e-12);
      expect(ev.methods[m]).to.include({ rows: 4, localized: 2 });
    }
    // LRP's most-relevant-first removal lowers the logit more than its least-relevant-first removal
    expect(ev.methods.epsilon_plus_flat.aopc.morf).to.be.greaterThan(ev.methods.epsilon_plus_flat.aopc.lerf!);
    // ground truth: only the two inputs with a sidecar
    const by = (name: string) => evaluated.inputs.find((r) => r.input === name)!;
    expect(by('1-trouser.png').groundTruth).to.equal('1-trouser.box.json');
    expect(by('sub/8-bag.png').groundTruth).to.equal('sub/8-bag.mask.npy');
    expect(by('0-tshirt-top.png').groundTruth).to.equal(undefined);
    expect(by('0-tshirt-top.png').methods.gradient.pointingHit).to.equal(undefined);
    for (const name of ['1-trouser.png', 'sub/8-bag.png']) {
      for (const m of METHODS) {
        const x = by(name).methods[m];
        expect(x.pointingHit).to.be.oneOf([0, 1]);
        expect(x.massAccuracy).to.be.within(0, 1);
      }
    }
    // the record holds the same values; summary.json is what audit() returned
    const rec = JSON.parse(fs.readFileSync(path.join(out, 'sub/8-bag.record.json'), 'utf8'));
    expect(rec.groundTruth).to.equal('sub/8-bag.mask.npy');
    expect(rec.samples[0].methods[1].evaluation.aopc).to.deep.equal(by('sub/8-bag.png').methods.gradient.aopc);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(json.evaluation).to.deep.equal(JSON.parse(JSON.stringify(ev)));
    // nothing half-written
    expect(walk(out).filter((f) => path.basename(f).includes('.tmp-'))).to.deep.equal([]);
  });

  it('summary.csv: evaluation columns after the others, equal to summary.json; index.html: a mean-AOPC table and per-row values', () => {
    const lines = fs.readFileSync(path.join(out, 'summary.csv'), 'utf8').trim().split('\n');
    const head = fields(lines[0]);
    const plainHead = fields(summaryCsv(plain).split('\n')[0]);
    expect(plainHead).to.have.length(22);
    expect(head.slice(0, 22)).to.deep.equal(plainHead);
    expect(head.slice(22)).to.deep.equal([
      'ground_truth', 'epsilon_plus_flat:aopc_morf', 'epsilon_plus_flat:aopc_lerf', 'epsilon_plus_flat:mass_accuracy', 'epsilon_plus_flat:pointing',
      'gradient:aopc_morf', 'gradient:aopc_lerf', 'gradient:mass_accuracy', 'gradient:pointing',
    ]);
    expect(head.indexOf('epsilon_plus_flat:relevance_sum')).to.equal(12); // the earlier columns keep their places
    const col = (name: string) => head.indexOf(name);
    for (const [i, r] of evaluated.inputs.entries()) {
      const f = fields(lines[i + 1]);
      expect(f[0]).to.equal(r.input);
      for (const m of METHODS) {
        expect(Number(f[col(`${m}:aopc_morf`)])).to.equal(r.methods[m].aopc!.morf);
        expect(Number(f[col(`${m}:aopc_lerf`)])).to.equal(r.methods[m].aopc!.lerf);
        expect(f[col(`${m}:pointing`)]).to.equal(r.methods[m].pointingHit === undefined ? '' : String(r.methods[m].pointingHit));
      }
      expect(f[col('ground_truth')]).to.equal(r.groundTruth ?? '');
    }
    const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
    expect(html).to.contain('<h2>Faithfulness</h2>').and.to.contain('<th>AOPC morf</th><th>AOPC lerf</th>').and.to.contain('<th>mass accuracy</th>');
    const table = html.slice(html.indexOf('<table class="eval">'), html.indexOf('</table>'));
    expect(table).to.contain('<code>epsilon_plus_flat</code>').and.to.contain('<code>gradient</code>');
    expect((html.match(/<div class="cap aopc">AOPC morf /g) ?? []).length).to.equal(4 * METHODS.length);
    expect(html).to.match(/AOPC morf [-\d.]+ · lerf [-\d.]+ · mass [\d.]+ · (hit|miss)/);
  });

  it('a rerun resumes every evaluated input; other evaluation settings or a changed ground truth redo what they touch', async () => {
    const rec = path.join(out, '0-tshirt-top.record.json');
    const t = fs.statSync(rec).mtimeMs;
    const again = await audit({ model: MODEL, folder: inDir, out, methods: methods(), evaluate: { ...EVAL } });
    expect(again.counts.resumed).to.equal(4);
    expect(fs.statSync(rec).mtimeMs).to.equal(t);
    expect(again.inputs.map((r) => r.methods)).to.deep.equal(evaluated.inputs.map((r) => r.methods));
    expect(again.evaluation).to.deep.equal(evaluated.evaluation);
    // a new box for the trouser: only that input is redone
    fs.writeFileSync(path.join(inDir, '1-trouser.box.json'), JSON.stringify([14, 0, 28, 28]));
    const moved = await audit({ model: MODEL, folder: inDir, out, methods: methods(), evaluate: EVAL });
    expect(moved.inputs.filter((r) => !r.resumed).map((r) => r.input)).to.deep.equal(['1-trouser.png']);
    // other settings: everything redone
    const other = await audit({ model: MODEL, folder: inDir, out, methods: methods(), evaluate: { ...EVAL, orders: ['morf'], replacement: 'black' } });
    expect(other.counts.resumed).to.equal(0);
    expect(other.evaluation!.settings.replacement).to.be.closeTo((0 - 0.286) / 0.353, 1e-9);
    expect(other.inputs[0].methods.gradient.aopc).to.have.all.keys('morf');
    // and back without evaluation: redone again, with no evaluation fields
    const none = await audit({ model: MODEL, folder: inDir, out, methods: methods() });
    expect(none.counts.resumed).to.equal(0);
    expect(none.evaluation).to.equal(undefined);
    expect(none.inputs[0].methods.epsilon_plus_flat.aopc).to.equal(undefined);
  });

  it('AOPC, mass accuracy and pointing equal the library evaluation (evaluateMethods, localization) of one input', async () => {
    const s = await audit({ model: MODEL, folder: inDir, out: path.join(tmp, 'lib'), methods: methods(), evaluate: EVAL });
    const row = s.inputs.find((r) => r.input === 'sub/8-bag.png')!;
    const ex = openModel(MODEL);
    try {
      const meta = readMetadata(MODEL);
      const x = (await loadInput(path.join(inDir, 'sub/8-bag.png'), imageOptionsFor(ex, meta))).tensor;
      const mask = float32([28, 28], new Float32Array(28 * 28).map((_, i) => (Math.floor(i / 28) >= 7 && Math.floor(i / 28) < 21 && i % 28 >= 7 && i % 28 < 21 ? 1 : 0)));
      const lib = await evaluateMethods(ex, x, {
        methods: [methodFor('epsilon_plus_flat', {}), methodFor('gradient')],
        orders: EVAL.orders, perturbation: { patch: EVAL.patch, steps: EVAL.steps }, region: mask,
      });
      for (const [i, m] of METHODS.entries()) {
        expect(lib[i].error).to.equal(undefined);
        expect(row.methods[m].aopc, m).to.deep.equal(lib[i].aopc);
        expect(row.methods[m].massAccuracy).to.equal(lib[i].localization!.massAccuracy[0]);
        expect(row.methods[m].pointingHit).to.equal(lib[i].localization!.pointingHits[0]);
      }
      // and against the saved map directly
      const rel = readNpy(path.join(tmp, 'lib', row.methods.gradient.files.relevance!));
      expect(localization(rel, mask).massAccuracy[0]).to.equal(row.methods.gradient.massAccuracy);
    } finally {
      await ex.release();
    }
  });

  it('a model with a fixed batch of 1 is perturbed in batches through a symbolic batch dimension, with the same AOPC', async () => {
    const ex = openModel(MODEL);
    const spec = ex.graph.toSpec();
    await ex.release();
    spec.inputs = spec.inputs.map((v) => ({ ...v, dims: [1, ...(v.dims ?? []).slice(1)] }));
    spec.outputs = spec.outputs.map((v) => ({ ...v, dims: [1, ...(v.dims ?? []).slice(1)] }));
    spec.valueInfo = new Map();
    const fixed = path.join(tmp, 'fixed.onnx');
    fs.writeFileSync(fixed, saveModel(new Graph(spec)));
    fs.copyFileSync(MODEL.replace(/\.onnx$/, '.json'), path.join(tmp, 'fixed.json'));
    const notices: string[] = [];
    const s = await audit({ model: fixed, folder: inDir, out: path.join(tmp, 'fixed-out'), methods: methods(), evaluate: EVAL, notice: (m) => notices.push(m) });
    expect(s.counts).to.include({ ok: 4, failed: 0 });
    expect(notices.join('\n')).to.match(/fixed batch size of 1.*symbolic batch/);
    const ref = await audit({ model: MODEL, folder: inDir, out: path.join(tmp, 'lib'), methods: methods(), evaluate: EVAL });
    for (const [i, r] of s.inputs.entries()) {
      for (const m of METHODS) expect(r.methods[m].aopc!.morf).to.be.closeTo(ref.inputs[i].methods[m].aopc!.morf!, 1e-4);
    }
  });

  it('errors: bad settings before any input; a ground truth of the wrong size fails that input with the file named', async () => {
    const fails = async (o: Partial<Parameters<typeof audit>[0]>, re: RegExp) => {
      let err: Error | undefined;
      try { await audit({ model: MODEL, folder: inDir, out: path.join(tmp, 'o3'), ...o }); } catch (e) { err = e as Error; }
      expect(err?.message, JSON.stringify(o)).to.match(re);
    };
    await fails({ evaluate: { orders: ['sideways' as 'morf'] } }, /evaluate: unknown order 'sideways'/);
    await fails({ evaluate: { patch: 0 } }, /evaluate: patch must be an integer ≥ 1/);
    await fails({ evaluate: { replacement: 'grey' as 'zeros' } }, /evaluate: unknown replacement 'grey'/);
    await fails({ evaluate: true, image: { layout: 'NHWC' } }, /needs NCHW inputs/);
    expect(fs.existsSync(path.join(tmp, 'o3', 'summary.json'))).to.equal(false);
    expect(evaluationSettings(true, {})).to.deep.include({ orders: ['morf'], patch: 4, steps: null, replacement: 'zeros' });
    const bad = path.join(tmp, 'bad');
    fs.mkdirSync(bad);
    fs.copyFileSync(path.join(SAMPLES, PICKED[0]), path.join(bad, 'a.png'));
    writeNpy(path.join(bad, 'a.mask.npy'), float32([10, 10], new Float32Array(100).fill(1)));
    fs.copyFileSync(path.join(SAMPLES, PICKED[1]), path.join(bad, 'b.png'));
    fs.writeFileSync(path.join(bad, 'b.box.json'), '{"box": [1, 2]}');
    const s = await audit({ model: MODEL, folder: bad, out: path.join(tmp, 'bad-out'), composites: ['epsilon_plus_flat'], evaluate: { patch: 7, steps: 2 } });
    expect(s.counts).to.include({ inputs: 2, failed: 2 });
    expect(s.inputs[0].error).to.match(/^a\.mask\.npy: mask of shape \[10x10\] does not match the input's 28x28/);
    expect(s.inputs[1].error).to.match(/^b\.box\.json: expected a box/);
  });

  it('CLI: --evaluate with its flags prints the mean AOPC table; settings without --evaluate or bad values are usage errors', () => {
    const cli = (...args: string[]) => {
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
      return { code: r.status, out: r.stdout, err: r.stderr };
    };
    const o = path.join(tmp, 'cli');
    const r = cli('audit', MODEL, inDir, '--out', o, '--composite', 'epsilon_plus_flat', '--method', 'gradient', '--evaluate', '--orders', 'morf,random',
      '--patch', '7', '--regions', '6', '--per-step', '2', '--replacement', 'mean', '--seed', '3', '--quiet');
    expect(r.code, r.err).to.equal(0);
    const s = JSON.parse(fs.readFileSync(path.join(o, 'summary.json'), 'utf8')) as AuditSummary;
    expect(s.evaluation!.settings).to.deep.include({ orders: ['morf', 'random'], patch: 7, steps: 6, perStep: 2, replacement: 'mean', seed: 3 });
    expect(fs.readFileSync(path.join(o, 'summary.csv'), 'utf8').split('\n')[0]).to.contain('gradient:aopc_random');
    const loud = cli('audit', MODEL, inDir, '--out', o, '--composite', 'epsilon_plus_flat', '--method', 'gradient', '--evaluate', '--orders', 'morf,random',
      '--patch', '7', '--regions', '6', '--per-step', '2', '--replacement', 'mean', '--seed', '3');
    expect(loud.code, loud.err).to.equal(0);
    expect(loud.out).to.contain('4 kept from an earlier run').and.to.match(/AOPC morf\s+AOPC random\s+mass acc\s+pointing/).and.to.match(/\ngradient\s+[-\d.]+/);
    expect(cli('audit', '--help').out).to.contain('--evaluate').and.to.contain('--replacement R');
    expect(cli('audit', MODEL, inDir, '--out', o, '--patch', '7').err).to.contain('--patch is an evaluation setting: add --evaluate');
    expect(cli('audit', MODEL, inDir, '--out', o, '--patch', '7').code).to.equal(2);
    expect(cli('audit', MODEL, inDir, '--out', o, '--evaluate', '--orders', 'up').code).to.equal(2);
    expect(cli('audit', MODEL, inDir, '--out', o, '--evaluate', '--regions', '0').code).to.equal(2);
    expect(cli('audit', MODEL, inDir, '--out', o, '--evaluate', '--replacement', 'grey').code).to.equal(2);
  });
});
