/** The transformer rules of ../../transformer.ts as ONNX nodes in the fused graph, the same math on graph
 * values: the bilinear rules on attention MatMuls (AttnLRP's even split, CP-LRP's value path), AttnLRP's
 * softmax rule with its bias term, and relevance per token at an embedding. The MatMul's and the Softmax's
 * own math comes from their op lowerings (`vjp`, `softmaxAxisIndex`). Browser-safe. */
import { Graph } from '../../../ir/graph';
import { OnnxBuilder, isLowered } from '../../../ops/lowering';
import { NodeContext, attrInt } from '../../../ops/op';
import { softmaxAxisIndex } from '../../../ops/softmax';
import { BuiltRule } from '../../../rules/kinds';
import { lowerVjp } from '../ort/lower';
import { fromSoftmax } from '../../transformer';

/** Why a step has no lowering here (the caller names the node). */
export class StepNotLowered extends Error {
  override name = 'StepNotLowered';
}

/** R / (z + ε), 0 where the denominator is 0 or not finite (plainQuotient). */
function plainQuotient(b: OnnxBuilder, R: string, z: string, eps: number): string {
  const d = eps === 0 ? z : b.op('Add', [z, b.scalar(eps)]);
  const bad = b.op('Or', [b.op('Equal', [d, b.scalar(0)]), b.op('Or', [b.op('IsInf', [d]), b.op('IsNaN', [d])])]);
  return b.op('Where', [bad, b.scalar(0), b.op('Div', [R, d])]);
}

function vjp(b: OnnxBuilder, ctx: NodeContext, g: string): (string | null)[] {
  const r = lowerVjp(b, ctx, g);
  if (!isLowered(r)) throw new StepNotLowered(r.none);
  return r;
}

/** `even`: each live operand x gets x ⊙ vjp(R / (2z + ε)); `value`: the operand that is not the attention
 * weights gets x ⊙ vjp(R / (z + ε)). */
export function bilinearStep(b: OnnxBuilder, ctx: NodeContext, graph: Graph, rule: Extract<BuiltRule, { kind: 'bilinear' }>, R: string): (string | null)[] {
  const { node } = ctx;
  const z = node.outputs[0];
  const times = (i: number, g: string | null) => (g && !ctx.isConstant(node.inputs[i]) ? b.op('Mul', [node.inputs[i], g]) : null);
  if (rule.split === 'even') {
    const g = vjp(b, ctx, plainQuotient(b, R, b.op('Mul', [z, b.scalar(2)]), rule.epsilon));
    return [times(0, g[0]), times(1, g[1])];
  }
  const weights = [0, 1].filter((i) => fromSoftmax(graph, node.inputs[i]));
  if (weights.length !== 1) throw new StepNotLowered(`rule valueOnly needs exactly one operand computed by a Softmax; ${weights.length ? 'both are' : 'neither is'}`);
  const g = vjp(b, ctx, plainQuotient(b, R, z, rule.epsilon));
  return [0, 1].map((i) => (i === weights[0] ? null : times(i, g[i])));
}

/** x ⊙ (R − s ⊙ Σ R) over the softmax's axis, x's −∞ entries read as 0. */
export function softmaxStep(b: OnnxBuilder, ctx: NodeContext, R: string): string {
  const [x, s] = [ctx.node.inputs[0], ctx.node.outputs[0]];
  const axis = softmaxAxisIndex(ctx);
  const x0 = b.op('Where', [b.op('IsInf', [x], { detect_positive: 0 }), b.scalar(0), x]);
  const sum = b.op('ReduceSum', [R, b.ints([axis])], { keepdims: 1 });
  return b.op('Mul', [x0, b.op('Sub', [R, b.op('Mul', [s, sum])])]);
}

/** Relevance per id: the sum of R (or R ⊙ the embedding) over the embedding's width. */
export function tokenStep(b: OnnxBuilder, ctx: NodeContext, R: string, dot: boolean): string {
  const { node } = ctx;
  if (attrInt(node, 'axis', 0) !== 0) throw new StepNotLowered('an embedding Gather along an axis other than 0');
  const idRank = ctx.value(node.inputs[1]).dims.length;
  const outRank = ctx.value(node.outputs[0]).dims.length;
  const r = dot ? b.op('Mul', [R, node.outputs[0]]) : R;
  const axes = Array.from({ length: outRank - idRank }, (_, i) => idRank + i);
  return axes.length ? b.op('ReduceSum', [r, b.ints(axes)], { keepdims: 0 }) : r;
}
