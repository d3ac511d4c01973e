/** An Add (or Sub) of a per-output-channel constant right after a Conv, ConvTranspose, Gemm or MatMul is
 * folded into the layer's bias: MatMul + Add becomes one linear node (written back to ONNX as the pair). */
import { Graph, Node } from '../ir/graph';
import { WeightLayout } from '../ops/op';
import { toNumbers } from '../tensor';
import { layoutOf } from './scale';
import { Canonized, freshName, pruneConstants, removeNode, replaceNode, soleConsumer } from './rewrite';

/** The constant as one value per output channel, or null if it varies along another axis. */
function perChannel(layout: WeightLayout, dims: readonly number[], values: number[], M: number, weightRank: number): number[] | null {
  if (values.length === 1) return new Array(M).fill(values[0]);
  if (values.length !== M) return null;
  const nonOne = dims.map((d, i) => (d !== 1 ? i : -1)).filter((i) => i >= 0);
  if (nonOne.length !== 1) return null;
  const fromEnd = dims.length - nonOne[0];
  // Conv output [N, M, ...spatial]: the channel axis is 1 (counted from the front of a full-rank tensor);
  // Gemm/MatMul output [..., M]: the last axis.
  if (layout.channelAxis === 1) {
    const spatial = weightRank - 2;
    if (fromEnd !== spatial + 1 || dims.length > spatial + 2) return null;
    return values;
  }
  return fromEnd === 1 ? values : null;
}

/** A bias that is one value per output channel (or a scalar), not a full matrix. */
export function isPerOutput(dims: readonly number[]): boolean {
  return dims.slice(0, -1).every((d) => d === 1);
}

export function foldBiasAdd(graph: Graph): Canonized {
  const spec = graph.toSpec();
  const actions: string[] = [];
  const done = new Set<string>();
  for (const add of graph.nodes) {
    if (add.opType !== 'Add' && add.opType !== 'Sub') continue;
    const liveIdx = add.inputs.findIndex((i) => !graph.isConstant(i));
    const constIdx = 1 - liveIdx;
    if (liveIdx < 0 || !graph.isConstant(add.inputs[constIdx]) || (add.opType === 'Sub' && liveIdx !== 0)) continue;
    const layer = graph.producer(add.inputs[liveIdx]);
    const layout = layer && layoutOf(layer);
    if (!layer || !layout || done.has(layer.name)) continue;
    if (soleConsumer(graph, layer.outputs[0]) !== add || !graph.isConstant(layer.inputs[1])) continue;
    if (layer.inputs[2] && !graph.isConstant(layer.inputs[2])) continue;
    const w = graph.constant(layer.inputs[1])!;
    const ch = layout.channels(layer, w);
    if (!ch || !layout.foldable(layer, 'bias')) continue;
    if (layer.inputs[2] && !isPerOutput(graph.constant(layer.inputs[2])!.dims)) continue; // a Gemm C that varies by row
    const M = ch.M;
    const c = graph.constant(add.inputs[constIdx])!;
    const add1 = perChannel(layout, c.dims, toNumbers(c), M, w.dims.length);
    if (!add1) continue;
    // the constant must not raise the output's rank
    const outRank = layout.outputRank(layer, w.dims.length);
    if (outRank !== undefined && c.dims.length > outRank) continue;
    const sign = add.opType === 'Sub' ? -1 : 1;
    const b0 = layer.inputs[2] ? toNumbers(graph.constant(layer.inputs[2])!) : new Array(M).fill(0);
    const b = new Float32Array(M);
    for (let m = 0; m < M; m++) b[m] = (b0.length === 1 ? b0[0] : b0[m]) + sign * add1[m];
    const bName = freshName(spec, `${layer.name}_bias`);
    spec.constants.set(bName, { dtype: 'float32', dims: [M], data: b });
    replaceNode(spec, layer, { ...layer, inputs: [layer.inputs[0], layer.inputs[1], bName], outputs: [add.outputs[0]] });
    removeNode(spec, add);
    done.add(layer.name);
    actions.push(`folded ${add.opType} '${add.name}' into the bias of ${layer.opType} '${layer.name}'`);
  }
  pruneConstants(spec);
  return { graph: new Graph(spec), actions };
}
