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
import { Graph, GraphError, GraphSpec, Node } from '../ir/graph';
import { DType, Tensor, toNumbers } from '../tensor';
import { foldConstants } from './constants';
import { Canonized, pruneConstants } from './rewrite';

export interface QuantizedOptions {
  /** clamp every quantized value to its representable range (default: only implied ReLU/ReLU6) */
  saturate?: boolean;
  /** keep a QuantizeLinear→DequantizeLinear pair after every quantized value (simulated quantization): a
   * check of the dequantized weights against the integer model, not a graph to explain */
  simulate?: boolean;
}

export class QuantizedError extends GraphError {
  override name = 'QuantizedError';
}

const RANGES: Partial<Record<DType, [number, number]>> = {
  int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535], int32: [-2147483648, 2147483647],
};

/** Quantization parameters of a live tensor. */
interface QParams {
  scale: number[];
  zeroPoint: number[];
  dtype: DType;
}

interface Twin {
  /** the float value standing for the quantized one */
  name: string;
  q: QParams;
}

const ROUTING = new Set([
  'Reshape', 'Flatten', 'Transpose', 'Squeeze', 'Unsqueeze', 'Identity', 'Slice', 'Gather', 'Split', 'MaxPool',
  'Expand', 'Tile', 'DepthToSpace', 'SpaceToDepth', 'Pad', 'Concat', 'Resize', 'Upsample', 'GatherElements',
]);
/** Ops that read only the shape of their input. */
const SHAPE_ONLY = new Set(['Shape', 'Size']);

const isQ = (n: Node) => n.opType === 'QuantizeLinear' && (n.domain === '' || n.domain === 'com.microsoft');
const isDQ = (n: Node) => n.opType === 'DequantizeLinear' && (n.domain === '' || n.domain === 'com.microsoft');
const isMs = (n: Node) => n.domain === 'com.microsoft';

function where(n: Node): string {
  return `node '${n.name}' (${n.domain ? `${n.domain}.` : ''}${n.opType})`;
}

/** (q − zp)·s, per tensor or per slice along `axis`, computed in float64. */
export function dequantize(q: Tensor, scale: Tensor, zeroPoint: Tensor | undefined, axis: number, what: string): Tensor & { data: Float32Array } {
  if (q.dtype === 'string' || scale.dtype === 'string') throw new QuantizedError(`${what}: string tensors cannot be dequantized`);
  const qv = toNumbers(q);
  const s = toNumbers(scale);
  const z = zeroPoint ? toNumbers(zeroPoint) : [0];
  if (z.length !== s.length && z.length !== 1) throw new QuantizedError(`${what}: ${s.length} scales but ${z.length} zero points`);
  const out = new Float32Array(qv.length);
  if (s.length === 1) {
    for (let i = 0; i < qv.length; i++) out[i] = (qv[i] - z[0]) * s[0];
  } else {
    const ax = axis < 0 ? axis + q.dims.length : axis;
    if (ax < 0 || ax >= q.dims.length || q.dims[ax] !== s.length) {
      throw new QuantizedError(`${what}: ${s.length} scales do not match axis ${axis} of shape [${q.dims.join(',')}]`);
    }
    const inner = q.dims.slice(ax + 1).reduce((a, b) => a * b, 1);
    const C = q.dims[ax];
    for (let i = 0; i < qv.length; i++) {
      const c = Math.floor(i / inner) % C;
      out[i] = (qv[i] - (z.length === 1 ? z[0] : z[c])) * s[c];
    }
  }
  return { dtype: 'float32', dims: [...q.dims], data: out };
}

/** round(x / s) + zp, half to even, saturated: QuantizeLinear on a constant. */
function quantize(x: Tensor, scale: Tensor, zeroPoint: Tensor | undefined, dtype: DType, axis: number, what: string): Tensor {
  const r = RANGES[dtype];
  if (!r) throw new QuantizedError(`${what}: cannot quantize to ${dtype}`);
  const xv = toNumbers(x);
  const s = toNumbers(scale);
  const z = zeroPoint ? toNumbers(zeroPoint) : [0];
  const ax = axis < 0 ? axis + x.dims.length : axis;
  const inner = s.length === 1 ? 1 : x.dims.slice(ax + 1).reduce((a, b) => a * b, 1);
  const data = dtype === 'int8' ? new Int8Array(xv.length) : dtype === 'uint8' ? new Uint8Array(xv.length)
    : dtype === 'int16' ? new Int16Array(xv.length) : dtype === 'uint16' ? new Uint16Array(xv.length) : new Int32Array(xv.length);
  for (let i = 0; i < xv.length; i++) {
    const c = s.length === 1 ? 0 : Math.floor(i / inner) % s.length;
    const v = xv[i] / s[c];
    let k = Math.round(v);
    if (Math.abs(v % 1) === 0.5 && k % 2 !== 0) k -= 1;
    data[i] = Math.min(r[1], Math.max(r[0], k + (z.length === 1 ? z[0] : z[c])));
  }
  return { dtype, dims: [...x.dims], data };
}

function dtypeOfCode(code: number | undefined): DType | undefined {
  return code === undefined ? undefined : ({ 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32' } as Record<number, DType>)[code];
}

/** The clamp a quantized output implies: a fused ReLU / ReLU6, or (with `saturate`) its whole range. */
function impliedClamp(q: QParams, saturate: boolean): { op: 'Relu' } | { op: 'Clip'; lo: number; hi: number } | null {
  const r = RANGES[q.dtype];
  if (!r || q.dtype === 'int32') return null;
  const lo = q.scale.map((s, c) => (r[0] - (q.zeroPoint.length === 1 ? q.zeroPoint[0] : q.zeroPoint[c])) * s);
  const hi = q.scale.map((s, c) => (r[1] - (q.zeroPoint.length === 1 ? q.zeroPoint[0] : q.zeroPoint[c])) * s);
  if (q.scale.length !== 1) return null; // per-channel activations: no single clamp
  if (saturate) return { op: 'Clip', lo: lo[0], hi: hi[0] };
  if (lo[0] !== 0) return null;
  if (Math.abs(hi[0] - 6) <= q.scale[0]) return { op: 'Clip', lo: 0, hi: 6 };
  return { op: 'Relu' };
}

/** The rewrite itself; `quantizedToFloat` is the registered canonizer (default options). */
export function dequantizeGraph(graph: Graph, opts: QuantizedOptions = {}): Canonized {
  const hasQuant = graph.nodes.some((n) => isQ(n) || isDQ(n) || n.opType.startsWith('QLinear'));
  if (!hasQuant) return { graph, actions: [] };
  const saturate = opts.saturate ?? false;
  const spec: GraphSpec = graph.toSpec();
  const opset = graph.opsets[''] ?? 13;
  const actions: string[] = [];
  const taken = new Set<string>([
    ...graph.constants.keys(), ...graph.inputs.map((i) => i.name), ...graph.nodes.flatMap((n) => [...n.inputs, ...n.outputs, n.name]),
  ]);
  const fresh = (base: string): string => {
    let name = base;
    for (let k = 1; taken.has(name); k++) name = `${base}_${k}`;
    taken.add(name);
    return name;
  };
  const twins = new Map<string, Twin>(); // live quantized value → its float twin
  const alias = new Map<string, string>(); // removed float value (DequantizeLinear output) → the value standing for it
  const nodes: Node[] = [];
  const counts = new Map<string, number>();
  const count = (what: string) => counts.set(what, (counts.get(what) ?? 0) + 1);

  const resolve = (v: string): string => alias.get(v) ?? v;
  const constant = (v: string): Tensor | undefined => (v ? spec.constants.get(v) : undefined);
  const needConst = (n: Node, i: number, what: string): Tensor => {
    const t = constant(n.inputs[i]);
    if (!t) throw new QuantizedError(`${where(n)}: ${what} '${n.inputs[i] || '(absent)'}' must be a constant to build the float twin`);
    return t;
  };
  const optConst = (n: Node, i: number, what: string): Tensor | undefined => (n.inputs[i] ? needConst(n, i, what) : undefined);
  const addConst = (base: string, t: Tensor): string => {
    const name = fresh(base);
    spec.constants.set(name, t);
    return name;
  };

  /** The name the twin of quantized value `q` gets: the output of a DequantizeLinear reading it, else its
   * name without a `_quantized` suffix when free, else a fresh one. */
  const twinName = (q: string): string => {
    const dq = graph.consumers(q).find(isDQ);
    if (dq && !opts.simulate && !alias.has(dq.outputs[0]) && ![...twins.values()].some((t) => t.name === dq.outputs[0])) return dq.outputs[0];
    const stripped = q.replace(/_quantized$|_quant$|_q$/, '');
    if (stripped !== q && !taken.has(stripped)) { taken.add(stripped); return stripped; }
    return fresh(`${q}_float`);
  };

  /** A float operand for a QLinear op's quantized input i (value, scale at i+1, zero point at i+2). */
  const operand = (n: Node, i: number, axis: number): string => {
    const v = n.inputs[i];
    const t = twins.get(v);
    if (t) return t.name;
    const c = constant(v);
    if (c) {
      const f = dequantize(c, needConst(n, i + 1, 'scale'), optConst(n, i + 2, 'zero point'), axis, `${where(n)}, input '${v}'`);
      return addConst(`${v.replace(/_quantized$/, '')}_dequantized`, f);
    }
    throw new QuantizedError(`${where(n)}: input '${v}' is neither a quantized value this canonizer produced nor a constant`);
  };

  const outParams = (n: Node, scaleAt: number, zpAt: number, fallback: DType): QParams => {
    const s = needConst(n, scaleAt, 'output scale');
    const z = optConst(n, zpAt, 'output zero point');
    return { scale: toNumbers(s), zeroPoint: z ? toNumbers(z) : [0], dtype: z?.dtype ?? fallback };
  };

  /** Float values known to be ≥ 0 (after a ReLU, a sigmoid, …): an implied ReLU on them would be a no-op. */
  const nonNeg = new Set<string>();
  const KEEPS_SIGN = new Set(['GlobalAveragePool', 'AveragePool', 'Concat', 'MaxPool']);
  /** The twin of quantized value `out` is `name` (rounded back onto out's grid with `simulate`). */
  const setTwin = (out: string, name: string, q: QParams, base: string): void => {
    const t = simulated(name, q, base);
    if (nonNeg.has(name)) nonNeg.add(t);
    twins.set(out, { name: t, q });
  };

  /** Emits the float node computing the twin of n's quantized output, with the implied clamp after it. */
  const emit = (n: Node, opType: string, inputs: string[], attrs: Node['attrs'], q: QParams, attrTypes?: Node['attrTypes']): void => {
    const out = n.outputs[0];
    const name = twinName(out);
    const positive = opType === 'Sigmoid' || (KEEPS_SIGN.has(opType) && inputs.every((i) => nonNeg.has(i)));
    let clamp = impliedClamp(q, saturate);
    if (clamp?.op === 'Relu' && positive) clamp = null;
    const pre = clamp ? fresh(`${name}_pre`) : name;
    nodes.push({ name: n.name, opType, domain: '', inputs, outputs: [pre], attrs, attrTypes });
    if (clamp) pushClamp(n.name, pre, name, clamp);
    if (positive) nonNeg.add(name);
    setTwin(out, name, q, n.name);
    count(`${n.domain ? `${n.domain}.` : ''}${n.opType}`);
  };

  const clampConsts = new Map<number, string>();
  const clampConst = (v: number): string => {
    let c = clampConsts.get(v);
    if (!c) {
      c = addConst(v === 0 ? 'clip_zero' : `clip_${v.toPrecision(6)}`, { dtype: 'float32', dims: [], data: Float32Array.of(v) });
      clampConsts.set(v, c);
    }
    return c;
  };
  const pushClamp = (base: string, x: string, y: string, clamp: NonNullable<ReturnType<typeof impliedClamp>>): void => {
    if (clamp.op === 'Relu' || clamp.lo >= 0) nonNeg.add(y);
    if (clamp.op === 'Relu') {
      nodes.push({ name: fresh(`${base}_relu`), opType: 'Relu', domain: '', inputs: [x], outputs: [y], attrs: {} });
      count('implied Relu');
    } else if (opset < 11) {
      nodes.push({ name: fresh(`${base}_clip`), opType: 'Clip', domain: '', inputs: [x], outputs: [y], attrs: { min: clamp.lo, max: clamp.hi }, attrTypes: { min: 1, max: 1 } });
      count(`implied Clip(${+clamp.lo.toPrecision(4)}, ${+clamp.hi.toPrecision(4)})`);
    } else {
      nodes.push({ name: fresh(`${base}_clip`), opType: 'Clip', domain: '', inputs: [x, clampConst(clamp.lo), clampConst(clamp.hi)], outputs: [y], attrs: {} });
      count(clamp.lo === 0 && clamp.hi === 6 ? 'implied Clip(0, 6)' : 'implied Clip');
    }
  };

  /** With `simulate`, the float value `name` rounded to the grid of q, in float ops that onnxruntime leaves
   * alone (a QuantizeLinear→DequantizeLinear pair would be fused with its neighbours into integer ops, with
   * weights it re-quantizes itself): Clip(Round(x / s), qmin − zp, qmax − zp) · s. */
  const simulated = (name: string, q: QParams, base: string): string => {
    if (!opts.simulate) return name;
    if (opset < 11) throw new QuantizedError(`simulated quantization needs opset 11 or later (Round); the model has opset ${opset}`);
    if (q.scale.length !== 1 || q.zeroPoint.length !== 1) throw new QuantizedError(`${base}: simulated quantization of per-channel activations is not supported`);
    const r = RANGES[q.dtype]!;
    const f = (v: number) => ({ dtype: 'float32' as DType, dims: [], data: Float32Array.of(v) });
    const sc = addConst(`${base}_sim_scale`, f(q.scale[0]));
    const lo = addConst(`${base}_sim_low`, f(r[0] - q.zeroPoint[0]));
    const hi = addConst(`${base}_sim_high`, f(r[1] - q.zeroPoint[0]));
    const [d, k, c, out] = ['div', 'round', 'clip', 'sim'].map((s) => fresh(`${name}_${s}`));
    nodes.push({ name: fresh(`${base}_sim_div`), opType: 'Div', domain: '', inputs: [name, sc], outputs: [d], attrs: {} });
    nodes.push({ name: fresh(`${base}_sim_round`), opType: 'Round', domain: '', inputs: [d], outputs: [k], attrs: {} });
    nodes.push({ name: fresh(`${base}_sim_clip`), opType: 'Clip', domain: '', inputs: [k, lo, hi], outputs: [c], attrs: {} });
    nodes.push({ name: fresh(`${base}_sim_mul`), opType: 'Mul', domain: '', inputs: [c, sc], outputs: [out], attrs: {} });
    return out;
  };

  for (const n of graph.nodes) {
    const ins = n.inputs.map((i) => (i ? resolve(i) : i));
    const node: Node = { ...n, inputs: ins };
    const axisAttr = (n.attrs.axis as number | undefined) ?? 1;
    if ((isQ(n) || isDQ(n)) && ((n.attrs.block_size as number | undefined) ?? 0) !== 0) {
      throw new QuantizedError(`${where(n)}: blocked quantization (block_size ${n.attrs.block_size as number}) is not supported`);
    }
    if (isQ(n)) {
      const x = ins[0];
      const s = needConst(node, 1, 'scale');
      const z = optConst(node, 2, 'zero point');
      const dtype = z?.dtype ?? dtypeOfCode(n.attrs.output_dtype as number | undefined) ?? 'uint8';
      const c = constant(x);
      if (c) { // quantize a constant now; its DequantizeLinear folds it back
        spec.constants.set(n.outputs[0], quantize(c, s, z, dtype, axisAttr, where(n)));
        count('QuantizeLinear (constant)');
        continue;
      }
      if (twins.has(x)) throw new QuantizedError(`${where(n)}: input '${x}' is already quantized`);
      const q: QParams = { scale: toNumbers(s), zeroPoint: z ? toNumbers(z) : [0], dtype };
      const clamp = impliedClamp(q, saturate);
      const prod = graph.producer(x);
      if (prod?.opType === 'Relu' || prod?.opType === 'Sigmoid') nonNeg.add(x);
      if (clamp && !(clamp.op === 'Relu' && nonNeg.has(x))) {
        const name = twinName(n.outputs[0]);
        pushClamp(n.name, x, name, clamp);
        setTwin(n.outputs[0], name, q, n.name);
      } else {
        setTwin(n.outputs[0], x, q, n.name);
      }
      count('QuantizeLinear');
      continue;
    }
    if (isDQ(n)) {
      const v = ins[0];
      const t = twins.get(v);
      if (t) {
        const s = toNumbers(needConst(node, 1, 'scale'));
        const z = n.inputs[2] ? toNumbers(needConst(node, 2, 'zero point')) : [0];
        const same = s.length === t.q.scale.length && s.every((x, i) => Math.abs(x - t.q.scale[i]) <= 1e-7 * Math.abs(x))
          && z.length === t.q.zeroPoint.length && z.every((x, i) => x === t.q.zeroPoint[i]);
        if (!same) throw new QuantizedError(`${where(n)}: dequantizes '${v}' with a scale or zero point other than the one it was quantized with`);
        if (t.name !== n.outputs[0]) alias.set(n.outputs[0], t.name);
        count('DequantizeLinear');
        continue;
      }
      const c = constant(v);
      if (c) {
        spec.constants.set(n.outputs[0], dequantize(c, needConst(node, 1, 'scale'), optConst(node, 2, 'zero point'), axisAttr, where(n)));
        count('DequantizeLinear (constant)');
        continue;
      }
      throw new QuantizedError(`${where(n)}: input '${v}' is an integer tensor that no QuantizeLinear produced (an integer model input?); feed float input instead`);
    }
    if (n.opType === 'QLinearConv' && n.domain === '') {
      const x = operand(node, 0, 1);
      const w = needConst(node, 3, 'weight');
      const ws = needConst(node, 4, 'weight scale');
      const wf = addConst(`${n.inputs[3].replace(/_quantized$/, '')}_dequantized`, dequantize(w, ws, optConst(node, 5, 'weight zero point'), 0, `${where(n)}, weight`));
      const inputs = [x, wf];
      if (n.inputs[8]) {
        const b = toNumbers(needConst(node, 8, 'bias'));
        const xs = toNumbers(needConst(node, 1, 'input scale'));
        const wsv = toNumbers(ws);
        if (xs.length !== 1) throw new QuantizedError(`${where(n)}: a per-channel input scale is not supported`);
        const bf = Float32Array.from(b, (v, c) => v * xs[0] * (wsv.length === 1 ? wsv[0] : wsv[c]));
        inputs.push(addConst(`${n.inputs[8].replace(/_quantized$/, '')}_dequantized`, { dtype: 'float32', dims: [b.length], data: bf }));
      }
      emit(node, 'Conv', inputs, n.attrs, outParams(node, 6, 7, 'uint8'), n.attrTypes);
      continue;
    }
    if (n.opType === 'QLinearMatMul' && n.domain === '') {
      const a = operand(node, 0, -2);
      const b = operand(node, 3, -1);
      emit(node, 'MatMul', [a, b], {}, outParams(node, 6, 7, 'uint8'));
      continue;
    }
    if (isMs(n) && (n.opType === 'QLinearAdd' || n.opType === 'QLinearMul')) {
      const a = operand(node, 0, 1);
      const b = operand(node, 3, 1);
      emit(node, n.opType.slice(7), [a, b], {}, outParams(node, 6, 7, twins.get(ins[0])?.q.dtype ?? 'uint8'));
      continue;
    }
    if (isMs(n) && ['QLinearSigmoid', 'QLinearLeakyRelu', 'QLinearGlobalAveragePool', 'QLinearAveragePool'].includes(n.opType)) {
      const x = operand(node, 0, 1);
      if (n.attrs.channels_last === 1) throw new QuantizedError(`${where(n)}: channels_last=1 is not supported`);
      const { channels_last: _cl, ...attrs } = n.attrs;
      const types = n.attrTypes ? Object.fromEntries(Object.entries(n.attrTypes).filter(([k]) => k !== 'channels_last')) : undefined;
      emit(node, n.opType.slice(7), [x], attrs, outParams(node, 3, 4, twins.get(ins[0])?.q.dtype ?? 'uint8'), types);
      continue;
    }
    if (isMs(n) && n.opType === 'QLinearConcat') {
      const parts: string[] = [];
      for (let i = 2; i < n.inputs.length; i += 3) parts.push(operand(node, i, 1));
      emit(node, 'Concat', parts, n.attrs, outParams(node, 0, 1, 'uint8'), n.attrTypes);
      continue;
    }
    if (n.opType.startsWith('QLinear') || n.opType.endsWith('Integer') || n.opType === 'QGemm' || n.opType === 'DynamicQuantizeLinear') {
      throw new QuantizedError(`${where(n)}: no float twin is known for this quantized op (supported: QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul, com.microsoft QLinearAdd/Mul/Sigmoid/LeakyRelu/GlobalAveragePool/AveragePool/Concat)`);
    }
    const quantIns = ins.filter((i) => twins.has(i));
    if (!quantIns.length) { nodes.push(node); continue; }
    if (SHAPE_ONLY.has(n.opType)) {
      nodes.push({ ...node, inputs: ins.map((i) => twins.get(i)?.name ?? i) });
      continue;
    }
    if (!ROUTING.has(n.opType) || n.domain !== '') {
      throw new QuantizedError(`${where(n)}: reads the quantized value '${quantIns[0]}'; only routing ops (${[...ROUTING].join(', ')}) may, in a model onnx-lrp dequantizes`);
    }
    // a routing op on quantized tensors: same op on the float twins, output quantized alike
    const q = twins.get(quantIns[0])!.q;
    for (const v of quantIns) {
      const p = twins.get(v)!.q;
      if (p.scale.join() !== q.scale.join() || p.zeroPoint.join() !== q.zeroPoint.join()) {
        throw new QuantizedError(`${where(n)}: its quantized inputs use different scales or zero points`);
      }
    }
    const inputs = ins.map((i) => twins.get(i)?.name ?? i);
    let attrs = n.attrs;
    if (n.opType === 'Pad') { // the pad value is quantized too
      const mode = (n.attrs.mode as string | undefined) ?? 'constant';
      if (mode === 'constant') {
        const pv = opset >= 11 ? (n.inputs[2] ? toNumbers(needConst(node, 2, 'pad value'))[0] : 0) : ((n.attrs.value as number | undefined) ?? 0);
        const f = (pv - q.zeroPoint[0]) * q.scale[0];
        if (opset >= 11) {
          inputs[2] = addConst(`${n.name}_pad_value`, { dtype: 'float32', dims: [], data: Float32Array.of(f) });
        } else attrs = { ...n.attrs, value: f };
      }
    }
    const outs = n.outputs.map((o) => (o ? twinName(o) : o));
    nodes.push({ ...node, inputs, outputs: outs, attrs });
    const positive = n.opType !== 'Pad' && inputs.every((i, k) => !twins.has(ins[k]) || nonNeg.has(i));
    n.outputs.forEach((o, k) => {
      if (!o) return;
      if (positive) nonNeg.add(outs[k]);
      twins.set(o, { name: outs[k], q });
    });
    count(`${n.opType} on quantized values`);
  }

  // graph outputs: through aliases; a quantized output becomes its float twin
  const outputs = spec.outputs.map((o) => {
    const t = twins.get(o.name);
    if (t) {
      actions.push(`graph output '${o.name}' was quantized; it is now the float value '${t.name}'`);
      return { ...o, name: t.name, dtype: 'float32' as DType };
    }
    const a = alias.get(o.name);
    if (a) { // keep the output's name
      nodes.push({ name: fresh(`${o.name}_identity`), opType: 'Identity', domain: '', inputs: [a], outputs: [o.name], attrs: {} });
    }
    return o;
  });
  spec.nodes = nodes;
  spec.outputs = outputs;
  // value infos of the quantized values (gone) and of the names their twins took no longer hold
  const vi = new Map(spec.valueInfo ?? []);
  for (const [q, t] of twins) { vi.delete(q); vi.delete(t.name); }
  spec.valueInfo = vi;
  pruneConstants(spec);
  const summary = [...counts].sort(([a], [b]) => Number(a.startsWith('implied')) - Number(b.startsWith('implied'))).map(([k, v]) => `${k}×${v}`).join(', ');
  actions.unshift(`made the float twin of a quantized model: ${summary}`);
  const g = new Graph(spec);
  const folded = foldConstants(g);
  return { graph: folded.graph, actions: [...actions, ...folded.actions] };
}

export function quantizedToFloat(graph: Graph): Canonized {
  return dequantizeGraph(graph);
}
