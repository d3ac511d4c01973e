/** The transformer ops against onnxruntime on one-node models: layer norms (the σ-constant linear map's forward
 * is the op's output; the true vjp matches finite differences), MatMul of two live tensors (product and vjp,
 * broadcast batch dims), Softmax inside the graph (vjp), token embeddings (category), GELU activations. */
import { expect } from 'chai';
import { mod } from '../../lib/kernels/kernel';
import { matmul, matmulShape } from '../../lib/ops/attention';
import { categoryOf, findOp } from '../../lib/ops/registry';
import { NodeContext } from '../../lib/ops/op';
import { Tensor } from '../../lib/tensor';
import { Forward, expectClose, f32of, int64, prng, randomTensor, runNode } from '../helpers/onnx';

const rng = prng(1317);
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; };

/** ⟨vjp(g), d⟩ against (f(x + h·d) − f(x − h·d)) / 2h · g, with f run by onnxruntime on the same node. */
async function vjpMatchesDifferences(f: Forward, input: number, vjp: Float32Array, g: Float32Array, h = 1e-2, rtol = 2e-3): Promise<void> {
  const name = f.node.inputs[input];
  const x = f32of(f.feeds[name]);
  const d = randomTensor(rng, [x.length]).data;
  const shifted = async (s: number) => {
    const feeds: Record<string, Tensor> = { ...f.feeds, [name]: { ...f.feeds[name], data: x.map((v, i) => v + s * h * d[i]) } };
    const r = await runNode(rng, f.node.opType, f.node.inputs.map((n) => (f.graph.isConstant(n) ? { name: n, tensor: f.graph.constant(n)! } : { name: n, dims: [...f.feeds[n].dims] })), f.node.attrs as Record<string, never>, f.graph.opsets[''], { feeds, domain: f.node.domain, opsets: f.node.domain ? { [f.node.domain]: 1 } : {} });
    return r.y.data;
  };
  const [up, down] = [await shifted(1), await shifted(-1)];
  const numeric = dot(up.map((v, i) => (v - down[i]) / (2 * h)), g);
  expect(dot(vjp, d)).to.be.closeTo(numeric, rtol * Math.max(1, Math.abs(numeric)));
}

describe('ops/norm (layer norms)', () => {
  for (const opset of [13, 17]) {
    it(`LayerNormalization (opset ${opset}): layernorm; the σ-constant map at x is the op's output; the vjp matches differences`, async () => {
      const f = await runNode(rng, 'LayerNormalization', [
        { name: 'x', dims: [2, 3, 8] }, { name: 's', tensor: randomTensor(rng, [8], 0.5, 1.5) }, { name: 'b', tensor: randomTensor(rng, [8]) },
      ], { axis: -1, epsilon: 1e-5 }, opset, { attrTypes: { axis: 2, epsilon: 1 } });
      expect(categoryOf(f.node, f.graph)).to.equal('layernorm');
      const op = findOp('LayerNormalization')!;
      const lin = op.linear!(f.ctx);
      const x = f32of(f.feeds.x);
      expectClose(await lin.kernel.forward(x, mod.id, mod.id), f.y.data, 1e-5, 'forward');
      // linear in x for σ fixed: f(2x) − b = 2 (f(x) − b)
      const noBias = await lin.kernel.forward(x, mod.id, null);
      expectClose(await lin.kernel.forward(x.map((v) => 2 * v), mod.id, null), noBias.map((v) => 2 * v), 1e-5, 'linear');
      // transposed is the adjoint of forward
      const g = randomTensor(rng, [x.length]).data;
      const d = randomTensor(rng, [x.length]).data;
      expect(dot(await lin.kernel.transposed(g, mod.id), d)).to.be.closeTo(dot(g, await lin.kernel.forward(d, mod.id, null)), 1e-4);
      let err = '';
      await lin.kernel.forward(x, mod.pos, null).catch((e: Error) => { err = e.message; });
      expect(err).to.match(/no 'pos' weight modifier/);
      await vjpMatchesDifferences(f, 0, op.vjp!(f.ctx, [g])[0]!, g);
    });
  }

  it('SimplifiedLayerNormalization (RMSNorm): forward equals onnxruntime, vjp matches differences', async () => {
    const f = await runNode(rng, 'SimplifiedLayerNormalization', [{ name: 'x', dims: [3, 6] }, { name: 's', tensor: randomTensor(rng, [6], 0.5, 1.5) }], { axis: -1, epsilon: 1e-6 }, 13, { attrTypes: { axis: 2, epsilon: 1 } });
    expect(categoryOf(f.node, f.graph)).to.equal('layernorm');
    const op = findOp('SimplifiedLayerNormalization')!;
    expectClose(await op.linear!(f.ctx).kernel.forward(f32of(f.feeds.x), mod.id, mod.id), f.y.data, 1e-5, 'forward');
    const g = randomTensor(rng, [18]).data;
    await vjpMatchesDifferences(f, 0, op.vjp!(f.ctx, [g])[0]!, g);
  });
});

describe('ops/attention (MatMul of two live tensors)', () => {
  const cases: [number[], number[]][] = [[[2, 3, 4], [2, 4, 5]], [[2, 2, 3, 4], [2, 4, 3]], [[1, 3, 4], [2, 3, 4, 2]], [[5, 4], [4, 3]]];
  for (const [a, b] of cases) {
    it(`[${a}] × [${b}]: category attention, product equals onnxruntime, vjp of each operand matches differences`, async () => {
      const f = await runNode(rng, 'MatMul', [{ name: 'a', dims: a }, { name: 'b', dims: b }], {}, 13);
      expect(categoryOf(f.node, f.graph)).to.equal('attention');
      const s = matmulShape(a, b);
      expectClose(matmul(s, f32of(f.feeds.a), f32of(f.feeds.b)), f.y.data, 1e-5, 'product');
      const g = randomTensor(rng, [f.y.data.length]).data;
      const [ga, gb] = findOp('MatMul')!.vjp!(f.ctx, [g]);
      await vjpMatchesDifferences(f, 0, ga!, g);
      await vjpMatchesDifferences(f, 1, gb!, g);
    });
  }

  it('a MatMul by a constant stays dense; a constant first operand times a live one is refused', async () => {
    const f = await runNode(rng, 'MatMul', [{ name: 'a', dims: [2, 3] }, { name: 'w', tensor: randomTensor(rng, [3, 4]) }], {}, 13);
    expect(categoryOf(f.node, f.graph)).to.equal('dense');
    const g = await runNode(rng, 'MatMul', [{ name: 'w', tensor: randomTensor(rng, [2, 3]) }, { name: 'b', dims: [3, 4] }], {}, 13);
    expect(() => categoryOf(g.node, g.graph)).to.throw(/live weight operand/);
  });
});

describe('ops/softmax (inside the graph)', () => {
  for (const [opset, axis, dims] of [[13, -1, [2, 3, 5]], [13, 1, [2, 4, 3]], [11, 2, [2, 3, 4]]] as [number, number, number[]][]) {
    it(`opset ${opset}, axis ${axis} of [${dims}]: vjp matches differences`, async () => {
      const f = await runNode(rng, 'Softmax', [{ name: 'x', dims }], { axis }, opset, { attrTypes: { axis: 2 } });
      expect(categoryOf(f.node, f.graph)).to.equal('softmax');
      const g = randomTensor(rng, [f.y.data.length]).data;
      await vjpMatchesDifferences(f, 0, findOp('Softmax')!.vjp!(f.ctx, [g])[0]!, g);
    });
  }

  it('below opset 13 a softmax over flattened axes is refused inside the graph', async () => {
    const f = await runNode(rng, 'Softmax', [{ name: 'x', dims: [2, 3, 4] }], { axis: 1 }, 11, { attrTypes: { axis: 2 } });
    expect(() => findOp('Softmax')!.vjp!(f.ctx, [new Float32Array(24)])).to.throw(/flattened axes/);
  });
});

describe('ops/embedding (Gather of a constant table by live ids)', () => {
  it('category embedding; the output is the table rows onnxruntime gathers; Gather of a live tensor stays routing', async () => {
    const table = randomTensor(rng, [10, 4]);
    const ids = int64([2, 3], [1, 0, 9, 4, 4, 2]);
    const f = await runNode(rng, 'Gather', [{ name: 'E', tensor: table }, { name: 'ids', dims: [2, 3], dtype: 'int64' }], { axis: 0 }, 13, { feeds: { ids }, attrTypes: { axis: 2 } });
    expect(categoryOf(f.node, f.graph)).to.equal('embedding');
    expect(f.y.dims).to.deep.equal([2, 3, 4]);
    expectClose(f.y.data.subarray(8, 12), table.data.subarray(36, 40), 0, 'row of id 9');
    const g = await runNode(rng, 'Gather', [{ name: 'x', dims: [2, 5, 4] }, { name: 'i', tensor: int64([], [0]) }], { axis: 1 }, 13, { attrTypes: { axis: 2 } });
    expect(categoryOf(g.node, g.graph)).to.equal('routing');
  });
});

describe('ops/activation (GELU as fused)', () => {
  for (const [type, domain, attrs] of [['Gelu', 'com.microsoft', {}], ['FastGelu', 'com.microsoft', {}], ['Gelu', '', { approximate: 'tanh' }]] as [string, string, Record<string, string>][]) {
    it(`${domain || 'ai.onnx'} ${type} ${JSON.stringify(attrs)}: activation; its derivative matches onnxruntime's differences`, async () => {
      const f = await runNode(rng, type, [{ name: 'x', dims: [3, 7] }], attrs, domain ? 17 : 20, { domain, opsets: domain ? { [domain]: 1 } : {}, lo: -3, hi: 3 });
      expect(categoryOf(f.node, f.graph)).to.equal('activation');
      const x = f32of(f.feeds.x);
      const d = findOp(type, domain)!.derivative!(f.ctx as NodeContext, x, f.y.data);
      const g = randomTensor(rng, [x.length]).data;
      await vjpMatchesDifferences(f, 0, d.map((v, i) => v * g[i]), g);
    });
  }
});
