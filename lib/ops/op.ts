/** What an op file declares, everything onnx-lrp knows about an op in one `OpDef`: how its nodes are
 * classified for the rule plan, the one piece of math relevance needs from it (a linear kernel, an
 * elementwise derivative, or a vector-Jacobian product for the routing ops), its input/output counts, output
 * element type, sign behaviour, weight layout (for the canonizers that fold into it) and its onnxruntime
 * lowering (or why it has none). Ops know nothing of rules. */
import { Graph, Node, AttrValue } from '../ir/graph';
import { LinearKernel } from '../kernels/kernel';
import { DType, Tensor } from '../tensor';
import { NodeContext } from './context';
import { OpLowering } from './lowering';

export type { NodeContext };

/**
 * The categories composites assign rules by.
 * - conv, dense: parametric linear layers (Conv/ConvTranspose; Gemm/MatMul with a constant operand)
 * - avgpool, sum: linear layers with the op's own weights (norm by default)
 * - activation: elementwise, relevance passes (pass by default)
 * - affine: elementwise with constants (unmerged BatchNorm, Mul/Div/Add/Sub by a constant): pass by default
 * - gate: product of two live tensors (squeeze-excitation): uniform split by default
 * - maxpool, routing: relevance routed like the gradient
 * - shape: computes shapes/indices; carries no relevance
 * - softmax: only allowed as the final op (stripped by a canonizer)
 */
export type Category = 'conv' | 'dense' | 'avgpool' | 'sum' | 'activation' | 'affine' | 'gate' | 'maxpool' | 'routing' | 'shape' | 'softmax';

export const LINEAR_CATEGORIES: readonly Category[] = ['conv', 'dense', 'avgpool', 'sum'];

export class UnsupportedError extends Error {
  override name = 'UnsupportedError';
}

export interface LinearOp {
  kernel: LinearKernel;
  /** positions in node.inputs of the live inputs, concatenated in this order */
  live: number[];
}

/** [min inputs, max inputs, min outputs, max outputs] (Infinity: any number), lenient across opsets 7+. */
export type Arity = readonly [minIn: number, maxIn: number, minOut: number, maxOut: number];
export const ANY = Infinity;
export const ONE_IN_ONE_OUT: Arity = [1, 1, 1, 1];
export const TWO_IN_ONE_OUT: Arity = [2, 2, 1, 1];

/**
 * The sign of the output given the inputs' (the onnxruntime engine skips sign selects on values known ≥ 0,
 * the quantized twin drops an implied ReLU there):
 * - 'nonNegative': ≥ 0 whatever the input (Relu, Sigmoid …)
 * - 'keeps': ≥ 0 wherever its first input is (pools, ops that move values)
 * - 'keepsAll': ≥ 0 wherever all its live inputs are (Concat)
 * - 'any': nothing known
 */
export type SignBehaviour = 'nonNegative' | 'keeps' | 'keepsAll' | 'any';

/** The element type of output `k`: 'input' (that of its first non-empty input), a fixed type, or a function
 * of the node and its inputs' types (undefined: unknown). */
export type OutputDtype = 'input' | DType | ((node: Node, input: (i: number) => DType | undefined, k: number) => DType | undefined);

/** A linear layer's constant weight (input 1) and bias (input 2; MatMul's is onnx-lrp's own) as the canonizers
 * that fold a BatchNormalization, a per-channel scale or a bias into it see them (merge-batchnorm, fold-scale,
 * fold-bias-add). */
export interface WeightLayout {
  /** output channels and, for each weight element, the output channel it feeds (null: a layout left alone) */
  channels(node: Node, w: Tensor): { M: number; of: (i: number) => number } | null;
  /** the output's channel axis: 1 ([N, C, spatial…]) or −1 (the last) */
  readonly channelAxis: 1 | -1;
  /** the output's rank when the node and its weight's rank tell it */
  outputRank(node: Node, weightRank: number): number | undefined;
  /** may a per-channel factor (`scale`: weight and bias) or offset (`bias`) be folded in? */
  foldable(node: Node, what: 'scale' | 'bias'): boolean;
}

/**
 * One op, everything about it. Required: `type`, `category`, `arity`, `outputDtype`, `sign`, `lowering`;
 * the math the category needs (`linear` for conv/dense/avgpool/sum, `derivative` for activation/affine,
 * `vjp` for gate/maxpool/routing); `weights` for a linear layer with a constant weight. Family files share
 * the common values through small helpers (`elementwise`, `reshapeLike`, `shape` …).
 */
export interface OpDef {
  readonly type: string;
  /** '' (ai.onnx) unless given */
  readonly domain?: string;
  readonly category: Category | ((node: Node, graph: Graph) => Category);
  /** when `category` depends on the node: the categories it can give, and when (docs/ops.md) */
  readonly categories?: readonly { category: Category; when: string }[];
  /** what else to know about the op (canonizers that rewrite it, limits), for docs/ops.md */
  readonly note?: string;
  /** linear categories */
  linear?(ctx: NodeContext): LinearOp;
  /** activation/affine: d output / d (live input 0), elementwise */
  derivative?(ctx: NodeContext, x: Float32Array, y: Float32Array): Float32Array;
  /** routing/maxpool/gate: vector-Jacobian product for each input (null where none) */
  vjp?(ctx: NodeContext, g: (Float32Array | null)[]): (Float32Array | null)[];
  /** input/output counts (default domain: checked when the model is loaded); a function of the opset where
   * they changed */
  readonly arity: Arity | ((opset: number) => Arity);
  readonly outputDtype: OutputDtype;
  readonly sign: SignBehaviour | ((node: Node) => SignBehaviour);
  /** how the onnxruntime engine runs its relevance step, or `{ none: reason }` (lib/ops/lowering.ts) */
  readonly lowering: OpLowering;
  /** linear layers with a constant weight: its layout, for the canonizers that fold into it */
  readonly weights?: WeightLayout;
}

export function signOf(op: OpDef, node: Node): SignBehaviour {
  return typeof op.sign === 'function' ? op.sign(node) : op.sign;
}

export function arityOf(op: OpDef, opset: number): Arity {
  return typeof op.arity === 'function' ? op.arity(opset) : op.arity;
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
