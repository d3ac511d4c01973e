/** The command line's outputs: --keep-all (every value's relevance and the per-node conservation table),
 * --no-canonize, grids sized by --display-size, the preprocessing notice only for images and never under
 * --quiet, and inspect's one-line summary of alike canonizer actions. */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { decodeImage, float32, readNpy, saveModel, tensorToImage, writeNpy, writePng } from '../../lib';
import { summariseActions } from '../../scripts/commands/inspect';
import { safeNames } from '../../scripts/commands/keep-all';
import { graphOf, node, prng, randomTensor } from '../helpers/onnx';
import { ROOT } from '../helpers/paths';

const CLI = path.join(ROOT, 'dist/scripts/cli.js');
const G = path.join(ROOT, 'spec/fixtures/golden');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const NOTICE = /no metadata JSON beside the model: assuming torchvision ImageNet preprocessing/;

describe('CLI outputs', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-cli-out-'));

  it('explain --keep-all writes every value\'s relevance (.npy per value, index.json) and the per-node conservation table', () => {
    const out = path.join(tmp, 'keep');
    const r = run('explain', path.join(G, 'resnet-op17.onnx'), path.join(G, 'resnet.input.npy'), '--composite', 'epsilon_plus_flat', '--method', 'gradient,random', '--out', out, '--keep-all');
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.match(/random: no per-node relevance/);
    const dir = path.join(out, 'resnet.input.epsilon_plus_flat.values');
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as { file: string; value: string; shape: number[]; node: string | null; op: string | null }[];
    expect(index.length).to.be.greaterThan(5);
    for (const e of index) {
      expect(e.file).to.match(/^[A-Za-z0-9][A-Za-z0-9._-]*\.npy$/);
      const t = readNpy(path.join(dir, e.file));
      expect(t.dims, e.value).to.deep.equal(e.shape);
      expect(t.dims[0]).to.equal(2); // the batch of two samples
    }
    // the input's relevance equals the map written beside it; the logits' relevance is the seed
    const input = index.find((e) => e.node === null)!;
    const inputMap = readNpy(path.join(dir, input.file)).data as Float32Array;
    const r0 = readNpy(path.join(out, 'resnet.input-0.epsilon_plus_flat.relevance.npy')).data as Float32Array;
    r0.forEach((v, i) => expect(inputMap[i]).to.equal(v));
    const logits = index.find((e) => e.op === 'Gemm')!;
    const seed = readNpy(path.join(dir, logits.file)).data as Float32Array;
    expect(seed.filter((v) => v !== 0)).to.have.length(2); // one-hot times the logit, per sample
    // conservation table: every planned node, per sample; atOutputs − atInputs = the absorbed share
    const csv = fs.readFileSync(path.join(out, 'resnet.input.epsilon_plus_flat.conservation.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).to.equal('node,op,rule,sample,relevance_at_outputs,relevance_at_inputs,absorbed');
    const json = JSON.parse(fs.readFileSync(path.join(out, 'resnet.input.epsilon_plus_flat.conservation.json'), 'utf8'));
    expect(csv.length - 1).to.equal(2 * json.nodes.length);
    for (const n of json.nodes) {
      const [a, b] = [n.atOutputs[0], n.atInputs[0]];
      if (a !== 0) expect(n.absorbed[0]).to.be.closeTo((a - b) / Math.abs(a), 1e-9);
    }
    expect(fs.existsSync(path.join(out, 'resnet.input.gradient.values', 'index.json'))).to.equal(true);
    // --keep-all needs --out
    expect(run('explain', path.join(G, 'resnet-op17.onnx'), path.join(G, 'resnet.input.npy'), '--keep-all').code).to.equal(2);
  });

  it('value names become file-safe and unique', () => {
    const m = safeNames(['/a/b:0', 'a_b_0', '../../etc/passwd', 'A_B_0', '', 'x'.repeat(300)]);
    expect([...m.values()]).to.deep.equal(['a_b_0', 'a_b_0-2', 'etc_passwd', 'A_B_0-3', 'value', 'x'.repeat(100)]);
  });

  it('--no-canonize leaves BatchNormalization unmerged (its own plan entry; the map changes)', () => {
    const model = path.join(G, 'cnn_bn-op13.onnx'), x = path.join(G, 'cnn_bn.input.npy');
    const a = path.join(tmp, 'canon.json'), b = path.join(tmp, 'nocanon.json');
    expect(run('explain', model, x, '--composite', 'epsilon_plus', '--json', a, '--save-npy', `${a}.npy`, '--quiet').code).to.equal(0);
    const r = run('explain', model, x, '--composite', 'epsilon_plus', '--json', b, '--save-npy', `${b}.npy`, '--quiet', '--no-canonize');
    expect(r.code, r.err).to.equal(0);
    const ops = (f: string) => (JSON.parse(fs.readFileSync(f, 'utf8')).plan as { op: string }[]).map((e) => e.op);
    expect(ops(a)).not.to.include('BatchNormalization');
    expect(ops(b).filter((o) => o === 'BatchNormalization')).to.have.length(2);
    const [ra, rb] = [`${a}.npy`, `${b}.npy`].map((f) => readNpy(f).data as Float32Array);
    let diff = 0, norm = 0;
    ra.forEach((v, i) => { diff += (v - rb[i]) ** 2; norm += v * v; });
    expect(Math.sqrt(diff / norm)).to.be.above(1e-3);
  });

  it('the grid PNG follows --display-size (default cells of 140 px)', async () => {
    const sizes: Record<string, [number, number]> = {};
    for (const ds of ['', '64', '300']) {
      const out = path.join(tmp, `grid${ds}`);
      const r = run('explain', path.join(G, 'cnn_bn-op17.onnx'), path.join(G, 'cnn_bn.input.npy'), '--composite', 'epsilon,epsilon_plus', '--out', out, '--quiet', ...(ds ? ['--display-size', ds] : []));
      expect(r.code, r.err).to.equal(0);
      const g = await decodeImage(path.join(out, 'cnn_bn.input-0.grid.png'));
      sizes[ds] = [g.width, g.height];
      if (ds) {
        const h = await decodeImage(path.join(out, 'cnn_bn.input-0.epsilon.heatmap.png'));
        expect(h.width).to.equal(Number(ds));
      }
    }
    // three columns (input, two maps): the width grows with the cell
    expect(sizes['64'][0]).to.be.below(sizes[''][0]);
    expect(sizes['300'][0]).to.be.above(sizes[''][0]);
    expect(sizes['300'][0] - sizes['64'][0]).to.be.within(3 * (300 - 64) - 10, 3 * (300 - 64) + 10);
    expect(sizes['300'][1] - sizes['64'][1]).to.be.within(300 - 64 - 10, 300 - 64 + 10);
  });

  describe('the ImageNet preprocessing notice (a 3×224×224 model without metadata)', () => {
    let model: string, npy: string, png: string, npyFolder: string, pngFolder: string;
    before(async () => {
      const rng = prng(7);
      const g = graphOf({
        nodes: [node('GlobalAveragePool', ['x'], ['p']), node('Flatten', ['p'], ['f']), node('Gemm', ['f', 'W', 'b'], ['y'], { transB: 1 })],
        inputs: { x: [1, 3, 224, 224] }, constants: { W: randomTensor(rng, [4, 3]), b: randomTensor(rng, [4]) }, outputs: ['y'],
      });
      model = path.join(tmp, 'rgb224.onnx');
      fs.writeFileSync(model, saveModel(g));
      npyFolder = path.join(tmp, 'npy-only');
      pngFolder = path.join(tmp, 'with-png');
      fs.mkdirSync(npyFolder);
      fs.mkdirSync(pngFolder);
      npy = path.join(npyFolder, 'x.npy');
      writeNpy(npy, randomTensor(rng, [1, 3, 224, 224], 0, 1));
      png = path.join(pngFolder, 'x.png');
      await writePng(png, tensorToImage(float32([1, 3, 32, 32], randomTensor(rng, [1, 3, 32, 32], 0, 1).data), { valueRange: [0, 1] }));
    });

    it('is printed for images, not for .npy inputs, and never under --quiet', () => {
      const img = run('explain', model, png);
      expect(img.code, img.err).to.equal(0);
      expect(img.err).to.match(NOTICE);
      expect(img.err.split('\n').filter((l) => NOTICE.test(l))).to.have.length(1);
      const t = run('explain', model, npy);
      expect(t.code, t.err).to.equal(0);
      expect(t.err).not.to.match(NOTICE);
      const q = run('explain', model, png, '--quiet');
      expect(q.code, q.err).to.equal(0);
      expect(q.err).to.equal('');
      expect(q.out).to.equal('');
    });

    it('audit: printed for a folder with images, not for a folder of .npy, never under --quiet', () => {
      const a = run('audit', model, pngFolder, '--out', path.join(tmp, 'a1'));
      expect(a.code, a.err).to.equal(0);
      expect(a.err).to.match(NOTICE);
      const b = run('audit', model, npyFolder, '--out', path.join(tmp, 'a2'));
      expect(b.code, b.err).to.equal(0);
      expect(b.err).not.to.match(NOTICE);
      const c = run('audit', model, pngFolder, '--out', path.join(tmp, 'a3'), '--quiet');
      expect(c.code, c.err).to.equal(0);
      expect(c.err).to.equal('');
    });
  });

  it('inspect prints alike canonizer actions (e.g. removed Identity nodes) on one line; --json lists each', () => {
    expect(summariseActions([
      "removed Identity 'i0'", "merged BatchNormalization 'bn' into Conv 'c'", "removed Identity 'i1'", "removed Identity 'i2'", "removed Identity 'i3'", "removed Identity 'i4'",
      "made residual Add 'a' an explicit Sum",
    ])).to.deep.equal([
      "removed Identity ×5: 'i0', 'i1', 'i2', … (2 more)", "merged BatchNormalization 'bn' into Conv 'c'", "made residual Add 'a' an explicit Sum",
    ]);
    // a model with 16 Identity nodes in a chain before its Gemm
    const rng = prng(3);
    const ids = Array.from({ length: 16 }, (_, i) => node('Identity', [i ? `v${i - 1}` : 'x'], [`v${i}`], {}, `id${i}`));
    const g = graphOf({
      nodes: [...ids, node('Gemm', ['v15', 'W', 'b'], ['y'], { transB: 1 })],
      inputs: { x: [1, 4] }, constants: { W: randomTensor(rng, [3, 4]), b: randomTensor(rng, [3]) }, outputs: ['y'],
    });
    const model = path.join(tmp, 'identities.onnx');
    fs.writeFileSync(model, saveModel(g));
    const r = run('inspect', model);
    expect(r.code, r.err).to.equal(0);
    const lines = r.out.split('\n').filter((l) => /Identity/.test(l) && /removed/.test(l));
    expect(lines, r.out).to.deep.equal(["  removed Identity ×16: 'id0', 'id1', 'id2', … (13 more)"]);
    const j = JSON.parse(run('inspect', model, '--json').out);
    expect(j.canonizer.filter((a: string) => a.startsWith('removed Identity'))).to.have.length(16);
  });
});
