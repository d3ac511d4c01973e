/** RMSNorm as exported (Pow(x, 2) or x·x, ReduceMean, Add ε, Sqrt, then Div(x, ·) or x · Reciprocal/Div(1, ·),
 * then Mul by the weight) becomes one SimplifiedLayerNormalization node (onnxruntime's RMSNorm, run at every
 * opset), so that the rules see the layer whole. */
import { Graph, Node } from '../ir/graph';
import { Canonized, pruneConstants, removeNode, replaceNode } from './rewrite';
import { isLastAxisMean, near, onlyConsumer, otherInput, producerOf, scalarOf } from './match';
import { affineAfter, freshNodeName, nodePrefix, vectorConstant, widthOf } from './layernorm';

/** sqrt(mean(x²) + ε) at value `s`: x, ε and the nodes. */
function rms(graph: Graph, s: string): { x: string; eps: number; nodes: Node[] } | null {
  const sqrt = producerOf(graph, s, 'Sqrt');
  const addEps = sqrt && producerOf(graph, sqrt.inputs[0], 'Add');
  if (!sqrt || !addEps || onlyConsumer(graph, sqrt.inputs[0]) !== sqrt) return null;
  const m = addEps.inputs.find((i) => !graph.isConstant(i));
  const eps = scalarOf(graph, addEps.inputs.find((i) => graph.isConstant(i)));
  const mean = m && producerOf(graph, m, 'ReduceMean');
  if (!mean || eps === null || !isLastAxisMean(graph, mean) || onlyConsumer(graph, m!) !== addEps) return null;
  const sqv = mean.inputs[0];
  const pow = producerOf(graph, sqv, 'Pow');
  const mul = producerOf(graph, sqv, 'Mul');
  let x: string | null = null;
  if (pow && near(scalarOf(graph, pow.inputs[1]), 2, 0)) x = pow.inputs[0];
  else if (mul && mul.inputs[0] === mul.inputs[1]) x = mul.inputs[0];
  if (!x || onlyConsumer(graph, sqv) !== mean) return null;
  return { x, eps, nodes: [(pow ?? mul)!, mean, addEps, sqrt] };
}

/** x / rms(x) ending at `node`: x, ε, the nodes. */
function normalized(graph: Graph, node: Node): { x: string; eps: number; nodes: Node[] } | null {
  if (node.domain !== '') return null;
  if (node.opType === 'Div') {
    const r = rms(graph, node.inputs[1]);
    if (r && r.x === node.inputs[0] && onlyConsumer(graph, node.inputs[1]) === node) return { ...r, nodes: [...r.nodes, node] };
    return null;
  }
  if (node.opType !== 'Mul') return null;
  for (const k of [0, 1]) {
    const inv = node.inputs[k];
    const x = node.inputs[1 - k];
    const recip = producerOf(graph, inv, 'Reciprocal');
    const div = producerOf(graph, inv, 'Div');
    let s: string | null = null;
    if (recip) s = recip.inputs[0];
    else if (div && near(scalarOf(graph, div.inputs[0]), 1, 0)) s = div.inputs[1];
    const invNode = recip ?? div;
    if (!s || !invNode || onlyConsumer(graph, inv) !== node || onlyConsumer(graph, s) !== invNode) continue;
    const r = rms(graph, s);
    if (r && r.x === x) return { ...r, nodes: [...r.nodes, invNode, node] };
  }
  return null;
}

export function fuseRmsNorm(graph: Graph): Canonized {
  const spec = graph.toSpec();
  const actions: string[] = [];
  const used = new Set<string>();
  for (const node of graph.nodes) {
    if (used.has(node.name)) continue;
    const core = normalized(graph, node);
    if (!core || core.nodes.some((n) => used.has(n.name))) continue;
    const aff = affineAfter(graph, node.outputs[0]);
    if (aff?.bias) continue; // RMSNorm has no bias
    const D = widthOf(graph, aff?.scale);
    if (D === null) continue;
    const base = nodePrefix(node.name);
    const scale = vectorConstant(spec, graph, aff?.scale, D, 1, `${base}rms_scale`);
    if (!scale) continue;
    const last = aff ? aff.last : node;
    const all = [...core.nodes, ...(aff?.nodes ?? [])];
    for (const n of all) { used.add(n.name); if (n !== last) removeNode(spec, n); }
    const name = freshNodeName(spec, `${base}SimplifiedLayerNormalization`);
    replaceNode(spec, last, {
      name, opType: 'SimplifiedLayerNormalization', domain: '', inputs: [core.x, scale], outputs: [last.outputs[0]],
      attrs: { axis: -1, epsilon: core.eps }, attrTypes: { axis: 2, epsilon: 1 },
    });
    actions.push(`fused the RMSNorm ending at ${last.opType} '${last.name}' (${all.length} nodes, ε = ${core.eps}) into one SimplifiedLayerNormalization '${name}'`);
  }
  if (!actions.length) return { graph, actions };
  pruneConstants(spec);
  return { graph: new Graph(spec), actions };
}
