/** A Mul (or Div) by a per-output-channel constant right after a Conv, ConvTranspose, Gemm or MatMul (its
 * sole consumer) is folded into the layer's weights and bias: Caffe's BatchNorm + Scale, which Caffe2 and
 * the ONNX model zoo export as BatchNormalization, Mul and Add (Inception v2, DenseNet-121). With the Add
 * then folded into the bias (fold-bias-add), the whole block is one linear layer, so the composite's rule
 * sees the layer's real weights and bias instead of passing relevance through two elementwise nodes. */
import { Graph, Node } from '../ir/graph';
import { WeightLayout } from '../ops/op';
import { findOp } from '../ops/registry';
import { toNumbers } from '../tensor';
import { Canonized, freshName, pruneConstants, removeNode, replaceNode, soleConsumer } from './rewrite';

/** The layer's weight layout, when it is a linear layer the canonizers may fold into. */
export function layoutOf(layer: Node): WeightLayout | undefined {
  return findOp(layer.opType, layer.domain)?.weights;
}

/** The constant as one factor per output channel, or null if it varies along any other axis (or would
 * broadcast the layer's output up to a higher rank). */
function perChannel(layout: WeightLayout, dims: readonly number[], values: number[], M: number, outRank: number | undefined): number[] | null {
  if (values.length === 1) return dims.length <= (outRank ?? 1) ? new Array(M).fill(values[0]) : null;
  if (values.length !== M) return null;
  const nonOne = dims.map((d, i) => (d !== 1 ? i : -1)).filter((i) => i >= 0);
  if (nonOne.length !== 1) return null;
  const fromEnd = dims.length - nonOne[0];
  if (layout.channelAxis === 1) {
    if (outRank === undefined || dims.length > outRank || fromEnd !== outRank - 1) return null;
    return values;
  }
  return fromEnd === 1 && dims.length <= (outRank ?? 1) ? values : null;
}

function outputRank(graph: Graph, layer: Node, layout: WeightLayout): number | undefined {
  const x = graph.valueInfo.get(layer.outputs[0])?.dims ?? graph.inputs.find((i) => i.name === layer.inputs[0])?.dims;
  if (x) return x.length;
  const w = graph.constant(layer.inputs[1]);
  return w ? layout.outputRank(layer, w.dims.length) : undefined;
}

export function foldScale(graph: Graph): Canonized {
  const spec = graph.toSpec();
  const actions: string[] = [];
  const done = new Set<string>();
  for (const mul of graph.nodes) {
    if ((mul.opType !== 'Mul' && mul.opType !== 'Div') || mul.domain !== '' || mul.inputs.length !== 2) continue;
    const liveIdx = mul.inputs.findIndex((i) => !graph.isConstant(i));
    if (liveIdx < 0 || !graph.isConstant(mul.inputs[1 - liveIdx]) || (mul.opType === 'Div' && liveIdx !== 0)) continue;
    const layer = graph.producer(mul.inputs[liveIdx]);
    const layout = layer && layer.domain === '' ? layoutOf(layer) : undefined;
    if (!layer || !layout || done.has(layer.name)) continue;
    if (soleConsumer(graph, layer.outputs[0]) !== mul || !graph.isConstant(layer.inputs[1])) continue;
    if (layer.inputs[2] && !graph.isConstant(layer.inputs[2])) continue;
    if (!layout.foldable(layer, 'scale')) continue;
    const w = graph.constant(layer.inputs[1])!;
    const ch = layout.channels(layer, w);
    if (!ch) continue;
    const c = graph.constant(mul.inputs[1 - liveIdx])!;
    if (c.dtype !== 'float32' && c.dtype !== 'float64') continue;
    const raw = perChannel(layout, c.dims, toNumbers(c), ch.M, outputRank(graph, layer, layout));
    if (!raw) continue;
    const s = mul.opType === 'Div' ? raw.map((v) => 1 / v) : raw;
    if (s.some((v) => !Number.isFinite(v))) continue;
    const b0 = layer.inputs[2] ? toNumbers(graph.constant(layer.inputs[2])!) : null;
    if (b0 && b0.length !== 1 && b0.length !== ch.M) continue;
    const wv = toNumbers(w);
    const w2 = new Float32Array(wv.length);
    for (let i = 0; i < wv.length; i++) w2[i] = wv[i] * s[ch.of(i)];
    const inputs = [layer.inputs[0], freshName(spec, `${layer.inputs[1]}_scaled`)];
    spec.constants.set(inputs[1], { dtype: 'float32', dims: [...w.dims], data: w2 });
    if (b0) {
      const b = new Float32Array(ch.M);
      for (let m = 0; m < ch.M; m++) b[m] = (b0.length === 1 ? b0[0] : b0[m]) * s[m];
      inputs.push(freshName(spec, `${layer.name}_bias_scaled`));
      spec.constants.set(inputs[2], { dtype: 'float32', dims: [ch.M], data: b });
    }
    replaceNode(spec, layer, { ...layer, inputs, outputs: [mul.outputs[0]] });
    removeNode(spec, mul);
    done.add(layer.name);
    actions.push(`folded ${mul.opType} '${mul.name}' by a per-channel constant into ${layer.opType} '${layer.name}'`);
  }
  pruneConstants(spec);
  return { graph: new Graph(spec), actions };
}
