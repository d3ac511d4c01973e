/** The fused engine (lib/propagate/engine/fused): how it is chosen, what it does not cover (never silently),
 * targets and seed modes chosen in the graph, one session per plan and input shape. Its agreement with the
 * other engines on every golden model and composite is in ort.spec.ts and the golden specs. */
import { expect } from 'chai';
import * as path from 'path';
import { Explainer, Graph, Node, openModel, ortBackend, readNpy } from '../../../lib';
import type { Tensor } from '../../../lib';
import { KEPT_SESSIONS, MAX_SESSIONS } from '../../../lib/propagate/engine/fused/engine';
import { inferShapes } from '../../../lib/propagate/engine/fused/shapes';
import { FIXTURES, ROOT } from '../../helpers/paths';
import { relL2 } from '../../rules/reference';

const GOLDEN = path.join(FIXTURES, 'golden');

function sessions(e: Explainer): number {
  const fused = (e as unknown as { fused: { cache: Map<string, unknown> } | null }).fused;
  return fused?.cache.size ?? 0;
}

function net(nodes: Node[], consts: Record<string, Tensor>, dims: number[]): Explainer {
  const graph = new Graph({
    nodes, inputs: [{ name: 'x', dtype: 'float32', dims }], outputs: [{ name: 'y', dtype: 'float32', dims: null }],
    constants: new Map(Object.entries(consts)), opsets: { '': 17 },
  });
  return Explainer.create({ graph, irVersion: 8, producer: 'spec', metadata: {} }, ortBackend, { threads: 1 });
}

const f32 = (dims: number[], f: (i: number) => number): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => f(i)) });

describe('fused engine (lib/propagate/engine/fused)', function () {
  this.timeout(120000);
  const x = readNpy(path.join(GOLDEN, 'resnet.input.npy'));

  it('is the default for LRP composites it covers, and matches the per-layer engine', async () => {
    const e = openModel(path.join(GOLDEN, 'resnet-op17.onnx'), { threads: 1 });
    try {
      const auto = await e.explain(x, { composite: 'epsilon_plus_flat' });
      const ort = await e.explain(x, { composite: 'epsilon_plus_flat', engine: 'ort' });
      expect(auto.engine).to.deep.equal({ used: 'fused' });
      expect(relL2(auto.relevance.data, ort.relevance.data)).to.be.below(1e-5);
      expect(auto.predictions).to.deep.equal(ort.predictions);
      expect(auto.targets).to.deep.equal(ort.targets);
      expect(auto.scores).to.deep.equal(ort.scores);
    } finally {
      await e.release();
    }
  });

  it('chooses targets and the seed in the graph: explicit targets, predicted ones, output relevance one', async () => {
    const e = openModel(path.join(GOLDEN, 'vgg-op17.onnx'), { threads: 1 });
    try {
      for (const opts of [{ target: 3 }, { target: [1, 7] }, {}, { outputRelevance: 'one' as const, target: [2, 0] }]) {
        const a = await e.explain(x, { composite: 'epsilon', ...opts, engine: 'fused' });
        const b = await e.explain(x, { composite: 'epsilon', ...opts, engine: 'ort' });
        expect(a.engine.used).to.equal('fused');
        expect(a.targets).to.deep.equal(b.targets);
        expect(relL2(a.relevance.data, b.relevance.data), JSON.stringify(opts)).to.be.below(1e-5);
        a.conservation.inputRelevance.forEach((v, s) => expect(v).to.be.closeTo(b.conservation.inputRelevance[s], 1e-5 * Math.max(1, Math.abs(v))));
      }
      let msg = '';
      try { await e.explain(x, { composite: 'epsilon', target: 99, engine: 'fused' }); } catch (err) { msg = (err as Error).message; }
      expect(msg).to.match(/target 99 is out of range/);
    } finally {
      await e.release();
    }
  });

  it('compiles one session per plan and input shape, reused across calls, at most MAX_SESSIONS kept (KEPT_SESSIONS when large)', async () => {
    const e = openModel(path.join(GOLDEN, 'gap-op17.onnx'), { threads: 1 });
    const one: Tensor = { dtype: 'float32', dims: [1, ...x.dims.slice(1)], data: (x.data as Float32Array).slice(0, x.data.length / x.dims[0]) };
    try {
      const a = await e.explain(x, { composite: 'epsilon' });
      await e.explain(x, { composite: 'epsilon' });
      expect(sessions(e)).to.equal(1);
      const b = await e.explain(one, { composite: 'epsilon' });
      expect(sessions(e)).to.equal(2);
      expect(relL2(b.relevance.data, a.relevance.data.subarray(0, b.relevance.data.length))).to.be.below(1e-5);
      const [p, q] = await Promise.all([e.explain(x, { composite: 'epsilon' }), e.explain(x, { composite: 'epsilon' })]);
      expect(relL2(p.relevance.data, q.relevance.data)).to.equal(0);
      expect(sessions(e)).to.equal(2);
      // small graphs: up to MAX_SESSIONS kept, then the least recently used is released; a later call compiles it again
      for (let k = 1; k <= MAX_SESSIONS; k++) await e.explain(x, { composite: 'epsilon', options: { epsilon: k / 10 } });
      await new Promise((r) => setTimeout(r, 50));
      expect(sessions(e)).to.equal(MAX_SESSIONS);
      const again = await e.explain(x, { composite: 'epsilon' });
      expect(relL2(again.relevance.data, a.relevance.data)).to.equal(0);
      // large graphs: beyond the KEPT_SESSIONS most recent, only while they fit SESSION_BYTES (here: 1 byte)
      (e as unknown as { fused: { opts: { sessionBytes?: number } } }).fused.opts.sessionBytes = 1;
      for (const epsilon of [0.01, 0.02, 0.03]) await e.explain(x, { composite: 'epsilon', options: { epsilon } });
      await new Promise((r) => setTimeout(r, 50));
      expect(sessions(e)).to.equal(KEPT_SESSIONS);
    } finally {
      await e.release();
    }
  });

  it('falls back to the per-layer engine with the reason: gradient modes, ops without a lowering', async () => {
    const e = openModel(path.join(GOLDEN, 'mlp-op17.onnx'), { threads: 1 });
    const xm = readNpy(path.join(GOLDEN, 'mlp.input.npy'));
    try {
      const g = await e.explain(xm, { composite: 'gradient', engine: 'fused' });
      expect(g.engine).to.deep.equal({ used: 'ort', note: 'fused engine not used: the gradient mode is not lowered' });
      const auto = await e.explain(xm, { composite: 'gradient' });
      expect(auto.engine.used).to.equal('ort');
      expect(auto.engine.note).to.match(/gradient mode/);
      const ref = await e.explain(xm, { composite: 'epsilon', engine: 'reference' });
      expect(ref.engine).to.deep.equal({ used: 'reference' });
    } finally {
      await e.release();
    }
    // a Gather by a matrix of indices: no vjp lowering (indices of rank > 1)
    const m = net([
      { name: 'mm', opType: 'MatMul', domain: '', inputs: ['x', 'W'], outputs: ['h'], attrs: {} },
      { name: 'ga', opType: 'Gather', domain: '', inputs: ['h', 'I'], outputs: ['g'], attrs: { axis: 1 } },
      { name: 'fl', opType: 'Flatten', domain: '', inputs: ['g'], outputs: ['y'], attrs: {} },
    ], { W: f32([4, 3], (i) => Math.sin(i + 1)), I: { dtype: 'int64', dims: [2, 2], data: BigInt64Array.of(0n, 2n, 1n, 1n) } }, [2, 4]);
    try {
      const xs = f32([2, 4], (i) => Math.cos(i));
      const r = await m.explain(xs, { composite: 'epsilon', engine: 'fused' });
      expect(r.engine).to.deep.equal({ used: 'ort', note: "fused engine not used: node 'ga' (Gather), rule gradient: indices of rank > 1" });
      const ref = await m.explain(xs, { composite: 'epsilon', engine: 'reference' });
      expect(relL2(r.relevance.data, ref.relevance.data)).to.be.below(1e-5);
    } finally {
      await m.release();
    }
  });

  it('covers transformer graphs: the shipped ViT at batch 2, every relevance value and conservation row as per layer', async () => {
    const e = openModel(path.join(ROOT, 'models', 'fashion-vit.onnx'), { threads: 1 });
    const xs = f32([2, 1, 28, 28], (i) => Math.sin(i * 0.731) * 1.5);
    try {
      expect(inferShapes(e.graph, new Map([[e.graph.inputs[0].name, [3, 1, 28, 28]]])).get(e.graph.outputs[0].name)).to.deep.equal([3, 10]);
      for (const composite of ['attnlrp', 'cp_lrp']) {
        const a = await e.explain(xs, { composite, keepAll: true });
        const b = await e.explain(xs, { composite, keepAll: true, engine: 'ort' });
        expect(a.engine, composite).to.deep.equal({ used: 'fused' });
        for (const [k, v] of b.values!) {
          if (v.some((u) => u !== 0)) expect(relL2(a.values!.get(k)!, v), `${composite}: ${k}`).to.be.below(1e-5);
        }
        expect(a.conservation.nodes.map((n) => n.node)).to.deep.equal(b.conservation.nodes.map((n) => n.node));
        a.conservation.nodes.forEach((n, i) => n.atInputs.forEach((v, s) => expect(v, `${composite}: ${n.node}`).to.be.closeTo(b.conservation.nodes[i].atInputs[s], 1e-4 * Math.max(1, Math.abs(v)))));
      }
    } finally {
      await e.release();
    }
  });

  it('routes relevance through Concat, Transpose and Reshape like the other engines', async () => {
    const r = (i: number) => Math.sin(i * 1.7 + 0.3) * 0.5;
    const e = net([
      { name: 'ca', opType: 'Conv', domain: '', inputs: ['x', 'Wa'], outputs: ['a'], attrs: { pads: [1, 1, 1, 1] } },
      { name: 'cb', opType: 'Conv', domain: '', inputs: ['x', 'Wb'], outputs: ['b'], attrs: {} },
      { name: 'cat', opType: 'Concat', domain: '', inputs: ['a', 'K', 'b'], outputs: ['c'], attrs: { axis: 1 } },
      { name: 'relu', opType: 'Relu', domain: '', inputs: ['c'], outputs: ['h'], attrs: {} },
      { name: 'tr', opType: 'Transpose', domain: '', inputs: ['h'], outputs: ['t'], attrs: { perm: [0, 2, 3, 1] } },
      { name: 'rs', opType: 'Reshape', domain: '', inputs: ['t', 'S'], outputs: ['f'], attrs: {} },
      { name: 'fc', opType: 'Gemm', domain: '', inputs: ['f', 'G'], outputs: ['y'], attrs: {} },
    ], {
      Wa: f32([3, 2, 3, 3], r), Wb: f32([2, 2, 1, 1], (i) => r(i + 50)), K: f32([2, 1, 5, 5], () => 0.25),
      S: { dtype: 'int64', dims: [2], data: BigInt64Array.of(2n, -1n) }, G: f32([6 * 25, 4], (i) => r(i + 99)),
    }, [2, 2, 5, 5]);
    const xs = f32([2, 2, 5, 5], (i) => Math.cos(i * 0.37));
    try {
      for (const composite of ['epsilon', 'epsilon_plus_flat', 'epsilon_alpha2_beta1']) {
        const [a, b, c] = await Promise.all((['fused', 'ort', 'reference'] as const).map((engine) => e.explain(xs, { composite, engine, keepAll: true })));
        expect(a.engine, composite).to.deep.equal({ used: 'fused' });
        for (const [k, v] of c.values!) {
          expect(relL2(a.values!.get(k)!, v), `${composite} fused: ${k}`).to.be.below(1e-5);
          expect(relL2(b.values!.get(k)!, v), `${composite} ort: ${k}`).to.be.below(1e-5);
        }
      }
    } finally {
      await e.release();
    }
  });

  it('routes max-pool relevance like the other engines: disjoint windows (MaxUnpool), overlapping ones, ties', async () => {
    const r = (i: number) => Math.sin(i * 1.3 + 0.2) * 0.5;
    // [attributes, output side] on a 7×7 input
    const pools: Record<string, [Node['attrs'], number]> = {
      'disjoint 2×2 at stride 2': [{ kernel_shape: [2, 2], strides: [2, 2] }, 3],
      'disjoint 2×2 at stride 3 with pads and ceil_mode': [{ kernel_shape: [2, 2], strides: [3, 3], pads: [1, 1, 0, 0], ceil_mode: 1 }, 3],
      'overlapping 3×3 at stride 2 with pads': [{ kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, 4],
    };
    for (const [title, [attrs, side]] of Object.entries(pools)) {
      const e = net([
        { name: 'conv', opType: 'Conv', domain: '', inputs: ['x', 'W'], outputs: ['a'], attrs: { pads: [1, 1, 1, 1] } },
        { name: 'relu', opType: 'Relu', domain: '', inputs: ['a'], outputs: ['h'], attrs: {} }, // zeros: ties in a window
        { name: 'pool', opType: 'MaxPool', domain: '', inputs: ['h'], outputs: ['p'], attrs },
        { name: 'flat', opType: 'Flatten', domain: '', inputs: ['p'], outputs: ['f'], attrs: {} },
        { name: 'fc', opType: 'Gemm', domain: '', inputs: ['f', 'G'], outputs: ['y'], attrs: { transB: 1 } },
      ], { W: f32([3, 2, 3, 3], r), G: f32([4, 3 * side * side], (i) => r(i + 77)) }, [2, 2, 7, 7]);
      const xs = f32([2, 2, 7, 7], (i) => Math.cos(i * 0.41));
      try {
        for (const composite of ['epsilon', 'epsilon_plus_flat']) {
          const [a, b, c] = await Promise.all((['fused', 'ort', 'reference'] as const).map((engine) => e.explain(xs, { composite, engine, keepAll: true })));
          expect(a.engine, `${title}, ${composite}`).to.deep.equal({ used: 'fused' });
          for (const [k, v] of c.values!) {
            expect(relL2(a.values!.get(k)!, v), `${title}, ${composite} fused: ${k}`).to.be.below(1e-5);
            expect(relL2(b.values!.get(k)!, v), `${title}, ${composite} ort: ${k}`).to.be.below(1e-5);
          }
          expect(relL2(Float32Array.from(a.conservation.inputRelevance), Float32Array.from(c.conservation.inputRelevance))).to.be.below(1e-5);
        }
      } finally {
        await e.release();
      }
    }
  });

  it('infers static shapes, and names the node it cannot', () => {
    const e = openModel(path.join(GOLDEN, 'resnet-op17.onnx'));
    const shapes = inferShapes(e.graph, new Map([[e.graph.inputs[0].name, [3, ...x.dims.slice(1)]]]));
    expect(shapes.get(e.graph.outputs[0].name)).to.deep.equal([3, 10]);
    const g = new Graph({
      nodes: [{ name: 'rs', opType: 'Resize', domain: '', inputs: ['x'], outputs: ['y'], attrs: {} }],
      inputs: [{ name: 'x', dtype: 'float32', dims: [1, 2] }], outputs: [{ name: 'y', dtype: 'float32', dims: null }],
      constants: new Map(), opsets: { '': 17 },
    });
    expect(() => inferShapes(g, new Map([['x', [1, 2]]]))).to.throw(/node 'rs' \(Resize\): no static shape rule/);
  });
});
