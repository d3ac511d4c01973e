/** The exact integer reference (spec/helpers/quantized-reference.ts) against cases computed by hand, and
 * against onnxruntime where onnxruntime's int8 kernels cannot saturate (small operands: every pairwise u8·s8
 * sum stays far below 2^15), so the two must agree to the bit on every CPU. */
import { expect } from 'chai';
import { Graph, Node } from '../../lib/ir/graph';
import { saveModel } from '../../lib/onnx/save';
import { DType, Tensor, float32 } from '../../lib/tensor';
import { node, prng, runOrt } from './onnx';
import { roundHalfEven } from './quantized-kernels';
import { evaluateQuantized, stepsOff } from './quantized-reference';

type Q = 'int8' | 'uint8' | 'int32';
const qt = (dtype: Q, dims: number[], v: number[]): Tensor => ({
  dtype, dims, data: dtype === 'int8' ? Int8Array.from(v) : dtype === 'uint8' ? Uint8Array.from(v) : Int32Array.from(v),
});
const sc = (v: number | number[]): Tensor => (Array.isArray(v) ? float32([v.length], v) : float32([], [v]));
const ms = (n: Node): Node => ({ ...n, domain: 'com.microsoft' });

/** A graph whose live inputs are quantized values fed as float (QuantizeLinear with scale 1, zero point 0
 * in the input's dtype passes integers through unchanged) and whose output is the quantized value `y`. */
function graph(nodes: Node[], live: Record<string, [Q, number[]]>, constants: Record<string, Tensor>): Graph {
  const quant = Object.entries(live).map(([k, [dtype]]) => node('QuantizeLinear', [`${k}_f`, 'one', `zero_${dtype}`], [k]));
  return new Graph({
    nodes: [...quant, ...nodes],
    inputs: Object.entries(live).map(([k, [, dims]]) => ({ name: `${k}_f`, dtype: 'float32' as DType, dims })),
    outputs: [{ name: 'y', dtype: 'uint8', dims: null }],
    constants: new Map(Object.entries({ one: sc(1), zero_uint8: qt('uint8', [], [0]), zero_int8: qt('int8', [], [0]), ...constants })),
    opsets: { '': 13, 'com.microsoft': 1 },
  });
}

function y(g: Graph, feeds: Record<string, number[]>): { dims: number[]; values: number[] } {
  const f: Record<string, Tensor> = {};
  for (const i of g.inputs) f[i.name] = float32(i.dims as number[], feeds[i.name.replace(/_f$/, '')]);
  const v = evaluateQuantized(g, f).get('y')!;
  return { dims: v.dims, values: Array.from(v.data) };
}

describe('helpers/quantized-reference: the exact integer reference', () => {
  it('rounds half to even', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 2.5001, 3].map((v) => roundHalfEven(v) + 0)).to.deep.equal([0, 2, 2, 0, -2, -2, 2, 3, 3]);
  });

  it('QuantizeLinear: x / scale rounded half to even, plus the zero point, saturated', () => {
    const g = new Graph({
      nodes: [node('QuantizeLinear', ['x', 's', 'z'], ['y'])],
      inputs: [{ name: 'x', dtype: 'float32', dims: [7] }], outputs: [{ name: 'y', dtype: 'int8', dims: null }],
      constants: new Map(Object.entries({ s: sc(0.5), z: qt('int8', [], [3]) })), opsets: { '': 13 },
    });
    const r = evaluateQuantized(g, { x: float32([7], [0.25, 0.75, 1.25, -0.25, -0.75, 100, -100]) }).get('y')!;
    expect(r.dtype).to.equal('int8');
    expect(Array.from(r.data)).to.deep.equal([3, 5, 5, 3, 1, 127, -128]);
  });

  it('DequantizeLinear per channel: (q − zp)·scale', () => {
    const g = new Graph({
      nodes: [node('DequantizeLinear', ['q', 's', 'z'], ['y'], { axis: 0 })],
      inputs: [{ name: 'x', dtype: 'float32', dims: [1] }], outputs: [{ name: 'y', dtype: 'float32', dims: null }],
      constants: new Map(Object.entries({ q: qt('uint8', [2, 2], [10, 20, 30, 40]), s: sc([0.5, 0.25]), z: qt('uint8', [2], [10, 0]) })),
      opsets: { '': 13 },
    });
    expect(Array.from(evaluateQuantized(g, { x: float32([1], [0]) }).get('y')!.data)).to.deep.equal([0, 5, 7.5, 10]);
  });

  // x − 2 = [[0,1,2],[3,4,5],[6,7,8]], w = [[1,−1],[2,3]]: the 2×2 sums are 17, 22, 32, 37
  const convX = [2, 3, 4, 5, 6, 7, 8, 9, 10];
  const conv = (consts: Record<string, Tensor>, attrs: Node['attrs'] = {}, bias = true) => graph(
    [node('QLinearConv', ['x', 'xs', 'xz', 'w', 'ws', 'wz', 'ys', 'yz', ...(bias ? ['b'] : [])], ['y'], attrs)],
    { x: ['uint8', [1, 1, 3, 3]] },
    { xs: sc(0.5), xz: qt('uint8', [], [2]), w: qt('int8', [1, 1, 2, 2], [1, -1, 2, 3]), ws: sc(0.5), wz: qt('int8', [], [0]), ys: sc(1), yz: qt('uint8', [], [10]), b: qt('int32', [1], [1]), ...consts },
  );

  it('QLinearConv: int32 sums plus bias, times x_scale·w_scale/y_scale, ties to even, plus the zero point', () => {
    // (17, 22, 32, 37) + 1 = (18, 23, 33, 38); · 0.25 = (4.5, 5.75, 8.25, 9.5) → (4, 6, 8, 10); + 10
    expect(y(conv({}), { x: convX })).to.deep.equal({ dims: [1, 1, 2, 2], values: [14, 16, 18, 20] });
    // the same with y_scale 0.01: 18·25 = 450 + 10 saturates at 255
    expect(y(conv({ ys: sc(0.01) }), { x: convX }).values).to.deep.equal([255, 255, 255, 255]);
  });

  it('QLinearConv: products whose pairwise sums pass 2^15 (where AVX2 kernels without VNNI saturate) stay exact', () => {
    // 255·127 + 255·127 = 64770 > 32767; · 0.001 = 64.77 → 65
    const g = graph([node('QLinearConv', ['x', 'one', 'zero_uint8', 'w', 'one', 'zero_int8', 'ys', 'zero_uint8'], ['y'])], { x: ['uint8', [1, 2, 1, 1]] }, {
      w: qt('int8', [1, 2, 1, 1], [127, 127]), ys: sc(1000),
    });
    expect(y(g, { x: [255, 255] }).values).to.deep.equal([65]);
  });

  it('QLinearConv pads with the input zero point', () => {
    // pads top and left: windows overlapping the padding see x − zp = 0 there
    const r = y(conv({ xs: sc(1), ws: sc(1), yz: qt('uint8', [], [0]) }, { pads: [1, 1, 0, 0] }, false), { x: convX });
    expect(r).to.deep.equal({ dims: [1, 1, 3, 3], values: [0, 3, 8, 9, 17, 22, 15, 32, 37] });
  });

  it('QLinearConv: an int32 accumulator that overflows throws, naming the node', () => {
    expect(() => y(conv({ b: qt('int32', [1], [2147483640]) }), { x: convX })).to.throw(/node 'QLinearConv_y'.*int32 accumulator overflows/);
  });

  it('QLinearMatMul with per-column weight scales', () => {
    // a − 1 = [2, 4]; [2, 4]·[[1, 2], [3, −4]] = [14, −12]; · [0.5, 0.25] = [7, −3]; + 5
    const g = graph([node('QLinearMatMul', ['a', 'as', 'az', 'b', 'bs', 'bz', 'ys', 'yz'], ['y'])], { a: ['uint8', [1, 2]] }, {
      as: sc(1), az: qt('uint8', [], [1]), b: qt('int8', [2, 2], [1, 2, 3, -4]), bs: sc([0.5, 0.25]), bz: qt('int8', [2], [0, 0]), ys: sc(1), yz: qt('uint8', [], [5]),
    });
    expect(y(g, { a: [3, 5] })).to.deep.equal({ dims: [1, 2], values: [12, 2] });
  });

  it('com.microsoft QLinearAdd broadcasts and requantizes the real sum', () => {
    // [1.5, 2.5] + 0.5 = [2, 3]; / 2 = [1, 1.5] → [1, 2]
    const g = graph([ms(node('QLinearAdd', ['a', 's', 'z', 'b', 's', 'z', 'ys', 'z'], ['y']))], { a: ['uint8', [1, 2]] }, {
      s: sc(0.5), z: qt('uint8', [], [0]), b: qt('uint8', [1], [1]), ys: sc(2),
    });
    expect(y(g, { a: [3, 5] }).values).to.deep.equal([1, 2]);
  });

  it('com.microsoft QLinearGlobalAveragePool and QLinearAveragePool (count_include_pad)', () => {
    // (1, 2, 3, 5) − 1 → mean 1.75; / 0.5 = 3.5 → 4
    const gap = graph([ms(node('QLinearGlobalAveragePool', ['x', 'one', 'xz', 'ys', 'zero_uint8'], ['y'], { channels_last: 0 }))], { x: ['uint8', [1, 1, 2, 2]] }, {
      xz: qt('uint8', [], [1]), ys: sc(0.5),
    });
    expect(y(gap, { x: [1, 2, 3, 5] })).to.deep.equal({ dims: [1, 1, 1, 1], values: [4] });
    // a 2×2 window at the top-left corner with one padded row and column sees only x[0] = 4
    const avg = (include: number) => graph([ms(node('QLinearAveragePool', ['x', 'one', 'zero_uint8', 'one', 'zero_uint8'], ['y'], {
      kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 0, 0], count_include_pad: include,
    }))], { x: ['uint8', [1, 1, 2, 2]] }, {});
    expect(y(avg(0), { x: [4, 8, 12, 16] }).values).to.deep.equal([4]);
    expect(y(avg(1), { x: [4, 8, 12, 16] }).values).to.deep.equal([1]);
  });

  it('an op without an exact evaluator throws, naming the node', () => {
    const g = graph([node('Relu', ['x'], ['y'])], { x: ['uint8', [1]] }, {});
    expect(() => y(g, { x: [1] })).to.throw(/node 'Relu_y' \(Relu\): no exact evaluator/);
  });

  it('stepsOff counts elements off and the largest difference in steps', () => {
    expect(stepsOff([0, 0.5, 1, 2], [0, 0.5, 1.5, 4], 0.5)).to.deep.equal({ worst: 4, share: 0.5 });
  });

  it('agrees with onnxruntime to the bit where onnxruntime cannot saturate (small operands)', async () => {
    // per-channel int8 weights in ±20 on uint8 inputs within 128 ± 20: |u8·s8 + u8·s8| ≤ 2·148·20 ≪ 2^15
    const rng = prng(1234);
    const ints = (n: number, lo: number, hi: number) => Array.from({ length: n }, () => lo + Math.floor(rng() * (hi - lo + 1)));
    const M = 4, C = 6, G = 2;
    const g = graph([
      node('QLinearConv', ['x', 'xs', 'xz', 'w', 'ws', 'wz', 'hs', 'hz', 'b'], ['h'], { group: G, pads: [1, 1, 1, 2], strides: [2, 1] }),
      node('QLinearMatMul', ['h', 'hs', 'hz', 'm', 'ms', 'mz', 'ys', 'yz'], ['y']),
    ], { x: ['uint8', [2, C, 5, 4]] }, {
      xs: sc(0.0173), xz: qt('uint8', [], [128]), w: qt('int8', [M, C / G, 3, 3], ints(M * (C / G) * 9, -20, 20)),
      ws: sc([0.0111, 0.0219, 0.0147, 0.0053]), wz: qt('int8', [M], [0, 0, 0, 0]), b: qt('int32', [M], ints(M, -300, 300)),
      hs: sc(0.0517), hz: qt('uint8', [], [120]), m: qt('int8', [5, 3], ints(15, -20, 20)), ms: sc(0.0291), mz: qt('int8', [], [0]),
      ys: sc(0.0437), yz: qt('uint8', [], [128]),
    });
    const x = float32([2, C, 5, 4], ints(2 * C * 20, 108, 148));
    const want = evaluateQuantized(g, { x_f: x }).get('y')!;
    const got = (await runOrt(saveModel(g), { x_f: x }, ['y'])).get('y')!;
    expect(got.dims).to.deep.equal(want.dims);
    expect(Array.from(got.data as Uint8Array)).to.deep.equal(Array.from(want.data));
    expect(new Set(want.data).size, 'outputs spread over many steps').to.be.above(10);
  });
});
