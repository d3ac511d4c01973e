/** The quantized → float canonizer: tiny quantized models (built in the IR, saved with lib/onnx/save.ts)
 * against their float twins (run in onnxruntime). The integer model's values come from the exact integer
 * reference (spec/helpers/quantized-reference.ts), not from onnxruntime's int8 kernels, which differ by CPU
 * (on AVX2 without VNNI, u8·s8 pair sums saturate in 16 bits); how far onnxruntime's int8 output is from the
 * exact one on the machine at hand is printed, not asserted. The twin's output must stay within the error
 * quantization itself explains (half an output step, plus the input's half step times the op's gain); the
 * simulated twin (the same float graph, rounded to each value's grid) must reproduce the integer model to the
 * step. */
import { expect } from 'chai';
import { Graph, Node, Dim } from '../../lib/ir/graph';
import { saveModel } from '../../lib/onnx/save';
import { loadModel } from '../../lib/onnx/load';
import { canonize } from '../../lib/canonize';
import { dequantizeGraph, QuantizedError } from '../../lib/canonize/quantized';
import { Explainer } from '../../lib/explain';
import { ortBackend } from '../../lib/forward/ort';
import { DType, Tensor, float32 } from '../../lib/tensor';
import { f32of, int64s, node, prng, randomTensor, runOrt } from '../helpers/onnx';
import { evaluateQuantized, stepsOff } from '../helpers/quantized-reference';

const MS = 'com.microsoft';
type Q = 'int8' | 'uint8';

function qt(dtype: Q | 'int32', dims: number[], values: ArrayLike<number>): Tensor {
  const data = dtype === 'int8' ? Int8Array.from(values) : dtype === 'uint8' ? Uint8Array.from(values) : Int32Array.from(values);
  return { dtype, dims, data };
}
const zp = (dtype: Q, v: number | number[]): Tensor => (Array.isArray(v) ? qt(dtype, [v.length], v) : qt(dtype, [], [v]));
const sc = (v: number | number[]): Tensor => (Array.isArray(v) ? float32([v.length], v) : float32([], [v]));
const ms = (opType: string, inputs: string[], outputs: string[], attrs: Node['attrs'] = {}): Node => ({ ...node(opType, inputs, outputs, attrs), domain: MS });

function randInts(rng: () => number, n: number, lo: number, hi: number): number[] {
  return Array.from({ length: n }, () => lo + Math.floor(rng() * (hi - lo + 1)));
}

function build(nodes: Node[], live: Record<string, Dim[]>, constants: Record<string, Tensor>, outputs: string[], opset = 13): Graph {
  return new Graph({
    nodes,
    inputs: Object.entries(live).map(([name, dims]) => ({ name, dtype: 'float32' as DType, dims })),
    outputs: outputs.map((name) => ({ name, dtype: 'float32' as DType, dims: null })),
    constants: new Map(Object.entries(constants)),
    opsets: { '': opset, [MS]: 1 },
  });
}

async function run(g: Graph, feeds: Record<string, Tensor>): Promise<Float32Array> {
  const name = g.outputs[0].name;
  return f32of((await runOrt(saveModel(g), feeds, [name])).get(name)!);
}

/** The integer model's output, exactly (float64). */
function exactOutput(g: Graph, feeds: Record<string, Tensor>): Float64Array {
  return evaluateQuantized(g, feeds).get(g.outputs[0].name)!.data;
}

/** Prints how far onnxruntime's int8 kernels are from the exact integer model on this CPU (not asserted). */
async function reportOrt(g: Graph, feeds: Record<string, Tensor>, want: Float64Array, yStep: number): Promise<void> {
  const { worst, share } = stepsOff(want, await run(g, feeds), yStep);
  console.log(`      onnxruntime int8 vs exact: ${(100 * share).toFixed(1)}% of outputs off, up to ${worst.toFixed(1)} steps`);
}

const QUANT_OPS = /Quantize|QLinear/;

/** Evaluates the quantized model exactly, runs its twin and its simulated twin; checks the twin within `tol`
 * and the simulated twin to one output step (exact but where float32 rounding crosses a rounding tie).
 * Returns the twin. */
async function check(g: Graph, feeds: Record<string, Tensor>, tol: number, yStep: number, simulate = true): Promise<Graph> {
  const twin = dequantizeGraph(g).graph;
  expect(twin.nodes.filter((n) => QUANT_OPS.test(n.opType)).map((n) => n.opType), 'quantized ops left in the twin').to.deep.equal([]);
  for (const [k, c] of twin.constants) if (c.dtype !== 'int64') expect(c.dtype, `twin constant '${k}'`).to.equal('float32');
  const want = exactOutput(g, feeds);
  await reportOrt(g, feeds, want, yStep);
  const got = await run(twin, feeds);
  expect(got.length).to.equal(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  expect(worst, `twin vs exact quantized model (bound ${tol}, output step ${yStep})`).to.be.at.most(tol);
  if (!simulate) return twin;
  const sim = await run(dequantizeGraph(g, { simulate: true }).graph, feeds);
  let exact = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(sim[i] - want[i]);
    expect(d, `simulated twin, element ${i}`).to.be.at.most(yStep * 1.001);
    if (d <= yStep * 1e-3) exact++;
  }
  expect(exact / want.length, 'share of simulated outputs equal to the integer model').to.be.at.least(0.98);
  return twin;
}

/** max over output channels of Σ|w| (the conv's gain from input error to output error). */
function rowAbsSum(w: Float32Array, rows: number): number {
  const n = w.length / rows;
  let m = 0;
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.abs(w[r * n + i]);
    m = Math.max(m, s);
  }
  return m;
}

const ops = (g: Graph) => g.nodes.map((n) => n.opType);

describe('canonize/quantized', () => {
  const rng = prng(606);

  it('leaves a float model alone', () => {
    const g = build([node('Relu', ['x'], ['y'])], { x: [1, 3] }, {}, ['y']);
    const r = dequantizeGraph(g);
    expect(r.graph).to.equal(g);
    expect(r.actions).to.deep.equal([]);
  });

  it('QuantizeLinear → DequantizeLinear on an activation disappears (the twin keeps float values)', async () => {
    const g = build([
      node('QuantizeLinear', ['x', 's', 'z'], ['xq']),
      node('DequantizeLinear', ['xq', 's', 'z'], ['y']),
    ], { x: [2, 8] }, { s: sc(0.02), z: zp('uint8', 128) }, ['y']);
    const x = randomTensor(rng, [2, 8], -2.5, 2.5);
    const twin = await check(g, { x }, 0.01 + 1e-6, 0.02);
    expect(ops(twin)).to.deep.equal(['Identity']); // keeps the output's name; remove-identity handles it later
    expect(Array.from(await run(twin, { x }))).to.deep.equal(Array.from(x.data));
  });

  interface ConvCase {
    title: string;
    x: number[];
    w: number[];
    wType: Q;
    perChannel: boolean;
    bias: boolean;
    attrs?: Node['attrs'];
    /** output quantization: 'mid' (uint8, zero point 128), 'relu' (uint8, zero point 0), 'relu6' (scale 6/255) */
    out: 'mid' | 'relu' | 'relu6' | 'int8';
    act: string[];
    opset?: number;
  }
  const convCases: ConvCase[] = [
    { title: 'per-channel int8 weights, int32 bias, no activation', x: [1, 3, 6, 5], w: [4, 3, 3, 3], wType: 'int8', perChannel: true, bias: true, attrs: { pads: [1, 1, 1, 1] }, out: 'mid', act: [] },
    { title: 'per-tensor uint8 weights with a zero point, depthwise, stride 2', x: [1, 4, 7, 7], w: [4, 1, 3, 3], wType: 'uint8', perChannel: false, bias: false, attrs: { group: 4, strides: [2, 2] }, out: 'mid', act: [] },
    { title: 'output zero point at 0 (fused ReLU) → Relu', x: [2, 3, 5, 5], w: [5, 3, 1, 1], wType: 'int8', perChannel: true, bias: true, out: 'relu', act: ['Relu'] },
    { title: 'output range [0, 6] (fused ReLU6) → Clip(0, 6)', x: [1, 2, 6, 6], w: [3, 2, 3, 3], wType: 'int8', perChannel: true, bias: true, attrs: { pads: [1, 1, 1, 1] }, out: 'relu6', act: ['Clip'] },
    { title: 'ReLU6 in an opset-10 model → Clip with min/max attributes', x: [1, 2, 5, 5], w: [3, 2, 3, 3], wType: 'int8', perChannel: false, bias: true, out: 'relu6', act: ['Clip'], opset: 10 },
    { title: 'int8 activations (symmetric, zero point 0): no activation', x: [1, 3, 5, 5], w: [2, 3, 3, 3], wType: 'int8', perChannel: true, bias: true, out: 'int8', act: [] },
  ];
  for (const tc of convCases) {
    it(`QLinearConv, ${tc.title}`, async () => {
      const xType: Q = tc.out === 'int8' ? 'int8' : 'uint8';
      const xs = 0.01, xz = xType === 'uint8' ? 128 : 0;
      const M = tc.w[0], per = tc.w.slice(1).reduce((a, b) => a * b, 1);
      const wScale = (tc.perChannel ? Array.from({ length: M }, () => 0.002 + 0.01 * rng()) : [0.006]).map(Math.fround); // as stored
      const wz = tc.wType === 'uint8' ? 130 : 0;
      const wq = tc.wType === 'uint8' ? randInts(rng, M * per, 0, 255) : randInts(rng, M * per, -127, 127);
      const wf = Float32Array.from(wq, (q, i) => (q - wz) * wScale[tc.perChannel ? Math.floor(i / per) : 0]);
      const bq = tc.bias ? randInts(rng, M, -2000, 2000) : [];
      // the output range covers every value the float conv can take on inputs in [−1.2, 1.2]
      const reach = rowAbsSum(wf, M) * 1.2 + (tc.bias ? Math.max(...bq.map(Math.abs)) * xs * Math.max(...wScale) : 0);
      const [ys, yz] = tc.out === 'relu6' ? [6 / 255, 0] : tc.out === 'relu' ? [reach / 255, 0] : tc.out === 'int8' ? [reach / 127, 0] : [reach / 127, 128];
      const yType: Q = tc.out === 'int8' ? 'int8' : 'uint8';
      const consts: Record<string, Tensor> = {
        xs: sc(xs), xz: zp(xType, xz), w: qt(tc.wType, tc.w, wq), ws: sc(tc.perChannel ? wScale : wScale[0]),
        wz: zp(tc.wType, tc.perChannel ? new Array(M).fill(wz) : wz), ys: sc(ys), yz: zp(yType, yz),
      };
      if (tc.bias) consts.b = qt('int32', [M], bq);
      const g = build([
        node('QuantizeLinear', ['x', 'xs', 'xz'], ['xq']),
        node('QLinearConv', ['xq', 'xs', 'xz', 'w', 'ws', 'wz', 'ys', 'yz', ...(tc.bias ? ['b'] : [])], ['yq'], tc.attrs ?? {}, 'conv'),
        node('DequantizeLinear', ['yq', 'ys', 'yz'], ['y']),
      ], { x: tc.x }, consts, ['y'], tc.opset ?? 13);
      const x = randomTensor(rng, tc.x, -1.2, 1.2);
      const twin = await check(g, { x }, ys / 2 + (xs / 2) * rowAbsSum(wf, M) + 1e-5, ys, (tc.opset ?? 13) >= 11); // simulating needs Round (opset 11)
      expect(ops(twin)).to.deep.equal(['Conv', ...tc.act]);
      const conv = twin.nodes[0];
      expect(conv.name).to.equal('conv');
      expect(conv.attrs).to.deep.equal(tc.attrs ?? {});
      // weights and bias dequantized exactly: (q − zp)·s and q_bias·x_scale·w_scale
      expect(Array.from(f32of(twin.constant(conv.inputs[1])!))).to.deep.equal(Array.from(wf));
      expect(twin.constant(conv.inputs[1])!.dims).to.deep.equal(tc.w);
      if (tc.bias) {
        const bf = f32of(twin.constant(conv.inputs[2])!);
        bq.forEach((q, c) => expect(bf[c]).to.be.closeTo(q * xs * wScale[tc.perChannel ? c : 0], 1e-7));
      } else expect(conv.inputs).to.have.length(2);
      if (tc.act[0] === 'Clip') {
        const clip = twin.nodes[1];
        const bounds = tc.opset === 10 ? [clip.attrs.min, clip.attrs.max] : clip.inputs.slice(1).map((i) => f32of(twin.constant(i)!)[0]);
        expect(bounds).to.deep.equal([0, 6]);
      }
    });
  }

  it('QLinearMatMul with per-column int8 weights; com.microsoft QLinearAdd of a constant bias folds into the MatMul', async () => {
    const K = 8, N = 5;
    const bs = Array.from({ length: N }, () => 0.005 + 0.01 * rng());
    const bq = randInts(rng, K * N, -127, 127);
    const bf = Float32Array.from(bq, (q, i) => q * bs[i % N]);
    const colSum = Math.max(...[...Array(N).keys()].map((n) => [...Array(K).keys()].reduce((s, k) => s + Math.abs(bf[k * N + n]), 0)));
    const as = 0.01, mmScale = (colSum * 1.3) / 127, biasScale = 0.004, ys = (colSum * 1.3 + 0.6) / 127;
    const g = build([
      node('QuantizeLinear', ['x', 'as', 'az'], ['xq']),
      node('QLinearMatMul', ['xq', 'as', 'az', 'B', 'bs', 'bz', 'ms', 'mz'], ['mq'], {}, 'matmul'),
      ms('QLinearAdd', ['mq', 'ms', 'mz', 'C', 'cs', 'cz', 'ys', 'yz'], ['yq']),
      node('DequantizeLinear', ['yq', 'ys', 'yz'], ['y']),
    ], { x: [3, K] }, {
      as: sc(as), az: zp('uint8', 128), B: qt('int8', [K, N], bq), bs: sc(bs), bz: zp('int8', new Array(N).fill(0)),
      ms: sc(mmScale), mz: zp('uint8', 128), C: qt('uint8', [N], randInts(rng, N, 0, 255)), cs: sc(biasScale), cz: zp('uint8', 120),
      ys: sc(ys), yz: zp('uint8', 128),
    }, ['y']);
    const x = randomTensor(rng, [3, K], -1.2, 1.2);
    // errors: x's half step through the weights, the MatMul's half step, the output's half step
    const twin = await check(g, { x }, (as / 2) * colSum + mmScale / 2 + ys / 2 + 1e-5, ys);
    expect(ops(twin)).to.deep.equal(['MatMul', 'Add']);
    const full = canonize(g).graph;
    expect(ops(full)).to.deep.equal(['MatMul']);
    expect(full.nodes[0].inputs).to.have.length(3);
  });

  it('QLinearMatMul of two live tensors', async () => {
    const s = 0.01;
    const g = build([
      node('QuantizeLinear', ['a', 's', 'z'], ['aq']),
      node('QuantizeLinear', ['b', 's', 'z'], ['bq']),
      node('QLinearMatMul', ['aq', 's', 'z', 'bq', 's', 'z', 'ys', 'yz'], ['yq']),
      node('DequantizeLinear', ['yq', 'ys', 'yz'], ['y']),
    ], { a: [2, 4, 6], b: [2, 6, 3] }, { s: sc(s), z: zp('uint8', 128), ys: sc(8 / 127), yz: zp('uint8', 128) }, ['y']);
    const feeds = { a: randomTensor(rng, [2, 4, 6], -1.2, 1.2), b: randomTensor(rng, [2, 6, 3], -1.2, 1.2) };
    // |Δ(ab)| ≤ Σ_k (|a|·Δb + |b|·Δa + ΔaΔb) over K = 6 terms
    const twin = await check(g, feeds, 6 * (1.3 * s / 2 * 2 + (s / 2) ** 2) + 4 / 127 + 1e-5, 8 / 127);
    expect(ops(twin)).to.deep.equal(['MatMul']);
  });

  interface EltCase { title: string; build: () => { g: Graph; feeds: Record<string, Tensor>; tol: number; ys: number }; ops: string[] }
  const xsA = 0.01, xsB = 0.015;
  const two = (op: string, ys: number, yz: number): Graph => build([
    node('QuantizeLinear', ['a', 'as', 'az'], ['aq']),
    node('QuantizeLinear', ['b', 'bs', 'bz'], ['bq']),
    ms(op, ['aq', 'as', 'az', 'bq', 'bs', 'bz', 'ys', 'yz'], ['yq']),
    node('DequantizeLinear', ['yq', 'ys', 'yz'], ['y']),
  ], { a: [2, 3, 4], b: [2, 3, 4] }, { as: sc(xsA), az: zp('uint8', 128), bs: sc(xsB), bz: zp('uint8', 100), ys: sc(ys), yz: zp('uint8', yz) }, ['y']);
  const one = (op: string, attrs: Node['attrs'], dims: number[], ys: number, yz: number): Graph => build([
    node('QuantizeLinear', ['a', 'as', 'az'], ['aq']),
    ms(op, ['aq', 'as', 'az', 'ys', 'yz'], ['yq'], attrs),
    node('DequantizeLinear', ['yq', 'ys', 'yz'], ['y']),
  ], { a: dims }, { as: sc(xsA), az: zp('uint8', 128), ys: sc(ys), yz: zp('uint8', yz) }, ['y']);
  const feed2 = () => ({ a: randomTensor(rng, [2, 3, 4], -1.2, 1.2), b: randomTensor(rng, [2, 3, 4], -1.2, 1.2) });
  const eltCases: EltCase[] = [
    { title: 'QLinearAdd of two live tensors with different scales', ops: ['Add'], build: () => ({ g: two('QLinearAdd', 2.6 / 127, 128), feeds: feed2(), tol: xsA / 2 + xsB / 2 + 1.3 / 127 + 1e-6, ys: 2.6 / 127 }) },
    { title: 'QLinearAdd with output zero point 0 → Add + Relu', ops: ['Add', 'Relu'], build: () => ({ g: two('QLinearAdd', 2.6 / 255, 0), feeds: feed2(), tol: xsA / 2 + xsB / 2 + 1.3 / 255 + 1e-6, ys: 2.6 / 255 }) },
    { title: 'QLinearMul of two live tensors', ops: ['Mul'], build: () => ({ g: two('QLinearMul', 1.6 / 127, 128), feeds: feed2(), tol: 1.3 * (xsA + xsB) / 2 + xsA * xsB / 4 + 0.8 / 127 + 1e-6, ys: 1.6 / 127 }) },
    { title: 'QLinearSigmoid', ops: ['Sigmoid'], build: () => ({ g: one('QLinearSigmoid', {}, [2, 5], 1 / 255, 0), feeds: { a: randomTensor(rng, [2, 5], -1.2, 1.2) }, tol: 0.25 * xsA / 2 + 0.5 / 255 + 1e-6, ys: 1 / 255 }) },
    { title: 'QLinearLeakyRelu', ops: ['LeakyRelu'], build: () => ({ g: one('QLinearLeakyRelu', { alpha: 0.1 }, [2, 5], 1.4 / 127, 100), feeds: { a: randomTensor(rng, [2, 5], -1.2, 1.2) }, tol: xsA / 2 + 0.7 / 127 + 1e-6, ys: 1.4 / 127 }) },
    { title: 'QLinearGlobalAveragePool', ops: ['GlobalAveragePool'], build: () => ({ g: one('QLinearGlobalAveragePool', { channels_last: 0 }, [2, 3, 4, 4], 1.3 / 127, 128), feeds: { a: randomTensor(rng, [2, 3, 4, 4], -1.2, 1.2) }, tol: xsA / 2 + 0.65 / 127 + 1e-6, ys: 1.3 / 127 }) },
    { title: 'QLinearAveragePool 2×2 stride 2', ops: ['AveragePool'], build: () => ({ g: one('QLinearAveragePool', { kernel_shape: [2, 2], strides: [2, 2] }, [1, 3, 6, 6], 1.3 / 127, 128), feeds: { a: randomTensor(rng, [1, 3, 6, 6], -1.2, 1.2) }, tol: xsA / 2 + 0.65 / 127 + 1e-6, ys: 1.3 / 127 }) },
    {
      title: 'QLinearConcat of inputs with different scales', ops: ['Concat'], build: () => ({
        g: build([
          node('QuantizeLinear', ['a', 'as', 'az'], ['aq']),
          node('QuantizeLinear', ['b', 'bs', 'bz'], ['bq']),
          ms('QLinearConcat', ['ys', 'yz', 'aq', 'as', 'az', 'bq', 'bs', 'bz'], ['yq'], { axis: 1 }),
          node('DequantizeLinear', ['yq', 'ys', 'yz'], ['y']),
        ], { a: [2, 3, 4], b: [2, 2, 4] }, { as: sc(xsA), az: zp('uint8', 128), bs: sc(xsB), bz: zp('uint8', 100), ys: sc(1.3 / 127), yz: zp('uint8', 128) }, ['y']),
        feeds: { a: randomTensor(rng, [2, 3, 4], -1.2, 1.2), b: randomTensor(rng, [2, 2, 4], -1.2, 1.2) }, tol: xsB / 2 + 0.65 / 127 + 1e-6, ys: 1.3 / 127,
      }),
    },
  ];
  for (const tc of eltCases) {
    it(`com.microsoft ${tc.title}`, async () => {
      const { g, feeds, tol, ys } = tc.build();
      const twin = await check(g, feeds, tol, ys);
      expect(ops(twin)).to.deep.equal(tc.ops);
      expect(twin.nodes.every((n) => n.domain === '')).to.equal(true);
    });
  }

  it('routing ops on quantized tensors (Reshape, MaxPool, Pad with a quantized pad value) run on the float twin', async () => {
    const s = 0.01;
    const g = build([
      node('QuantizeLinear', ['x', 's', 'z'], ['xq']),
      node('Reshape', ['xq', 'shape'], ['rq']),
      node('MaxPool', ['rq'], ['mq'], { kernel_shape: [2, 2] }),
      node('Pad', ['mq', 'pads', 'pv'], ['pq']),
      node('DequantizeLinear', ['pq', 's', 'z'], ['y']),
    ], { x: [1, 2, 36] }, { s: sc(s), z: zp('uint8', 128), shape: int64s([1, 2, 6, 6]), pads: int64s([0, 0, 1, 1, 0, 0, 1, 1]), pv: qt('uint8', [], [138]) }, ['y']);
    const x = randomTensor(rng, [1, 2, 36], -1.2, 1.2);
    const twin = await check(g, { x }, s / 2 + 1e-6, s);
    expect(ops(twin)).to.deep.equal(['Reshape', 'MaxPool', 'Pad']);
    const y = await run(twin, { x });
    expect(y[0]).to.be.closeTo((138 - 128) * s, 1e-6); // the pad value, dequantized
  });

  it('QDQ format: DequantizeLinear weights and bias fold into float constants, Q→DQ on activations disappear', async () => {
    const M = 3, xs = 0.01, ws = [0.01, 0.02, 0.015].map(Math.fround);
    const wq = randInts(rng, M * 2 * 9, -127, 127);
    const wf = Float32Array.from(wq, (q, i) => q * ws[Math.floor(i / 18)]);
    const reach = rowAbsSum(wf, M) * 1.2 + 0.2;
    const g = build([
      node('QuantizeLinear', ['x', 'xs', 'xz'], ['xq']),
      node('DequantizeLinear', ['xq', 'xs', 'xz'], ['xd']),
      node('DequantizeLinear', ['wq', 'ws', 'wz'], ['w'], { axis: 0 }),
      node('DequantizeLinear', ['bq', 'bs'], ['b'], { axis: 0 }),
      node('Conv', ['xd', 'w', 'b'], ['c'], { pads: [1, 1, 1, 1] }, 'conv'),
      node('QuantizeLinear', ['c', 'ys', 'yz'], ['cq']),
      node('DequantizeLinear', ['cq', 'ys', 'yz'], ['y']),
    ], { x: [1, 2, 5, 5] }, {
      xs: sc(xs), xz: zp('uint8', 128), wq: qt('int8', [M, 2, 3, 3], wq), ws: sc(ws), wz: zp('int8', [0, 0, 0]),
      bq: qt('int32', [M], [100, -200, 300]), bs: sc(ws.map((w) => w * xs)), ys: sc(reach / 255), yz: zp('uint8', 0),
    }, ['y']);
    const x = randomTensor(rng, [1, 2, 5, 5], -1.2, 1.2);
    const twin = await check(g, { x }, reach / 510 + (xs / 2) * rowAbsSum(wf, M) + 1e-5, reach / 255);
    expect(ops(twin)).to.deep.equal(['Conv', 'Relu']); // zero point 0 on the Conv's output: a ReLU fused away
    expect(Array.from(f32of(twin.constant(twin.nodes[0].inputs[1])!))).to.deep.equal(Array.from(wf));
    expect(twin.outputs.map((o) => o.name)).to.deep.equal(['y']);
  });

  it('saturate: every quantized value is clamped to its range', async () => {
    const g = build([
      node('QuantizeLinear', ['x', 's', 'z'], ['xq']),
      ms('QLinearSigmoid', ['xq', 's', 'z', 'ys', 'yz'], ['yq']),
      node('DequantizeLinear', ['yq', 'ys', 'yz'], ['y']),
    ], { x: [1, 64] }, { s: sc(0.01), z: zp('uint8', 128), ys: sc(0.6 / 255), yz: zp('uint8', 0) }, ['y']);
    const x = randomTensor(rng, [1, 64], -1, 1); // beyond x's range [−1.28, 1.27] nowhere; sigmoid > 0.6 often
    const want = exactOutput(g, { x });
    const sat = dequantizeGraph(g, { saturate: true }).graph;
    expect(ops(sat)).to.deep.equal(['Clip', 'Sigmoid', 'Clip']);
    const got = await run(sat, { x });
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).to.be.at.most(0.3 / 255 + 0.25 * 0.005 + 1e-6);
    const plain = await run(dequantizeGraph(g).graph, { x });
    expect(Math.max(...plain)).to.be.above(0.6 + 0.01); // without saturate, the twin is not clamped at 0.6
  });

  it('explains a small quantized CNN through its twin, conserving relevance', async () => {
    const wq1 = randInts(rng, 4 * 3 * 9, -127, 127), wq2 = randInts(rng, 5 * 4, -127, 127), wq3 = randInts(rng, 5 * 3, -127, 127);
    const g = build([
      node('QuantizeLinear', ['x', 'xs', 'z128'], ['xq']),
      node('QLinearConv', ['xq', 'xs', 'z128', 'w1', 'ws1', 'wz', 'hs', 'z0', 'b1'], ['hq'], { pads: [1, 1, 1, 1] }, 'conv1'),
      node('QLinearConv', ['hq', 'hs', 'z0', 'w2', 'ws2', 'wz', 'h2s', 'z128'], ['h2q'], {}, 'conv2'),
      ms('QLinearGlobalAveragePool', ['h2q', 'h2s', 'z128', 'ps', 'z128'], ['pq'], { channels_last: 0 }),
      node('Reshape', ['pq', 'shape'], ['fq']),
      node('QLinearMatMul', ['fq', 'ps', 'z128', 'w3', 'ws3', 'wz', 'os', 'z128'], ['oq'], {}, 'fc'),
      node('DequantizeLinear', ['oq', 'os', 'z128'], ['logits']),
    ], { x: [1, 3, 8, 8] }, {
      xs: sc(0.01), z128: zp('uint8', 128), z0: zp('uint8', 0), wz: zp('int8', 0),
      w1: qt('int8', [4, 3, 3, 3], wq1), ws1: sc(0.004), b1: qt('int32', [4], [500, -300, 200, 0]), hs: sc(0.02),
      w2: qt('int8', [5, 4, 1, 1], wq2), ws2: sc(0.005), h2s: sc(0.03),
      ps: sc(0.02), shape: int64s([1, 5]), w3: qt('int8', [5, 3], wq3), ws3: sc(0.01), os: sc(0.03),
    }, ['logits']);
    const model = loadModel(saveModel(g));
    const ex = Explainer.create(model, ortBackend);
    try {
      expect(ex.graph.nodes.filter((n) => QUANT_OPS.test(n.opType))).to.deep.equal([]);
      const x = randomTensor(rng, [1, 3, 8, 8], -1, 1);
      const r = await ex.explain(x, { composite: 'epsilon', options: { epsilon: 1e-9, zeroBias: true } });
      expect(r.relevance.dims).to.deep.equal([1, 3, 8, 8]);
      expect(r.relevance.data.every(Number.isFinite)).to.equal(true);
      const [out] = r.conservation.outputRelevance, [inp] = r.conservation.inputRelevance;
      expect(Math.abs(inp - out), `input relevance ${inp} vs output ${out}`).to.be.at.most(1e-3 * Math.abs(out) + 1e-6);
      const q = Array.from(exactOutput(g, { x }));
      const top = q.indexOf(Math.max(...q)), second = Math.max(...q.filter((_, i) => i !== top));
      expect(Math.max(...q) - second, "the exact model's top-1 margin (a tie would make the check arbitrary)").to.be.above(0.03 * 0.5);
      expect(r.predictions[0]).to.equal(top);
    } finally {
      await ex.release();
    }
  });

  describe('errors name the node and op', () => {
    const base = { s: sc(0.01), z: zp('uint8', 128) };
    it('a quantized op without a float twin', () => {
      const g = build([
        node('QuantizeLinear', ['x', 's', 'z'], ['xq']),
        ms('QLinearSoftmax', ['xq', 's', 'z', 's', 'z'], ['yq'], { axis: -1, opset: 13 }),
        node('DequantizeLinear', ['yq', 's', 'z'], ['y']),
      ], { x: [1, 4] }, base, ['y']);
      expect(() => dequantizeGraph(g)).to.throw(QuantizedError, /node 'QLinearSoftmax_yq' \(com\.microsoft\.QLinearSoftmax\): no float twin/);
    });
    it('a float op reading a quantized tensor', () => {
      const g = build([
        node('QuantizeLinear', ['x', 's', 'z'], ['xq']),
        node('Relu', ['xq'], ['r']),
        node('DequantizeLinear', ['r', 's', 'z'], ['y']),
      ], { x: [1, 4] }, base, ['y']);
      expect(() => dequantizeGraph(g)).to.throw(QuantizedError, /node 'Relu_r' \(Relu\): reads the quantized value 'xq'/);
    });
    it('a live weight', () => {
      const g = build([
        node('QuantizeLinear', ['x', 's', 'z'], ['xq']),
        node('QuantizeLinear', ['w', 's', 'z'], ['wq']),
        node('QLinearConv', ['xq', 's', 'z', 'wq', 's', 'z', 's', 'z'], ['yq'], {}, 'conv'),
        node('DequantizeLinear', ['yq', 's', 'z'], ['y']),
      ], { x: [1, 1, 3, 3], w: [1, 1, 1, 1] }, base, ['y']);
      expect(() => dequantizeGraph(g)).to.throw(QuantizedError, /node 'conv' \(QLinearConv\): weight 'wq' must be a constant/);
    });
    it('an integer model input', () => {
      const g = new Graph({
        nodes: [node('DequantizeLinear', ['xq', 's', 'z'], ['y'], {}, 'dq')],
        inputs: [{ name: 'xq', dtype: 'uint8', dims: [1, 4] }], outputs: [{ name: 'y', dtype: 'float32', dims: null }],
        constants: new Map(Object.entries(base)), opsets: { '': 13 },
      });
      expect(() => dequantizeGraph(g)).to.throw(QuantizedError, /node 'dq' \(DequantizeLinear\): input 'xq' is an integer tensor that no QuantizeLinear produced/);
    });
    it('scales that do not match the weight', () => {
      const g = build([node('DequantizeLinear', ['wq', 'ws', 'wz'], ['w'], { axis: 0 }, 'dq'), node('MatMul', ['x', 'w'], ['y'])],
        { x: [1, 2] }, { wq: qt('int8', [2, 3], [1, 2, 3, 4, 5, 6]), ws: sc([0.1, 0.2, 0.3]), wz: zp('int8', [0, 0, 0]) }, ['y']);
      expect(() => dequantizeGraph(g)).to.throw(QuantizedError, /node 'dq' \(DequantizeLinear\): 3 scales do not match axis 0 of shape \[2,3\]/);
    });
  });
});
