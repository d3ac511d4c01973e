/** What an op file declares: how its nodes are classified for the rule plan, and the one piece of math
 * relevance needs from it (a linear kernel, an elementwise derivative, or a vector-Jacobian product for the
 * routing ops). Ops know nothing of rules. */
import { Graph, Node, AttrValue } from '../ir/graph';
import { LinearKernel } from '../kernels/kernel';
import { Tensor } from '../tensor';

/**
 * The categories composites assign rules by.
 * - conv, dense: parametric linear layers (Conv/ConvTranspose; Gemm/MatMul with a constant operand)
 * - avgpool, sum: linear layers with the op's own weights (norm by default)
 * - activation: elementwise, relevance passes (pass by default)
 * - affine: elementwise with constants (unmerged BatchNorm, Mul/Div/Add/Sub by a constant): pass by default
 * - gate: product of two live tensors (squeeze-excitation): uniform split by default
 * - maxpool, routing: relevance routed like the gradient
 * - shape: computes shapes/indices; carries no relevance
 * - softmax: a Softmax inside the graph (attention weights; a final one is stripped by a canonizer)
 * - layernorm: LayerNormalization / RMSNorm (a linear map while σ is held constant)
 * - attention: MatMul of two live tensors (QKᵀ, A·V)
 * - embedding: Gather of an initializer by live int64 ids (token embeddings)
 */
export type Category = 'conv' | 'dense' | 'avgpool' | 'sum' | 'activation' | 'affine' | 'gate' | 'maxpool' | 'routing' | 'shape' | 'softmax'
  | 'layernorm' | 'attention' | 'embedding';

export const LINEAR_CATEGORIES: readonly Category[] = ['conv', 'dense', 'avgpool', 'sum'];

export class UnsupportedError extends Error {
  override name = 'UnsupportedError';
}

/** Forward values a node sees while relevance is propagated: activations from the forward pass and constants. */
export interface NodeContext {
  readonly node: Node;
  readonly opset: number;
  value(name: string): Tensor;
  has(name: string): boolean;
  isConstant(name: string): boolean;
}

export interface LinearOp {
  kernel: LinearKernel;
  /** positions in node.inputs of the live inputs, concatenated in this order */
  live: number[];
}

export interface OpDef {
  readonly type: string;
  readonly domain?: string;
  readonly category: Category | ((node: Node, graph: Graph) => Category);
  /** when `category` depends on the node: the categories it can give, and when (the README's op table) */
  readonly categories?: readonly { category: Category; when: string }[];
  /** what else to know about the op (canonizers that rewrite it, limits), for the README's op table */
  readonly note?: string;
  /** linear categories */
  linear?(ctx: NodeContext): LinearOp;
  /** activation/affine: d output / d (live input 0), elementwise */
  derivative?(ctx: NodeContext, x: Float32Array, y: Float32Array): Float32Array;
  /** routing/maxpool/gate: vector-Jacobian product for each input (null where none) */
  vjp?(ctx: NodeContext, g: (Float32Array | null)[]): (Float32Array | null)[];
}

// ---- attribute helpers -----------------------------------------------------------------------------------

export function attrInt(node: Node, name: string, def: number): number {
  const v = node.attrs[name];
  if (v === undefined) return def;
  if (typeof v !== 'number') throw new UnsupportedError(`node '${node.name}' (${node.opType}): attribute '${name}' should be a number`);
  return v;
}

export function attrFloat(node: Node, name: string, def: number): number {
  return attrInt(node, name, def);
}

export function attrInts(node: Node, name: string, def: number[]): number[] {
  const v: AttrValue | undefined = node.attrs[name];
  if (v === undefined) return def;
  if (!Array.isArray(v)) throw new UnsupportedError(`node '${node.name}' (${node.opType}): attribute '${name}' should be a list of integers`);
  return v as number[];
}

export function attrString(node: Node, name: string, def: string): string {
  const v = node.attrs[name];
  if (v === undefined) return def;
  if (typeof v !== 'string') throw new UnsupportedError(`node '${node.name}' (${node.opType}): attribute '${name}' should be a string`);
  return v;
}

export function fail(node: Node, msg: string): never {
  throw new UnsupportedError(`node '${node.name}' (${node.opType}): ${msg}`);
}

/** Is input i a constant (initializer or folded)? Missing optional inputs count as constant. */
export function isConst(graph: Graph, node: Node, i: number): boolean {
  const name = node.inputs[i];
  return name === undefined || name === '' || graph.isConstant(name);
}

export function liveInputs(ctx: NodeContext): number[] {
  const out: number[] = [];
  ctx.node.inputs.forEach((n, i) => {
    if (n !== '' && !ctx.isConstant(n) && ctx.has(n) && isFloat(ctx.value(n))) out.push(i);
  });
  return out;
}

export function isFloat(t: Tensor): boolean {
  return t.dtype === 'float32' || t.dtype === 'float64' || t.dtype === 'float16';
}

export function f32(t: Tensor): Float32Array {
  if (t.dtype === 'float32') return t.data as Float32Array;
  return Float32Array.from(t.data as ArrayLike<number>);
}

/** Row-major strides. */
export function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) { s[i] = acc; acc *= dims[i]; }
  return s;
}

/** For each element of the broadcast output, the element of an input of shape `inDims` it reads. */
export function broadcastMap(inDims: readonly number[], outDims: readonly number[]): Int32Array {
  const n = outDims.reduce((a, b) => a * b, 1);
  const map = new Int32Array(n);
  const off = outDims.length - inDims.length;
  const inS = strides(inDims);
  const outS = strides(outDims);
  for (let o = 0; o < n; o++) {
    let rem = o;
    let i = 0;
    for (let d = 0; d < outDims.length; d++) {
      const c = Math.floor(rem / outS[d]);
      rem -= c * outS[d];
      const id = d - off;
      if (id >= 0 && inDims[id] !== 1) i += c * inS[id];
    }
    map[o] = i;
  }
  return map;
}
