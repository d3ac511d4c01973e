/** Layer norms: ONNX LayerNormalization (opset 17; onnxruntime runs it at every opset, the fuse-layernorm
 * canonizer makes one of PyTorch's decomposed export) and onnxruntime's SimplifiedLayerNormalization (RMSNorm,
 * made by fuse-rmsnorm). Category `layernorm`: a linear map with σ held constant (`linear`), and the true
 * vector-Jacobian product for the gradient methods (`vjp`). */
import { normKernel, normVjp, NormKind } from '../kernels/norm';
import { NodeContext, OpDef, attrFloat, attrInt, f32, fail } from './op';
import { LinearLowering, NotLowered, OnnxBuilder, notLowered } from './lowering';

interface NormLayer {
  kind: NormKind;
  x: Float32Array;
  D: number;
  eps: number;
  scale: Float32Array;
  bias: Float32Array | null;
}

function layerOf(ctx: NodeContext, kind: NormKind): NormLayer {
  const { node } = ctx;
  if (node.outputs.slice(1).some((o) => o)) fail(node, 'the mean and inverse-σ outputs are not supported');
  for (const i of [1, 2]) if (node.inputs[i] && !ctx.isConstant(node.inputs[i])) fail(node, `a live ${i === 1 ? 'scale' : 'bias'} is not supported`);
  const xT = ctx.value(node.inputs[0]);
  const rank = xT.dims.length;
  const axis = attrInt(node, 'axis', -1);
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail(node, `axis ${axis} is out of range for an input of rank ${rank}`);
  const D = xT.dims.slice(a).reduce((p, d) => p * d, 1);
  const scale = f32(ctx.value(node.inputs[1]));
  const bias = kind === 'layer' && node.inputs[2] ? f32(ctx.value(node.inputs[2])) : null;
  if (scale.length !== D || (bias && bias.length !== D)) fail(node, `scale/bias of ${scale.length}/${bias?.length ?? '-'} values for a normalised size of ${D} (broadcast scales are not supported)`);
  return { kind, x: f32(xT), D, eps: attrFloat(node, 'epsilon', 1e-5), scale, bias };
}

/** The normalised axes [a, rank) and size D from the input's dims (no data read: the fused engine has none). */
function normAxes(ctx: NodeContext): { axes: number[]; D: number } {
  const dims = ctx.value(ctx.node.inputs[0]).dims;
  const axis = attrInt(ctx.node, 'axis', -1);
  const a = axis < 0 ? axis + dims.length : axis;
  if (a < 0 || a >= dims.length) fail(ctx.node, `axis ${axis} is out of range for an input of rank ${dims.length}`);
  return { axes: dims.map((_, i) => i).slice(a), D: dims.slice(a).reduce((p, d) => p * d, 1) };
}

function onlyIdentity(key: string, what: string): void {
  if (key !== 'id') throw new Error(`${what}: the layer-norm map has no '${key}' weight modifier (use epsilon, zero, pass or gradient)`);
}

/** The norm as the linear map of kernels/norm.ts in ONNX nodes: σ from the node's own input (float32, where
 * the reference sums in float64), the mean subtracted from the (modified) input for a layer norm. */
function lowerNorm(kind: NormKind) {
  return (ctx: NodeContext): LinearLowering | NotLowered => {
    const { node } = ctx;
    if (node.outputs.slice(1).some((o) => o)) return notLowered('the mean and inverse-σ outputs are not supported');
    for (const i of [1, 2]) if (node.inputs[i] && !ctx.isConstant(node.inputs[i])) return notLowered('a live scale or bias');
    const { axes, D } = normAxes(ctx);
    const scaleT = ctx.value(node.inputs[1]);
    const biasT = kind === 'layer' && node.inputs[2] ? ctx.value(node.inputs[2]) : null;
    if (scaleT.data.length !== D || (biasT && biasT.data.length !== D)) return notLowered('broadcast scales');
    const tail = ctx.value(node.inputs[0]).dims.slice(axes[0]);
    const shaped = (b: OnnxBuilder, t: typeof scaleT, role: string) => b.constant(role, () => ({ dtype: 'float32', dims: tail, data: f32(t) }));
    const mean = (b: OnnxBuilder, v: string) => b.op('Mul', [b.op('ReduceSum', [v, b.ints(axes)], { keepdims: 1 }), b.scalar(1 / D)]);
    const centred = (b: OnnxBuilder, v: string) => (kind === 'layer' ? b.op('Sub', [v, mean(b, v)]) : v);
    const sigma = (b: OnnxBuilder, x: string) => {
      const c = centred(b, x);
      return b.op('Sqrt', [b.op('Add', [mean(b, b.op('Mul', [c, c])), b.scalar(attrFloat(node, 'epsilon', 1e-5))])]);
    };
    return {
      live: [0],
      hasBias: biasT !== null,
      forward(b, [x], w, bias, [orig]) {
        onlyIdentity(w.key, 'forward');
        if (bias) onlyIdentity(bias.key, 'bias');
        const y = b.op('Div', [b.op('Mul', [centred(b, x), shaped(b, scaleT, 'scale')]), sigma(b, orig)]);
        return biasT && bias ? b.op('Add', [y, shaped(b, biasT, 'bias')]) : y;
      },
      transposed(b, g, w, [orig]) {
        onlyIdentity(w.key, 'transposed');
        return [b.op('Div', [centred(b, b.op('Mul', [g, shaped(b, scaleT, 'scale')])), sigma(b, orig)])];
      },
    };
  };
}

function normOp(type: string, kind: NormKind, note: string): OpDef {
  return {
    type, category: 'layernorm', note, outputDtype: 'input', sign: 'any', lowering: { linear: lowerNorm(kind) },
    // x, scale, bias (LayerNormalization only); Y, and the optional statistics outputs
    arity: kind === 'layer' ? [2, 3, 1, 3] : [2, 2, 1, 2],
    linear(ctx) {
      const l = layerOf(ctx, kind);
      return { kernel: normKernel(kind, l.x, l.D, l.eps, l.scale, l.bias), live: [0] };
    },
    vjp(ctx, [g]) {
      const l = layerOf(ctx, kind);
      return [normVjp(kind, l.x, l.D, l.eps, l.scale, g!), ...ctx.node.inputs.slice(1).map(() => null)];
    },
  };
}

export const ops: OpDef[] = [
  normOp('LayerNormalization', 'layer', 'opset 17 (onnxruntime runs it at every opset); PyTorch\'s decomposed layer norm is fused into one (fuse-layernorm); σ held constant'),
  normOp('SimplifiedLayerNormalization', 'rms', 'onnxruntime\'s RMSNorm, made of the exported pattern by fuse-rmsnorm; σ held constant'),
];
