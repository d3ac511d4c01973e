/** The onnxruntime executor (lib/propagate/engine/ort) against the reference kernels: every composite on the golden
 * models and on small graphs that reach each lowering (strided/grouped/dilated/1-D/3-D Conv, Gemm with
 * transB=0 and alpha/beta, MatMul with bias on rank-3 inputs, Sub/Sum, pools, overlapping max-pool windows
 * with ties), relevance of every value, buffer reuse across calls, batch sizes, and concurrent calls. */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { COMPOSITE_NAMES, Explainer, Graph, Node, ValueInfo, openModel, ortBackend, readNpy } from '../../../lib';
import type { Explanation, ExplainOptions, Tensor } from '../../../lib';
import { OrtExecutor } from '../../../lib/propagate/engine/ort/executor';
import { FIXTURES, ROOT } from '../../helpers/paths';

const TOL = 1e-5;

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function tensor(dims: number[], r: () => number, lo = -1, hi = 1): Tensor & { data: Float32Array } {
  const n = dims.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: n }, () => lo + (hi - lo) * r()) };
}

function expectAgree(ref: Explanation, fast: Explanation, label: string): void {
  expect(relL2(fast.relevance.data, ref.relevance.data), `${label}: input relevance`).to.be.below(TOL);
  for (const [name, r] of ref.values!) {
    const f = fast.values!.get(name);
    expect(f, `${label}: relevance of '${name}'`).to.not.equal(undefined);
    expect(relL2(f!, r), `${label}: relevance of '${name}'`).to.be.below(TOL);
  }
  expect(fast.conservation.nodes.length, `${label}: nodes in the conservation report`).to.equal(ref.conservation.nodes.length);
  ref.conservation.nodes.forEach((n, i) => {
    const m = fast.conservation.nodes[i];
    expect(m.node).to.equal(n.node);
    n.atOutputs.forEach((v, s) => expect(m.atOutputs[s], `${label}: ${n.node} sum at its outputs`).to.be.closeTo(v, 1e-5 * Math.max(1, Math.abs(v))));
    n.atInputs.forEach((v, s) => expect(m.atInputs[s], `${label}: ${n.node} sum`).to.be.closeTo(v, 1e-5 * Math.max(1, Math.abs(v))));
  });
}

/** The three engines on the same explainer; every value's relevance and every conservation sum must agree.
 * `fused`: the fused engine must cover this explanation (else it may fall back to 'ort', saying why). */
async function compare(e: Explainer, x: Tensor, opts: ExplainOptions, label: string, fused = false): Promise<Explanation> {
  const ref = await e.explain(x, { ...opts, keepAll: true, engine: 'reference' });
  const fast = await e.explain(x, { ...opts, keepAll: true, engine: 'ort' });
  const one = await e.explain(x, { ...opts, keepAll: true, engine: 'fused' });
  expect(ref.engine.used).to.equal('reference');
  expect(fast.engine.used).to.equal('ort');
  expect(ref.values!.size, `${label}: relevance reached the input`).to.be.greaterThan(2);
  expect(Math.abs(ref.conservation.inputRelevance[0]), `${label}: some relevance reached the input`).to.be.greaterThan(0);
  expectAgree(ref, fast, `${label} (ort)`);
  if (fused) expect(one.engine, `${label}: the fused engine ran`).to.deep.equal({ used: 'fused' });
  else if (one.engine.used !== 'fused') expect(one.engine.note, `${label}: why the fused engine did not run`).to.match(/^fused engine not used: ./);
  expectAgree(ref, one, `${label} (${one.engine.used})`);
  return fast;
}

/** Names of the nodes the onnxruntime executor compiled a kernel for (not handed back to the reference). */
async function lowered(e: Explainer): Promise<Set<string>> {
  const executor = (e as unknown as { executor: OrtExecutor | null }).executor;
  const compiled = (executor as unknown as { compiled: Map<string, Promise<unknown>> } | null)?.compiled ?? new Map();
  const out = new Set<string>();
  for (const [key, c] of compiled) if (await c) out.add(key.split('|')[0]);
  return out;
}

async function expectLowered(e: Explainer, ops: string[]): Promise<void> {
  const got = await lowered(e);
  for (const n of e.graph.nodes) if (ops.includes(n.opType)) expect(got.has(n.name), `${n.name} (${n.opType}) ran in onnxruntime`).to.equal(true);
}

// ---- small graphs ---------------------------------------------------------------------------------------

interface Net { nodes: Node[]; inputs: ValueInfo[]; output: string; consts: Record<string, Tensor> }

function node(opType: string, inputs: string[], outputs: string[], attrs: Node['attrs'] = {}): Node {
  return { name: `${opType}_${outputs[0]}`, opType, domain: '', inputs, outputs, attrs };
}

function explainer(net: Net, opset = 17): Explainer {
  const graph = new Graph({
    nodes: net.nodes, inputs: net.inputs, outputs: [{ name: net.output, dtype: 'float32', dims: null }],
    constants: new Map(Object.entries(net.consts)), opsets: { '': opset },
  });
  return Explainer.create({ graph, irVersion: 8, producer: 'spec', metadata: {} }, ortBackend, { threads: 1 });
}

/** conv (attrs) → relu → global average pool → flatten → gemm (10 classes) */
function convNet(seed: number, dims: number[], w: number[], attrs: Node['attrs'], bias = true): Net {
  const r = rng(seed);
  const M = w[0];
  const consts: Record<string, Tensor> = { W: tensor(w, r, -0.5, 0.5), G: tensor([10, M], r, -0.5, 0.5), Gb: tensor([10], r, -0.1, 0.1) };
  if (bias) consts.B = tensor([M], r, -0.2, 0.2);
  return {
    inputs: [{ name: 'x', dtype: 'float32', dims }],
    consts,
    output: 'y',
    nodes: [
      node('Conv', bias ? ['x', 'W', 'B'] : ['x', 'W'], ['c'], attrs),
      node('Relu', ['c'], ['r']),
      node('Conv', ['r', 'W2'], ['c2'], {}),
      node('GlobalAveragePool', ['c2'], ['g']),
      node('Flatten', ['g'], ['f']),
      node('Gemm', ['f', 'G', 'Gb'], ['y'], { transB: 1 }),
    ].map((n) => (n.opType === 'Conv' && n.inputs[1] === 'W2' ? { ...n, inputs: ['r', 'W2'] } : n)),
  };
}

function withSecondConv(net: Net, seed: number, C: number, D: number): Net {
  const r = rng(seed + 7);
  return { ...net, consts: { ...net.consts, W2: tensor([C, C, ...new Array(D).fill(1)], r, -0.5, 0.5) } };
}

const CONVS: { label: string; dims: number[]; w: number[]; attrs: Node['attrs']; bias?: boolean }[] = [
  { label: '3×3 pad 1', dims: [2, 3, 9, 9], w: [4, 3, 3, 3], attrs: { pads: [1, 1, 1, 1] } },
  { label: '3×3 stride 2, asymmetric pads (ConvTranspose path)', dims: [2, 3, 10, 9], w: [4, 3, 3, 3], attrs: { strides: [2, 2], pads: [1, 0, 0, 1] } },
  { label: '2×2 stride 2 no bias', dims: [1, 3, 8, 8], w: [4, 3, 2, 2], attrs: { strides: [2, 2] }, bias: false },
  { label: 'depthwise (group = channels)', dims: [2, 4, 7, 7], w: [4, 1, 3, 3], attrs: { group: 4, pads: [1, 1, 1, 1] } },
  { label: 'grouped 2, dilation 2', dims: [1, 4, 9, 9], w: [6, 2, 3, 3], attrs: { group: 2, dilations: [2, 2], pads: [2, 2, 2, 2] } },
  { label: 'auto_pad SAME_UPPER stride 2', dims: [1, 3, 7, 7], w: [4, 3, 3, 3], attrs: { auto_pad: 'SAME_UPPER', strides: [2, 2] } },
  { label: '1-D', dims: [2, 3, 11], w: [5, 3, 3], attrs: { pads: [1, 1] } },
  { label: '3-D stride 2', dims: [1, 2, 5, 5, 5], w: [3, 2, 3, 3, 3], attrs: { strides: [2, 2, 2], pads: [1, 1, 1, 1, 1, 1] } },
];

const RULE_MAP_MIXED = {
  composite: 'epsilon_plus',
  rules: [
    { op: 'Conv', name: 'Conv_c2', rule: 'zBox' as const, params: { low: -2, high: 2 } },
    { op: 'Gemm', rule: 'wSquare' as const },
    { first: true, rule: 'gamma' as const, params: { gamma: 0.5, zeroBias: true } },
  ],
};

describe('onnxruntime kernels (lib/propagate/engine/ort) against the reference kernels', function () {
  this.timeout(120000);

  describe('golden models (opsets 13 and 17), every composite, batch 2', () => {
    const dir = path.join(FIXTURES, 'golden');
    const models = fs.readdirSync(dir).filter((f) => f.endsWith('.onnx'));
    for (const file of models) {
      it(file, async () => {
        const e = openModel(path.join(dir, file), { threads: 1 });
        const x = readNpy(path.join(dir, `${file.replace(/-op\d+\.onnx$/, '')}.input.npy`));
        try {
          for (const composite of COMPOSITE_NAMES) {
            await compare(e, x, { composite, options: { low: -3, high: 3 } }, `${file} ${composite}`, e.plan({ composite, options: { low: -3, high: 3 } }).mode === 'lrp');
          }
          await compare(e, x, { ruleMap: { composite: 'epsilon_alpha2_beta1', rules: [{ category: 'conv', rule: 'alphaBeta', params: { alpha: 3, beta: 2, zeroBias: true } }] } }, `${file} alphaBeta(3,2) zeroBias`, true);
          await compare(e, x, { composite: 'epsilon', options: { epsilon: 0 } }, `${file} epsilon ε=0`, true);
          await expectLowered(e, ['Conv', 'Gemm', 'MatMul', 'MaxPool', 'GlobalAveragePool']);
        } finally {
          await e.release();
        }
      });
    }
  });

  describe('convolutions', () => {
    CONVS.forEach((c, k) => {
      it(c.label, async () => {
        const D = c.dims.length - 2;
        const e = explainer(withSecondConv(convNet(11 + k, c.dims, c.w, c.attrs, c.bias !== false), 11 + k, c.w[0], D));
        const x = tensor(c.dims, rng(100 + k), -1, 1);
        try {
          for (const composite of ['epsilon', 'epsilon_plus_flat', 'epsilon_alpha2_beta1', 'epsilon_gamma_box', 'gradient', 'guided_backprop', 'deconvnet']) {
            await compare(e, x, { composite, options: { low: -1, high: 1 } }, `${c.label} ${composite}`, composite.startsWith('epsilon'));
          }
          await compare(e, x, { ruleMap: RULE_MAP_MIXED }, `${c.label} mixed rule map`, true);
          await expectLowered(e, ['Conv', 'Gemm', 'GlobalAveragePool']);
        } finally {
          await e.release();
        }
      });
    });
  });

  it('Gemm with transB=0, alpha, beta and a scalar C; MatMul with bias on rank-3 input; Sub and Sum of live tensors', async () => {
    const r = rng(5);
    const e = explainer({
      inputs: [{ name: 'x', dtype: 'float32', dims: [2, 3, 6] }],
      output: 'y',
      consts: {
        A: tensor([6, 5], r), Ab: tensor([5], r, -0.2, 0.2), S: tensor([2], r), G: tensor([15, 4], r), Gc: { dtype: 'float32', dims: [1], data: Float32Array.of(0.3) },
      },
      nodes: [
        node('MatMul', ['x', 'A'], ['m']),
        node('Add', ['m', 'Ab'], ['ma']),
        node('Relu', ['ma'], ['r']),
        node('Neg', ['r'], ['nr']),
        node('Sub', ['ma', 'nr'], ['s']),
        node('Sum', ['s', 'r', 'ma'], ['t']),
        node('Flatten', ['t'], ['f']),
        node('Gemm', ['f', 'G', 'Gc'], ['y'], { alpha: 0.7, beta: 1.5 }),
      ],
    });
    const x = tensor([2, 3, 6], rng(6));
    try {
      for (const composite of ['epsilon', 'epsilon_plus_flat', 'epsilon_alpha2_beta1', 'gradient']) await compare(e, x, { composite }, composite, composite !== 'gradient');
      await compare(e, x, { ruleMap: { composite: 'epsilon', rules: [{ category: 'dense', rule: 'zPlus' }, { category: 'sum', rule: 'epsilon', params: { epsilon: 0.01 } }] } }, 'zPlus on dense', true);
      await expectLowered(e, ['MatMul', 'Gemm', 'Sub', 'Sum']);
    } finally {
      await e.release();
    }
  });

  it('overlapping max-pool windows with ties, ceil_mode, and a unit AveragePool', async () => {
    const r = rng(9);
    const e = explainer({
      inputs: [{ name: 'x', dtype: 'float32', dims: [2, 3, 9, 9] }],
      output: 'y',
      consts: { W: tensor([4, 3, 3, 3], r, -0.5, 0.5), G: tensor([4 * 25, 3], r) },
      nodes: [
        node('MaxPool', ['x'], ['p'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }),
        node('Conv', ['p', 'W'], ['c'], { pads: [1, 1, 1, 1] }),
        node('Relu', ['c'], ['rc']),
        node('AveragePool', ['rc'], ['a'], { kernel_shape: [1, 1] }),
        node('Flatten', ['a'], ['f']),
        node('Gemm', ['f', 'G'], ['y']),
      ],
    }, 13);
    const x = tensor([2, 3, 9, 9], rng(10), -2, 4);
    x.data.forEach((v, i) => { x.data[i] = Math.round(v); }); // many ties inside the windows
    try {
      for (const composite of ['epsilon', 'epsilon_plus', 'gradient']) await compare(e, x, { composite }, composite, composite !== 'gradient');
      await expectLowered(e, ['Conv', 'MaxPool', 'AveragePool', 'Gemm']);
    } finally {
      await e.release();
    }
  });

  it('reuses compiled kernels across calls and batch sizes; results do not change when buffers are reused', async () => {
    const engine = 'ort';
    const file = path.join(FIXTURES, 'golden/resnet-op17.onnx');
    const e = openModel(file, { threads: 1 });
    const x = readNpy(path.join(FIXTURES, 'golden/resnet.input.npy'));
    const one: Tensor = { dtype: 'float32', dims: [1, ...x.dims.slice(1)], data: (x.data as Float32Array).slice(0, x.data.length / x.dims[0]) };
    try {
      const kept = await e.explain(x, { composite: 'epsilon_gamma_box', options: { low: -3, high: 3 }, keepAll: true, engine: 'ort' });
      const snapshot = new Map([...kept.values!].map(([k, v]) => [k, Float32Array.from(v)]));
      const executor = (e as unknown as { executor: OrtExecutor }).executor;
      const compiled = (executor as unknown as { compiled: Map<string, unknown> }).compiled.size;
      const a = await e.explain(x, { composite: 'epsilon_plus_flat', engine });
      const b = await e.explain(one, { composite: 'epsilon_plus_flat', engine });
      const c = await e.explain(x, { composite: 'epsilon_plus_flat', engine });
      expect(relL2(c.relevance.data, a.relevance.data)).to.equal(0);
      expect(relL2(b.relevance.data, a.relevance.data.subarray(0, b.relevance.data.length))).to.be.below(TOL);
      // kept values were not overwritten by later calls
      for (const [k, v] of kept.values!) expect(relL2(v, snapshot.get(k)!), k).to.equal(0);
      const after = (executor as unknown as { compiled: Map<string, unknown> }).compiled.size;
      const four: Tensor = { dtype: 'float32', dims: [2 * x.dims[0], ...x.dims.slice(1)], data: Float32Array.from([...(x.data as Float32Array), ...(x.data as Float32Array)]) };
      const d = await e.explain(four, { composite: 'epsilon_plus_flat', engine });
      expect(relL2(d.relevance.data.subarray(0, a.relevance.data.length), a.relevance.data)).to.be.below(TOL);
      expect((executor as unknown as { compiled: Map<string, unknown> }).compiled.size, 'no new kernels for another batch size').to.equal(after);
      expect(after).to.be.greaterThan(compiled);
      // concurrent calls on one explainer
      const [p, q] = await Promise.all([e.explain(x, { composite: 'epsilon', engine }), e.explain(x, { composite: 'epsilon_plus_flat', engine })]);
      const ps = await e.explain(x, { composite: 'epsilon', engine });
      expect(relL2(p.relevance.data, ps.relevance.data)).to.equal(0);
      expect(relL2(q.relevance.data, a.relevance.data)).to.equal(0);
    } finally {
      await e.release();
    }
  });

  it('transformers (the shipped ViT and text model, attnlrp and cp_lrp, batch 2): layer norms, sums with constants and attention MatMuls run in onnxruntime; the three engines agree', async () => {
    const cases: [string, Tensor][] = [
      ['fashion-vit.onnx', tensor([2, 1, 28, 28], rng(5), -1, 1)],
      ['text-evidence.onnx', { dtype: 'int64', dims: [2, 25], data: BigInt64Array.from({ length: 50 }, (_, i) => BigInt(1 + ((i * 7) % 40))) }],
    ];
    for (const [file, x] of cases) {
      const e = openModel(path.join(ROOT, 'models', file), { threads: 1 });
      try {
        for (const composite of ['attnlrp', 'cp_lrp']) {
          await compare(e, x, { composite }, `${file} ${composite}`, true);
          const reasons = (e as unknown as { executor: OrtExecutor }).executor.referenceReasons();
          expect([...reasons.values()], `${file}: nodes handed back to the reference`).to.deep.equal([]);
          await expectLowered(e, ['LayerNormalization']);
          const attention = e.graph.nodes.filter((n) => n.opType === 'MatMul' && n.inputs.every((i) => !e.graph.isConstant(i)));
          expect(attention.length, `${file}: attention MatMuls`).to.be.greaterThan(0);
          const got = await lowered(e);
          // cp_lrp sends no relevance through QKᵀ: only A·V then
          for (const n of attention) if (composite === 'attnlrp') expect(got.has(n.name), `${n.name}: its vjp ran in onnxruntime`).to.equal(true);
        }
      } finally {
        await e.release();
      }
    }
  });

  it('rejects an unknown engine', async () => {
    const e = openModel(path.join(FIXTURES, 'golden/mlp-op17.onnx'));
    const x = readNpy(path.join(FIXTURES, 'golden/mlp.input.npy'));
    let msg = '';
    try { await e.explain(x, { engine: 'gpu' as never }); } catch (err) { msg = (err as Error).message; }
    expect(msg).to.match(/engine must be 'auto', 'fused', 'ort', 'reference', got 'gpu'/);
    await e.release();
  });
});
