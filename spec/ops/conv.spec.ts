/** Conv and ConvTranspose: the linear kernel's forward (identity modifiers, bias on) equals onnxruntime. */
import { expect } from 'chai';
import { mod } from '../../lib/kernels/kernel';
import { categoryOf, findOp } from '../../lib/ops/registry';
import { AttrValue } from '../../lib/ir/graph';
import { In, expectClose, f32of, prng, randomTensor, runNode } from '../helpers/onnx';

interface Case { title: string; x: number[]; w: number[]; bias?: boolean; attrs?: Record<string, AttrValue>; opset?: number }

async function check(rng: () => number, opType: 'Conv' | 'ConvTranspose', tc: Case): Promise<void> {
  const inputs: In[] = [{ name: 'x', dims: tc.x }, { name: 'W', tensor: randomTensor(rng, tc.w) }];
  const M = opType === 'Conv' ? tc.w[0] : tc.w[1] * (((tc.attrs?.group as number | undefined) ?? 1));
  if (tc.bias !== false) inputs.push({ name: 'b', tensor: randomTensor(rng, [M]) });
  const f = await runNode(rng, opType, inputs, tc.attrs ?? {}, tc.opset ?? 13);
  expect(categoryOf(f.node, f.graph)).to.equal('conv');
  const lin = findOp(opType)!.linear!(f.ctx);
  expect(lin.live).to.deep.equal([0]);
  const x = f32of(f.ctx.value('x'));
  expect(lin.kernel.inSize, 'kernel inSize').to.equal(x.length);
  expect(lin.kernel.outSize, `kernel outSize (onnxruntime output [${f.y.dims}])`).to.equal(f.y.data.length);
  expect(lin.kernel.hasBias).to.equal(tc.bias !== false);
  expectClose(await lin.kernel.forward(x, mod.id, mod.id), f.y.data, 1e-5, `${opType} ${tc.title}`);
  // the kernel's transposed pass is the adjoint of its forward (no bias): <W x, g> = <x, W^T g>
  const g = randomTensor(rng, [f.y.data.length]).data;
  const wx = await lin.kernel.forward(x, mod.id, null);
  const wtg = await lin.kernel.transposed(g, mod.id);
  let a = 0, b = 0;
  for (let i = 0; i < g.length; i++) a += wx[i] * g[i];
  for (let i = 0; i < x.length; i++) b += x[i] * wtg[i];
  expect(Math.abs(a - b)).to.be.at.most(1e-4 * Math.max(1, Math.abs(a)));
}

describe('ops/conv', () => {
  const rng = prng(21);

  const convCases: Case[] = [
    { title: '1-D, stride 2, pads [1,2]', x: [2, 3, 9], w: [4, 3, 3], attrs: { strides: [2], pads: [1, 2] } },
    { title: '1-D, dilation 2, no bias', x: [1, 2, 10], w: [3, 2, 3], bias: false, attrs: { dilations: [2] } },
    { title: '2-D plain', x: [1, 3, 7, 6], w: [4, 3, 3, 3] },
    { title: '2-D with kernel_shape attribute, batch 2', x: [2, 3, 6, 6], w: [4, 3, 3, 2], attrs: { kernel_shape: [3, 2] } },
    { title: '2-D strides [2,1]', x: [1, 3, 7, 6], w: [4, 3, 3, 3], attrs: { strides: [2, 1] } },
    { title: '2-D asymmetric pads [1,0,2,1]', x: [1, 3, 7, 6], w: [4, 3, 3, 3], attrs: { pads: [1, 0, 2, 1] } },
    { title: '2-D auto_pad SAME_UPPER stride 2 (odd total padding)', x: [1, 3, 7, 6], w: [4, 3, 4, 3], attrs: { auto_pad: 'SAME_UPPER', strides: [2, 2] } },
    { title: '2-D auto_pad SAME_LOWER stride 2 (odd total padding)', x: [1, 3, 7, 6], w: [4, 3, 4, 3], attrs: { auto_pad: 'SAME_LOWER', strides: [2, 2] } },
    { title: '2-D auto_pad SAME_UPPER stride 1, even kernel', x: [1, 2, 5, 5], w: [3, 2, 2, 2], attrs: { auto_pad: 'SAME_UPPER' } },
    { title: '2-D auto_pad SAME_LOWER stride 1, even kernel', x: [1, 2, 5, 5], w: [3, 2, 2, 2], attrs: { auto_pad: 'SAME_LOWER' } },
    { title: '2-D auto_pad VALID stride 2', x: [1, 3, 8, 7], w: [4, 3, 3, 3], attrs: { auto_pad: 'VALID', strides: [2, 2] } },
    { title: '2-D dilations [2,1] with pads', x: [1, 3, 8, 7], w: [4, 3, 3, 3], attrs: { dilations: [2, 1], pads: [2, 1, 2, 1] } },
    { title: '2-D groups=2', x: [1, 4, 6, 6], w: [6, 2, 3, 3], attrs: { group: 2, pads: [1, 1, 1, 1] } },
    { title: '2-D depthwise (group = channels)', x: [1, 3, 6, 6], w: [3, 1, 3, 3], attrs: { group: 3, pads: [1, 1, 1, 1] } },
    { title: '2-D depthwise with channel multiplier 2, stride 2', x: [1, 3, 7, 7], w: [6, 1, 3, 3], attrs: { group: 3, strides: [2, 2] } },
    { title: '2-D 1x1 (pointwise)', x: [2, 5, 4, 3], w: [3, 5, 1, 1] },
    { title: '3-D strides, pads, dilations', x: [1, 2, 5, 4, 6], w: [3, 2, 2, 3, 2], attrs: { strides: [1, 2, 1], pads: [1, 0, 1, 0, 1, 1], dilations: [2, 1, 1] } },
    { title: '3-D SAME_UPPER groups 2', x: [1, 4, 4, 5, 3], w: [4, 2, 3, 2, 2], attrs: { auto_pad: 'SAME_UPPER', group: 2, strides: [2, 2, 1] } },
    { title: '2-D opset 7', x: [1, 3, 5, 5], w: [2, 3, 3, 3], attrs: { pads: [1, 1, 1, 1] }, opset: 7 },
  ];
  for (const tc of convCases) it(`Conv ${tc.title}: forward equals onnxruntime`, () => check(rng, 'Conv', tc));

  const convTCases: Case[] = [
    { title: '2-D plain', x: [1, 4, 3, 3], w: [4, 2, 3, 3] },
    { title: '2-D strides 2', x: [1, 4, 3, 4], w: [4, 2, 3, 3], attrs: { strides: [2, 2] } },
    { title: '2-D strides 2 with pads [1,0,1,1]', x: [2, 4, 3, 4], w: [4, 2, 3, 3], attrs: { strides: [2, 2], pads: [1, 0, 1, 1] } },
    { title: '2-D strides 2 with output_padding [1,0]', x: [1, 4, 3, 3], w: [4, 2, 3, 3], attrs: { strides: [2, 2], output_padding: [1, 0] } },
    { title: '2-D strides 3, pads and output_padding [2,1]', x: [1, 3, 3, 3], w: [3, 2, 3, 2], attrs: { strides: [3, 2], pads: [1, 0, 0, 1], output_padding: [2, 1] } },
    { title: '2-D groups=2', x: [1, 4, 3, 3], w: [4, 3, 3, 3], attrs: { group: 2, strides: [2, 1] } },
    { title: '2-D depthwise (group = channels)', x: [1, 3, 4, 4], w: [3, 1, 2, 2], attrs: { group: 3, strides: [2, 2] } },
    { title: '2-D dilations 2', x: [1, 2, 3, 3], w: [2, 3, 3, 3], attrs: { dilations: [2, 2] } },
    { title: '2-D no bias, kernel_shape given', x: [1, 2, 4, 3], w: [2, 3, 2, 2], bias: false, attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
    { title: '1-D strides 2 output_padding 1', x: [2, 3, 5], w: [3, 2, 4], attrs: { strides: [2], output_padding: [1], pads: [1, 0] } },
    { title: '3-D strides 2', x: [1, 2, 2, 3, 2], w: [2, 2, 2, 2, 3], attrs: { strides: [2, 2, 1], pads: [0, 1, 1, 0, 0, 1] } },
    { title: '2-D auto_pad SAME_UPPER stride 2 (odd total padding)', x: [1, 2, 3, 3], w: [2, 2, 4, 3], attrs: { auto_pad: 'SAME_UPPER', strides: [2, 2] } },
    { title: '2-D auto_pad SAME_LOWER stride 2 (odd total padding)', x: [1, 2, 3, 3], w: [2, 2, 4, 3], attrs: { auto_pad: 'SAME_LOWER', strides: [2, 2] } },
    { title: '2-D output_shape attribute', x: [1, 2, 3, 3], w: [2, 2, 3, 3], attrs: { strides: [2, 2], output_shape: [8, 7] } },
  ];
  for (const tc of convTCases) it(`ConvTranspose ${tc.title}: forward equals onnxruntime`, () => check(rng, 'ConvTranspose', tc));

  it('Conv with a live weight is reported unsupported by its category', async () => {
    const f = await runNode(rng, 'Conv', [{ name: 'x', dims: [1, 2, 4, 4] }, { name: 'w', dims: [3, 2, 3, 3] }], {}, 13);
    expect(() => categoryOf(f.node, f.graph)).to.throw(/live \(non-constant\) weight/);
  });
});
