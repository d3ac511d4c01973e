/** Elementwise activations, unmerged BatchNormalization and Mul/Div/Add/Sub by a constant: `derivative`
 * matches central finite differences of onnxruntime's output (inputs kept away from kinks). */
import { expect } from 'chai';
import { AttrValue } from '../../lib/ir/graph';
import { categoryOf, findOp } from '../../lib/ops/registry';
import { erf } from '../../lib/ops/activation';
import { Tensor, float32 } from '../../lib/tensor';
import { In, Rng, awayFrom, contextFor, expectAllClose, forward, oneNode, prng, randomTensor, runOrt, scalar, uniform } from '../helpers/onnx';

interface Case {
  title: string;
  op: string;
  opset?: number;
  attrs?: Record<string, AttrValue>;
  attrTypes?: Record<string, number>;
  dims?: number[];
  /** constant inputs after x (or before it when xAt says so) */
  consts?: (rng: Rng) => In[];
  /** position of the live input among the node inputs */
  xAt?: number;
  kinks?: number[];
  range?: [number, number];
  category?: string;
}

const H = 1e-2;

/** Runs the model at x, x+h, x−h (all elements at once: each output depends only on its own input). */
async function checkDerivative(rng: Rng, tc: Case): Promise<void> {
  const dims = tc.dims ?? [2, 3, 4];
  const consts = tc.consts ? tc.consts(rng) : [];
  const xIn: In = { name: 'x', dims };
  const inputs = [...consts];
  inputs.splice(tc.xAt ?? 0, 0, xIn);
  const built = oneNode(tc.op, inputs, tc.attrs ?? {}, tc.opset ?? 13, { attrTypes: tc.attrTypes });
  expect(categoryOf(built.node, built.graph)).to.equal(tc.category ?? 'activation');
  const [lo, hi] = tc.range ?? [-4, 4];
  const x = float32(dims, awayFrom(rng, dims.reduce((a, b) => a * b, 1), tc.kinks ?? [], { lo, hi, gap: 5 * H }));
  const f = await forward(built, { x });
  const xp = x.data.map((v) => v + H);
  const xm = x.data.map((v) => v - H);
  const [yp, ym] = await Promise.all([xp, xm].map(async (d) => (await runOrt(built.bytes, { x: float32(dims, d) }, ['y'])).get('y')!.data as Float32Array));
  const fd = yp.map((v, i) => (v - ym[i]) / (xp[i] - xm[i]));
  const d = findOp(tc.op)!.derivative!(f.ctx, x.data, f.y.data);
  expect(d.length).to.equal(x.data.length);
  expectAllClose(d, fd, 2e-3, 2e-3, `${tc.op} derivative vs finite differences`);
}

const c = (name: string, t: Tensor): In => ({ name, tensor: t });

describe('ops/activation', () => {
  const rng = prng(41);
  const cases: Case[] = [
    { title: 'Relu', op: 'Relu', kinks: [0] },
    { title: 'Relu opset 7', op: 'Relu', opset: 7, kinks: [0] },
    { title: 'LeakyRelu alpha=0.2', op: 'LeakyRelu', attrs: { alpha: 0.2 }, kinks: [0] },
    { title: 'LeakyRelu default alpha', op: 'LeakyRelu', kinks: [0] },
    { title: 'LeakyRelu alpha=1.0 (an integer-valued float attribute)', op: 'LeakyRelu', attrs: { alpha: 1 }, kinks: [0] },
    { title: 'PRelu per-channel slope [3,1,1]', op: 'PRelu', dims: [2, 3, 2, 2], consts: (r) => [c('slope', randomTensor(r, [3, 1, 1], -0.5, 0.5))], kinks: [0] },
    { title: 'PRelu scalar-like slope [1]', op: 'PRelu', consts: () => [c('slope', float32([1], [0.25]))], kinks: [0] },
    { title: 'PRelu full slope [3,4]', op: 'PRelu', consts: (r) => [c('slope', randomTensor(r, [3, 4]))], kinks: [0] },
    { title: 'Sigmoid', op: 'Sigmoid' },
    { title: 'Tanh', op: 'Tanh', range: [-2.5, 2.5] },
    { title: 'Clip-6 at opset 7 (min/max attributes)', op: 'Clip', opset: 7, attrs: { min: -1, max: 2 }, kinks: [-1, 2] },
    { title: 'Clip-6 at opset 10 without bounds', op: 'Clip', opset: 10 },
    { title: 'Clip opset 13 (min/max inputs)', op: 'Clip', consts: () => [c('min', scalar(-1.5)), c('max', scalar(0.5))], kinks: [-1.5, 0.5] },
    { title: 'Clip opset 13 max only (min omitted)', op: 'Clip', consts: () => [{ name: '' }, c('max', scalar(1))], kinks: [1] },
    { title: 'Clip opset 11 min only', op: 'Clip', opset: 11, consts: () => [c('min', scalar(0))], kinks: [0] },
    { title: 'Elu alpha=0.7', op: 'Elu', attrs: { alpha: 0.7 }, kinks: [0] },
    { title: 'Elu default alpha', op: 'Elu', kinks: [0] },
    { title: 'HardSigmoid default (kinks at ±2.5)', op: 'HardSigmoid', kinks: [-2.5, 2.5] },
    { title: 'HardSigmoid alpha=0.3 beta=0.4', op: 'HardSigmoid', attrs: { alpha: 0.3, beta: 0.4 }, kinks: [-4 / 3, 2] },
    { title: 'HardSwish (opset 14)', op: 'HardSwish', opset: 14, kinks: [-3, 3], range: [-5, 5] },
    { title: 'Softplus', op: 'Softplus' },
    { title: 'Selu default', op: 'Selu', kinks: [0] },
    { title: 'Selu alpha=1.5 gamma=1.1', op: 'Selu', attrs: { alpha: 1.5, gamma: 1.1 }, kinks: [0] },
    { title: 'Identity', op: 'Identity' },
    { title: 'Dropout (inference)', op: 'Dropout', opset: 13 },
    {
      title: 'BatchNormalization unmerged (opset 15)', op: 'BatchNormalization', opset: 15, dims: [2, 3, 2, 3], category: 'affine',
      consts: (r) => [c('scale', randomTensor(r, [3], -2, 2)), c('B', randomTensor(r, [3])), c('mean', randomTensor(r, [3])), c('var', randomTensor(r, [3], 0.2, 2))],
      attrs: { epsilon: 1e-3 },
    },
    {
      title: 'BatchNormalization opset 9, 2-D input [N, C]', op: 'BatchNormalization', opset: 9, dims: [4, 3], category: 'affine',
      consts: (r) => [c('scale', randomTensor(r, [3], -2, 2)), c('B', randomTensor(r, [3])), c('mean', randomTensor(r, [3])), c('var', randomTensor(r, [3], 0.2, 2))],
    },
    { title: 'Mul by a constant [3,1]', op: 'Mul', category: 'affine', consts: (r) => [c('k', randomTensor(r, [3, 1], -2, 2))] },
    { title: 'Mul constant × x (constant first)', op: 'Mul', category: 'affine', xAt: 1, consts: (r) => [c('k', randomTensor(r, [4], -2, 2))] },
    { title: 'Div by a constant [4]', op: 'Div', category: 'affine', consts: () => [c('k', float32([4], [0.5, -2, 3, 1.5]))] },
    { title: 'Add a constant [1]', op: 'Add', category: 'affine', consts: () => [c('k', float32([1], [0.3]))] },
    { title: 'constant + x (constant first)', op: 'Add', category: 'affine', xAt: 1, consts: (r) => [c('k', randomTensor(r, [3, 4]))] },
    { title: 'Sub a constant', op: 'Sub', category: 'affine', consts: (r) => [c('k', randomTensor(r, [4]))] },
    { title: 'constant − x (derivative −1)', op: 'Sub', category: 'affine', xAt: 1, consts: (r) => [c('k', randomTensor(r, [3, 1]))] },
  ];
  for (const tc of cases) it(`${tc.title}: derivative matches finite differences of onnxruntime`, () => checkDerivative(rng, tc));

  for (const approximate of ['none', 'tanh']) {
    it(`Gelu (opset 20, approximate='${approximate}'): derivative matches finite differences of onnxruntime`, async function () {
      try {
        await runOrt(oneNode('Gelu', [{ name: 'x', dims: [2] }], { approximate }, 20).bytes, { x: float32([2], [0, 1]) }, ['y']);
      } catch (e) {
        console.log(`      (skipped: this onnxruntime cannot run Gelu opset 20: ${(e as Error).message})`);
        this.skip();
      }
      await checkDerivative(rng, { title: 'Gelu', op: 'Gelu', opset: 20, attrs: { approximate }, range: [-4, 4] });
    });
  }

  it('erf (used by Gelu) is accurate to 1e-7 on a grid', () => {
    // reference values of erf
    const ref: [number, number][] = [[0, 0], [0.1, 0.1124629160182849], [0.5, 0.5204998778130465], [1, 0.8427007929497149],
      [1.5, 0.9661051464753108], [2, 0.9953222650189527], [2.5, 0.9995930479825550], [3, 0.9999779095030014], [-0.7, -0.6778011938374184]];
    for (const [x, e] of ref) expect(erf(x), `erf(${x})`).to.be.closeTo(e, 1e-7);
  });

  it('Mul by a constant that broadcasts the live input up is refused with a clear message', async () => {
    const built = oneNode('Mul', [{ name: 'x', dims: [3, 1] }, c('k', randomTensor(rng, [3, 4]))], {}, 13);
    const f = await forward(built, { x: randomTensor(rng, [3, 1]) });
    expect(() => findOp('Mul')!.derivative!(f.ctx, f32(f.feeds.x), f.y.data)).to.throw(/broadcasting the live input/);
  });

  it('Div by a live tensor is reported unsupported', () => {
    const built = oneNode('Div', [{ name: 'a', dims: [3] }, { name: 'b', dims: [3] }], {}, 13);
    expect(() => categoryOf(built.node, built.graph)).to.throw(/division by a live tensor/);
  });

  it('LRN derivative is refused with a clear message', async () => {
    const built = oneNode('LRN', [{ name: 'x', dims: [1, 3, 2, 2] }], { size: 3 }, 13, { attrTypes: { size: 2 } });
    const f = await forward(built, { x: randomTensor(rng, [1, 3, 2, 2]) });
    expect(() => findOp('LRN')!.derivative!(f.ctx, f32(f.feeds.x), f.y.data)).to.throw(/LRN/);
  });

  it('training-mode BatchNormalization (extra outputs) is refused', async () => {
    const consts = [c('scale', float32([2], [1, 2])), c('B', float32([2], [0, 1])), c('mean', float32([2], [0, 0])), c('var', float32([2], [1, 1]))];
    const built = oneNode('BatchNormalization', [{ name: 'x', dims: [2, 2] }, ...consts], {}, 9, { outputs: ['y', 'm', 'v'] });
    const values = new Map<string, Tensor>([['x', float32([2, 2], uniform(rng, 4))], ['y', float32([2, 2])]]);
    const ctx = contextFor(built.node, built.graph, values);
    expect(() => findOp('BatchNormalization')!.derivative!(ctx, new Float32Array(4), new Float32Array(4))).to.throw(/training-mode/);
  });
});

function f32(t: Tensor): Float32Array {
  return t.data as Float32Array;
}
