/** Identity and inference-mode Dropout removed; an all-zero Pad removed; a zero Pad in front of an
 * AveragePool that counts padding merged into the pool's pads. */
import { Graph } from '../ir/graph';
import { toNumbers } from '../tensor';
import { Canonized, pruneConstants, removeNode, replaceNode, replaceUses, soleConsumer } from './rewrite';

export function removeIdentity(graph: Graph): Canonized {
  const spec = graph.toSpec();
  const actions: string[] = [];
  for (const original of graph.nodes) {
    if (original.opType !== 'Identity' && original.opType !== 'Dropout') continue;
    const node = spec.nodes.find((n) => n.name === original.name)!; // inputs may have been renamed by an earlier removal
    if (node.outputs.slice(1).some((o) => o && (graph.consumers(o).length || graph.isOutput(o)))) continue; // Dropout mask used
    if (node.opType === 'Dropout' && node.inputs[2] && !graph.isConstant(node.inputs[2])) continue; // training_mode live
    const out = node.outputs[0];
    const inp = node.inputs[0];
    if (spec.outputs.some((o) => o.name === out) && (spec.outputs.some((o) => o.name === inp) || graph.inputs.some((i) => i.name === inp))) continue;
    removeNode(spec, node);
    replaceUses(spec, out, inp);
    actions.push(`removed ${node.opType} '${node.name}'`);
  }
  pruneConstants(spec);
  return { graph: new Graph(spec), actions };
}

function padAmounts(graph: Graph, opset: number, node: { inputs: readonly string[]; attrs: Record<string, unknown> }): number[] | null {
  if (opset >= 11) {
    if (!node.inputs[1] || !graph.isConstant(node.inputs[1])) return null;
    if (node.inputs[3]) return null; // axes given: rare, leave it
    return toNumbers(graph.constant(node.inputs[1])!);
  }
  return (node.attrs.pads as number[] | undefined) ?? (node.attrs.paddings as number[] | undefined) ?? null;
}

function padValue(graph: Graph, opset: number, node: { inputs: readonly string[]; attrs: Record<string, unknown> }): number | null {
  if (opset >= 11) {
    if (!node.inputs[2]) return 0;
    if (!graph.isConstant(node.inputs[2])) return null;
    return toNumbers(graph.constant(node.inputs[2])!)[0] ?? 0;
  }
  return (node.attrs.value as number | undefined) ?? 0;
}

export function simplifyPads(graph: Graph): Canonized {
  const spec = graph.toSpec();
  const actions: string[] = [];
  const opset = graph.opsets[''] ?? 13;
  for (const original of graph.nodes) {
    if (original.opType !== 'Pad') continue;
    const node = spec.nodes.find((n) => n.name === original.name)!;
    const pads = padAmounts(graph, opset, node);
    if (!pads) continue;
    const mode = (node.attrs.mode as string | undefined) ?? 'constant';
    if (pads.every((p) => p === 0)) {
      if (graph.isOutput(node.outputs[0]) && (graph.isOutput(node.inputs[0]) || graph.inputs.some((i) => i.name === node.inputs[0]))) continue;
      removeNode(spec, node);
      replaceUses(spec, node.outputs[0], node.inputs[0]);
      actions.push(`removed all-zero Pad '${node.name}'`);
      continue;
    }
    const pool = soleConsumer(graph, node.outputs[0]);
    if (!pool || pool.opType !== 'AveragePool' || mode !== 'constant' || padValue(graph, opset, node) !== 0) continue;
    const rank = pads.length / 2;
    if (pads[0] || pads[1] || pads[rank] || pads[rank + 1] || pads.some((p) => p < 0)) continue;
    if (pool.attrs.auto_pad && pool.attrs.auto_pad !== 'NOTSET') continue;
    if (pool.attrs.count_include_pad !== 1 && (pool.attrs.pads as number[] | undefined)?.some((p) => p)) continue;
    if (pool.attrs.count_include_pad !== 1) continue; // padding would be counted differently
    const D = rank - 2;
    const old = (pool.attrs.pads as number[] | undefined) ?? new Array(2 * D).fill(0);
    const merged = [...Array(2 * D).keys()].map((i) => old[i] + (i < D ? pads[2 + i] : pads[rank + 2 + (i - D)]));
    removeNode(spec, node);
    replaceNode(spec, pool, { ...pool, inputs: [node.inputs[0], ...pool.inputs.slice(1)], attrs: { ...pool.attrs, pads: merged } });
    actions.push(`merged Pad '${node.name}' into AveragePool '${pool.name}' (count_include_pad)`);
  }
  pruneConstants(spec);
  return { graph: new Graph(spec), actions };
}
