/** Quantized models → their float twin. QuantizeLinear/DequantizeLinear, QLinearConv, QLinearMatMul and the
 * com.microsoft QLinear ops (Add, Mul, Sigmoid, LeakyRelu, GlobalAveragePool, AveragePool, Concat) become the
 * float ops they quantize: weights and biases are dequantized once, in float64, into float32 constants
 *   w = (q − zp)·s                 (per tensor, or per channel along the weight's output axis)
 *   b = q_int32 · x_scale · w_scale (int32 biases of QLinearConv)
 * and activations stay float: a Quantize→Dequantize pair on a live tensor disappears. Routing ops applied to
 * quantized tensors (Reshape, Transpose, MaxPool, Pad, …) are applied to the float twin instead.
 *
 * A quantized output's range [(qmin − zp)·s, (qmax − zp)·s] is where the integer model clamps. Where the lower
 * end is exactly 0 (zero point at qmin, e.g. uint8 with zero point 0), the quantizer fused a ReLU (or the
 * value is non-negative anyway): the twin gets an explicit Relu, or Clip(0, 6) when the upper end is 6 to
 * within one quantization step (ReLU6). Other ranges are calibration limits, not activations, and are not
 * clamped (`saturate: true` clamps every quantized value to its range instead, for a bit-closer twin). */
import { Graph, Node } from '../ir/graph';
import { DType, toNumbers } from '../tensor';
import { foldConstants } from './constants';
import { QParams, QuantizedError, dequantize, dtypeOfCode, impliedClamp, quantize } from './quantized-math';
import { FloatTwin, isDQ, isQ, staysNonNegative, where } from './quantized-twin';
import { Canonized, pruneConstants } from './rewrite';

export { QuantizedError, dequantize };

export interface QuantizedOptions {
  /** clamp every quantized value to its representable range (default: only implied ReLU/ReLU6) */
  saturate?: boolean;
  /** keep a QuantizeLinear→DequantizeLinear pair after every quantized value (simulated quantization): a
   * check of the dequantized weights against the integer model, not a graph to explain */
  simulate?: boolean;
}

/** Ops that may read quantized values: applied to the float twins, their outputs quantized alike. */
const ROUTING = new Set([
  'Reshape', 'Flatten', 'Transpose', 'Squeeze', 'Unsqueeze', 'Identity', 'Slice', 'Gather', 'Split', 'MaxPool',
  'Expand', 'Tile', 'DepthToSpace', 'SpaceToDepth', 'Pad', 'Concat', 'Resize', 'Upsample', 'GatherElements',
]);
/** Ops that read only the shape of their input. */
const SHAPE_ONLY = new Set(['Shape', 'Size']);
const MS_UNARY = ['QLinearSigmoid', 'QLinearLeakyRelu', 'QLinearGlobalAveragePool', 'QLinearAveragePool'];
const SUPPORTED = 'QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul, com.microsoft QLinearAdd/Mul/Sigmoid/LeakyRelu/GlobalAveragePool/AveragePool/Concat';

/** QuantizeLinear: of a constant, quantized now (its DequantizeLinear folds it back); of a live value, its
 * twin is the value itself, clamped as the quantization implies. */
function quantizeNode(t: FloatTwin, n: Node, node: Node): void {
  const x = node.inputs[0];
  const s = t.needConst(node, 1, 'scale');
  const z = t.optConst(node, 2, 'zero point');
  const dtype = z?.dtype ?? dtypeOfCode(n.attrs.output_dtype as number | undefined) ?? 'uint8';
  const c = t.constant(x);
  if (c) {
    t.spec.constants.set(n.outputs[0], quantize(c, s, z, dtype, (n.attrs.axis as number | undefined) ?? 1, where(n)));
    t.count('QuantizeLinear (constant)');
    return;
  }
  if (t.twins.has(x)) throw new QuantizedError(`${where(n)}: input '${x}' is already quantized`);
  const q: QParams = { scale: toNumbers(s), zeroPoint: z ? toNumbers(z) : [0], dtype };
  const clamp = impliedClamp(q, t.opts.saturate);
  const prod = t.graph.producer(x);
  if (prod && staysNonNegative(prod, false)) t.nonNeg.add(x); // after a Relu, a Sigmoid …
  if (clamp && !(clamp.op === 'Relu' && t.nonNeg.has(x))) {
    const name = t.twinName(n.outputs[0]);
    t.pushClamp(n.name, x, name, clamp);
    t.setTwin(n.outputs[0], name, q, n.name);
  } else {
    t.setTwin(n.outputs[0], x, q, n.name);
  }
  t.count('QuantizeLinear');
}

/** DequantizeLinear: of a quantized value, its twin (with the same scale and zero point); of a constant,
 * dequantized now. */
function dequantizeNode(t: FloatTwin, n: Node, node: Node): void {
  const v = node.inputs[0];
  const tw = t.twins.get(v);
  if (tw) {
    const s = toNumbers(t.needConst(node, 1, 'scale'));
    const z = n.inputs[2] ? toNumbers(t.needConst(node, 2, 'zero point')) : [0];
    const same = s.length === tw.q.scale.length && s.every((x, i) => Math.abs(x - tw.q.scale[i]) <= 1e-7 * Math.abs(x))
      && z.length === tw.q.zeroPoint.length && z.every((x, i) => x === tw.q.zeroPoint[i]);
    if (!same) throw new QuantizedError(`${where(n)}: dequantizes '${v}' with a scale or zero point other than the one it was quantized with`);
    if (tw.name !== n.outputs[0]) t.alias.set(n.outputs[0], tw.name);
    t.count('DequantizeLinear');
    return;
  }
  const c = t.constant(v);
  if (c) {
    t.spec.constants.set(n.outputs[0], dequantize(c, t.needConst(node, 1, 'scale'), t.optConst(node, 2, 'zero point'), (n.attrs.axis as number | undefined) ?? 1, where(n)));
    t.count('DequantizeLinear (constant)');
    return;
  }
  throw new QuantizedError(`${where(n)}: input '${v}' is an integer tensor that no QuantizeLinear produced (an integer model input?); feed float input instead`);
}

/** QLinearConv → Conv on the dequantized weight, with the int32 bias as x_scale · w_scale · q. */
function qlinearConv(t: FloatTwin, n: Node, node: Node): void {
  const x = t.operand(node, 0, 1);
  const w = t.needConst(node, 3, 'weight');
  const ws = t.needConst(node, 4, 'weight scale');
  const wf = t.addConst(`${n.inputs[3].replace(/_quantized$/, '')}_dequantized`, dequantize(w, ws, t.optConst(node, 5, 'weight zero point'), 0, `${where(n)}, weight`));
  const inputs = [x, wf];
  if (n.inputs[8]) {
    const b = toNumbers(t.needConst(node, 8, 'bias'));
    const xs = toNumbers(t.needConst(node, 1, 'input scale'));
    const wsv = toNumbers(ws);
    if (xs.length !== 1) throw new QuantizedError(`${where(n)}: a per-channel input scale is not supported`);
    const bf = Float32Array.from(b, (v, c) => v * xs[0] * (wsv.length === 1 ? wsv[0] : wsv[c]));
    inputs.push(t.addConst(`${n.inputs[8].replace(/_quantized$/, '')}_dequantized`, { dtype: 'float32', dims: [b.length], data: bf }));
  }
  t.emit(node, 'Conv', inputs, n.attrs, t.outParams(node, 6, 7, 'uint8'), n.attrTypes);
}

/** The QLinear ops: each becomes the float op it quantizes. Returns false for other ops. */
function qlinear(t: FloatTwin, n: Node, node: Node): boolean {
  const ms = n.domain === 'com.microsoft';
  const dtypeIn = () => t.twins.get(node.inputs[0])?.q.dtype ?? 'uint8';
  if (n.opType === 'QLinearConv' && n.domain === '') {
    qlinearConv(t, n, node);
  } else if (n.opType === 'QLinearMatMul' && n.domain === '') {
    t.emit(node, 'MatMul', [t.operand(node, 0, -2), t.operand(node, 3, -1)], {}, t.outParams(node, 6, 7, 'uint8'));
  } else if (ms && (n.opType === 'QLinearAdd' || n.opType === 'QLinearMul')) {
    t.emit(node, n.opType.slice(7), [t.operand(node, 0, 1), t.operand(node, 3, 1)], {}, t.outParams(node, 6, 7, dtypeIn()));
  } else if (ms && MS_UNARY.includes(n.opType)) {
    const x = t.operand(node, 0, 1);
    if (n.attrs.channels_last === 1) throw new QuantizedError(`${where(n)}: channels_last=1 is not supported`);
    const { channels_last: _cl, ...attrs } = n.attrs;
    const types = n.attrTypes ? Object.fromEntries(Object.entries(n.attrTypes).filter(([k]) => k !== 'channels_last')) : undefined;
    t.emit(node, n.opType.slice(7), [x], attrs, t.outParams(node, 3, 4, dtypeIn()), types);
  } else if (ms && n.opType === 'QLinearConcat') {
    const parts: string[] = [];
    for (let i = 2; i < n.inputs.length; i += 3) parts.push(t.operand(node, i, 1));
    t.emit(node, 'Concat', parts, n.attrs, t.outParams(node, 0, 1, 'uint8'), n.attrTypes);
  } else if (n.opType.startsWith('QLinear') || n.opType.endsWith('Integer') || n.opType === 'QGemm' || n.opType === 'DynamicQuantizeLinear') {
    throw new QuantizedError(`${where(n)}: no float twin is known for this quantized op (supported: ${SUPPORTED})`);
  } else {
    return false;
  }
  return true;
}

/** A float op reading quantized values: a shape op reads the twin; a routing op runs on the twins, its
 * outputs quantized alike; any other op is refused. */
function onQuantized(t: FloatTwin, n: Node, node: Node, quantIns: string[]): void {
  const ins = node.inputs;
  if (SHAPE_ONLY.has(n.opType)) {
    t.nodes.push({ ...node, inputs: ins.map((i) => t.twins.get(i)?.name ?? i) });
    return;
  }
  if (!ROUTING.has(n.opType) || n.domain !== '') {
    throw new QuantizedError(`${where(n)}: reads the quantized value '${quantIns[0]}'; only routing ops (${[...ROUTING].join(', ')}) may, in a model onnx-lrp dequantizes`);
  }
  const q = t.twins.get(quantIns[0])!.q;
  for (const v of quantIns) {
    const p = t.twins.get(v)!.q;
    if (p.scale.join() !== q.scale.join() || p.zeroPoint.join() !== q.zeroPoint.join()) {
      throw new QuantizedError(`${where(n)}: its quantized inputs use different scales or zero points`);
    }
  }
  const inputs = ins.map((i) => t.twins.get(i)?.name ?? i);
  let attrs = n.attrs;
  if (n.opType === 'Pad' && ((n.attrs.mode as string | undefined) ?? 'constant') === 'constant') { // the pad value is quantized too
    const pv = t.opset >= 11 ? (n.inputs[2] ? toNumbers(t.needConst(node, 2, 'pad value'))[0] : 0) : ((n.attrs.value as number | undefined) ?? 0);
    const f = (pv - q.zeroPoint[0]) * q.scale[0];
    if (t.opset >= 11) inputs[2] = t.addConst(`${n.name}_pad_value`, { dtype: 'float32', dims: [], data: Float32Array.of(f) });
    else attrs = { ...n.attrs, value: f };
  }
  const outs = n.outputs.map((o) => (o ? t.twinName(o) : o));
  t.nodes.push({ ...node, inputs, outputs: outs, attrs });
  const positive = t.routesNonNegative(n, inputs, (k) => t.twins.has(ins[k]));
  n.outputs.forEach((o, k) => {
    if (!o) return;
    if (positive) t.nonNeg.add(outs[k]);
    t.twins.set(o, { name: outs[k], q });
  });
  t.count(`${n.opType} on quantized values`);
}

/** Graph outputs through aliases (a quantized output becomes its float twin), stale value infos dropped. */
function finish(t: FloatTwin): Canonized {
  const { spec } = t;
  const actions: string[] = [];
  const outputs = spec.outputs.map((o) => {
    const tw = t.twins.get(o.name);
    if (tw) {
      actions.push(`graph output '${o.name}' was quantized; it is now the float value '${tw.name}'`);
      return { ...o, name: tw.name, dtype: 'float32' as DType };
    }
    const a = t.alias.get(o.name);
    if (a) { // keep the output's name
      t.nodes.push({ name: t.fresh(`${o.name}_identity`), opType: 'Identity', domain: '', inputs: [a], outputs: [o.name], attrs: {} });
    }
    return o;
  });
  spec.nodes = t.nodes;
  spec.outputs = outputs;
  // value infos of the quantized values (gone) and of the names their twins took no longer hold
  const vi = new Map(spec.valueInfo ?? []);
  for (const [q, tw] of t.twins) { vi.delete(q); vi.delete(tw.name); }
  spec.valueInfo = vi;
  pruneConstants(spec);
  actions.unshift(`made the float twin of a quantized model: ${t.summary()}`);
  const folded = foldConstants(new Graph(spec));
  return { graph: folded.graph, actions: [...actions, ...folded.actions] };
}

/** The rewrite itself; `quantizedToFloat` is the registered canonizer (default options). */
export function dequantizeGraph(graph: Graph, opts: QuantizedOptions = {}): Canonized {
  const hasQuant = graph.nodes.some((n) => isQ(n) || isDQ(n) || n.opType.startsWith('QLinear'));
  if (!hasQuant) return { graph, actions: [] };
  const t = new FloatTwin(graph, { saturate: opts.saturate ?? false, simulate: opts.simulate ?? false });
  for (const n of graph.nodes) {
    const node: Node = { ...n, inputs: n.inputs.map((i) => (i ? t.resolve(i) : i)) };
    if ((isQ(n) || isDQ(n)) && ((n.attrs.block_size as number | undefined) ?? 0) !== 0) {
      throw new QuantizedError(`${where(n)}: blocked quantization (block_size ${n.attrs.block_size as number}) is not supported`);
    }
    if (isQ(n)) quantizeNode(t, n, node);
    else if (isDQ(n)) dequantizeNode(t, n, node);
    else if (!qlinear(t, n, node)) {
      const quantIns = node.inputs.filter((i) => t.twins.has(i));
      if (quantIns.length) onQuantized(t, n, node, quantIns);
      else t.nodes.push(node);
    }
  }
  return finish(t);
}

export function quantizedToFloat(graph: Graph): Canonized {
  return dequantizeGraph(graph);
}
