/** Every registered op's definition (lib/ops/op.ts `OpDef`) against onnxruntime on a one-node model of it:
 * - it declares arity, output dtype, sign behaviour and an onnxruntime lowering or the reason it has none;
 * - the one-node model passes its arity check, and one input too many (or too few) fails it;
 * - the dtypes `inferDtypes` derives from `outputDtype` are the ones onnxruntime outputs;
 * - the sign behaviour holds: 'nonNegative' outputs are ≥ 0 on inputs of both signs, 'keeps'/'keepsAll'
 *   outputs are ≥ 0 on non-negative inputs;
 * - a linear op's kernel computes onnxruntime's output, and its transpose is the adjoint;
 * - a node of a linear category (or a max pool) followed by Flatten → Gemm explains the same on both engines,
 *   and the onnxruntime engine ran it there when the op has a lowering, or reported the op's reason when not.
 * A new op needs at most an entry in SAMPLES here (none when it is one input → one output). */
import { expect } from 'chai';
import { AttrValue } from '../../lib/ir/graph';
import { arityError } from '../../lib/onnx/arity';
import { inferDtypes } from '../../lib/ops/dtypes';
import { isLowered } from '../../lib/ops/lowering';
import { Explainer, Graph, ortBackend } from '../../lib';
import { mod } from '../../lib/kernels/kernel';
import { ANY, LINEAR_CATEGORIES, OpDef, arityOf, f32, signOf } from '../../lib/ops/op';
import { FAMILIES, categoryOf, findOp } from '../../lib/ops/registry';
import { OrtExecutor } from '../../lib/propagate/engine/ort/executor';
import { GraphBuilder } from '../../lib/propagate/engine/ort/builder';
import { encodeModel } from '../../lib/propagate/engine/ort/encode';
import { lowerVjp } from '../../lib/propagate/engine/ort/lower';
import type { ValueInfo } from '../../lib/ir/graph';
import { DType, Tensor, float32 } from '../../lib/tensor';
import { relL2 } from '../rules/reference';
import { In, contextFor, dot, expectClose, int64, int64s, oneNode, prng, randomTensor, runOrt, scalar } from '../helpers/onnx';

interface Sample {
  inputs: In[];
  attrs?: Record<string, AttrValue>;
  attrTypes?: Record<string, number>;
  opset?: number;
  outputs?: number;
}

const X = [1, 4, 4, 4];
const x = (dims = X): In => ({ name: 'x', dims });
const c = (name: string, t: Tensor): In => ({ name, tensor: t });
const ints = (name: string, v: number[]): In => c(name, int64s(v));
const bools = (name: string): In => ({ name, dims: X, dtype: 'bool' });

/** A one-node model per op (one input x of shape X and no attributes unless listed). */
const SAMPLES: Record<string, Sample> = {
  Clip: { inputs: [x(), c('lo', scalar(0)), c('hi', scalar(0.5))] },
  Gelu: { inputs: [x()], opset: 20 },
  HardSwish: { inputs: [x()], opset: 14 },
  Mish: { inputs: [x()], opset: 18 },
  Swish: { inputs: [x()], opset: 24 },
  Celu: { inputs: [x()], opset: 12 },
  LRN: { inputs: [x()], attrs: { size: 3 } },
  PRelu: { inputs: [x(), c('slope', float32([4, 1, 1], [0.1, 0.2, 0.3, 0.4]))] },
  Dropout: { inputs: [x()], outputs: 2 },
  BatchNormalization: { inputs: [x(), ...['scale', 'bias', 'mean', 'var'].map((n, i) => c(n, float32([4], [1 + i, 0.5, -0.2, 0.3])))] },
  Add: { inputs: [x(), { name: 'x2', dims: X }] },
  Sub: { inputs: [x(), { name: 'x2', dims: X }] },
  Sum: { inputs: [x(), { name: 'x2', dims: X }, { name: 'x3', dims: X }] },
  Mul: { inputs: [x(), { name: 'x2', dims: X }] },
  Div: { inputs: [x(), c('d', scalar(2))] },
  Max: { inputs: [x(), { name: 'x2', dims: X }] },
  Min: { inputs: [x(), { name: 'x2', dims: X }] },
  Conv: { inputs: [x(), c('w', float32([2, 4, 3, 3], Array.from({ length: 72 }, (_, i) => Math.sin(i)))), c('b', float32([2], [0.1, -0.1]))], attrs: { pads: [1, 1, 1, 1] } },
  ConvTranspose: { inputs: [x(), c('w', float32([4, 2, 2, 2], Array.from({ length: 32 }, (_, i) => Math.cos(i))))], attrs: { strides: [2, 2] } },
  Gemm: { inputs: [x([2, 4]), c('w', float32([4, 3], Array.from({ length: 12 }, (_, i) => Math.sin(i)))), c('b', float32([3], [0.1, 0, -0.1]))] },
  MatMul: { inputs: [x([2, 4]), c('w', float32([4, 3], Array.from({ length: 12 }, (_, i) => Math.sin(i))))] },
  AveragePool: { inputs: [x()], attrs: { kernel_shape: [1, 1] } }, // the form the engine lowers
  MaxPool: { inputs: [x()], attrs: { kernel_shape: [2, 2] }, outputs: 2 },
  ReduceMean: { inputs: [x()], attrs: { axes: [2, 3] } },
  ReduceSum: { inputs: [x(), ints('axes', [2, 3])] },
  ReduceMax: { inputs: [x()], attrs: { axes: [1] } },
  ReduceMin: { inputs: [x()], attrs: { axes: [1] } },
  Upsample: { inputs: [x(), c('scales', float32([4], [1, 1, 2, 2]))], attrs: { mode: 'linear' }, opset: 9 },
  Resize: { inputs: [x(), c('roi', float32([0], [])), c('scales', float32([4], [1, 1, 2, 2]))], attrs: { mode: 'linear' } },
  DepthToSpace: { inputs: [x()], attrs: { blocksize: 2 } },
  SpaceToDepth: { inputs: [x()], attrs: { blocksize: 2 } },
  Reshape: { inputs: [x(), ints('shape', [1, -1])] },
  Squeeze: { inputs: [x(), ints('axes', [0])] },
  Unsqueeze: { inputs: [x(), ints('axes', [0])] },
  Cast: { inputs: [x()], attrs: { to: 7 } },
  Concat: { inputs: [x(), { name: 'x2', dims: X }], attrs: { axis: 1 } },
  Split: { inputs: [x()], attrs: { axis: 1 }, outputs: 2 },
  Slice: { inputs: [x(), ints('starts', [1]), ints('ends', [3]), ints('axes', [2])] },
  Pad: { inputs: [x(), ints('pads', [0, 0, 1, 1, 0, 0, 1, 1]), c('v', scalar(-1))] },
  Gather: { inputs: [x(), ints('idx', [2, 0])], attrs: { axis: 1 } },
  Expand: { inputs: [x([1, 4, 1, 4]), ints('shape', [2, 4, 3, 4])] },
  Tile: { inputs: [x(), ints('reps', [1, 1, 2, 1])] },
  Constant: { inputs: [], attrs: { value: float32([2], [1, -1]) } },
  ConstantOfShape: { inputs: [ints('s', [2, 3])], attrs: { value: { dtype: 'int32', dims: [1], data: Int32Array.of(7) } } },
  Range: { inputs: [c('start', scalar(0)), c('limit', scalar(3)), c('delta', scalar(1))] },
  Equal: { inputs: [x(), { name: 'x2', dims: X }] },
  Less: { inputs: [x(), { name: 'x2', dims: X }] },
  Greater: { inputs: [x(), { name: 'x2', dims: X }] },
  LessOrEqual: { inputs: [x(), { name: 'x2', dims: X }], opset: 16 },
  GreaterOrEqual: { inputs: [x(), { name: 'x2', dims: X }], opset: 16 },
  Not: { inputs: [bools('x')] },
  And: { inputs: [bools('x'), bools('x2')] },
  Or: { inputs: [bools('x'), bools('x2')] },
  Where: { inputs: [bools('cond'), x(), { name: 'x2', dims: X }] },
  Softmax: { inputs: [x()], attrs: { axis: 1 } },
  Trilu: { inputs: [x()], opset: 14 },
  LayerNormalization: { inputs: [x(), c('s', float32([4], [1, 0.5, 2, 1])), c('b', float32([4], [0.1, 0, -0.1, 0.2]))], attrs: { axis: -1, epsilon: 1e-5 }, attrTypes: { axis: 2, epsilon: 1 }, opset: 17 },
  SimplifiedLayerNormalization: { inputs: [x(), c('s', float32([4], [1, 0.5, 2, 1]))], attrs: { axis: -1, epsilon: 1e-6 }, attrTypes: { axis: 2, epsilon: 1 } },
  LogSoftmax: { inputs: [x()], attrs: { axis: 1 } },
};

/** Forms the vjp lowerings cover that the samples above do not reach. */
const VJP_SAMPLES: [string, Sample][] = [
  ['MatMul', { inputs: [x([2, 1, 3, 4]), { name: 'x2', dims: [3, 4, 5] }] }], // attention: two live operands, broadcast batch dims
  ['MatMul', { inputs: [{ name: 'x2', dims: [3, 5, 4] }, x([4, 2])] }],
  ['Gather', { inputs: [x(), c('idx', int64([], [-1]))], attrs: { axis: 2 } }], // CLS pooling: a scalar index
  ['Softmax', { inputs: [x()], attrs: { axis: -1 }, opset: 11 }],
  ['Where', { inputs: [{ name: 'cond', dims: [1, 1, 4, 4], dtype: 'bool' }, x(), c('fill', scalar(-1e9))] }],
  ['Trilu', { inputs: [x(), c('k', int64([], [1]))], attrs: { upper: 0 }, opset: 14 }],
];

const ALL: { family: string; op: OpDef }[] = Object.entries(FAMILIES).flatMap(([family, ops]) => ops.map((op) => ({ family, op })));
const label = (op: OpDef) => (op.domain ? `${op.domain}::${op.type}` : op.type);

/** The one-node model, its outputs declared with the dtypes `inferDtypes` gives (onnxruntime refuses a model
 * whose declared output type is not the one the op makes). */
function build(op: OpDef, s: Sample) {
  const make = (dtype: (k: number) => DType) => oneNode(op.type, s.inputs, s.attrs ?? {}, s.opset ?? 13, {
    outputs: Array.from({ length: s.outputs ?? 1 }, (_, k) => ({ name: `y${k}`, dtype: dtype(k) })),
    domain: op.domain ?? '', opsets: op.domain ? { [op.domain]: 1 } : {}, attrTypes: s.attrTypes,
  });
  const inferred = inferDtypes(make(() => 'float32').graph);
  return make((k) => inferred.get(`y${k}`) ?? 'float32');
}

interface Ran {
  built: ReturnType<typeof build>;
  feeds: Record<string, Tensor>;
  out: Map<string, Tensor>;
}

/** The sample's graph as a model to explain: its other live inputs made Relu(x), its first output followed by
 * Flatten → Gemm (3 classes). */
function explainerAfter(g: Graph, perSample: number): Explainer {
  const spec = g.toSpec();
  const extra = spec.inputs.filter((i) => i.name !== 'x').map((i) => i.name);
  spec.inputs = spec.inputs.filter((i) => i.name === 'x');
  spec.nodes = [
    ...extra.map((v) => ({ name: `relu_${v}`, opType: 'Relu', domain: '', inputs: ['x'], outputs: [v], attrs: {} })),
    ...spec.nodes.map((n) => ({ ...n, outputs: n.outputs.slice(0, 1) })),
    { name: 'flatten', opType: 'Flatten', domain: '', inputs: ['y0'], outputs: ['f'], attrs: {} },
    { name: 'head', opType: 'Gemm', domain: '', inputs: ['f', 'G', 'Gb'], outputs: ['logits'], attrs: {} },
  ];
  spec.constants.set('G', randomTensor(prng(5), [perSample, 3]));
  spec.constants.set('Gb', float32([3], [0.1, 0, -0.1])); // C is required before opset 11
  spec.outputs = [{ name: 'logits', dtype: 'float32', dims: null }];
  return Explainer.create({ graph: new Graph(spec), irVersion: 8, producer: 'spec', metadata: {} }, ortBackend, { threads: 1 });
}

async function runSample(op: OpDef, s: Sample, lo: number): Promise<Ran | null> {
  const rng = prng(7);
  const feeds: Record<string, Tensor> = {};
  for (const i of s.inputs) {
    if (!i.name || i.tensor) continue;
    const dims = i.dims as number[];
    feeds[i.name] = i.dtype === 'bool'
      ? { dtype: 'bool', dims, data: Uint8Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (rng() > 0.5 ? 1 : 0)) }
      : randomTensor(rng, dims, lo, 1);
  }
  const built = build(op, s);
  try {
    return { built, feeds, out: await runOrt(built.bytes, feeds, [...built.node.outputs]) };
  } catch (e) {
    if (/NOT_IMPLEMENTED|Could not find an implementation|opset \d+ is (not supported|under development)/i.test((e as Error).message)) return null; // an op newer than this onnxruntime
    throw e;
  }
}

describe('op definitions (lib/ops): every op declares its facts, and they hold on a one-node model', () => {
  it('every op declares arity, output dtype, sign behaviour and a lowering or the reason it has none', () => {
    for (const { op } of ALL) {
      const what = label(op);
      for (const opset of [7, 11, 13, 18, 24]) {
        const [minIn, maxIn, minOut, maxOut] = arityOf(op, opset);
        expect(minIn <= maxIn && minOut <= maxOut && minOut >= 1 && minIn >= 0, `${what}: arity`).to.equal(true);
        for (const v of [minIn, maxIn, minOut, maxOut]) expect(Number.isInteger(v) || v === ANY, `${what}: arity`).to.equal(true);
      }
      expect(op.outputDtype, `${what}: outputDtype`).to.not.equal(undefined);
      expect(op.sign, `${what}: sign`).to.not.equal(undefined);
      const low = op.lowering;
      expect(low, `${what}: lowering`).to.be.an('object');
      if (!isLowered(low)) expect(low.none, `${what}: reason for no lowering`).to.match(/\w{3}/);
      // a linear op says how the engine runs it, or why it does not; a route lowering needs a vjp
      if ('linear' in low) expect(op.linear, `${what}: a linear lowering without linear math`).to.be.a('function');
      if ('route' in low) expect(op.vjp, `${what}: a route lowering without a vjp`).to.be.a('function');
      if ('vjp' in low) expect(op.vjp, `${what}: a vjp lowering without a vjp`).to.be.a('function');
      if (op.weights) expect(op.linear, `${what}: a weight layout without linear math`).to.be.a('function');
    }
  });

  it('has a one-node sample for every op (add one to SAMPLES with a new op that is not one input → one output)', () => {
    for (const { op } of ALL) {
      const [minIn, maxIn] = arityOf(op, 13);
      if (!SAMPLES[op.type]) expect(minIn <= 1 && maxIn >= 1, `${label(op)}: no sample in SAMPLES`).to.equal(true);
    }
  });

  for (const { family, op } of ALL) {
    const sample = SAMPLES[op.type] ?? { inputs: [x()] };
    it(`${family}/${label(op)}: arity, dtypes and sign against onnxruntime`, async function () {
      const r = await runSample(op, sample, -1);
      if (!r) { this.skip(); return; }
      const { built, out } = r;
      const opset = sample.opset ?? 13;
      if (!op.domain) {
        expect(arityError(built.node, opset), 'arity of the sample').to.equal(null);
        const [minIn, maxIn] = arityOf(op, opset);
        if (maxIn !== ANY) {
          const padded = [...built.node.inputs, ...new Array<string>(Math.max(0, maxIn - built.node.inputs.length)).fill('')];
          expect(arityError({ ...built.node, inputs: [...padded, 'extra'] }, opset), 'one input too many').to.be.a('string');
        }
        if (minIn > 0) expect(arityError({ ...built.node, inputs: built.node.inputs.slice(0, minIn - 1) }, opset), 'one input too few').to.be.a('string');
      }
      const dtypes = inferDtypes(built.graph);
      for (const [name, t] of out) expect(dtypes.get(name), `dtype of ${name}`).to.equal(t.dtype === 'float16' ? 'float32' : t.dtype);
      const sign = signOf(op, built.node);
      if (sign === 'any') return;
      const rs = sign === 'nonNegative' ? r : await runSample(op, sample, 0);
      const y = rs!.out.get('y0')!;
      if (y.dtype === 'bool') return;
      const min = Math.min(...Array.from(y.data as ArrayLike<number | bigint>, Number));
      expect(min, `${sign}: smallest output`).to.be.at.least(0);
    });
  }

  for (const { family, op } of ALL.filter((o) => o.op.linear)) {
    const sample = SAMPLES[op.type] ?? { inputs: [x()] };
    it(`${family}/${label(op)}: the linear kernel is onnxruntime's map, its transpose the adjoint`, async function () {
      const r = await runSample(op, sample, -1);
      if (!r) { this.skip(); return; }
      const { built, out, feeds } = r;
      if (!(LINEAR_CATEGORIES as readonly string[]).includes(categoryOf(built.node, built.graph))) { this.skip(); return; }
      const values = new Map<string, Tensor>([...Object.entries(feeds), ...out]);
      const { kernel, live } = op.linear!(contextFor(built.node, built.graph, values));
      const xs = live.map((i) => f32(values.get(built.node.inputs[i])!));
      const xv = Float32Array.from(xs.flatMap((a) => Array.from(a)));
      expectClose(await kernel.forward(xv, mod.id, mod.id), f32(out.get('y0')!), 1e-5, 'forward');
      const g = randomTensor(prng(3), [kernel.outSize]).data;
      const wx = await kernel.forward(xv, mod.id, null);
      expect(dot(wx, g)).to.be.closeTo(dot(xv, await kernel.transposed(g, mod.id)), 1e-4 * Math.max(1, Math.abs(dot(wx, g))));
    });
  }

  for (const { family, op } of ALL.filter((o) => !o.op.domain)) {
    const sample = SAMPLES[op.type] ?? { inputs: [x()] };
    const low = op.lowering;
    if (!('linear' in low || 'route' in low || (op.linear && sample.inputs.some((i) => !i.tensor && i.name)))) continue;
    it(`${family}/${label(op)}: ${isLowered(low) ? 'its lowering runs in onnxruntime, equal to the reference' : `reported on the reference (${low.none})`}`, async function () {
      const r = await runSample(op, sample, -1);
      if (!r) { this.skip(); return; }
      const { built, feeds } = r;
      const category = categoryOf(built.node, built.graph);
      if (!(LINEAR_CATEGORIES as readonly string[]).includes(category) && category !== 'maxpool' && category !== 'layernorm') { this.skip(); return; }
      const e = explainerAfter(built.graph, r.out.get('y0')!.data.length / (r.out.get('y0')!.dims[0] ?? 1));
      try {
        const ref = await e.explain(feeds.x, { composite: 'epsilon_alpha2_beta1', engine: 'reference' });
        const fast = await e.explain(feeds.x, { composite: 'epsilon_alpha2_beta1', engine: 'ort' });
        expect(relL2(fast.relevance.data, ref.relevance.data), 'relevance on both engines').to.be.below(1e-5);
        const node = e.graph.nodes.find((n) => n.outputs[0] === 'y0')!;
        const reasons = (e as unknown as { executor: OrtExecutor }).executor.referenceReasons();
        if (isLowered(low)) expect(reasons.get(node.name), 'ran in onnxruntime').to.equal(undefined);
        else expect(reasons.get(node.name), 'why it ran on the reference').to.contain(low.none);
      } finally {
        await e.release();
      }
    });
  }

  const vjpCases = [...ALL.filter(({ op }) => !op.domain && 'vjp' in op.lowering).map(({ op }): [string, Sample] => [op.type, SAMPLES[op.type] ?? { inputs: [x()] }]), ...VJP_SAMPLES];
  for (const [k, [type, sample]] of vjpCases.entries()) {
    it(`${type} (${sample.inputs.map((i) => (i.tensor ? `const [${i.tensor.dims}]` : `[${i.dims}]`)).join(', ')}, case ${k}): its vjp lowering in onnxruntime equals the reference vjp`, async function () {
      const op = findOp(type)!;
      const r = await runSample(op, sample, -1);
      if (!r) { this.skip(); return; }
      const { built, feeds, out } = r;
      const values = new Map<string, Tensor>([...Object.entries(feeds), ...out]);
      const ctx = contextFor(built.node, built.graph, values);
      const g = randomTensor(prng(11), [...out.get('y0')!.dims]);
      const b = new GraphBuilder('vjp');
      const low = lowerVjp(b, ctx, 'g');
      if (!isLowered(low)) throw new Error(`not lowered: ${low.none}`);
      const ref = op.vjp!(ctx, [g.data]);
      const outs = low.map((v) => v && b.op('Identity', [v]));
      expect(outs.map((v) => v !== null), 'inputs that get a value').to.deep.equal(ref.map((v) => v !== null));
      const names = [...built.node.inputs, 'y0'].filter((n, i, a) => n && a.indexOf(n) === i);
      const gFeeds: Record<string, Tensor> = { g };
      const inputs: ValueInfo[] = [{ name: 'g', dtype: 'float32', dims: g.dims }];
      for (const n of names) {
        const t = values.get(n) ?? built.graph.constant(n)!;
        gFeeds[n] = t;
        inputs.push({ name: n, dtype: t.dtype, dims: t.dims });
      }
      const parts = b.parts();
      const wanted = outs.filter((v): v is string => v !== null);
      const graph = new Graph({ nodes: [...parts.nodes], inputs, outputs: wanted.map((name) => ({ name, dtype: 'float32', dims: null })), constants: new Map(parts.constants), opsets: { '': 17 } });
      const got = await runOrt(encodeModel(graph), gFeeds, wanted);
      outs.forEach((v, i) => { if (v) expectClose(f32(got.get(v)!), ref[i]!, 1e-5, `vjp at input ${i}`); });
    });
  }

  it('findOp finds every op by type and domain', () => {
    for (const { op } of ALL) expect(findOp(op.type, op.domain)).to.equal(op);
  });
});
