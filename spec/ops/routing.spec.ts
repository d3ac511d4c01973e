/** Routing ops: the vjp is the adjoint of the forward map, ⟨y, g⟩ = ⟨x, vjp(g)⟩, with y from onnxruntime. */
import { expect } from 'chai';
import { AttrValue } from '../../lib/ir/graph';
import { categoryOf, findOp } from '../../lib/ops/registry';
import { Tensor, float32, sizeOf } from '../../lib/tensor';
import { In, INT64_MAX, INT64_MIN, dot, f32of, int64, int64s, prng, randomTensor, runNode } from '../helpers/onnx';

interface Case {
  title: string;
  op: string;
  opset?: number;
  /** live inputs (name → dims) and constants, in node order */
  inputs: In[];
  attrs?: Record<string, AttrValue>;
  outputs?: number;
}

const live = (name: string, ...dims: number[]): In => ({ name, dims });
const k = (name: string, tensor: Tensor): In => ({ name, tensor });

describe('ops/routing', () => {
  const rng = prng(61);
  const cases: Case[] = [
    { title: 'Reshape [2,3,4] → [3,-1]', op: 'Reshape', inputs: [live('x', 2, 3, 4), k('s', int64s([3, -1]))] },
    { title: 'Reshape with 0 (copy dim) → [2,0,2,2]', op: 'Reshape', inputs: [live('x', 2, 3, 4), k('s', int64s([2, 0, 2, 2]))] },
    { title: 'Flatten default axis', op: 'Flatten', inputs: [live('x', 2, 3, 2, 2)] },
    { title: 'Flatten axis=2', op: 'Flatten', attrs: { axis: 2 }, inputs: [live('x', 2, 3, 2, 2)] },
    { title: 'Flatten axis=0', op: 'Flatten', attrs: { axis: 0 }, inputs: [live('x', 2, 3, 2)] },
    { title: 'Flatten axis=-1', op: 'Flatten', attrs: { axis: -1 }, inputs: [live('x', 2, 3, 2)] },
    { title: 'Squeeze opset 11 axes attribute', op: 'Squeeze', opset: 11, attrs: { axes: [1, 3] }, inputs: [live('x', 2, 1, 3, 1)] },
    { title: 'Squeeze opset 13 axes input (negative)', op: 'Squeeze', inputs: [live('x', 2, 1, 3, 1), k('a', int64s([-1]))] },
    { title: 'Squeeze opset 13 all ones', op: 'Squeeze', inputs: [live('x', 1, 3, 1, 2)] },
    { title: 'Unsqueeze opset 11 axes attribute', op: 'Unsqueeze', opset: 11, attrs: { axes: [0, 3] }, inputs: [live('x', 2, 3)] },
    { title: 'Unsqueeze opset 13 axes input (negative)', op: 'Unsqueeze', inputs: [live('x', 2, 3), k('a', int64s([-1, 1]))] },
    { title: 'Cast float32 → float32', op: 'Cast', attrs: { to: 1 }, inputs: [live('x', 2, 3)] },
    { title: 'Transpose perm [0,2,3,1]', op: 'Transpose', attrs: { perm: [0, 2, 3, 1] }, inputs: [live('x', 2, 3, 4, 5)] },
    { title: 'Transpose default (reverse)', op: 'Transpose', inputs: [live('x', 2, 3, 4)] },
    { title: 'Transpose perm [1,0,2]', op: 'Transpose', attrs: { perm: [1, 0, 2] }, inputs: [live('x', 3, 2, 4)] },
    { title: 'Concat axis 1, two live', op: 'Concat', attrs: { axis: 1 }, inputs: [live('a', 2, 3, 2), live('b', 2, 1, 2)] },
    { title: 'Concat axis -1, three live', op: 'Concat', attrs: { axis: -1 }, inputs: [live('a', 2, 3), live('b', 2, 1), live('c', 2, 4)] },
    { title: 'Concat axis 0', op: 'Concat', attrs: { axis: 0 }, inputs: [live('a', 1, 3), live('b', 2, 3)] },
    { title: 'Split opset 11 split attribute, axis 1', op: 'Split', opset: 11, attrs: { axis: 1, split: [1, 3] }, inputs: [live('x', 2, 4, 3)], outputs: 2 },
    { title: 'Split opset 13 split input, axis -1', op: 'Split', attrs: { axis: -1 }, inputs: [live('x', 2, 3, 5), k('sp', int64s([2, 1, 2]))], outputs: 3 },
    { title: 'Split opset 13 equal parts', op: 'Split', attrs: { axis: 0 }, inputs: [live('x', 4, 3)], outputs: 2 },
    { title: 'Split opset 18 num_outputs (uneven)', op: 'Split', opset: 18, attrs: { axis: 1, num_outputs: 3 }, inputs: [live('x', 2, 7)], outputs: 3 },
    { title: 'Slice opset 9 attributes', op: 'Slice', opset: 9, attrs: { starts: [1, 0], ends: [3, 2], axes: [1, 2] }, inputs: [live('x', 2, 4, 3)] },
    { title: 'Slice opset 10 inputs, no axes/steps', op: 'Slice', opset: 10, inputs: [live('x', 4, 5), k('st', int64s([1, 2])), k('en', int64s([3, 5]))] },
    { title: 'Slice negative starts and ends', op: 'Slice', inputs: [live('x', 4, 6), k('st', int64s([-3])), k('en', int64s([-1])), k('ax', int64s([1]))] },
    { title: 'Slice steps 2 and 3 on two axes', op: 'Slice', inputs: [live('x', 5, 7, 2), k('st', int64s([0, 1])), k('en', int64s([5, 7])), k('ax', int64s([0, 1])), k('sp', int64s([2, 3]))] },
    { title: 'Slice negative axis', op: 'Slice', inputs: [live('x', 3, 4, 5), k('st', int64s([1])), k('en', int64s([4])), k('ax', int64s([-1]))] },
    { title: 'Slice step −1 (reverse, starts −1, ends INT64_MIN)', op: 'Slice', inputs: [live('x', 3, 5), k('st', int64s([-1])), k('en', int64s([INT64_MIN])), k('ax', int64s([1])), k('sp', int64s([-1]))] },
    { title: 'Slice step −2 from INT64_MAX', op: 'Slice', inputs: [live('x', 7, 2), k('st', int64s([INT64_MAX])), k('en', int64s([-100])), k('ax', int64s([0])), k('sp', int64s([-2]))] },
    { title: 'Slice ends beyond the dim (INT64_MAX), starts beyond start', op: 'Slice', inputs: [live('x', 4, 3), k('st', int64s([1, -10])), k('en', int64s([INT64_MAX, 2])), k('ax', int64s([0, 1]))] },
    { title: 'Pad opset 11 constant (zero)', op: 'Pad', opset: 11, inputs: [live('x', 2, 3, 4), k('p', int64s([0, 1, 2, 0, 2, 1]))] },
    { title: 'Pad opset 13 reflect', op: 'Pad', attrs: { mode: 'reflect' }, inputs: [live('x', 1, 2, 4, 5), k('p', int64s([0, 0, 2, 3, 0, 0, 3, 1]))] },
    { title: 'Pad opset 13 edge', op: 'Pad', attrs: { mode: 'edge' }, inputs: [live('x', 1, 2, 3, 3), k('p', int64s([0, 0, 2, 1, 0, 0, 1, 3]))] },
    { title: 'Pad opset 7 attribute form (constant)', op: 'Pad', opset: 7, attrs: { pads: [0, 1, 1, 0, 2, 0] }, inputs: [live('x', 2, 3, 2)] },
    { title: 'Pad opset 7 attribute form (reflect)', op: 'Pad', opset: 7, attrs: { mode: 'reflect', pads: [0, 2, 0, 1] }, inputs: [live('x', 2, 4)] },
    { title: 'Pad negative pads (crop)', op: 'Pad', inputs: [live('x', 3, 5), k('p', int64s([1, -1, 0, -2]))] },
    { title: 'Pad opset 18 axes input', op: 'Pad', opset: 18, inputs: [live('x', 2, 3, 4), k('p', int64s([1, 2, 0, 1])), { name: '' }, k('ax', int64s([2, 0]))] },
    { title: 'Pad opset 19 wrap', op: 'Pad', opset: 19, attrs: { mode: 'wrap' }, inputs: [live('x', 3, 4), k('p', int64s([1, 2, 2, 3]))] },
    { title: 'Gather axis 0 with repeated indices', op: 'Gather', inputs: [live('x', 4, 3), k('i', int64s([3, 0, 3, 1]))] },
    { title: 'Gather axis 1, 2-D indices with a negative index', op: 'Gather', attrs: { axis: 1 }, inputs: [live('x', 2, 5, 3), k('i', int64([2, 2], [-1, 0, 2, 2]))] },
    { title: 'Gather scalar index (rank drops)', op: 'Gather', attrs: { axis: -1 }, inputs: [live('x', 2, 3, 4), k('i', int64([], [2]))] },
    { title: 'Expand [3,1] → [2,3,4]', op: 'Expand', inputs: [live('x', 3, 1), k('s', int64s([2, 3, 4]))] },
    { title: 'Expand to a lower-rank shape [1,4] (broadcast keeps x dims)', op: 'Expand', inputs: [live('x', 2, 1, 4), k('s', int64s([3, 1]))] },
    { title: 'Tile repeats [2,1,3]', op: 'Tile', inputs: [live('x', 2, 3, 2), k('r', int64s([2, 1, 3]))] },
  ];

  for (const tc of cases) {
    it(`${tc.title}: ⟨y, g⟩ = ⟨x, vjp(g)⟩`, async () => {
      const outputs = Array.from({ length: tc.outputs ?? 1 }, (_, i) => `y${i}`);
      const f = await runNode(rng, tc.op, tc.inputs, tc.attrs ?? {}, tc.opset ?? 13, { outputs });
      expect(categoryOf(f.node, f.graph)).to.equal('routing');
      const ys = outputs.map((o) => f32of(f.values.get(o)!));
      const gs = ys.map((y) => randomTensor(rng, [y.length]).data);
      const back = findOp(tc.op)!.vjp!(f.ctx, gs);
      expect(back.length, 'one entry per input').to.equal(f.node.inputs.length);
      let lhs = 0;
      ys.forEach((y, i) => { lhs += dot(y, gs[i]); });
      let rhs = 0;
      f.node.inputs.forEach((name, i) => {
        if (!name || f.graph.isConstant(name)) {
          expect(back[i], `no gradient for constant input ${i}`).to.equal(null);
          return;
        }
        expect(back[i], `gradient for live input '${name}'`).to.not.equal(null);
        const x = f32of(f.feeds[name]);
        expect(back[i]!.length).to.equal(x.length);
        rhs += dot(x, back[i]!);
      });
      expect(rhs).to.be.closeTo(lhs, 1e-4 * Math.max(1, Math.abs(lhs)));
    });
  }

  it('Concat with a constant input: the live part is routed, the constant gets none', async () => {
    const cst = randomTensor(rng, [2, 2]);
    const f = await runNode(rng, 'Concat', [live('a', 2, 3), k('c', cst)], { axis: 1 }, 13);
    const g = randomTensor(rng, [sizeOf(f.y.dims)]).data;
    const [ga, gc] = findOp('Concat')!.vjp!(f.ctx, [g]);
    expect(gc).to.equal(null);
    // ⟨y, g⟩ = ⟨a, ga⟩ + ⟨c, g restricted to c's columns⟩
    let cpart = 0;
    for (let r = 0; r < 2; r++) for (let j = 0; j < 2; j++) cpart += cst.data[r * 2 + j] * g[r * 5 + 3 + j];
    expect(dot(f32of(f.feeds.a), ga!) + cpart).to.be.closeTo(dot(f.y.data, g), 1e-5);
  });

  it('Transpose vjp is the inverse permutation (exact values)', async () => {
    const x = float32([2, 3], [0, 1, 2, 3, 4, 5]);
    const f = await runNode(rng, 'Transpose', [live('x', 2, 3)], { perm: [1, 0] }, 13, { feeds: { x } });
    expect(Array.from(f.y.data)).to.deep.equal([0, 3, 1, 4, 2, 5]);
    const [gx] = findOp('Transpose')!.vjp!(f.ctx, [f.y.data]);
    expect(Array.from(gx!)).to.deep.equal([0, 1, 2, 3, 4, 5]);
  });
});
