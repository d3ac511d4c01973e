/** Ops added for real architectures, each against onnxruntime on one-node models:
 * - activations (Swish, com.microsoft QuickGelu, Mish, Softsign, ThresholdedRelu, Celu, Neg, Max/Min with a
 *   constant): `derivative` matches central finite differences of onnxruntime's output;
 * - routing and winner-takes-all ops (DepthToSpace, SpaceToDepth, nearest Upsample/Resize, Max/Min of live
 *   tensors, ReduceMax/ReduceMin): the vjp is the adjoint of onnxruntime's map, ⟨y, g⟩ = ⟨x, vjp(g)⟩;
 * - linear Upsample/Resize: the kernel's forward equals onnxruntime's output and its transpose is the adjoint. */
import { expect } from 'chai';
import { AttrValue } from '../../lib/ir/graph';
import { mod } from '../../lib/kernels/kernel';
import { categoryOf, findOp, unsupportedNodes } from '../../lib/ops/registry';
import { Tensor, float32 } from '../../lib/tensor';
import { In, Rng, awayFrom, dot, expectAllClose, expectClose, f32of, forward, int64s, oneNode, prng, randomTensor, runNode, runOrt, scalar } from '../helpers/onnx';

const live = (name: string, ...dims: number[]): In => ({ name, dims });
const k = (name: string, tensor: Tensor): In => ({ name, tensor });
const floats = (...v: number[]) => float32([v.length], v);
const H = 1e-2;

interface ActivationCase {
  title: string;
  op: string;
  domain?: string;
  opset?: number;
  attrs?: Record<string, AttrValue>;
  attrTypes?: Record<string, number>;
  consts?: In[];
  xAt?: number;
  kinks?: number[];
  category?: string;
}

async function checkDerivative(rng: Rng, tc: ActivationCase): Promise<void> {
  const dims = [2, 3, 4];
  const inputs = [...(tc.consts ?? [])];
  inputs.splice(tc.xAt ?? 0, 0, live('x', ...dims));
  const opsets = tc.domain ? { [tc.domain]: 1 } : {};
  const built = oneNode(tc.op, inputs, tc.attrs ?? {}, tc.opset ?? 13, { attrTypes: tc.attrTypes, domain: tc.domain, opsets });
  expect(categoryOf(built.node, built.graph)).to.equal(tc.category ?? 'activation');
  const x = float32(dims, awayFrom(rng, 24, tc.kinks ?? [], { lo: -4, hi: 4, gap: 5 * H }));
  const f = await forward(built, { x });
  const xp = x.data.map((v) => v + H);
  const xm = x.data.map((v) => v - H);
  const [yp, ym] = await Promise.all([xp, xm].map(async (d) => (await runOrt(built.bytes, { x: float32(dims, d) }, ['y'])).get('y')!.data as Float32Array));
  const fd = yp.map((v, i) => (v - ym[i]) / (xp[i] - xm[i]));
  const d = findOp(tc.op, tc.domain)!.derivative!(f.ctx, x.data, f.y.data);
  expectAllClose(d, fd, 2e-3, 2e-3, `${tc.op} derivative vs finite differences`);
}

interface RouteCase {
  title: string;
  op: string;
  opset?: number;
  inputs: In[];
  attrs?: Record<string, AttrValue>;
  category?: string;
  attrTypes?: Record<string, number>;
  /** exact output dims onnxruntime must produce (checks the case is what it says) */
  dims?: number[];
}

describe('ops added for real architectures', () => {
  const rng = prng(2024);

  describe('activations: derivative vs finite differences of onnxruntime', () => {
    const cases: ActivationCase[] = [
      { title: 'Swish alpha=1 (opset 24)', op: 'Swish', opset: 24 },
      { title: 'Swish alpha=1.5 (opset 24)', op: 'Swish', opset: 24, attrs: { alpha: 1.5 }, attrTypes: { alpha: 1 } },
      { title: 'com.microsoft QuickGelu alpha=1 (SiLU)', op: 'QuickGelu', domain: 'com.microsoft', attrs: { alpha: 1 }, attrTypes: { alpha: 1 } },
      { title: 'com.microsoft QuickGelu default alpha 1.702', op: 'QuickGelu', domain: 'com.microsoft' },
      { title: 'Mish (opset 18)', op: 'Mish', opset: 18 },
      { title: 'Softsign', op: 'Softsign', kinks: [0] },
      { title: 'ThresholdedRelu alpha=0.5', op: 'ThresholdedRelu', attrs: { alpha: 0.5 }, attrTypes: { alpha: 1 }, kinks: [0.5] },
      { title: 'Celu alpha=0.8', op: 'Celu', attrs: { alpha: 0.8 }, attrTypes: { alpha: 1 }, kinks: [0] },
      { title: 'Neg (affine)', op: 'Neg', category: 'affine' },
      { title: 'Max(x, 0) (ReLU)', op: 'Max', consts: [k('z', scalar(0))], kinks: [0] },
      { title: 'Min(6, x) (the upper half of ReLU6), constant first', op: 'Min', consts: [k('six', scalar(1.5))], xAt: 1, kinks: [1.5] },
      { title: 'Max(x, c) with a per-channel constant [3,1]', op: 'Max', consts: [k('c', float32([3, 1], [-1, 0, 1]))], kinks: [-1, 0, 1] },
      {
        title: 'BatchNormalization opset 7 spatial=0 (statistics per element)', op: 'BatchNormalization', opset: 7, category: 'affine',
        attrs: { spatial: 0 }, consts: [k('s', randomTensor(prng(3), [3, 4], 0.5, 2)), k('b', randomTensor(prng(4), [3, 4])), k('m', randomTensor(prng(5), [3, 4])), k('v', randomTensor(prng(6), [3, 4], 0.5, 2))],
      },
    ];
    for (const tc of cases) it(tc.title, () => checkDerivative(rng, tc));
  });

  describe('routing: ⟨y, g⟩ = ⟨x, vjp(g)⟩ with y from onnxruntime', () => {
    const cases: RouteCase[] = [
      { title: 'DepthToSpace DCR blocksize 2', op: 'DepthToSpace', attrs: { blocksize: 2 }, inputs: [live('x', 2, 8, 2, 3)], dims: [2, 2, 4, 6] },
      { title: 'DepthToSpace CRD blocksize 2', op: 'DepthToSpace', attrs: { blocksize: 2, mode: 'CRD' }, inputs: [live('x', 1, 12, 3, 2)], dims: [1, 3, 6, 4] },
      { title: 'SpaceToDepth blocksize 2', op: 'SpaceToDepth', attrs: { blocksize: 2 }, inputs: [live('x', 2, 3, 4, 6)], dims: [2, 12, 2, 3] },
      { title: 'SpaceToDepth blocksize 3', op: 'SpaceToDepth', attrs: { blocksize: 3 }, inputs: [live('x', 1, 2, 3, 6)], dims: [1, 18, 1, 2] },
      { title: 'Upsample opset 9 nearest ×2 (scales input)', op: 'Upsample', opset: 9, inputs: [live('x', 1, 2, 3, 4), k('s', floats(1, 1, 2, 2))], dims: [1, 2, 6, 8] },
      { title: 'Upsample opset 7 nearest ×(2,3) (scales attribute)', op: 'Upsample', opset: 7, attrs: { scales: [1, 1, 2, 3] }, attrTypes: { scales: 6 }, inputs: [live('x', 1, 2, 3, 2)], dims: [1, 2, 6, 6] },
      { title: 'Resize opset 10 nearest ×1.5', op: 'Resize', opset: 10, inputs: [live('x', 1, 1, 4, 4), k('s', floats(1, 1, 1.5, 1.5))], dims: [1, 1, 6, 6] },
      { title: 'Resize opset 13 nearest, sizes, asymmetric/floor (PyTorch nearest)', op: 'Resize', attrs: { coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, inputs: [live('x', 1, 2, 3, 5), { name: '' }, { name: '' }, k('sz', int64s([1, 2, 7, 8]))], dims: [1, 2, 7, 8] },
      { title: 'Resize opset 13 nearest, half_pixel, round_prefer_floor, downsampling', op: 'Resize', inputs: [live('x', 1, 2, 6, 7), { name: '' }, k('s', floats(1, 1, 0.5, 0.6))], dims: [1, 2, 3, 4] },
      { title: 'Resize opset 13 nearest, align_corners, round_prefer_ceil', op: 'Resize', attrs: { coordinate_transformation_mode: 'align_corners', nearest_mode: 'round_prefer_ceil' }, inputs: [live('x', 1, 1, 3, 4), { name: '' }, k('s', floats(1, 1, 2.5, 1.5))], dims: [1, 1, 7, 6] },
      { title: 'Resize opset 11 nearest, tf_half_pixel_for_nn, ceil', op: 'Resize', opset: 11, attrs: { coordinate_transformation_mode: 'tf_half_pixel_for_nn', nearest_mode: 'ceil' }, inputs: [live('x', 1, 1, 4, 3), k('roi', floats()), k('s', floats(1, 1, 1.75, 2))], dims: [1, 1, 7, 6] },
      { title: 'Resize opset 18 nearest with axes [2, 3]', op: 'Resize', opset: 18, attrs: { axes: [2, 3] }, inputs: [live('x', 1, 2, 3, 3), { name: '' }, k('s', floats(2, 2))], dims: [1, 2, 6, 6] },
      { title: 'Max of two live tensors (broadcast [2,1])', op: 'Max', category: 'maxpool', inputs: [live('a', 2, 3), live('b', 2, 1)], dims: [2, 3] },
      { title: 'Min of three live tensors', op: 'Min', category: 'maxpool', inputs: [live('a', 2, 3), live('b', 2, 3), live('c', 2, 3)], dims: [2, 3] },
      { title: 'ReduceMax over [2, 3], keepdims', op: 'ReduceMax', category: 'maxpool', attrs: { axes: [2, 3] }, inputs: [live('x', 2, 3, 4, 5)], dims: [2, 3, 1, 1] },
      { title: 'ReduceMin opset 18 axes input, keepdims 0', op: 'ReduceMin', opset: 18, category: 'maxpool', attrs: { keepdims: 0 }, inputs: [live('x', 2, 3, 4), k('ax', int64s([1]))], dims: [2, 4] },
    ];
    for (const tc of cases) {
      it(tc.title, async () => {
        const f = await runNode(rng, tc.op, tc.inputs, tc.attrs ?? {}, tc.opset ?? 13, { attrTypes: tc.attrTypes });
        if (tc.dims) expect(f.y.dims).to.deep.equal(tc.dims);
        expect(categoryOf(f.node, f.graph)).to.equal(tc.category ?? 'routing');
        const g = randomTensor(rng, [f.y.data.length]).data;
        const back = findOp(tc.op)!.vjp!(f.ctx, [g]);
        let rhs = 0;
        f.node.inputs.forEach((name, i) => {
          if (!name || f.graph.isConstant(name)) { expect(back[i] ?? null, `constant input ${i}`).to.equal(null); return; }
          expect(back[i]!.length).to.equal(f.feeds[name].data.length);
          rhs += dot(f32of(f.feeds[name]), back[i]!);
        });
        const lhs = dot(f.y.data, g);
        expect(rhs).to.be.closeTo(lhs, 1e-4 * Math.max(1, Math.abs(lhs)));
      });
    }
  });

  describe('linear Upsample/Resize: a linear layer with the interpolation weights (category avgpool)', () => {
    const cases: RouteCase[] = [
      { title: 'Upsample opset 9 linear ×2', op: 'Upsample', opset: 9, attrs: { mode: 'linear' }, inputs: [live('x', 1, 2, 3, 4), k('s', floats(1, 1, 2, 2))] },
      { title: 'Resize opset 13 linear half_pixel ×2 (PyTorch bilinear, align_corners=False)', op: 'Resize', attrs: { mode: 'linear' }, inputs: [live('x', 2, 2, 3, 4), { name: '' }, k('s', floats(1, 1, 2, 2))] },
      { title: 'Resize opset 13 linear align_corners, sizes', op: 'Resize', attrs: { mode: 'linear', coordinate_transformation_mode: 'align_corners' }, inputs: [live('x', 1, 2, 3, 4), { name: '' }, { name: '' }, k('sz', int64s([1, 2, 5, 9]))] },
      { title: 'Resize opset 13 linear pytorch_half_pixel, downsampling to 1 row', op: 'Resize', attrs: { mode: 'linear', coordinate_transformation_mode: 'pytorch_half_pixel' }, inputs: [live('x', 1, 1, 4, 6), { name: '' }, { name: '' }, k('sz', int64s([1, 1, 1, 4]))] },
      { title: 'Resize opset 11 linear asymmetric 1-D ×1.5', op: 'Resize', opset: 11, attrs: { mode: 'linear', coordinate_transformation_mode: 'asymmetric' }, inputs: [live('x', 2, 3, 4), k('roi', floats()), k('s', floats(1, 1, 1.5))] },
    ];
    for (const tc of cases) {
      it(tc.title, async () => {
        const f = await runNode(rng, tc.op, tc.inputs, tc.attrs ?? {}, tc.opset ?? 13);
        expect(categoryOf(f.node, f.graph)).to.equal('avgpool');
        const lin = findOp(tc.op)!.linear!(f.ctx);
        const x = f32of(f.feeds.x);
        expect(lin.kernel.inSize).to.equal(x.length);
        expect(lin.kernel.outSize).to.equal(f.y.data.length);
        expectClose(await lin.kernel.forward(x, mod.id, mod.id), f.y.data, 1e-5, `${tc.op} forward`);
        const g = randomTensor(rng, [f.y.data.length]).data;
        expect(dot(await lin.kernel.transposed(g, mod.id), x)).to.be.closeTo(dot(f.y.data, g), 1e-4 * Math.max(1, Math.abs(dot(f.y.data, g))));
      });
    }
  });

  it('cubic resizing is reported as unsupported with the node, op, opset and mode', () => {
    const b = oneNode('Resize', [live('x', 1, 1, 3, 3), { name: '' }, k('s', floats(1, 1, 2, 2))], { mode: 'cubic' });
    const u = unsupportedNodes(b.graph);
    expect(u).to.have.length(1);
    expect(u[0].reason).to.match(/resize0.*Resize.*opset 13.*'cubic'/);
  });
});
