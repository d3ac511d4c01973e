/** The command line: explain, inspect and audit, their successes and their errors (exit codes, messages). */
import { expect } from 'chai';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { decodeImage, readNpy, tensorToImage, writePng } from '../../lib';
import { MODELS, ROOT } from '../helpers/paths';

const CLI = path.join(ROOT, 'dist/scripts/cli.js');
const G = path.join(ROOT, 'spec/fixtures/golden');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('CLI', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-cli-'));

  it('--help lists the commands', () => {
    const r = run('--help');
    expect(r.code).to.equal(0);
    expect(r.out).to.contain('explain').and.to.contain('inspect');
  });

  it('explain writes .npy relevance equal to the golden map', () => {
    const out = path.join(tmp, 'r.npy');
    const json = path.join(tmp, 'r.json');
    const r = run('explain', path.join(G, 'cnn_pool-op13.onnx'), '--input', path.join(G, 'cnn_pool.input.npy'), '--composite', 'epsilon_plus_flat',
      '--target', JSON.parse(fs.readFileSync(path.join(G, 'cnn_pool.golden.json'), 'utf8')).targets.join(','), '--save-npy', out, '--json', json);
    expect(r.code, r.err).to.equal(0);
    const got = readNpy(out).data as Float32Array;
    const ref = readNpy(path.join(G, 'cnn_pool.epsilon_plus_flat.logit.npy')).data as Float32Array;
    let num = 0;
    let den = 0;
    ref.forEach((v, i) => { num += (got[i] - v) ** 2; den += v * v; });
    expect(Math.sqrt(num / den)).to.be.below(1e-4);
    const rec = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(rec.composite).to.equal('epsilon_plus_flat');
    expect(rec.outputRelevance).to.equal('logit');
    expect(rec.samples).to.have.length(2);
  });

  it('explain with gamma box takes per-channel bounds', () => {
    const r = run('explain', path.join(G, 'cnn_bn-op17.onnx'), path.join(G, 'cnn_bn.input.npy'), '--composite', 'epsilon_gamma_box', '--low=-3.5,-3,-3', '--high=3.5,2.5,2.5');
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.contain('sample 1');
  });

  it('explain with a rule map', () => {
    const map = path.join(tmp, 'map.json');
    fs.writeFileSync(map, JSON.stringify({ composite: 'epsilon', rules: [{ first: true, rule: 'flat' }, { op: 'Conv', rule: 'zPlus' }] }));
    const r = run('explain', path.join(G, 'vgg-op17.onnx'), '--input', path.join(G, 'vgg.input.npy'), '--rule-map', map, '--json', path.join(tmp, 'm.json'));
    expect(r.code, r.err).to.equal(0);
    const plan = JSON.parse(fs.readFileSync(path.join(tmp, 'm.json'), 'utf8')).plan;
    expect(plan[0].rule).to.equal('flat');
    expect(plan.filter((e: { op: string; rule: string }) => e.op === 'Conv').slice(1).every((e: { rule: string }) => e.rule === 'zPlus')).to.equal(true);
  });

  it('errors: unknown composite (2), missing model file (1), bad target (1), missing input (2)', () => {
    expect(run('explain', path.join(G, 'mlp-op17.onnx'), '--input', path.join(G, 'mlp.input.npy'), '--composite', 'nope').code).to.equal(2);
    const missing = run('explain', path.join(tmp, 'nope.onnx'), '--input', path.join(G, 'mlp.input.npy'));
    expect(missing.code).to.equal(1);
    expect(missing.err).to.contain('nope.onnx');
    const bad = run('explain', path.join(G, 'mlp-op17.onnx'), '--input', path.join(G, 'mlp.input.npy'), '--target', '12');
    expect(bad.code).to.equal(1);
    expect(bad.err).to.contain('target 12 is out of range');
    expect(run('explain', path.join(G, 'mlp-op17.onnx')).code).to.equal(2);
    const shape = run('explain', path.join(G, 'cnn_bn-op17.onnx'), '--input', path.join(G, 'mlp.input.npy'));
    expect(shape.code).to.equal(1);
    expect(shape.err).to.match(/shape/);
  });

  it('inspect prints the IR summary, canonizer actions and the plan', () => {
    const r = run('inspect', path.join(G, 'resnet-op13.onnx'), '--composite', 'epsilon_alpha2_beta1');
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.contain('merged BatchNormalization');
    expect(r.out).to.contain('alphaBeta');
    expect(r.out).to.contain('unsupported: none');
  });
  describe('images, --out, audit', () => {
    const model = path.join(G, 'cnn_bn-op17.onnx');
    let imgs: string;
    before(async () => {
      imgs = path.join(tmp, 'imgs');
      fs.mkdirSync(path.join(imgs, 'sub'), { recursive: true });
      const x = readNpy(path.join(G, 'cnn_bn.input.npy'));
      await writePng(path.join(imgs, 'a.png'), tensorToImage(x, { valueRange: [-3, 3], index: 0 }));
      await writePng(path.join(imgs, 'sub', 'b.png'), tensorToImage(x, { valueRange: [-3, 3], index: 1 }));
      fs.writeFileSync(path.join(tmp, 'labels.json'), JSON.stringify('abcdefghij'.split('').map((c) => `class-${c}`)));
      fs.writeFileSync(path.join(tmp, 'broken.png'), 'not an image at all');
    });

    it('--help on every command (exit 0)', () => {
      for (const c of ['explain', 'inspect', 'audit']) {
        const r = run(c, '--help');
        expect(r.code, c).to.equal(0);
        expect(r.out).to.contain(`usage: onnx-lrp ${c}`);
      }
      expect(run('audit', '--help').out).to.contain('--out DIR').and.to.contain('Resumable');
      expect(run('explain', '--help').out).to.contain('--cmap').and.to.contain('--resize').and.to.contain('--labels');
      expect(run('nope').code).to.equal(2);
    });

    it('explain images with several composites writes heatmaps, overlays, .npy, a JSON record and a grid', async () => {
      const out = path.join(tmp, 'ex');
      const r = run('explain', model, path.join(imgs, 'a.png'), path.join(imgs, 'sub', 'b.png'), '--composite', 'epsilon_plus_flat,epsilon_gamma_box',
        '--low=-3', '--high=3', '--labels', path.join(tmp, 'labels.json'), '--out', out, '--cmap', 'coldnhot', '--overlay', '0.4', '--percentile', '99', '--display-size', '64');
      expect(r.code, r.err).to.equal(0);
      expect(r.out).to.contain('a.png: predicted').and.to.contain('epsilon_gamma_box: relevance');
      for (const stem of ['a', 'b']) {
        for (const c of ['epsilon_plus_flat', 'epsilon_gamma_box']) {
          for (const f of [`${stem}.${c}.heatmap.png`, `${stem}.${c}.overlay.png`, `${stem}.${c}.relevance.npy`]) expect(fs.existsSync(path.join(out, f)), f).to.equal(true);
        }
      }
      const heat = await decodeImage(path.join(out, 'a.epsilon_plus_flat.heatmap.png'));
      expect([heat.width, heat.height]).to.deep.equal([64, 64]);
      const grid = await decodeImage(path.join(out, 'a.grid.png'));
      expect(grid.width).to.be.greaterThan(3 * 64); // three cells of --display-size
      const both = await decodeImage(path.join(out, 'comparison.png')); // every input a row
      expect(both.height).to.be.greaterThan(grid.height + 64);
      expect(readNpy(path.join(out, 'a.epsilon_gamma_box.relevance.npy')).dims).to.deep.equal([1, 3, 16, 16]);
      const rec = JSON.parse(fs.readFileSync(path.join(out, 'a.record.json'), 'utf8'));
      expect(rec).to.include({ model, input: path.join(imgs, 'a.png'), kind: 'image', outputRelevance: 'default' }); // none asked for: each method's own, recorded per method
      const s = rec.samples[0];
      expect(s.targetLabel).to.equal(`class-${'abcdefghij'[s.target]}`);
      expect(s.score).to.be.a('number');
      expect(s.methods.map((m: { composite: string }) => m.composite)).to.deep.equal(['epsilon_plus_flat', 'epsilon_gamma_box']);
      expect(s.methods[1].options).to.include({ low: -3, high: 3 });
      expect(s.methods[1].rules.some((e: { rule: string }) => e.rule === 'zBox')).to.equal(true);
      expect(s.methods[0]).to.include({ outputRelevance: 'logit', outputRelevanceDefault: true });
      expect(s.methods[0].conservation).to.have.keys('outputRelevance', 'inputRelevance', 'absorbed', 'worstNode');
    });

    it('explain: baseline methods (Grad-CAM, SmoothGrad) are grid columns beside composites', () => {
      const out = path.join(tmp, 'methods');
      const r = run('explain', model, path.join(imgs, 'a.png'), '--composite', 'epsilon,gradcam', '--method', 'smoothgrad', '--out', out);
      expect(r.code, r.err).to.equal(0);
      expect(r.out).to.contain('gradcam: map sum');
      const rec = JSON.parse(fs.readFileSync(path.join(out, 'a.record.json'), 'utf8'));
      expect(rec.samples[0].methods.map((m: { title: string; mode: string }) => `${m.title}:${m.mode}`)).to.deep.equal(['epsilon:lrp', 'gradcam:attribution', 'smoothgrad:attribution']);
      expect(rec.samples[0].methods[1].conservation.absorbed).to.equal(null);
      expect(fs.existsSync(path.join(out, 'a.grid.png'))).to.equal(true);
      expect(run('explain', model, path.join(imgs, 'a.png'), '--method', 'nope').code).to.equal(2);
    });

    it('explain errors: undecodable image (1), wrong size with --resize none (1), bad --cmap/--overlay/--resize (2), missing input (1)', () => {
      const bad = run('explain', model, path.join(tmp, 'broken.png'));
      expect(bad.code).to.equal(1);
      expect(bad.err).to.contain('broken.png').and.to.match(/cannot decode/);
      const size = run('explain', model, path.join(imgs, 'a.png'), '--size', '8', '--resize', 'none');
      expect(size.code).to.equal(1);
      expect(size.err).to.match(/16x16.*8x8/);
      expect(run('explain', model, path.join(imgs, 'a.png'), '--cmap', 'rainbow').code).to.equal(2);
      expect(run('explain', model, path.join(imgs, 'a.png'), '--overlay', '2').code).to.equal(2);
      expect(run('explain', model, path.join(imgs, 'a.png'), '--resize', 'squash').code).to.equal(2);
      expect(run('explain', model, path.join(imgs, 'a.png'), '--composite', 'epsilon,nope').code).to.equal(2);
      const missing = run('explain', model, path.join(tmp, 'nope.png'));
      expect(missing.code).to.equal(1);
      expect(missing.err).to.contain('nope.png');
      // one bad input among good ones: the others are still explained, exit 1
      const mixed = run('explain', model, path.join(tmp, 'broken.png'), path.join(imgs, 'a.png'), '--out', path.join(tmp, 'mixed'));
      expect(mixed.code).to.equal(1);
      expect(fs.existsSync(path.join(tmp, 'mixed', 'a.record.json'))).to.equal(true);
    });

    it('audit: exit 0, summaries and report; a rerun resumes; a bad input gives exit 1 with the reason recorded', () => {
      const out = path.join(tmp, 'audit');
      const r = run('audit', model, imgs, '--out', out, '--composite', 'epsilon,epsilon_plus_flat');
      expect(r.code, r.err).to.equal(0);
      expect(r.out).to.contain('2 inputs').and.to.contain('index.html');
      expect(r.err).to.match(/2\/2 100%/); // progress lines (stderr is not a TTY here)
      for (const f of ['summary.csv', 'summary.json', 'index.html', 'sub/b.epsilon.overlay.png']) expect(fs.existsSync(path.join(out, f)), f).to.equal(true);
      const again = run('audit', model, imgs, '--out', out, '--composite', 'epsilon,epsilon_plus_flat');
      expect(again.code).to.equal(0);
      expect(again.out).to.contain('2 kept from an earlier run');
      fs.copyFileSync(path.join(tmp, 'broken.png'), path.join(imgs, 'sub', 'broken.png'));
      try {
        const withBad = run('audit', model, imgs, '--out', out, '--composite', 'epsilon,epsilon_plus_flat');
        expect(withBad.code).to.equal(1);
        expect(withBad.out).to.contain('failed: sub/broken.png: cannot decode the image: not a PNG, JPEG or BMP image');
        const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
        expect(summary.counts).to.include({ inputs: 3, failed: 1, resumed: 2 });
      } finally {
        fs.rmSync(path.join(imgs, 'sub', 'broken.png'));
      }
    });

    it('audit killed mid-run (SIGKILL): the rerun keeps what was finished and completes the rest', async () => {
      const folder = path.join(tmp, 'many'), out = path.join(tmp, 'killed');
      fs.mkdirSync(folder, { recursive: true });
      for (let i = 0; i < 8; i++) fs.copyFileSync(path.join(imgs, i % 2 ? 'a.png' : 'sub/b.png'), path.join(folder, `img${i}.png`));
      const child = spawn(process.execPath, [CLI, 'audit', model, folder, '--out', out, '--composite', 'epsilon,epsilon_plus_flat,epsilon_alpha2_beta1'], { stdio: 'ignore' });
      const exited = new Promise((res) => child.on('exit', res));
      // no clock: wait for the first record (mocha's timeout guards a hang), then kill
      while (!fs.existsSync(path.join(out, 'img0.record.json'))) await new Promise((res) => setTimeout(res, 20));
      child.kill('SIGKILL');
      await exited;
      // how far the child got before the kill depends on the machine: make the state the same everywhere, as if
      // the kill had landed right after img0's record (later records gone, their images possibly written) and
      // in the middle of writing img5's record (a temporary file a killed writer leaves)
      for (let i = 1; i < 8; i++) fs.rmSync(path.join(out, `img${i}.record.json`), { force: true });
      fs.rmSync(path.join(out, 'summary.json'), { force: true });
      fs.writeFileSync(path.join(out, '.img5.record.json.tmp-99999999-0'), '{"trunc');
      const r = run('audit', model, folder, '--out', out, '--composite', 'epsilon,epsilon_plus_flat,epsilon_alpha2_beta1');
      expect(r.code, r.err).to.equal(0);
      const kept = Number(/(\d+) kept from an earlier run/.exec(r.out)?.[1] ?? 0);
      expect(kept, r.out).to.equal(1); // img0 kept, the other seven redone
      const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
      expect(summary.counts).to.include({ inputs: 8, ok: 8, failed: 0 });
      expect(fs.readdirSync(out).filter((f) => f.includes('.tmp-'))).to.deep.equal([]);
    });

    it('audit errors: missing --out/FOLDER or unknown composite (2); missing folder, missing model, bad target (1)', () => {
      expect(run('audit', model, imgs).code).to.equal(2);
      expect(run('audit', model, '--out', path.join(tmp, 'x')).code).to.equal(2);
      expect(run('audit', model, imgs, '--out', imgs).code).to.equal(2);
      expect(run('audit', model, imgs, '--out', path.join(tmp, 'x'), '--composite', 'nope').code).to.equal(2);
      const nf = run('audit', model, path.join(tmp, 'nofolder'), '--out', path.join(tmp, 'x'));
      expect(nf.code).to.equal(1);
      expect(nf.err).to.contain('nofolder');
      const nm = run('audit', path.join(tmp, 'nomodel.onnx'), imgs, '--out', path.join(tmp, 'x'));
      expect(nm.code).to.equal(1);
      expect(nm.err).to.contain('nomodel.onnx');
      const bt = run('audit', model, imgs, '--out', path.join(tmp, 'x'), '--target', '10');
      expect(bt.code).to.equal(1);
      expect(bt.err).to.contain('target 10 is out of range');
    });

    it('inspect errors: missing model (1), unknown composite (2)', () => {
      const r = run('inspect', path.join(tmp, 'nope.onnx'));
      expect(r.code).to.equal(1);
      expect(r.err).to.contain('nope.onnx');
      expect(run('inspect', model, '--composite', 'nope').code).to.equal(2);
      const ok = run('inspect', model);
      expect(ok.out).to.match(/ops: .*Conv×/);
    });

    it('the shipped models: explain a sample image and audit the samples folder', function () {
      const samples = path.join(MODELS, 'samples');
      const shipped = ['fashion-vgg', 'fashion-resnet', 'fashion-mlp', 'fashion-mobilenet'].map((m) => path.join(MODELS, `${m}.onnx`)).filter((f) => fs.existsSync(f));
      if (!shipped.length || !fs.existsSync(samples)) {
        console.log('      (skipped: models/*.onnx or models/samples/ not there yet)');
        this.skip();
      }
      const images = fs.readdirSync(samples).filter((f) => /\.(png|jpe?g|bmp)$/i.test(f)).slice(0, 1).map((f) => path.join(samples, f));
      for (const m of shipped) {
        const r = run('explain', m, ...images, '--composite', 'epsilon_plus_flat,epsilon_gamma_box', '--out', path.join(tmp, 'shipped', path.basename(m)));
        expect(r.code, `${m}: ${r.err}`).to.equal(0);
        expect(r.out).to.match(/predicted \d+ \(/); // class names from the metadata
      }
      const a = run('audit', shipped[0], samples, '--out', path.join(tmp, 'shipped-audit'), '--composite', 'epsilon_plus_flat', '--no-npy');
      expect(a.code, a.err).to.equal(0);
    });
  });
});
