/** BatchNormalization right after a Conv, ConvTranspose, Gemm or MatMul (constant weight) is merged into
 * that layer exactly (computed in float64; no epsilon is left behind):
 *   s = γ / √(var + ε),  w' = w·s (per output channel),  b' = (b − mean)·s + β. */
import { Graph, Node } from '../ir/graph';
import { Tensor, toNumbers } from '../tensor';
import { Canonized, freshName, pruneConstants, removeNode, replaceNode, soleConsumer } from './rewrite';
import { isPerOutput } from './bias';

/** Index of the output channel each weight element scales with, or null if the layout is unsupported. */
function outChannelOf(layer: Node, w: Tensor): ((i: number) => number) | null {
  const d = w.dims;
  switch (layer.opType) {
    case 'Conv': {
      const inner = d.slice(1).reduce((a, b) => a * b, 1);
      return (i) => Math.floor(i / inner);
    }
    case 'ConvTranspose': {
      const g = (layer.attrs.group as number | undefined) ?? 1;
      const perIn = d[1];
      const inner = d.slice(2).reduce((a, b) => a * b, 1);
      const inPerGroup = d[0] / g;
      return (i) => {
        const k = Math.floor(i / inner);
        const j = k % perIn;
        const ci = Math.floor(k / perIn);
        return Math.floor(ci / inPerGroup) * perIn + j;
      };
    }
    case 'Gemm': {
      if (d.length !== 2) return null;
      const transB = layer.attrs.transB === 1;
      return transB ? (i) => Math.floor(i / d[1]) : (i) => i % d[1];
    }
    case 'MatMul': {
      if (d.length === 1) return () => 0;
      if (d.length !== 2) return null;
      return (i) => i % d[1];
    }
    default: return null;
  }
}

function outChannels(layer: Node, w: Tensor): number {
  const d = w.dims;
  switch (layer.opType) {
    case 'Conv': return d[0];
    case 'ConvTranspose': return d[1] * ((layer.attrs.group as number | undefined) ?? 1);
    case 'Gemm': return layer.attrs.transB === 1 ? d[0] : d[1];
    default: return d.length === 2 ? d[1] : 1;
  }
}

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
    if (!layer || !['Conv', 'ConvTranspose', 'Gemm', 'MatMul'].includes(layer.opType)) continue;
    if (soleConsumer(graph, layer.outputs[0]) !== bn) continue;
    if (!graph.isConstant(layer.inputs[1]) || (layer.inputs[2] && !graph.isConstant(layer.inputs[2]))) continue;
    if (layer.opType === 'Gemm' && ((layer.attrs.alpha ?? 1) !== 1 || (layer.attrs.beta ?? 1) !== 1)) continue;
    if (layer.inputs[2] && !isPerOutput(graph.constant(layer.inputs[2])!.dims)) continue; // Gemm C varying by row
    // BatchNormalization normalises axis 1: for a MatMul that is the weight's output axis only on 2-D inputs
    if (layer.opType === 'MatMul' && !isTwoDimensional(graph, layer.inputs[0])) continue;
    const w = graph.constant(layer.inputs[1])!;
    const ch = outChannelOf(layer, w);
    if (!ch) continue;
    const M = outChannels(layer, w);
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
