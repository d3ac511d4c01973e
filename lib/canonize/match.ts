/** Pattern helpers for the canonizers that fuse exported subgraphs (layer norms, GELU): the producer of a
 * value with a given op, scalar constants, the other operand of a binary node. */
import { Graph, Node } from '../ir/graph';
import { toNumbers } from '../tensor';

/** The node producing `value` if it is of op `op` (default domain). */
export function producerOf(graph: Graph, value: string, op: string): Node | undefined {
  const p = graph.producer(value);
  return p && p.opType === op && p.domain === '' ? p : undefined;
}

/** The value of a float constant holding one number (any shape of size 1), or null. */
export function scalarOf(graph: Graph, value: string | undefined): number | null {
  if (!value || !graph.isConstant(value)) return null;
  const c = graph.constant(value)!;
  if ((c.dtype !== 'float32' && c.dtype !== 'float64' && c.dtype !== 'float16') || c.data.length !== 1) return null;
  return toNumbers(c)[0];
}

export function near(a: number | null, b: number, tol = 1e-4): boolean {
  return a !== null && Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
}

/** For a binary node with `value` as one input: the other input (null when `value` is not an input). */
export function otherInput(node: Node, value: string): string | null {
  if (node.inputs.length !== 2) return null;
  if (node.inputs[0] === value) return node.inputs[1];
  if (node.inputs[1] === value) return node.inputs[0];
  return null;
}

/** The only consumer of `value` (not a graph output), if it has op `op`. */
export function onlyConsumer(graph: Graph, value: string, op?: string): Node | undefined {
  const c = graph.consumers(value);
  if (c.length !== 1 || graph.isOutput(value)) return undefined;
  return !op || (c[0].opType === op && c[0].domain === '') ? c[0] : undefined;
}

/** The axes a ReduceMean reduces over (attribute below opset 18, input from 18), null when not constant. */
export function reduceAxesOf(graph: Graph, node: Node): number[] | null {
  const a = node.attrs.axes;
  if (Array.isArray(a)) return a as number[];
  if (node.inputs[1]) return graph.isConstant(node.inputs[1]) ? toNumbers(graph.constant(node.inputs[1])!) : null;
  return null;
}

/** A ReduceMean over the last axis only, keeping it (what PyTorch exports for mean(-1, keepdim=True)). */
export function isLastAxisMean(graph: Graph, node: Node | undefined, rank?: number): boolean {
  if (!node || node.opType !== 'ReduceMean' || node.domain !== '') return false;
  const axes = reduceAxesOf(graph, node);
  if (!axes || axes.length !== 1) return false;
  const keep = (node.attrs.keepdims as number | undefined) ?? 1;
  return keep === 1 && (axes[0] === -1 || (rank !== undefined && axes[0] === rank - 1));
}
