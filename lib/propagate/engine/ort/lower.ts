/** Each node's onnxruntime lowering, as its op declares it (`OpDef.lowering`, lib/ops/lowering.ts), and the
 * store of modified weights the lowerings draw on. A node whose op has no lowering, or whose lowering declines
 * these values, says why: the executor records the reason (`OrtExecutor.referenceReasons`). */
import { WeightMod } from '../../../kernels/kernel';
import { LinearLowering, NotLowered, OnnxBuilder, WeightSource, notLowered } from '../../../ops/lowering';
import { NodeContext } from '../../../ops/op';
import { findOp } from '../../../ops/registry';

export type { LinearLowering as Lowering };

/** Modified copies of constant weights (w⁺, w⁻, w + γw⁺ …), made once per node and modifier. Weights fed at
 * every run are kept; those copied into a kernel graph (`keep` false) only until `endCompile`, since the
 * session holds its own copy. */
export class WeightStore implements WeightSource {
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

/** The linear lowering of a node, or why it has none. */
export function lowerLinear(ctx: NodeContext, store: WeightSource): LinearLowering | NotLowered {
  const low = findOp(ctx.node.opType, ctx.node.domain)?.lowering;
  if (!low) return notLowered('not an op of the registry');
  if ('linear' in low) return low.linear(ctx, store);
  return 'none' in low ? low : notLowered('its op lowers gradient routing, not a linear step');
}

/** The gradient routing of a node (MaxPool) as ONNX nodes reading x and the output relevance R, or why not. */
export function lowerRoute(b: OnnxBuilder, ctx: NodeContext, x: string, R: string): string | NotLowered {
  const low = findOp(ctx.node.opType, ctx.node.domain)?.lowering;
  if (!low) return notLowered('not an op of the registry');
  if ('route' in low) return low.route(b, ctx, x, R);
  return 'none' in low ? low : notLowered('its op lowers a linear step, not routing');
}

/** A node's vector-Jacobian product (routing, attention MatMuls, Softmax) as ONNX nodes reading the node's own
 * input and output values and `g` at its output, or why not. */
export function lowerVjp(b: OnnxBuilder, ctx: NodeContext, g: string): (string | null)[] | NotLowered {
  const low = findOp(ctx.node.opType, ctx.node.domain)?.lowering;
  if (!low) return notLowered('not an op of the registry');
  if ('vjp' in low && low.vjp) return low.vjp(b, ctx, ctx.node.inputs, ctx.node.outputs[0], g);
  return 'none' in low ? low : notLowered('its op has no vector-Jacobian product lowering');
}
