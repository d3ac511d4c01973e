/** Maps that vanish are not written silently: relevance at the input exactly 0 (a logit made by biases alone), or
 * ≥ 99% absorbed (a logit of ~1e-14 against epsilon 1e-6) gives a warning naming the cause and the remedy, on the
 * explanation, the attribution, the audit record and the explain command's stderr; the remedy (a smaller
 * epsilon) clears it. And explain reports each method in its own terms: no absorbed share for gradient maps,
 * completeness for Integrated Gradients; the batched methods show progress on stderr unless --quiet. */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Explainer, Graph, float32, ortBackend, saveModel, Tensor, writeNpy } from '../../lib';
import { attribute } from '../../lib/methods';
import { loadInput, writeInputFiles } from '../../lib/audit';
import { explainInput, methodsFor } from '../../lib/methods/run';
import { MODELS, ROOT } from '../helpers/paths';

const CLI = path.join(ROOT, 'dist/scripts/cli.js');

/** input [N, 4] → Gemm (4 → 2; weights ×`scale`, bias `bias`) [→ Relu → Gemm (2 → 2, bias `bias2`)]. */
function graphOf(opts: { scale: number; bias: number[]; dead?: boolean }): Graph {
  const W1 = float32([2, 4], [1, 2, 3, 4, -1, 0.5, 2, -3].map((v) => v * opts.scale));
  const nodes = [{ name: 'fc1', opType: 'Gemm', domain: '', inputs: ['input', 'W1', 'b1'], outputs: [opts.dead ? 'h' : 'logits'], attrs: { transB: 1 } as Record<string, number> }];
  const constants = new Map<string, Tensor>([['W1', W1], ['b1', float32([2], opts.bias)]]);
  if (opts.dead) {
    nodes.push({ name: 'relu', opType: 'Relu', domain: '', inputs: ['h'], outputs: ['r'], attrs: {} });
    nodes.push({ name: 'fc2', opType: 'Gemm', domain: '', inputs: ['r', 'W2', 'b2'], outputs: ['logits'], attrs: { transB: 1 } });
    constants.set('W2', float32([2, 2], [1, 0, 0, 1]));
    constants.set('b2', float32([2], [2, 1]));
  }
  return new Graph({
    nodes, constants, opsets: { '': 17 },
    inputs: [{ name: 'input', dtype: 'float32', dims: ['N', 4] }],
    outputs: [{ name: 'logits', dtype: 'float32', dims: ['N', 2] }],
  });
}

function explainerOf(graph: Graph, source: string): Explainer {
  return Explainer.create({ graph, irVersion: 8, producer: 'spec', metadata: {} }, ortBackend, { source });
}

/** logits ~1e-14: weights 1e-14, no bias. */
const tiny = () => graphOf({ scale: 1e-14, bias: [0, 0] });
/** every ReLU inactive (bias −100): the logits are fc2's biases, the input plays no part. */
const dead = () => graphOf({ scale: 1, bias: [-100, -100], dead: true });
const X = float32([1, 4], [1, 1, 1, 1]);

describe('warnings for maps that vanish', () => {
  it('a logit of ~1e-14 under epsilon 1e-6 is ≥ 99% absorbed: warned with epsilon as the cause; a smaller epsilon clears it', async () => {
    const e = explainerOf(tiny(), 'tiny');
    try {
      const r = await e.explain(X, { composite: 'epsilon', target: 0 });
      expect(Math.abs(r.scores[0])).to.be.below(1e-12);
      expect(r.conservation.absorbed[0]).to.be.at.least(0.99);
      expect(r.warnings).to.have.length(1);
      expect(r.warnings[0]).to.match(/absorbed/).and.to.match(/small against epsilon 1e-6/).and.to.match(/smaller epsilon \(--epsilon\)/).and.to.match(/--zero-bias/);
      const ok = await e.explain(X, { composite: 'epsilon', target: 0, options: { epsilon: 1e-30 } });
      expect(ok.conservation.absorbed[0]).to.be.below(0.01);
      expect(ok.warnings).to.deep.equal([]);
    } finally { await e.release(); }
  });

  it('relevance exactly 0 at the input (a logit made by biases): warned with biases as the cause; per sample in a batch', async () => {
    const e = explainerOf(dead(), 'dead');
    try {
      const r = await e.explain(X, { composite: 'epsilon', target: 0 });
      expect(Array.from(r.relevance.data as Float32Array).every((v) => v === 0)).to.equal(true);
      expect(r.warnings).to.have.length(1);
      expect(r.warnings[0]).to.match(/exactly 0 \(the map is blank/).and.to.match(/biases/).and.to.not.match(/small against epsilon/);
      const two = await e.explain(float32([2, 4], [1, 1, 1, 1, 2, 2, 2, 2]), { composite: 'epsilon_plus' });
      expect(two.warnings.map((w) => w.slice(0, 10))).to.deep.equal(['sample 0: ', 'sample 1: ']);
      const g = await attribute(e, X, { method: 'gradient' });
      expect(g.warnings).to.have.length(1);
      expect(g.warnings[0]).to.match(/gradient at the input is exactly 0/).and.to.not.match(/epsilon|absorbed/);
      const sg = await attribute(e, X, { method: 'smoothgrad', samples: 3 });
      expect(sg.warnings[0]).to.match(/smoothgrad map is exactly 0/);
    } finally { await e.release(); }
  });

  it('a map that does not vanish has no warning', async () => {
    const e = explainerOf(graphOf({ scale: 1, bias: [0.1, -0.2] }), 'plain');
    try {
      const r = await e.explain(X, { composite: 'epsilon', target: 0 });
      expect(r.warnings).to.deep.equal([]);
      expect((await attribute(e, X, { method: 'integrated_gradients', steps: 4 })).warnings).to.deep.equal([]);
    } finally { await e.release(); }
  });

  it('the audit record of a vanishing map carries the warning; a gradient map records no absorbed share', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-warn-'));
    const e = explainerOf(tiny(), 'tiny');
    try {
      const npy = path.join(tmp, 'x.npy');
      writeNpy(npy, X);
      const ie = await explainInput(e, await loadInput(npy), { methods: methodsFor(['epsilon'], undefined, undefined, ['gradient']), target: 0 });
      const rec = await writeInputFiles(tmp, 'x', ie, { model: 'tiny.onnx', images: false });
      const [lrp, grad] = rec.samples[0].methods;
      expect(lrp.warnings?.[0]).to.match(/small against epsilon/);
      expect(lrp.conservation.absorbed).to.be.at.least(0.99);
      expect(grad.warnings).to.equal(undefined);
      expect(grad.conservation.absorbed).to.equal(null);
    } finally {
      await e.release();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('explain reports each method in its own terms', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-warn-cli-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'explain', ...args], { encoding: 'utf8' });

  it('warns on stderr (also under --quiet) and exits 0 for a vanishing map', () => {
    const model = path.join(tmp, 'tiny.onnx');
    fs.writeFileSync(model, saveModel(tiny()));
    const npy = path.join(tmp, 'x.npy');
    writeNpy(npy, X);
    for (const quiet of [[], ['--quiet']]) {
      const r = run(model, npy, '--composite', 'epsilon', '--target', '0', ...quiet);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.match(/onnx-lrp: warning: .*x\.npy: epsilon: only .* reaches the input .*small against epsilon 1e-6.*--epsilon/);
    }
    const fixed = run(model, npy, '--composite', 'epsilon', '--target', '0', '--epsilon', '1e-30');
    expect(fixed.status, fixed.stderr).to.equal(0);
    expect(fixed.stderr).to.not.match(/warning/);
  });

  it('audit lists the vanishing maps on stderr and in summary.json', () => {
    const model = path.join(tmp, 'tiny.onnx');
    fs.writeFileSync(model, saveModel(tiny()));
    const folder = path.join(tmp, 'in');
    fs.mkdirSync(folder);
    writeNpy(path.join(folder, 'a.npy'), X);
    const out = path.join(tmp, 'audit');
    const r = spawnSync(process.execPath, [CLI, 'audit', model, folder, '--out', out, '--composite', 'epsilon', '--method', 'gradient', '--quiet'], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/onnx-lrp: warning: a\.npy: epsilon: only .* reaches the input/);
    const row = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).inputs[0];
    expect(row.methods.epsilon.warnings[0]).to.match(/small against epsilon/);
    expect(row.methods.gradient.warnings).to.equal(undefined);
    expect(row.methods.gradient.conservationError).to.equal(null);
  });

  it('LRP: the absorbed share; gradient: no conservation claim; IG: completeness; progress lines for the batched methods', () => {
    const r = run(path.join(MODELS, 'fashion-vgg.onnx'), path.join(MODELS, 'samples/0-tshirt-top.png'), '--composite', 'epsilon_plus_flat',
      '--method', 'gradient,integrated_gradients,occlusion');
    expect(r.status, r.stderr).to.equal(0);
    const line = (m: string) => r.stdout.split('\n').find((l) => l.trim().startsWith(`${m}:`)) ?? '';
    expect(line('epsilon_plus_flat')).to.match(/% absorbed by biases and stabilisers/);
    expect(line('gradient')).to.match(/map sum .*no conservation claim/).and.to.not.match(/absorbed/);
    expect(line('integrated_gradients')).to.match(/f\(x\) − f\(baseline\) .*completeness: sum \/ difference/).and.to.not.match(/absorbed/);
    expect(line('occlusion')).to.not.match(/absorbed/);
    // stderr is not a terminal here: plain lines, the first at the start and the last at the end
    expect(r.stderr).to.match(/^ ?0\/33 +0% .*integrated_gradients$/m).and.to.match(/^33\/33 100% .* done$/m);
    expect(r.stderr).to.match(/^ ?0\/49 +0% .*occlusion$/m);
    const quiet = run(path.join(MODELS, 'fashion-vgg.onnx'), path.join(MODELS, 'samples/0-tshirt-top.png'), '--method', 'occlusion', '--quiet');
    expect(quiet.status, quiet.stderr).to.equal(0);
    expect(quiet.stderr).to.equal('');
  });
});
