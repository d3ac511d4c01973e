/** Layer norms: ONNX LayerNormalization (opset 17; onnxruntime runs it at every opset, the fuse-layernorm
 * canonizer makes one of PyTorch's decomposed export) and onnxruntime's SimplifiedLayerNormalization (RMSNorm,
 * made by fuse-rmsnorm). Category `layernorm`: a linear map with σ held constant (`linear`), and the true
 * vector-Jacobian product for the gradient methods (`vjp`). */
import { normKernel, normVjp, NormKind } from '../kernels/norm';
import { NodeContext, OpDef, attrFloat, attrInt, f32, fail } from './op';
import { notLowered } from './lowering';

const REFERENCE = notLowered('σ held constant: the layer-norm kernel runs in TypeScript (no lowering yet)');

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

function normOp(type: string, kind: NormKind, note: string): OpDef {
  return {
    type, category: 'layernorm', note, outputDtype: 'input', sign: 'any', lowering: REFERENCE,
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
