/** Softmax and LogSoftmax. A final one is stripped by a canonizer (the logits are explained); a Softmax inside
 * the graph (attention weights) has category `softmax`: the AttnLRP rule and the gradient need its axis
 * (`softmaxAxis`) and its vector-Jacobian product. */
import { NodeContext, ONE_IN_ONE_OUT, OpDef, attrInt, f32, fail } from './op';
import { NotLowered, OnnxBuilder, notLowered } from './lowering';

/** The softmax's axis as an index into its input's dims. */
export function softmaxAxisIndex(ctx: NodeContext): number {
  const { node } = ctx;
  const rank = ctx.value(node.inputs[0]).dims.length;
  const raw = attrInt(node, 'axis', ctx.opset >= 13 ? -1 : 1);
  const axis = raw < 0 ? raw + rank : raw;
  if (axis < 0 || axis >= rank) fail(node, `axis ${raw} is out of range for an input of rank ${rank}`);
  // below opset 13 the input is flattened to 2-D at `axis`: one axis only when it is the last
  if (ctx.opset < 13 && axis !== rank - 1) fail(node, `a Softmax over the flattened axes ${axis}..${rank - 1} (opset ${ctx.opset}) is not supported inside the graph`);
  return axis;
}

/** The softmax's axis as (outer, len, inner) strides over its input: element (o, k, i) is at (o·len + k)·inner + i. */
export function softmaxAxis(ctx: NodeContext): { outer: number; len: number; inner: number } {
  const dims = ctx.value(ctx.node.inputs[0]).dims;
  const axis = softmaxAxisIndex(ctx);
  const prod = (d: readonly number[]) => d.reduce((p, v) => p * v, 1);
  return { outer: prod(dims.slice(0, axis)), len: dims[axis], inner: prod(dims.slice(axis + 1)) };
}

/** s ⊙ (g − Σ g ⊙ s) over the axis, s the node's output. */
function lowerSoftmaxVjp(b: OnnxBuilder, ctx: NodeContext, _inputs: readonly string[], s: string, g: string): (string | null)[] | NotLowered {
  const axis = softmaxAxisIndex(ctx);
  const dot = b.op('ReduceSum', [b.op('Mul', [g, s]), b.ints([axis])], { keepdims: 1 });
  return [b.op('Mul', [s, b.op('Sub', [g, dot])])];
}

/** For each softmax row (o, i): fn(offset of its first element, stride). */
export function forEachRow(ax: { outer: number; len: number; inner: number }, fn: (base: number, stride: number) => void): void {
  for (let o = 0; o < ax.outer; o++) for (let i = 0; i < ax.inner; i++) fn(o * ax.len * ax.inner + i, ax.inner);
}

export const ops: OpDef[] = [
  {
    type: 'Softmax', category: 'softmax', arity: ONE_IN_ONE_OUT, outputDtype: 'input', sign: 'nonNegative', lowering: { vjp: lowerSoftmaxVjp },
    note: 'as the final op: stripped (strip-softmax), the logits are explained; inside the graph: attention weights',
    vjp(ctx, [g]) {
      const ax = softmaxAxis(ctx);
      const s = f32(ctx.value(ctx.node.outputs[0]));
      const out = new Float32Array(s.length);
      forEachRow(ax, (b, st) => {
        let dot = 0;
        for (let k = 0; k < ax.len; k++) dot += g![b + k * st] * s[b + k * st];
        for (let k = 0; k < ax.len; k++) out[b + k * st] = s[b + k * st] * (g![b + k * st] - dot);
      });
      return [out];
    },
  },
  { type: 'LogSoftmax', category: 'softmax', arity: ONE_IN_ONE_OUT, outputDtype: 'input', sign: 'any', lowering: notLowered('stripped before relevance is propagated'), note: 'only as the final op (stripped, as Softmax)' },
];
