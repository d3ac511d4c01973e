/** `onnx-lrp evaluate`: table, files, checks, and its usage errors. */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { encodeNpy, float32 } from '../../lib';
import { ROOT, needShared } from '../helpers/paths';

const CLI = path.join(ROOT, 'dist/scripts/cli.js');
const G = path.join(ROOT, 'spec/fixtures/golden');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('CLI evaluate', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-evaluate-'));

  it('prints AOPC per method and order, conservation and randomisation; writes curves and a summary', () => {
    const out = path.join(tmp, 'ev');
    const r = run('evaluate', path.join(G, 'gap-op17.onnx'), '--input', path.join(G, 'gap.input.npy'), '--methods', 'epsilon_plus,gradient,cam,occlusion,random',
      '--orders', 'morf,lerf', '--replacement', 'mean', '--box', '0,0,8,8', '--conservation', '--randomize', '1', '--out', out);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.match(/method\s+AOPC morf\s+AOPC lerf\s+mass acc\s+pointing/);
    expect(r.out).to.match(/^cam\s+-?\d+\.\d{3}\s+-?\d+\.\d{3}/m);
    expect(r.out).to.match(/conservation \(epsilon_plus\)/);
    expect(r.out).to.match(/model randomisation .*\n(.*\n)*epsilon_plus\s+top 1: /);
    for (const f of ['curves-morf.csv', 'curves-lerf.csv', 'curves-morf.png', 'summary.json']) expect(fs.existsSync(path.join(out, f)), f).to.equal(true);
    const s = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(s.methods.map((m: { label: string }) => m.label)).to.deep.equal(['epsilon_plus', 'gradient', 'cam', 'occlusion', 'random']);
    expect(s.methods[0].aopc.morf).to.be.a('number');
    expect(fs.readFileSync(path.join(out, 'curves-morf.csv'), 'utf8').split('\n')[0]).to.equal('step,fraction,epsilon_plus,gradient,cam,occlusion,random');
  });

  it('marks methods that do not apply as n/a and explains why', () => {
    const r = run('evaluate', path.join(G, 'mlp-op17.onnx'), '--input', path.join(G, 'mlp.input.npy'), '--methods', 'gradcam,gradient', '--orders', 'morf');
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.match(/gradcam\s+n\/a/);
    expect(r.out).to.match(/gradcam: n\/a: .*mlp-op17\.onnx: Grad-CAM needs a 4-D activation/);
  });

  it('reads IDX images with the metadata normalisation (mnist-8, fixed batch made symbolic)', function () {
    const images = needShared(this, 'data/mnist/t10k-images-idx3-ubyte.gz');
    const model = needShared(this, 'models/mnist-8.onnx');
    const r = run('evaluate', model, '--images', images, '--count', '4', '--methods', 'epsilon_plus,random', '--orders', 'morf', '--replacement', 'black');
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.match(/fixed batch size of 1/);
    expect(r.out).to.match(/accuracy on these inputs: 100\.0%/);
  });

  it('usage errors exit with 2', () => {
    const x = path.join(tmp, 'x.npy');
    fs.writeFileSync(x, encodeNpy(float32([1, 3, 16, 16])));
    const m = path.join(G, 'gap-op17.onnx');
    for (const [args, msg] of [
      [[m], /exactly one of --input/],
      [[m, '--input', x, '--methods', 'lime'], /unknown method 'lime'/],
      [[m, '--input', x, '--orders', 'up'], /unknown order 'up'/],
      [[m, '--input', x, '--box', '1,2'], /--box expects X0,Y0,X1,Y1/],
      [[m, '--input', x, '--patch', '0'], /--patch expects an integer ≥ 1/],
    ] as [string[], RegExp][]) {
      const r = run('evaluate', ...args);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.err).to.match(msg);
    }
  });
});
