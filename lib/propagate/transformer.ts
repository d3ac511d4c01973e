/** The transformer rules that are not linear-kernel rules (RULES.md, Transformers; LXT's explicit rules):
 * a product of two live tensors (epsilon then an even split, or CP-LRP's value path only), the softmax rule,
 * and token embeddings (relevance per token). Each reads the op's math (vector-Jacobian products, the
 * softmax's axis) and the forward values; none mutates an input. */
import { Graph, Node } from '../ir/graph';
import { NodeContext, f32, fail } from '../ops/op';
import { forEachRow, softmaxAxis } from '../ops/softmax';
import { plainQuotient } from '../rules/stabilize';

/** Ops a softmax's output passes unchanged in value on its way to A·V (reshapes, dropout, casts …). */
const PASS_THROUGH = new Set(['Reshape', 'Transpose', 'Identity', 'Dropout', 'Cast', 'Squeeze', 'Unsqueeze', 'Flatten', 'Expand']);

/** Does `value` come from a Softmax (through value-preserving ops)? */
export function fromSoftmax(graph: Graph, value: string): boolean {
  let v = value;
  for (let k = 0; k < 16; k++) {
    const p = graph.producer(v);
    if (!p) return false;
    if (p.opType === 'Softmax') return true;
    if (!PASS_THROUGH.has(p.opType)) return false;
    v = p.inputs[0];
  }
  return false;
}

/** Does `value` come from an attention score (a MatMul of two live tensors, through reshapes and scalings)? */
function fromScores(graph: Graph, value: string): boolean {
  let v = value;
  for (let k = 0; k < 16; k++) {
    const p = graph.producer(v);
    if (!p) return false;
    if (p.opType === 'MatMul') return p.inputs.every((i) => !graph.isConstant(i));
    const scale = (p.opType === 'Mul' || p.opType === 'Div') && p.inputs.some((i) => graph.isConstant(i));
    if (!PASS_THROUGH.has(p.opType) && !scale && p.opType !== 'Add' && p.opType !== 'Sum') return false;
    v = p.inputs.find((i) => !graph.isConstant(i)) ?? '';
    if (!v) return false;
  }
  return false;
}

/** The operands of an Add/Sum feeding a Softmax that are masks (additive attention masks, constant or not,
 * inputs or built from the ids): every operand not computed from the attention scores. Relevance reaching
 * them is dropped (it shows as absorbed in the node's conservation row). */
export function maskOperands(graph: Graph, node: Node): number[] {
  if ((node.opType !== 'Add' && node.opType !== 'Sum') || node.domain !== '') return [];
  let v = node.outputs[0];
  for (let k = 0; k < 8; k++) {
    const c = graph.consumers(v);
    if (c.length !== 1) return [];
    if (c[0].opType === 'Softmax') break;
    if (!PASS_THROUGH.has(c[0].opType)) return [];
    v = c[0].outputs[0];
    if (k === 7) return [];
  }
  const scores = node.inputs.map((i) => fromScores(graph, i));
  if (!scores.some(Boolean)) return [];
  return node.inputs.flatMap((_, i) => (scores[i] ? [] : [i]));
}

const timesInput = (x: Float32Array, g: Float32Array | null) => (g ? g.map((v, i) => v * x[i]) : null);

/** `even` (AttnLRP): n = R / (2z + ε), each live operand x gets x ⊙ vjp(n). `value` (CP-LRP): the operand that
 * comes from a Softmax is a constant weight: n = R / (z + ε), the other operand gets x ⊙ vjp(n). */
export async function bilinearRelevance(ctx: NodeContext, graph: Graph, rule: { split: 'even' | 'value'; epsilon: number }, R: Float32Array, vjp: (g: Float32Array) => Promise<(Float32Array | null)[]>): Promise<(Float32Array | null)[]> {
  const { node } = ctx;
  const xs = [0, 1].map((i) => f32(ctx.value(node.inputs[i])));
  const z = f32(ctx.value(node.outputs[0]));
  if (rule.split === 'even') {
    const g = await vjp(plainQuotient(R, z.map((v) => 2 * v), rule.epsilon));
    return [timesInput(xs[0], g[0]), timesInput(xs[1], g[1])];
  }
  const weights = [0, 1].filter((i) => fromSoftmax(graph, node.inputs[i]));
  if (weights.length !== 1) {
    fail(node, `rule valueOnly (CP-LRP) needs exactly one operand computed by a Softmax (the attention weights); ${weights.length ? 'both are' : 'neither is'}`);
  }
  const g = await vjp(plainQuotient(R, z, rule.epsilon));
  return [0, 1].map((i) => (i === weights[0] ? null : timesInput(xs[i], g[i])));
}

/** AttnLRP's softmax rule (LXT's softmax_fn): R_in = x ⊙ (R − s ⊙ Σ R) over the softmax's axis, with x's −∞
 * entries (masked positions) read as 0. */
export function softmaxRelevance(ctx: NodeContext, R: Float32Array): Float32Array {
  const ax = softmaxAxis(ctx);
  const x = f32(ctx.value(ctx.node.inputs[0]));
  const s = f32(ctx.value(ctx.node.outputs[0]));
  const out = new Float32Array(x.length);
  forEachRow(ax, (b, st) => {
    let sum = 0;
    for (let k = 0; k < ax.len; k++) sum += R[b + k * st];
    for (let k = 0; k < ax.len; k++) {
      const i = b + k * st;
      const xi = x[i] === -Infinity ? 0 : x[i];
      out[i] = xi * (R[i] - s[i] * sum);
    }
  });
  return out;
}

/** Relevance per id of a token embedding: the sum over the embedding width of R (or of R ⊙ embedding, for
 * gradient × input). */
export function tokenRelevance(ctx: NodeContext, R: Float32Array, dot: boolean): Float32Array {
  const { node } = ctx;
  if ((node.attrs.axis as number | undefined ?? 0) !== 0) fail(node, 'an embedding Gather along an axis other than 0 is not supported');
  const ids = ctx.value(node.inputs[1]).data.length;
  const W = R.length / ids;
  const e = dot ? f32(ctx.value(node.outputs[0])) : null;
  const out = new Float32Array(ids);
  for (let t = 0; t < ids; t++) {
    let acc = 0;
    for (let w = 0; w < W; w++) acc += e ? R[t * W + w] * e[t * W + w] : R[t * W + w];
    out[t] = acc;
  }
  return out;
}
