/** How an op's relevance step is lowered to onnxruntime, declared by the op (`OpDef.lowering`) against the
 * small interfaces below; the onnxruntime engine (lib/propagate/engine/ort) implements them and runs the
 * result. Ops know nothing of rules or of onnxruntime: a lowering only builds ONNX nodes. */
import { WeightMod } from '../kernels/kernel';
import { Tensor } from '../tensor';
import { NodeContext } from './context';

type Attr = number | string | number[] | Tensor;

/** Appends ONNX nodes (default domain, opset 17) to a small graph; every method returns a value name. */
export interface OnnxBuilder {
  op(opType: string, inputs: readonly string[], attrs?: Record<string, Attr>): string;
  /** a node with several outputs */
  node(opType: string, inputs: readonly string[], attrs: Record<string, Attr>, outputs: number): string[];
  /** an initializer; `key` shares one between calls that would make the same data */
  constant(key: string, make: () => Tensor): string;
  /** a weight fed at every run (no copy in the graph) */
  feed(key: string, t: Tensor): string;
  scalar(v: number): string;
  ints(v: readonly number[]): string;
}

/** Modified copies of an op's constant weights (w⁺, w⁻, w + γw⁺ …), cached by the engine per node and role.
 * `keep` false: the copy goes into the graph itself and is dropped once the graph is built. */
export interface WeightSource {
  get(node: string, role: string, base: Float32Array, m: WeightMod, scale?: number, keep?: boolean): Float32Array;
  /** another array made from the weights (a flipped copy …), under the same keep policy */
  derived(key: string, make: () => Float32Array, keep: boolean): Float32Array;
}

/** A linear node as ONNX nodes: `forward` is the op itself with modified constants, `transposed` its
 * vector-Jacobian product. */
export interface LinearLowering {
  /** positions in node.inputs of the live inputs, in the order the rule concatenates them */
  readonly live: number[];
  readonly hasBias: boolean;
  /** `orig`: the node's own (unmodified) live inputs, for maps that depend on them (a layer norm's σ) */
  forward(b: OnnxBuilder, xs: string[], w: WeightMod, bias: WeightMod | null, orig: readonly string[]): string;
  transposed(b: OnnxBuilder, g: string, w: WeightMod, xs: string[]): string[];
  /** let onnxruntime reorder this graph's layout (NCHWc: convolutions with a spatial kernel) */
  readonly layout?: boolean;
}

/** Why a node has no lowering on these values: its relevance runs on the reference kernels. */
export interface NotLowered {
  readonly none: string;
}

export const notLowered = (reason: string): NotLowered => ({ none: reason });

export function isLowered<T>(l: T | NotLowered): l is T {
  return typeof l !== 'object' || l === null || !('none' in l);
}

/** An op's vector-Jacobian product (or the rule-specific routing of relevance through it) as ONNX nodes, given
 * the names of the node's own input and output values in the graph being built and the value `g` at its
 * (first) output: the value for each input (null where none flows). */
export type VjpLowering = (b: OnnxBuilder, ctx: NodeContext, inputs: readonly string[], output: string, g: string) => (string | null)[] | NotLowered;

/** `g` (of dims `outDims`) summed down to `inDims` over the dims it was broadcast along (numpy broadcasting). */
export function sumTo(b: OnnxBuilder, g: string, inDims: readonly number[], outDims: readonly number[]): string {
  const off = outDims.length - inDims.length;
  const axes = outDims.flatMap((d, i) => (i < off || (inDims[i - off] === 1 && d !== 1) ? [i] : []));
  if (axes.length === 0) return g;
  const r = b.op('ReduceSum', [g, b.ints(axes)], { keepdims: 1 });
  return off === 0 ? r : b.op('Reshape', [r, b.ints(inDims)]);
}

/**
 * An op's onnxruntime lowering:
 * - `linear`: the node's LRP step (linear categories) as ONNX nodes, or why not for this node;
 * - `route`: its gradient routing (max pools), given the input x and the relevance R at the output;
 * - `vjp`: its vector-Jacobian product (routing ops, attention MatMuls, Softmax), for the fused engine's
 *   gradient routing and the transformer rules (lib/propagate/engine/fused/transformer.ts), and the per-layer
 *   engine's bilinear rules (`KernelExecutor.vjp`); beside `linear` for an op that is linear in some forms and
 *   bilinear in others (MatMul);
 * - `none`: the op has no lowering, and why (its relevance always runs in TypeScript).
 */
export type OpLowering =
  | { readonly linear: (ctx: NodeContext, weights: WeightSource) => LinearLowering | NotLowered; readonly vjp?: VjpLowering }
  | { readonly route: (b: OnnxBuilder, ctx: NodeContext, x: string, R: string) => string | NotLowered }
  | { readonly vjp: VjpLowering }
  | NotLowered;

/** Element-wise, shape and routing ops: relevance there is cheap (a copy, a product or a scatter); both
 * engines run it in TypeScript. */
export const NO_LOWERING_ELEMENTWISE = notLowered('element-wise, cheap in TypeScript');
export const NO_LOWERING_ROUTING = notLowered('moves values, cheap in TypeScript');
export const NO_LOWERING_SHAPE = notLowered('carries no relevance');

/** How the onnxruntime engines run an op, in a few words (the ops table). */
export function loweringSummary(l: OpLowering): string {
  if ('linear' in l) return l.vjp ? 'lowered (with two live operands: its vjp, for the bilinear rules)' : 'lowered';
  if ('route' in l) return 'lowered';
  if ('vjp' in l) return 'vjp lowered: the fused engine runs it in its graph (the per-layer engine in TypeScript, cheap)';
  return `not lowered: ${l.none}`;
}
