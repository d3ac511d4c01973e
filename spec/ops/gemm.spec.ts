/** Gemm and MatMul: the linear kernel's forward (identity weight modifier, bias on) equals onnxruntime. */
import { expect } from 'chai';
import { mod } from '../../lib/kernels/kernel';
import { findOp } from '../../lib/ops/registry';
import { categoryOf } from '../../lib/ops/registry';
import { float32 } from '../../lib/tensor';
import { In, Forward, knownBug, expectClose, f32of, prng, randomTensor, runNode } from '../helpers/onnx';

async function forwardMatches(f: Forward, bias = true): Promise<void> {
  const op = findOp(f.node.opType)!;
  const lin = op.linear!(f.ctx);
  expect(lin.live).to.deep.equal([0]);
  const x = f32of(f.ctx.value(f.node.inputs[0]));
  expect(lin.kernel.inSize).to.equal(x.length);
  expect(lin.kernel.outSize).to.equal(f.y.data.length);
  expect(lin.kernel.hasBias).to.equal(bias);
  expectClose(await lin.kernel.forward(x, mod.id, mod.id), f.y.data, 1e-5, `${f.node.opType} forward`);
}

describe('ops/gemm', () => {
  const rng = prng(11);
  const N = 3, K = 5, M = 4;

  const gemmCases: { title: string; attrs: Record<string, number>; b: number[]; c?: number[] | null; opset?: number }[] = [
    { title: 'plain, bias [M]', attrs: {}, b: [K, M], c: [M] },
    { title: 'transB=1', attrs: { transB: 1 }, b: [M, K], c: [M] },
    { title: 'alpha=0.5, beta=2', attrs: { alpha: 0.5, beta: 2 }, b: [K, M], c: [M] },
    { title: 'transB=1, alpha=-1.5, beta=0.25', attrs: { transB: 1, alpha: -1.5, beta: 0.25 }, b: [M, K], c: [M] },
    { title: 'bias [1, M]', attrs: {}, b: [K, M], c: [1, M] },
    { title: 'scalar bias [1]', attrs: { beta: 3 }, b: [K, M], c: [1] },
    { title: 'no bias (opset 11: C optional)', attrs: { transB: 1 }, b: [M, K], c: null, opset: 11 },
    { title: 'opset 7', attrs: { transB: 1 }, b: [M, K], c: [M], opset: 7 },
  ];
  for (const tc of gemmCases) {
    it(`Gemm ${tc.title}: forward equals onnxruntime`, async () => {
      const inputs: In[] = [{ name: 'x', dims: [N, K] }, { name: 'B', tensor: randomTensor(rng, tc.b) }];
      if (tc.c) inputs.push({ name: 'C', tensor: randomTensor(rng, tc.c) });
      const f = await runNode(rng, 'Gemm', inputs, tc.attrs, tc.opset ?? 13, { attrTypes: { alpha: 1, beta: 1, transB: 2 } });
      expect(categoryOf(f.node, f.graph)).to.equal('dense');
      await forwardMatches(f, !!tc.c);
    });
  }

  it('Gemm with transA=1 is refused with a clear message', async () => {
    const f = await runNode(rng, 'Gemm', [{ name: 'x', dims: [K, N] }, { name: 'B', tensor: randomTensor(rng, [K, M]) }], { transA: 1 }, 13);
    expect(() => findOp('Gemm')!.linear!(f.ctx)).to.throw(/transA/);
  });

  it('Gemm with a full bias C [N, M]: forward equals onnxruntime (a bias per row and column)', async () => {
    const f = await runNode(rng, 'Gemm', [{ name: 'x', dims: [N, K] }, { name: 'B', tensor: randomTensor(rng, [K, M]) }, { name: 'C', tensor: randomTensor(rng, [N, M]) }], {}, 13);
    const lin = findOp('Gemm')!.linear!(f.ctx);
    expectClose(await lin.kernel.forward(f32of(f.feeds.x), mod.id, mod.id), f.y.data, 1e-5, 'Gemm forward');
  });

  knownBug('Gemm with a per-row bias C [N, 1] where N = M: forward equals onnxruntime (or refused)', 'gemmLinear checks only C\'s element count: C [N,1] with N = M is taken as a per-output bias, but it broadcasts along rows', async () => {
    const f = await runNode(rng, 'Gemm', [{ name: 'x', dims: [3, K] }, { name: 'B', tensor: randomTensor(rng, [K, 3]) }, { name: 'C', tensor: float32([3, 1], [10, 20, 30]) }], {}, 13);
    let lin;
    try {
      lin = findOp('Gemm')!.linear!(f.ctx);
    } catch (e) {
      expect((e as Error).message).to.match(/bias C/);
      return;
    }
    expectClose(await lin.kernel.forward(f32of(f.feeds.x), mod.id, mod.id), f.y.data, 1e-5, 'Gemm forward');
  });

  it('Gemm with a live weight is reported unsupported by its category', async () => {
    const f = await runNode(rng, 'Gemm', [{ name: 'x', dims: [N, K] }, { name: 'w', dims: [K, M] }], {}, 13);
    expect(() => categoryOf(f.node, f.graph)).to.throw(/live/);
  });

  const matmulCases: { title: string; x: number[]; w: number[] }[] = [
    { title: '2-D input × const [K, M]', x: [N, K], w: [K, M] },
    { title: 'batched 3-D input [B, T, K] × const [K, M]', x: [2, 3, K], w: [K, M] },
    { title: 'batched 4-D input × const [K, M]', x: [2, 2, 3, K], w: [K, M] },
    { title: '1-D input [K] × const [K, M]', x: [K], w: [K, M] },
    { title: 'input × const vector [K]', x: [N, K], w: [K] },
  ];
  for (const tc of matmulCases) {
    it(`MatMul ${tc.title}: forward equals onnxruntime`, async () => {
      const f = await runNode(rng, 'MatMul', [{ name: 'x', dims: tc.x }, { name: 'W', tensor: randomTensor(rng, tc.w) }], {}, 13);
      expect(categoryOf(f.node, f.graph)).to.equal('dense');
      await forwardMatches(f, false);
    });
  }

  it('MatMul with a rank-3 constant operand is refused with a clear message', async () => {
    const f = await runNode(rng, 'MatMul', [{ name: 'x', dims: [2, 3, K] }, { name: 'W', tensor: randomTensor(rng, [2, K, M]) }], {}, 13);
    expect(() => findOp('MatMul')!.linear!(f.ctx)).to.throw(/rank 3/);
  });

  it('MatMul of two live tensors has category attention (spec/ops/transformer.spec.ts checks its math)', async () => {
    const f = await runNode(rng, 'MatMul', [{ name: 'a', dims: [N, K] }, { name: 'b', dims: [K, M] }], {}, 13);
    expect(categoryOf(f.node, f.graph)).to.equal('attention');
  });
});
