/** Per-op lowering of the generic linear kernel to ONNX nodes: `forward` is the op itself with modified
 * constants, `transposed` its vector-Jacobian product (ConvTranspose, or a Conv on flipped weights at
 * stride 1; Gemm with the other transpose; …). Ops not listed here stay with the reference kernels. */
import { Tensor } from '../../../tensor';
import { NodeContext, attrFloat, attrInt, attrInts, attrString, f32 } from '../../../ops/op';
import { WeightMod } from '../../../kernels/kernel';
import { outputLength, resolvePads } from '../../../kernels/window';
import { GraphBuilder } from './builder';

export interface Lowering {
  /** positions in node.inputs of the live inputs, in the order the rule concatenates them */
  readonly live: number[];
  readonly hasBias: boolean;
  forward(b: GraphBuilder, xs: string[], w: WeightMod, bias: WeightMod | null): string;
  transposed(b: GraphBuilder, g: string, w: WeightMod, xs: string[]): string[];
}

/** Modified copies of constant weights (w⁺, w⁻, w + γw⁺ …), made once per node and modifier. Weights fed at
 * every run are kept; those copied into a kernel graph (`keep` false) only until `endCompile`, since the
 * session holds its own copy. */
export class WeightStore {
  private readonly cache = new Map<string, Float32Array>();
  private readonly transient = new Map<string, Float32Array>();
  get(node: string, role: string, base: Float32Array, m: WeightMod, scale = 1, keep = true): Float32Array {
    if (m.key === 'id' && scale === 1) return base;
    const key = `${node}\u0000${role}\u0000${m.key}\u0000${scale}`;
    let w = this.cache.get(key) ?? this.transient.get(key);
    if (!w) {
      w = modify(base, m, scale);
      (keep ? this.cache : this.transient).set(key, w);
    }
    return w;
  }
  /** Another array made from the weights (a flipped copy …), under the same keep/transient policy. */
  derived(key: string, make: () => Float32Array, keep: boolean): Float32Array {
    let w = this.cache.get(key) ?? this.transient.get(key);
    if (!w) {
      w = make();
      (keep ? this.cache : this.transient).set(key, w);
    }
    return w;
  }
  endCompile(): void {
    this.transient.clear();
  }
  clear(): void {
    this.cache.clear();
    this.transient.clear();
  }
}

/** fn(scale·w) elementwise, with plain loops for the common modifiers. */
function modify(base: Float32Array, m: WeightMod, scale: number): Float32Array {
  const n = base.length;
  const w = new Float32Array(n);
  const gm = /^gamma([+-])(.*)$/.exec(m.key);
  if (scale === 1 && m.key === 'pos') for (let i = 0; i < n; i++) { const v = base[i]; w[i] = v > 0 ? v : 0; }
  else if (scale === 1 && m.key === 'neg') for (let i = 0; i < n; i++) { const v = base[i]; w[i] = v < 0 ? v : 0; }
  else if (scale === 1 && gm && (gm[1] === '+' ? m.fn(2) === 2 + 2 * Number(gm[2]) && m.fn(-2) === -2 : m.fn(2) === 2 && m.fn(-2) === -2 - 2 * Number(gm[2]))) {
    const g = Number(gm[2]);
    if (gm[1] === '+') for (let i = 0; i < n; i++) { const v = base[i]; w[i] = v + g * (v > 0 ? v : 0); }
    else for (let i = 0; i < n; i++) { const v = base[i]; w[i] = v + g * (v < 0 ? v : 0); }
  } else {
    const fn = m.fn;
    for (let i = 0; i < n; i++) w[i] = fn(scale * base[i]);
  }
  return w;
}

const f32t = (dims: readonly number[], data: Float32Array): Tensor => ({ dtype: 'float32', dims: [...dims], data });
const range = (n: number, v: number) => new Array<number>(n).fill(v);

/** Conv weight [M, C/g, k…] → the weight of the Conv that computes its transpose at stride 1:
 * [C, M/g, k…], spatially flipped. */
function flipTranspose(w: Float32Array, dims: readonly number[], group: number): Float32Array {
  const [M, Cg] = dims;
  const K = dims.slice(2).reduce((a, b) => a * b, 1);
  const Mg = M / group;
  const out = new Float32Array(w.length);
  for (let g = 0; g < group; g++) {
    for (let m = 0; m < Mg; m++) {
      for (let c = 0; c < Cg; c++) {
        const src = ((g * Mg + m) * Cg + c) * K;
        const dst = ((g * Cg + c) * Mg + m) * K;
        for (let k = 0; k < K; k++) out[dst + K - 1 - k] = w[src + k];
      }
    }
  }
  return out;
}

function lowerConv(ctx: NodeContext, store: WeightStore): Lowering | null {
  const { node } = ctx;
  if (!ctx.isConstant(node.inputs[1]) || (node.inputs[2] && !ctx.isConstant(node.inputs[2]))) return null;
  const x = ctx.value(node.inputs[0]);
  const w = ctx.value(node.inputs[1]);
  const D = x.dims.length - 2;
  if (D < 1 || w.dims.length !== D + 2 || w.dtype !== 'float32') return null;
  const group = attrInt(node, 'group', 1);
  const kernel = attrInts(node, 'kernel_shape', w.dims.slice(2));
  const strides = attrInts(node, 'strides', range(D, 1));
  const dil = attrInts(node, 'dilations', range(D, 1));
  const inSp = x.dims.slice(2);
  const pads = resolvePads(attrString(node, 'auto_pad', 'NOTSET'), inSp, kernel, strides, dil, attrInts(node, 'pads', []));
  const outSp = inSp.map((n, d) => outputLength(n, kernel[d], strides[d], dil[d], pads.begin[d], pads.end[d]));
  if (ctx.has(node.outputs[0]) && ctx.value(node.outputs[0]).dims.slice(2).some((v, d) => v !== outSp[d])) return null;
  const W = f32(w);
  const B = node.inputs[2] ? f32(ctx.value(node.inputs[2])) : null;
  const attrs = { group, kernel_shape: kernel, strides, dilations: dil, pads: [...pads.begin, ...pads.end] };
  // 1×1 kernels: weights fed at every run (no copy in the session, quick to create; onnxruntime's NCHWc
  // layout gains nothing there). Spatial kernels: initializers, so that onnxruntime reorders them for NCHWc.
  const fed = kernel.every((k) => k === 1);
  const tensorOf = (dims: number[], make: () => Float32Array) => (b: GraphBuilder, key: string) =>
    (fed ? b.feed(key, f32t(dims, make())) : b.constant(key, () => f32t(dims, make())));
  const weight = (b: GraphBuilder, m: WeightMod) => tensorOf([...w.dims], () => store.get(node.name, 'W', W, m, 1, fed))(b, `W:${m.key}`);
  const eff = kernel.map((k, d) => (k - 1) * dil[d]);
  const asConv = strides.every((s) => s === 1) && eff.every((e, d) => e >= pads.begin[d] && e >= pads.end[d]);
  const flipped = (b: GraphBuilder, m: WeightMod) => {
    const C = w.dims[1] * group;
    const make = () => store.derived(`${node.name}\u0000flip\u0000${m.key}`, () => flipTranspose(store.get(node.name, 'W', W, m, 1, false), w.dims, group), fed);
    return tensorOf([C, w.dims[0] / group, ...w.dims.slice(2)], make)(b, `Wt:${m.key}`);
  };
  return {
    live: [0],
    hasBias: B !== null,
    forward(b, [xv], m, bm) {
      const ins = [xv, weight(b, m)];
      if (B && bm) ins.push(b.constant(`B:${bm.key}`, () => f32t([B.length], store.get(node.name, 'B', B, bm, 1, false))));
      return b.op('Conv', ins, attrs);
    },
    transposed(b, g, m) {
      if (asConv) {
        const wf = flipped(b, m);
        const p = [...eff.map((e, d) => e - pads.begin[d]), ...eff.map((e, d) => e - pads.end[d])];
        return [b.op('Conv', [g, wf], { group, kernel_shape: kernel, strides, dilations: dil, pads: p })];
      }
      const outPad = inSp.map((n, d) => n - (strides[d] * (outSp[d] - 1) + eff[d] + 1 - pads.begin[d] - pads.end[d]));
      return [b.op('ConvTranspose', [g, weight(b, m)], { ...attrs, output_padding: outPad })];
    },
  };
}

function lowerGemm(ctx: NodeContext, store: WeightStore): Lowering | null {
  const { node } = ctx;
  if (attrInt(node, 'transA', 0) || !ctx.isConstant(node.inputs[1]) || (node.inputs[2] && !ctx.isConstant(node.inputs[2]))) return null;
  const a = ctx.value(node.inputs[0]);
  const bT = ctx.value(node.inputs[1]);
  if (a.dims.length !== 2 || bT.dims.length !== 2 || bT.dtype !== 'float32') return null;
  const alpha = attrFloat(node, 'alpha', 1);
  const beta = attrFloat(node, 'beta', 1);
  const transB = attrInt(node, 'transB', 0);
  const M = transB ? bT.dims[0] : bT.dims[1];
  const Bd = f32(bT);
  let C: Float32Array | null = null;
  if (node.inputs[2]) {
    const c = f32(ctx.value(node.inputs[2]));
    if (c.length !== M && c.length !== 1) return null;
    C = c.length === M ? c : new Float32Array(M).fill(c[0]);
  }
  const weight = (b: GraphBuilder, m: WeightMod) => b.feed(`B:${m.key}`, f32t(bT.dims, store.get(node.name, 'B', Bd, m, alpha)));
  return {
    live: [0],
    hasBias: C !== null,
    forward(b, [xv], m, bm) {
      const ins = [xv, weight(b, m)];
      if (C && bm) ins.push(b.constant(`C:${bm.key}`, () => f32t([M], store.get(node.name, 'C', C!, bm, beta))));
      return b.op('Gemm', ins, { transB });
    },
    transposed(b, g, m) {
      return [b.op('Gemm', [g, weight(b, m)], { transB: 1 - transB })];
    },
  };
}

/** MatMul by a constant [K, M] (with the bias the MatMul + Add canonizer gives it). */
function lowerMatMul(ctx: NodeContext, store: WeightStore): Lowering | null {
  const { node } = ctx;
  if (!ctx.isConstant(node.inputs[1]) || (node.inputs[2] && !ctx.isConstant(node.inputs[2]))) return null;
  const a = ctx.value(node.inputs[0]);
  const bT = ctx.value(node.inputs[1]);
  if (bT.dims.length !== 2 || bT.dtype !== 'float32' || a.dims.length < 2) return null;
  const M = bT.dims[1];
  const Bd = f32(bT);
  const bias = node.inputs[2] ? f32(ctx.value(node.inputs[2])) : null;
  if (bias && bias.length !== M) return null;
  const weight = (b: GraphBuilder, m: WeightMod) => b.feed(`B:${m.key}`, f32t(bT.dims, store.get(node.name, 'B', Bd, m)));
  return {
    live: [0],
    hasBias: bias !== null,
    forward(b, [xv], m, bm) {
      const z = b.op('MatMul', [xv, weight(b, m)]);
      return bias && bm ? b.op('Add', [z, b.constant(`bias:${bm.key}`, () => f32t([M], store.get(node.name, 'bias', bias, bm)))]) : z;
    },
    transposed(b, g, m, [xv]) {
      if (a.dims.length === 2) return [b.op('Gemm', [g, weight(b, m)], { transB: 1 })];
      const g2 = b.op('Reshape', [g, b.ints([-1, M])]);
      const r = b.op('Gemm', [g2, weight(b, m)], { transB: 1 });
      return [b.op('Reshape', [r, b.op('Shape', [xv])])];
    },
  };
}

/** Add / Sum / Sub of live tensors of the output's shape: weights ±1. */
function lowerSum(ctx: NodeContext): Lowering | null {
  const { node } = ctx;
  if (!ctx.has(node.outputs[0])) return null;
  const y = ctx.value(node.outputs[0]).dims;
  for (const name of node.inputs) {
    if (!name || ctx.isConstant(name) || !ctx.has(name)) return null;
    const d = ctx.value(name).dims;
    if (d.length !== y.length || d.some((v, i) => v !== y[i])) return null;
  }
  const coef = node.inputs.map((_, i) => (node.opType === 'Sub' && i === 1 ? -1 : 1));
  const term = (b: GraphBuilder, v: string, c: number) => (c === 1 ? v : b.op('Mul', [v, b.scalar(c)]));
  return {
    live: node.inputs.map((_, i) => i),
    hasBias: false,
    forward(b, xs, m) {
      const terms = xs.map((v, i) => term(b, v, m.fn(coef[i])));
      return terms.length === 1 ? b.op('Identity', terms) : terms.length === 2 ? b.op('Add', terms) : b.op('Sum', terms);
    },
    transposed(b, g, m) {
      return coef.map((c) => term(b, g, m.fn(c)));
    },
  };
}

function lowerGlobalAveragePool(ctx: NodeContext): Lowering | null {
  const x = ctx.value(ctx.node.inputs[0]);
  if (x.dims.length < 3) return null;
  const size = x.dims.slice(2).reduce((a, b) => a * b, 1);
  const axes = x.dims.slice(2).map((_, i) => i + 2);
  return {
    live: [0],
    hasBias: false,
    forward(b, [xv], m) {
      if (m.key === 'id') return b.op('GlobalAveragePool', [xv]);
      return b.op('Mul', [b.op('ReduceSum', [xv, b.ints(axes)], { keepdims: 1 }), b.scalar(m.fn(1 / size))]);
    },
    transposed(b, g, m, [xv]) {
      return [b.op('Expand', [b.op('Mul', [g, b.scalar(m.fn(1 / size))]), b.op('Shape', [xv])])];
    },
  };
}

/** AveragePool over 1×1 windows at stride 1 without pads (what an adaptive pool to the same size exports):
 * the identity with weight 1. Other average pools stay with the reference. */
function lowerUnitAveragePool(ctx: NodeContext): Lowering | null {
  const { node } = ctx;
  const x = ctx.value(node.inputs[0]);
  const D = x.dims.length - 2;
  const unit = (k: string, v: number) => attrInts(node, k, new Array(D).fill(v)).every((e) => e === v);
  if (D < 1 || !unit('kernel_shape', 1) || !unit('strides', 1) || !unit('dilations', 1) || !attrInts(node, 'pads', []).every((p) => p === 0)) return null;
  if (!['NOTSET', 'VALID'].includes(attrString(node, 'auto_pad', 'NOTSET'))) return null;
  const scaled = (b: GraphBuilder, v: string, m: WeightMod) => (m.fn(1) === 1 ? v : b.op('Mul', [v, b.scalar(m.fn(1))]));
  return {
    live: [0],
    hasBias: false,
    forward: (b, [xv], m) => scaled(b, xv, m),
    transposed: (b, g, m) => [scaled(b, g, m)],
  };
}

export function lowerLinear(ctx: NodeContext, store: WeightStore): Lowering | null {
  if (ctx.node.domain !== '') return null;
  switch (ctx.node.opType) {
    case 'Conv': return lowerConv(ctx, store);
    case 'Gemm': return lowerGemm(ctx, store);
    case 'MatMul': return lowerMatMul(ctx, store);
    case 'Add': case 'Sum': case 'Sub': return lowerSum(ctx);
    case 'GlobalAveragePool': return lowerGlobalAveragePool(ctx);
    case 'AveragePool': return lowerUnitAveragePool(ctx);
    default: return null;
  }
}

/** MaxPool's gradient: the winner of each window (the first maximum, as onnxruntime's Indices and the
 * reference both pick) receives the output's relevance, added up where windows overlap. */
export function lowerMaxPoolRoute(b: GraphBuilder, ctx: NodeContext, x: string, R: string): string | null {
  const { node } = ctx;
  if (node.opType !== 'MaxPool' || node.domain !== '' || (node.outputs.length > 1 && node.outputs[1])) return null;
  if (attrInt(node, 'storage_order', 0) !== 0) return null;
  const attrs: Record<string, number | string | number[]> = {};
  for (const k of ['auto_pad', 'ceil_mode', 'dilations', 'kernel_shape', 'pads', 'strides']) {
    if (node.attrs[k] !== undefined) attrs[k] = node.attrs[k] as number | string | number[];
  }
  const [, idx] = b.node('MaxPool', [x], attrs, 2);
  const flat = b.ints([-1]);
  const zeros = b.op('ConstantOfShape', [b.op('Shape', [b.op('Reshape', [x, flat])])]);
  const r = b.op('ScatterElements', [zeros, b.op('Reshape', [idx, flat]), b.op('Reshape', [R, flat])], { axis: 0, reduction: 'add' });
  return b.op('Reshape', [r, b.op('Shape', [x])]);
}
