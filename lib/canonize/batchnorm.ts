/** BatchNormalization right after a Conv, ConvTranspose, Gemm or MatMul (constant weight) is merged into
 * that layer exactly (computed in float64; no epsilon is left behind):
 *   s = γ / √(var + ε),  w' = w·s (per output channel),  b' = (b − mean)·s + β. */
import { Graph, Node } from '../ir/graph';
import { toNumbers } from '../tensor';
import { Canonized, freshName, pruneConstants, removeNode, replaceNode, soleConsumer } from './rewrite';
import { isPerOutput } from './bias';
import { layoutOf } from './scale';

/** Is the value known to be 2-D (a Flatten, Gemm or a 2-D graph input)? */
function isTwoDimensional(graph: Graph, value: string): boolean {
  const p = graph.producer(value);
  if (p) return p.opType === 'Flatten' || p.opType === 'Gemm';
  const info = graph.inputs.find((i) => i.name === value) ?? graph.valueInfo.get(value);
  return info?.dims?.length === 2;
}

export function mergeBatchNorm(graph: Graph): Canonized {
  const spec = graph.toSpec();
  const actions: string[] = [];
  for (const bn of graph.nodes) {
    if (bn.opType !== 'BatchNormalization' || bn.outputs.slice(1).some((o) => o)) continue;
    if (!bn.inputs.slice(1, 5).every((i) => graph.isConstant(i))) continue;
    const layer = graph.producer(bn.inputs[0]);
    const layout = layer && layoutOf(layer);
    if (!layer || !layout) continue;
    if (soleConsumer(graph, layer.outputs[0]) !== bn) continue;
    if (!graph.isConstant(layer.inputs[1]) || (layer.inputs[2] && !graph.isConstant(layer.inputs[2]))) continue;
    if (!layout.foldable(layer, 'scale')) continue;
    if (layer.inputs[2] && !isPerOutput(graph.constant(layer.inputs[2])!.dims)) continue; // Gemm C varying by row
    const w = graph.constant(layer.inputs[1])!;
    // BatchNormalization normalises axis 1: the layer's channel axis when that is axis 1, or the last axis of
    // a 2-D output
    if (layout.channelAxis === -1 && layout.outputRank(layer, w.dims.length) !== 2 && !isTwoDimensional(graph, layer.inputs[0])) continue;
    const chs = layout.channels(layer, w);
    if (!chs) continue;
    const { M, of: ch } = chs;
    const [gamma, beta, mean, variance] = bn.inputs.slice(1, 5).map((i) => toNumbers(graph.constant(i)!));
    if (gamma.length !== M) continue;
    const eps = (bn.attrs.epsilon as number | undefined) ?? 1e-5;
    const s = gamma.map((g, c) => g / Math.sqrt(variance[c] + eps));
    const wv = toNumbers(w);
    const w2 = new Float32Array(wv.length);
    for (let i = 0; i < wv.length; i++) w2[i] = wv[i] * s[ch(i)];
    const b0 = layer.inputs[2] ? toNumbers(graph.constant(layer.inputs[2])!) : new Array(M).fill(0);
    const b2 = new Float32Array(M);
    for (let c = 0; c < M; c++) b2[c] = ((b0.length === 1 ? b0[0] : b0[c]) - mean[c]) * s[c] + beta[c];
    const wName = freshName(spec, `${layer.inputs[1]}_bn`);
    spec.constants.set(wName, { dtype: 'float32', dims: [...w.dims], data: w2 });
    const bName = freshName(spec, `${layer.name}_bias_bn`);
    spec.constants.set(bName, { dtype: 'float32', dims: [M], data: b2 });
    replaceNode(spec, layer, { ...layer, inputs: [layer.inputs[0], wName, bName], outputs: [bn.outputs[0]] });
    removeNode(spec, bn);
    actions.push(`merged BatchNormalization '${bn.name}' into ${layer.opType} '${layer.name}'`);
  }
  pruneConstants(spec);
  return { graph: new Graph(spec), actions };
}
