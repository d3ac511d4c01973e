/** The float twin of a quantized graph under construction (lib/canonize/quantized.ts walks the nodes and
 * calls it): fresh names, dequantized constants, the float value standing for each quantized one, the
 * float nodes with the clamps their quantized outputs imply, and which float values are known to be ≥ 0. */
import { Graph, GraphSpec, Node } from '../ir/graph';
import { signOf } from '../ops/op';
import { findOp } from '../ops/registry';
import { DType, Tensor, toNumbers } from '../tensor';
import { Clamp, QParams, QuantizedError, RANGES, Twin, dequantize, impliedClamp } from './quantized-math';

export interface TwinOptions {
  saturate: boolean;
  simulate: boolean;
}

export const isQ = (n: Node) => n.opType === 'QuantizeLinear' && (n.domain === '' || n.domain === 'com.microsoft');
export const isDQ = (n: Node) => n.opType === 'DequantizeLinear' && (n.domain === '' || n.domain === 'com.microsoft');

export function where(n: Node): string {
  return `node '${n.name}' (${n.domain ? `${n.domain}.` : ''}${n.opType})`;
}

/** Is the output of `node` ≥ 0 when its inputs are (`inputsNonNegative`)? From the op's sign behaviour. */
export function staysNonNegative(node: Node, inputsNonNegative: boolean): boolean {
  const op = findOp(node.opType, node.domain);
  const sign = op ? signOf(op, node) : 'any';
  return sign === 'nonNegative' || ((sign === 'keeps' || sign === 'keepsAll') && inputsNonNegative);
}

export class FloatTwin {
  readonly spec: GraphSpec;
  readonly opset: number;
  /** live quantized value → its float twin */
  readonly twins = new Map<string, Twin>();
  /** removed float value (a DequantizeLinear's output) → the value standing for it */
  readonly alias = new Map<string, string>();
  readonly nodes: Node[] = [];
  /** float values known to be ≥ 0 (after a ReLU, a sigmoid, …): an implied ReLU on them would be a no-op */
  readonly nonNeg = new Set<string>();
  private readonly counts = new Map<string, number>();
  private readonly taken: Set<string>;
  private readonly clampConsts = new Map<number, string>();

  constructor(readonly graph: Graph, readonly opts: TwinOptions) {
    this.spec = graph.toSpec();
    this.opset = graph.opsets[''] ?? 13;
    this.taken = new Set<string>([
      ...graph.constants.keys(), ...graph.inputs.map((i) => i.name), ...graph.nodes.flatMap((n) => [...n.inputs, ...n.outputs, n.name]),
    ]);
  }

  count(what: string): void {
    this.counts.set(what, (this.counts.get(what) ?? 0) + 1);
  }

  /** What was made of what, implied clamps last (the canonizer's first action line). */
  summary(): string {
    return [...this.counts].sort(([a], [b]) => Number(a.startsWith('implied')) - Number(b.startsWith('implied'))).map(([k, v]) => `${k}×${v}`).join(', ');
  }

  fresh(base: string): string {
    let name = base;
    for (let k = 1; this.taken.has(name); k++) name = `${base}_${k}`;
    this.taken.add(name);
    return name;
  }

  resolve(v: string): string {
    return this.alias.get(v) ?? v;
  }

  constant(v: string): Tensor | undefined {
    return v ? this.spec.constants.get(v) : undefined;
  }

  needConst(n: Node, i: number, what: string): Tensor {
    const t = this.constant(n.inputs[i]);
    if (!t) throw new QuantizedError(`${where(n)}: ${what} '${n.inputs[i] || '(absent)'}' must be a constant to build the float twin`);
    return t;
  }

  optConst(n: Node, i: number, what: string): Tensor | undefined {
    return n.inputs[i] ? this.needConst(n, i, what) : undefined;
  }

  addConst(base: string, t: Tensor): string {
    const name = this.fresh(base);
    this.spec.constants.set(name, t);
    return name;
  }

  /** The name the twin of quantized value `q` gets: the output of a DequantizeLinear reading it, else its
   * name without a `_quantized` suffix when free, else a fresh one. */
  twinName(q: string): string {
    const dq = this.graph.consumers(q).find(isDQ);
    if (dq && !this.opts.simulate && !this.alias.has(dq.outputs[0]) && ![...this.twins.values()].some((t) => t.name === dq.outputs[0])) return dq.outputs[0];
    const stripped = q.replace(/_quantized$|_quant$|_q$/, '');
    if (stripped !== q && !this.taken.has(stripped)) { this.taken.add(stripped); return stripped; }
    return this.fresh(`${q}_float`);
  }

  /** A float operand for a QLinear op's quantized input i (value, scale at i+1, zero point at i+2). */
  operand(n: Node, i: number, axis: number): string {
    const v = n.inputs[i];
    const t = this.twins.get(v);
    if (t) return t.name;
    const c = this.constant(v);
    if (c) {
      const f = dequantize(c, this.needConst(n, i + 1, 'scale'), this.optConst(n, i + 2, 'zero point'), axis, `${where(n)}, input '${v}'`);
      return this.addConst(`${v.replace(/_quantized$/, '')}_dequantized`, f);
    }
    throw new QuantizedError(`${where(n)}: input '${v}' is neither a quantized value this canonizer produced nor a constant`);
  }

  outParams(n: Node, scaleAt: number, zpAt: number, fallback: DType): QParams {
    const s = this.needConst(n, scaleAt, 'output scale');
    const z = this.optConst(n, zpAt, 'output zero point');
    return { scale: toNumbers(s), zeroPoint: z ? toNumbers(z) : [0], dtype: z?.dtype ?? fallback };
  }

  /** The twin of quantized value `out` is `name` (rounded back onto out's grid with `simulate`). */
  setTwin(out: string, name: string, q: QParams, base: string): void {
    const t = this.simulated(name, q, base);
    if (this.nonNeg.has(name)) this.nonNeg.add(t);
    this.twins.set(out, { name: t, q });
  }

  /** Emits the float node computing the twin of n's quantized output, with the implied clamp after it. */
  emit(n: Node, opType: string, inputs: string[], attrs: Node['attrs'], q: QParams, attrTypes?: Node['attrTypes']): void {
    const out = n.outputs[0];
    const name = this.twinName(out);
    const node: Node = { name: n.name, opType, domain: '', inputs, outputs: [out], attrs, attrTypes };
    const positive = staysNonNegative(node, inputs.every((i) => this.nonNeg.has(i)));
    let clamp = impliedClamp(q, this.opts.saturate);
    if (clamp?.op === 'Relu' && positive) clamp = null;
    const pre = clamp ? this.fresh(`${name}_pre`) : name;
    this.nodes.push({ ...node, outputs: [pre] });
    if (clamp) this.pushClamp(n.name, pre, name, clamp);
    if (positive) this.nonNeg.add(name);
    this.setTwin(out, name, q, n.name);
    this.count(`${n.domain ? `${n.domain}.` : ''}${n.opType}`);
  }

  /** A routing op on quantized values, applied to their twins: is its output ≥ 0? */
  routesNonNegative(node: Node, floatInputs: string[], quantized: (k: number) => boolean): boolean {
    return staysNonNegative(node, floatInputs.every((i, k) => !quantized(k) || this.nonNeg.has(i)));
  }

  private clampConst(v: number): string {
    let c = this.clampConsts.get(v);
    if (!c) {
      c = this.addConst(v === 0 ? 'clip_zero' : `clip_${v.toPrecision(6)}`, { dtype: 'float32', dims: [], data: Float32Array.of(v) });
      this.clampConsts.set(v, c);
    }
    return c;
  }

  pushClamp(base: string, x: string, y: string, clamp: Clamp): void {
    if (clamp.op === 'Relu' || clamp.lo >= 0) this.nonNeg.add(y);
    if (clamp.op === 'Relu') {
      this.nodes.push({ name: this.fresh(`${base}_relu`), opType: 'Relu', domain: '', inputs: [x], outputs: [y], attrs: {} });
      this.count('implied Relu');
    } else if (this.opset < 11) {
      this.nodes.push({ name: this.fresh(`${base}_clip`), opType: 'Clip', domain: '', inputs: [x], outputs: [y], attrs: { min: clamp.lo, max: clamp.hi }, attrTypes: { min: 1, max: 1 } });
      this.count(`implied Clip(${+clamp.lo.toPrecision(4)}, ${+clamp.hi.toPrecision(4)})`);
    } else {
      this.nodes.push({ name: this.fresh(`${base}_clip`), opType: 'Clip', domain: '', inputs: [x, this.clampConst(clamp.lo), this.clampConst(clamp.hi)], outputs: [y], attrs: {} });
      this.count(clamp.lo === 0 && clamp.hi === 6 ? 'implied Clip(0, 6)' : 'implied Clip');
    }
  }

  /** With `simulate`, the float value `name` rounded to the grid of q, in float ops that onnxruntime leaves
   * alone (a QuantizeLinear→DequantizeLinear pair would be fused with its neighbours into integer ops, with
   * weights it re-quantizes itself): Clip(Round(x / s), qmin − zp, qmax − zp) · s. */
  private simulated(name: string, q: QParams, base: string): string {
    if (!this.opts.simulate) return name;
    if (this.opset < 11) throw new QuantizedError(`simulated quantization needs opset 11 or later (Round); the model has opset ${this.opset}`);
    if (q.scale.length !== 1 || q.zeroPoint.length !== 1) throw new QuantizedError(`${base}: simulated quantization of per-channel activations is not supported`);
    const r = RANGES[q.dtype]!;
    const f = (v: number) => ({ dtype: 'float32' as DType, dims: [], data: Float32Array.of(v) });
    const sc = this.addConst(`${base}_sim_scale`, f(q.scale[0]));
    const lo = this.addConst(`${base}_sim_low`, f(r[0] - q.zeroPoint[0]));
    const hi = this.addConst(`${base}_sim_high`, f(r[1] - q.zeroPoint[0]));
    const [d, k, c, out] = ['div', 'round', 'clip', 'sim'].map((s) => this.fresh(`${name}_${s}`));
    this.nodes.push({ name: this.fresh(`${base}_sim_div`), opType: 'Div', domain: '', inputs: [name, sc], outputs: [d], attrs: {} });
    this.nodes.push({ name: this.fresh(`${base}_sim_round`), opType: 'Round', domain: '', inputs: [d], outputs: [k], attrs: {} });
    this.nodes.push({ name: this.fresh(`${base}_sim_clip`), opType: 'Clip', domain: '', inputs: [k, lo, hi], outputs: [c], attrs: {} });
    this.nodes.push({ name: this.fresh(`${base}_sim_mul`), opType: 'Mul', domain: '', inputs: [c, sc], outputs: [out], attrs: {} });
    return out;
  }
}
