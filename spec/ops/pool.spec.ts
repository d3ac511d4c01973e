/** Pools and reductions: AveragePool, GlobalAveragePool, ReduceMean, ReduceSum (linear kernels: forward equals
 * onnxruntime) and MaxPool, GlobalMaxPool (vjp routes each gradient to the element onnxruntime picks). */
import { expect } from 'chai';
import { AttrValue } from '../../lib/ir/graph';
import { mod } from '../../lib/kernels/kernel';
import { categoryOf, findOp } from '../../lib/ops/registry';
import { toNumbers } from '../../lib/tensor';
import { Forward, In, dot, expectClose, f32of, oneNode, prng, randomTensor, runNode, runOrt, int64s } from '../helpers/onnx';

async function linearMatches(f: Forward, category: string): Promise<void> {
  expect(categoryOf(f.node, f.graph)).to.equal(category);
  const lin = findOp(f.node.opType)!.linear!(f.ctx);
  expect(lin.live).to.deep.equal([0]);
  const x = f32of(f.ctx.value(f.node.inputs[0]));
  expect(lin.kernel.inSize).to.equal(x.length);
  expect(lin.kernel.outSize, `kernel outSize (onnxruntime output [${f.y.dims}])`).to.equal(f.y.data.length);
  expectClose(await lin.kernel.forward(x, mod.id, mod.id), f.y.data, 1e-5, `${f.node.opType} forward`);
}

describe('ops/pool', () => {
  const rng = prng(31);

  describe('AveragePool', () => {
    const cases: { title: string; x: number[]; attrs: Record<string, AttrValue>; opset?: number }[] = [
      { title: '2-D k3 s2, no pads', x: [1, 2, 7, 6], attrs: { kernel_shape: [3, 3], strides: [2, 2] } },
      { title: '2-D pads, count_include_pad=0', x: [2, 2, 5, 6], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
      { title: '2-D pads, count_include_pad=1', x: [2, 2, 5, 6], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], count_include_pad: 1 } },
      { title: '2-D asymmetric pads, stride 2, count_include_pad=1', x: [1, 3, 6, 7], attrs: { kernel_shape: [3, 2], strides: [2, 2], pads: [0, 1, 2, 0], count_include_pad: 1 } },
      { title: '2-D ceil_mode=1 (partial last window)', x: [1, 2, 6, 6], attrs: { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 } },
      { title: '2-D ceil_mode=1 with pads, count_include_pad=0', x: [1, 2, 6, 7], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 } },
      { title: '2-D auto_pad SAME_UPPER', x: [1, 2, 5, 5], attrs: { kernel_shape: [2, 2], auto_pad: 'SAME_UPPER' } },
      { title: '2-D auto_pad SAME_LOWER stride 2', x: [1, 2, 5, 6], attrs: { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_LOWER' } },
      { title: '2-D auto_pad VALID', x: [1, 2, 5, 6], attrs: { kernel_shape: [2, 3], auto_pad: 'VALID' } },
      { title: '1-D stride 2 pads', x: [2, 3, 9], attrs: { kernel_shape: [3], strides: [2], pads: [1, 1] } },
      { title: '3-D', x: [1, 2, 4, 5, 4], attrs: { kernel_shape: [2, 3, 2], strides: [2, 1, 2], pads: [0, 1, 0, 0, 1, 1] } },
      { title: '2-D dilations (opset 19)', x: [1, 2, 7, 7], attrs: { kernel_shape: [3, 3], dilations: [2, 2] }, opset: 19 },
      { title: 'opset 7 with count_include_pad=1', x: [1, 2, 5, 5], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], count_include_pad: 1 }, opset: 7 },
    ];
    for (const tc of cases) {
      it(`${tc.title}: forward equals onnxruntime`, async () => {
        const f = await runNode(rng, 'AveragePool', [{ name: 'x', dims: tc.x }], tc.attrs, tc.opset ?? 13);
        await linearMatches(f, 'avgpool');
      });
    }

    // onnxruntime counts a window that hangs past the end padding (ceil_mode) only up to the padded end, even
    // with count_include_pad=1 (fixed in fa8a5d0; dividing by the full kernel size was wrong).
    const ceilIncl: { title: string; x: number[]; attrs: Record<string, AttrValue> }[] = [
      { title: '2-D ceil_mode=1, count_include_pad=1, no pads', x: [1, 1, 6, 6], attrs: { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1, count_include_pad: 1 } },
      { title: '2-D ceil_mode=1, count_include_pad=1, pads', x: [1, 2, 6, 7], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1, count_include_pad: 1 } },
    ];
    for (const tc of ceilIncl) {
      it(`${tc.title}: forward equals onnxruntime`, async () => {
        const f = await runNode(rng, 'AveragePool', [{ name: 'x', dims: tc.x }], tc.attrs, 13);
        await linearMatches(f, 'avgpool');
      });
    }
  });

  it('GlobalAveragePool 2-D and 3-D: forward equals onnxruntime', async () => {
    for (const x of [[2, 3, 4, 5], [1, 2, 3, 2, 4], [2, 3, 7]]) {
      const f = await runNode(rng, 'GlobalAveragePool', [{ name: 'x', dims: x }], {}, 13);
      await linearMatches(f, 'avgpool');
    }
  });

  describe('ReduceMean / ReduceSum', () => {
    const cases: { title: string; op: string; opset: number; inputs: (x: In) => In[]; attrs?: Record<string, AttrValue>; x: number[] }[] = [
      { title: 'ReduceMean opset 13 axes attr [2,3] keepdims', op: 'ReduceMean', opset: 13, x: [2, 3, 4, 5], inputs: (x) => [x], attrs: { axes: [2, 3] } },
      { title: 'ReduceMean opset 13 negative axis, keepdims=0', op: 'ReduceMean', opset: 13, x: [2, 3, 4], inputs: (x) => [x], attrs: { axes: [-2], keepdims: 0 } },
      { title: 'ReduceMean opset 13 all axes (no axes)', op: 'ReduceMean', opset: 13, x: [2, 3, 4], inputs: (x) => [x] },
      { title: 'ReduceMean opset 18 axes input [1], keepdims=0', op: 'ReduceMean', opset: 18, x: [2, 3, 4, 2], inputs: (x) => [x, { name: 'axes', tensor: int64s([1]) }], attrs: { keepdims: 0 } },
      { title: 'ReduceMean opset 18 axes input [0, -1]', op: 'ReduceMean', opset: 18, x: [2, 3, 4], inputs: (x) => [x, { name: 'axes', tensor: int64s([0, -1]) }] },
      { title: 'ReduceSum opset 11 axes attr [1]', op: 'ReduceSum', opset: 11, x: [2, 3, 4], inputs: (x) => [x], attrs: { axes: [1] } },
      { title: 'ReduceSum opset 13 axes input [1, 2], keepdims=0', op: 'ReduceSum', opset: 13, x: [2, 3, 4, 2], inputs: (x) => [x, { name: 'axes', tensor: int64s([1, 2]) }], attrs: { keepdims: 0 } },
      { title: 'ReduceSum opset 13 no axes: all', op: 'ReduceSum', opset: 13, x: [2, 3, 4], inputs: (x) => [x] },
      { title: 'ReduceSum opset 13 noop_with_empty_axes=1', op: 'ReduceSum', opset: 13, x: [2, 3], inputs: (x) => [x], attrs: { noop_with_empty_axes: 1 } },
    ];
    for (const tc of cases) {
      it(`${tc.title}: forward equals onnxruntime`, async () => {
        const f = await runNode(rng, tc.op, tc.inputs({ name: 'x', dims: tc.x }), tc.attrs ?? {}, tc.opset);
        await linearMatches(f, tc.op === 'ReduceSum' ? 'sum' : 'avgpool');
      });
    }
  });

  describe('MaxPool / GlobalMaxPool', () => {
    const cases: { title: string; x: number[]; attrs: Record<string, AttrValue>; opset?: number }[] = [
      { title: '2-D k2 s2', x: [2, 3, 6, 6], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
      { title: '2-D k3 s1 (overlapping windows)', x: [1, 2, 5, 5], attrs: { kernel_shape: [3, 3] } },
      { title: '2-D k3 s2 pads 1', x: [1, 2, 7, 6], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } },
      { title: '2-D ceil_mode=1', x: [1, 2, 6, 7], attrs: { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 } },
      { title: '2-D dilations 2', x: [1, 2, 7, 7], attrs: { kernel_shape: [2, 2], dilations: [2, 2] } },
      { title: '2-D auto_pad SAME_UPPER stride 2', x: [1, 2, 5, 6], attrs: { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' } },
      { title: '2-D auto_pad SAME_LOWER', x: [1, 2, 5, 5], attrs: { kernel_shape: [2, 2], auto_pad: 'SAME_LOWER' } },
      { title: '1-D', x: [2, 2, 9], attrs: { kernel_shape: [3], strides: [2], pads: [1, 0] } },
      { title: '3-D', x: [1, 2, 4, 4, 5], attrs: { kernel_shape: [2, 2, 3], strides: [2, 2, 1] } },
    ];
    for (const tc of cases) {
      it(`MaxPool ${tc.title}: vjp routes to onnxruntime's argmax; <y,g> = <x,vjp(g)>`, async () => {
        const f = await runNode(rng, 'MaxPool', [{ name: 'x', dims: tc.x }], tc.attrs, tc.opset ?? 12);
        expect(categoryOf(f.node, f.graph)).to.equal('maxpool');
        const g = randomTensor(rng, [...f.y.dims]).data;
        const [gx] = findOp('MaxPool')!.vjp!(f.ctx, [g]);
        const x = f32of(f.feeds.x);
        expect(gx!.length).to.equal(x.length);
        expect(dot(x, gx!)).to.be.closeTo(dot(f.y.data, g), 1e-4);
        // onnxruntime's Indices output (flat over N·C·spatial with storage_order 0)
        const withIdx = oneNode('MaxPool', [{ name: 'x', dims: tc.x }], tc.attrs, tc.opset ?? 12, { outputs: ['y', { name: 'ind', dtype: 'int64' }] });
        const ind = toNumbers((await runOrt(withIdx.bytes, f.feeds, ['ind'])).get('ind')!);
        const expected = new Float32Array(x.length);
        ind.forEach((i, o) => { expected[i] += g[o]; });
        expectClose(gx!, expected, 1e-6, 'routed gradient');
      });
    }

    it('MaxPool with the Indices output in the graph is refused with a clear message', async () => {
      const f = await runNode(rng, 'MaxPool', [{ name: 'x', dims: [1, 1, 4, 4] }], { kernel_shape: [2, 2] }, 12, { outputs: ['y', { name: 'ind', dtype: 'int64' }] });
      expect(() => findOp('MaxPool')!.vjp!(f.ctx, [new Float32Array(9), null])).to.throw(/Indices/);
    });

    it('GlobalMaxPool: vjp routes each gradient to the plane maximum; <y,g> = <x,vjp(g)>', async () => {
      for (const dims of [[2, 3, 4, 5], [1, 2, 3, 3, 2]]) {
        const f = await runNode(rng, 'GlobalMaxPool', [{ name: 'x', dims }], {}, 13);
        expect(categoryOf(f.node, f.graph)).to.equal('maxpool');
        const g = randomTensor(rng, [...f.y.dims]).data;
        const [gx] = findOp('GlobalMaxPool')!.vjp!(f.ctx, [g]);
        const x = f32of(f.feeds.x);
        expect(dot(x, gx!)).to.be.closeTo(dot(f.y.data, g), 1e-4);
        const size = x.length / g.length;
        const expected = new Float32Array(x.length);
        for (let p = 0; p < g.length; p++) {
          let best = 0;
          for (let i = 1; i < size; i++) if (x[p * size + i] > x[p * size + best]) best = i;
          expect(x[p * size + best]).to.equal(f.y.data[p]);
          expected[p * size + best] = g[p];
        }
        expectClose(gx!, expected, 1e-6, 'routed gradient');
      }
    });
  });
});
