/** A final Softmax/LogSoftmax is stripped (the logits are explained); a residual Add of two live tensors
 * becomes an explicit Sum node. */
import { Graph } from '../ir/graph';
import { inferDtypes } from '../ops/dtypes';
import { Canonized, pruneConstants, removeNode, replaceNode, replaceUses } from './rewrite';

export function stripSoftmax(graph: Graph): Canonized {
  const spec = graph.toSpec();
  const actions: string[] = [];
  for (const node of graph.nodes) {
    if (node.opType !== 'Softmax' && node.opType !== 'LogSoftmax') continue;
    if (!graph.isOutput(node.outputs[0]) || graph.consumers(node.outputs[0]).length) continue;
    if (graph.isOutput(node.inputs[0])) continue;
    removeNode(spec, node);
    replaceUses(spec, node.outputs[0], node.inputs[0]);
    actions.push(`stripped final ${node.opType} '${node.name}': explaining '${node.inputs[0]}'`);
  }
  pruneConstants(spec);
  return { graph: new Graph(spec), actions };
}

export function explicitSums(graph: Graph): Canonized {
  const spec = graph.toSpec();
  const actions: string[] = [];
  let dtypes: Map<string, string> | undefined;
  for (const node of graph.nodes) {
    if (node.opType !== 'Add' || node.inputs.length !== 2) continue;
    // residual sums carry relevance: float only (onnxruntime has no integer Sum kernel)
    dtypes ??= inferDtypes(graph);
    if (!['float32', 'float64', 'float16'].includes(dtypes.get(node.outputs[0]) ?? 'float32')) continue;
    if (node.inputs.some((i) => !i || graph.isConstant(i))) continue;
    if (node.inputs.some((i) => graph.producer(i) && ['Shape', 'Size', 'Gather', 'Constant'].includes(graph.producer(i)!.opType))) continue;
    replaceNode(spec, node, { ...node, opType: 'Sum', attrs: {}, attrTypes: {} });
    actions.push(`made residual Add '${node.name}' an explicit Sum`);
  }
  pruneConstants(spec);
  return { graph: new Graph(spec), actions };
}
