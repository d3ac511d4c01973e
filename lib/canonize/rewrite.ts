/** Small helpers for IR → IR rewrites on a mutable copy of a graph's spec. */
import { Graph, GraphSpec, Node } from '../ir/graph';

export interface Canonized {
  graph: Graph;
  /** what was rewritten, one line per action */
  actions: string[];
}

export type Canonizer = (graph: Graph) => Canonized;

/** Consumers of `from` (and the graph outputs) read `to` instead. */
export function replaceUses(spec: GraphSpec, from: string, to: string): void {
  spec.nodes = spec.nodes.map((n) => (n.inputs.includes(from) ? { ...n, inputs: n.inputs.map((i) => (i === from ? to : i)) } : n));
  spec.outputs = spec.outputs.map((o) => (o.name === from ? { ...o, name: to } : o));
}

export function removeNode(spec: GraphSpec, node: Node): void {
  spec.nodes = spec.nodes.filter((n) => n !== node && n.name !== node.name);
}

export function replaceNode(spec: GraphSpec, old: Node, next: Node): void {
  spec.nodes = spec.nodes.map((n) => (n.name === old.name ? next : n));
}

/** Drops initializers no node reads. */
export function pruneConstants(spec: GraphSpec): void {
  const used = new Set(spec.nodes.flatMap((n) => n.inputs));
  for (const o of spec.outputs) used.add(o.name);
  for (const k of [...spec.constants.keys()]) if (!used.has(k)) spec.constants.delete(k);
}

/** A fresh value name not used in the graph. */
export function freshName(spec: GraphSpec, base: string): string {
  const used = new Set([...spec.constants.keys(), ...spec.nodes.flatMap((n) => [...n.inputs, ...n.outputs]), ...spec.inputs.map((i) => i.name)]);
  let name = base;
  for (let k = 1; used.has(name); k++) name = `${base}_${k}`;
  return name;
}

export function soleConsumer(graph: Graph, value: string): Node | undefined {
  const c = graph.consumers(value);
  return c.length === 1 && !graph.isOutput(value) ? c[0] : undefined;
}
