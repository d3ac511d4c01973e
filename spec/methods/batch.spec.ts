/** The batched methods on models with a fixed batch (PyTorch's default export): a fixed batch of 1 runs with a
 * symbolic batch (checked against single runs), a model for which that rewrite is not valid runs one row at a
 * time, a larger fixed batch runs in chunks of exactly that size; the maps equal those of the same model with a
 * symbolic batch. And the CLI explains such a model with every batched method. */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Dim, Explainer, Graph, float32, loadModelFile, openModel, ortBackend, saveModel, sizeOf, Tensor } from '../../lib';
import { attribute, rowRunner } from '../../lib/methods';
import { gradientOf } from '../../lib/methods/gradient';
import { prng } from '../../lib/methods/util';
import { MODELS, ROOT } from '../helpers/paths';

type F32 = Tensor & { data: Float32Array };
const CLI = path.join(ROOT, 'dist/scripts/cli.js');

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function expectClose(got: Float32Array, ref: Float32Array, what: string, rel = 1e-4): void {
  expect(got.length, what).to.equal(ref.length);
  const scale = Math.max(maxAbs(ref), 1e-12);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref[i]));
  expect(worst / scale, what).to.be.below(rel);
}

/** A shipped model (symbolic batch) with its input and output batch fixed to `batch`. */
function fixedCopy(file: string, batch: number): Graph {
  const spec = loadModelFile(file).graph.toSpec();
  const fix = (dims: readonly Dim[] | null) => (dims ? [batch, ...dims.slice(1)] : dims);
  spec.inputs = spec.inputs.map((v) => ({ ...v, dims: fix(v.dims) }));
  spec.outputs = spec.outputs.map((v) => ({ ...v, dims: fix(v.dims) }));
  return new Graph(spec);
}

function explainerOf(graph: Graph, source: string): Explainer {
  return Explainer.create({ graph, irVersion: 8, producer: 'spec', metadata: {} }, ortBackend, { source });
}

/** input [B, 2, 6, 6] → Reshape(to `shape`) → Gemm (72 → 3), seeded weights. */
function linear(batch: Dim, shape: number[], seed = 3): { e: Explainer; W: Float32Array } {
  const rng = prng(seed);
  const W = Float32Array.from({ length: 3 * 72 }, () => rng() * 2 - 1);
  const b = Float32Array.from({ length: 3 }, () => rng() - 0.5);
  const graph = new Graph({
    nodes: [
      { name: 'flat', opType: 'Reshape', domain: '', inputs: ['input', 'shape'], outputs: ['f'], attrs: {} },
      { name: 'fc', opType: 'Gemm', domain: '', inputs: ['f', 'W', 'b'], outputs: ['logits'], attrs: { transB: 1 } },
    ],
    inputs: [{ name: 'input', dtype: 'float32', dims: [batch, 2, 6, 6] }],
    outputs: [{ name: 'logits', dtype: 'float32', dims: [batch, 3] }],
    constants: new Map<string, Tensor>([
      ['W', float32([3, 72], W)], ['b', float32([3], b)],
      ['shape', { dtype: 'int64', dims: [2], data: BigInt64Array.from(shape.map(BigInt)) }],
    ]),
    opsets: { '': 17 },
  });
  return { e: explainerOf(graph, `linear [${batch}] ${JSON.stringify(shape)}`), W };
}

function randomInput(dims: number[], seed: number): F32 {
  const rng = prng(seed);
  return float32(dims, Float32Array.from({ length: sizeOf(dims) }, () => rng() * 2 - 1)) as F32;
}

const BATCHED = [
  { method: 'smoothgrad', opts: { samples: 6 } },
  { method: 'integrated_gradients', opts: { steps: 8 } },
  { method: 'occlusion', opts: { patch: 7 } },
  { method: 'gradcam', opts: {} },
];

describe('batched methods on models with a fixed batch', () => {
  it('a fixed batch of 1 (a shipped model re-exported so) gives the maps of the symbolic-batch model', async () => {
    const file = path.join(MODELS, 'fashion-vgg.onnx');
    const ref = openModel(file);
    const fixed = explainerOf(fixedCopy(file, 1), 'fashion-vgg (batch 1)');
    try {
      expect(fixed.graph.inputs[0].dims![0]).to.equal(1);
      const x = randomInput([1, 1, 28, 28], 5);
      for (const { method, opts } of BATCHED) {
        const a = await attribute(fixed, x, { method, ...opts, batchSize: 4 });
        const b = await attribute(ref, x, { method, ...opts, batchSize: 4 });
        expect(a.targets).to.deep.equal(b.targets);
        expectClose(a.relevance.data, b.relevance.data, method);
      }
      for (const { method, opts } of BATCHED) {
        const calls: [number, number][] = [];
        await attribute(fixed, x, { method, ...opts, batchSize: 4, onProgress: (d, t) => calls.push([d, t]) });
        const total = calls[0][1];
        expect(calls[0], method).to.deep.equal([0, total]);
        expect(calls[calls.length - 1], method).to.deep.equal([total, total]);
        expect(calls.every(([d, t], i) => t === total && (i === 0 || d >= calls[i - 1][0])), method).to.equal(true);
        if (method !== 'gradcam') expect(calls.length, method).to.be.above(2);
      }
      const runner = await rowRunner(fixed, x);
      expect(runner.fixed).to.equal(undefined);
      expect(runner.explainer.graph.inputs[0].dims![0]).to.be.a('string');
      expect(runner.note).to.match(/fixed batch of 1: rows run with a symbolic batch/);
      expect((await rowRunner(ref, x)).explainer).to.equal(ref);
    } finally {
      await fixed.release();
      await ref.release();
    }
  });

  it('runs one row at a time when the symbolic batch is not valid for the model (Reshape to [1, -1])', async () => {
    const { e, W } = linear(1, [1, -1]);
    const sym = linear('N', [-1, 72]).e;
    try {
      const x = randomInput([1, 2, 6, 6], 8);
      const runner = await rowRunner(e, x);
      expect(runner.fixed).to.equal(1);
      expect(runner.explainer).to.equal(e);
      expect(runner.note).to.match(/not valid for it .*rows run one at a time/);
      const sg = await attribute(e, x, { method: 'smoothgrad', samples: 5, target: 2 });
      expectClose(sg.relevance.data, W.slice(2 * 72, 3 * 72), 'smoothgrad of a linear model = its weights');
      const ig = await attribute(e, x, { method: 'integrated_gradients', steps: 4, target: 1 });
      const d = ig.details as { sums: number[]; delta: number[] };
      expect(d.sums[0]).to.be.closeTo(d.delta[0], 1e-4 * Math.max(1, Math.abs(d.delta[0])));
      const occ = await attribute(e, x, { method: 'occlusion', patch: 3 });
      const occRef = await attribute(sym, x, { method: 'occlusion', patch: 3 });
      expectClose(occ.relevance.data, occRef.relevance.data, 'occlusion');
    } finally {
      await e.release();
      await sym.release();
    }
  });

  it('an input of the wrong shape is the caller\'s error, and does not decide how rows run', async () => {
    const { e } = linear(1, [1, 72]);
    try {
      let err: Error | undefined;
      try { await attribute(e, randomInput([1, 2, 5, 5], 1), { method: 'smoothgrad', samples: 2 }); } catch (x) { err = x as Error; }
      expect(err?.message).to.match(/input 'input' has shape \[1x2x5x5\], the model expects \[1x2x6x6\]/);
      const runner = await rowRunner(e, randomInput([1, 2, 6, 6], 2));
      expect(runner.fixed).to.equal(undefined);
      expect(runner.note).to.match(/Reshape 'flat': target shape \[1,72\] → \[-1,72\]/);
    } finally { await e.release(); }
  });

  it('a fixed batch of 2 runs in chunks of 2, the last one padded', async () => {
    const { e } = linear(2, [2, 72]);
    const sym = linear('N', [-1, 72]).e;
    try {
      const x = randomInput([2, 2, 6, 6], 9);
      expect((await rowRunner(e, x)).fixed).to.equal(2);
      const three = randomInput([3, 2, 6, 6], 10);
      const g = await gradientOf(e, three, 'gradient_x_input', [0, 1, 2]);
      const gRef = await gradientOf(sym, three, 'gradient_x_input', [0, 1, 2]);
      expectClose(g.relevance.data, gRef.relevance.data, 'three rows through a model of batch 2');
      for (const { method, opts } of BATCHED.slice(0, 3)) {
        const a = await attribute(e, x, { method, ...opts, batchSize: 3 });
        const b = await attribute(sym, x, { method, ...opts });
        expectClose(a.relevance.data, b.relevance.data, method);
      }
    } finally {
      await e.release();
      await sym.release();
    }
  });

  it('the CLI explains a fixed-batch export with smoothgrad, integrated_gradients and occlusion', function () {
    this.timeout(60000);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-batch-'));
    const model = path.join(tmp, 'fixed.onnx');
    fs.writeFileSync(model, saveModel(fixedCopy(path.join(MODELS, 'fashion-vgg.onnx'), 1)));
    fs.copyFileSync(path.join(MODELS, 'fashion-vgg.json'), path.join(tmp, 'fixed.json'));
    for (const m of ['smoothgrad', 'integrated_gradients', 'occlusion']) {
      const r = spawnSync(process.execPath, [CLI, 'explain', model, path.join(MODELS, 'samples/0-tshirt-top.png'), '--method', m, '--quiet'], { encoding: 'utf8' });
      expect(r.status, `${m}: ${r.stderr}`).to.equal(0);
      expect(r.stderr, m).to.not.match(/expects \[1x1x28x28\]/);
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });
});
