/** Folds the shape subgraphs PyTorch exports for `x.view(x.size(0), -1)` and similar:
 * Shape(x) → Gather(i) → Unsqueeze → Concat(…, constants) → Reshape(x, ·). Each element of the target shape
 * is tracked symbolically (a constant, or "dimension i of value v"); where every element is a constant or
 * the Reshape's own input dimension at the same position, the target becomes a constant with 0 ("copy this
 * dimension") there, which stays valid for any batch size. The dead shape nodes are then dropped. */
import { Graph, Node } from '../ir/graph';
import { toNumbers } from '../tensor';
import { Canonized, pruneConstants, removeNode, replaceNode, freshName } from './rewrite';

type Elem = number | { value: string; axis: number };
type Sym = { scalar: boolean; elems: Elem[] } | { shapeOf: string };

function evaluate(graph: Graph, name: string, memo: Map<string, Sym | null>, depth = 0): Sym | null {
  if (memo.has(name)) return memo.get(name)!;
  let r: Sym | null = null;
  const c = graph.constant(name);
  if (c && c.dtype !== 'string' && c.dims.length <= 1) {
    r = { scalar: c.dims.length === 0, elems: toNumbers(c) };
  } else {
    const n = graph.producer(name);
    if (n && depth < 32) r = evalNode(graph, n, memo, depth);
  }
  memo.set(name, r);
  return r;
}

function evalNode(graph: Graph, n: Node, memo: Map<string, Sym | null>, depth: number): Sym | null {
  const opset = graph.opsets[''] ?? 13;
  const arg = (i: number) => (n.inputs[i] ? evaluate(graph, n.inputs[i], memo, depth + 1) : null);
  switch (n.opType) {
    case 'Shape': {
      if (n.attrs.start !== undefined || n.attrs.end !== undefined) return null;
      return { shapeOf: n.inputs[0] };
    }
    case 'Gather': {
      const data = arg(0);
      const idx = arg(1);
      if (!data || !idx || 'shapeOf' in idx || (n.attrs.axis ?? 0) !== 0) return null;
      const pick = (i: number): Elem | null => {
        if ('shapeOf' in data) return i >= 0 ? { value: data.shapeOf, axis: i } : null;
        const k = i < 0 ? i + data.elems.length : i;
        return data.elems[k] ?? null;
      };
      const elems = idx.elems.map((e) => (typeof e === 'number' ? pick(e) : null));
      if (elems.some((e) => e === null)) return null;
      return { scalar: idx.scalar, elems: elems as Elem[] };
    }
    case 'Unsqueeze': {
      const x = arg(0);
      const axes = opset >= 13 ? arg(1) : { scalar: false, elems: (n.attrs.axes as number[]) ?? [] };
      if (!x || 'shapeOf' in x || !x.scalar || !axes || 'shapeOf' in axes || axes.elems.length !== 1 || axes.elems[0] !== 0) return null;
      return { scalar: false, elems: x.elems };
    }
    case 'Concat': {
      const parts = n.inputs.map((_, i) => arg(i));
      if (parts.some((p) => !p || 'shapeOf' in p || p.scalar)) return null;
      return { scalar: false, elems: parts.flatMap((p) => (p as { elems: Elem[] }).elems) };
    }
    case 'Cast': case 'Identity': return arg(0);
    default: return null;
  }
}

export function foldShapeSubgraphs(graph: Graph): Canonized {
  const spec = graph.toSpec();
  const actions: string[] = [];
  const memo = new Map<string, Sym | null>();
  let changed = false;
  for (const n of graph.nodes) {
    if (n.opType !== 'Reshape' || !n.inputs[1] || graph.isConstant(n.inputs[1]) || n.attrs.allowzero === 1) continue;
    const s = evaluate(graph, n.inputs[1], memo);
    if (!s || 'shapeOf' in s) continue;
    const target: number[] = [];
    let ok = true;
    s.elems.forEach((e, pos) => {
      if (typeof e === 'number') target.push(e);
      else if (e.value === n.inputs[0] && e.axis === pos) target.push(0);
      else ok = false;
    });
    if (!ok) continue;
    const name = freshName(spec, `${n.name}_shape`);
    spec.constants.set(name, { dtype: 'int64', dims: [target.length], data: BigInt64Array.from(target.map(BigInt)) });
    replaceNode(spec, n, { ...n, inputs: [n.inputs[0], name] });
    actions.push(`folded the shape subgraph of Reshape '${n.name}' into the constant [${target.join(', ')}]`);
    changed = true;
  }
  if (!changed) return { graph, actions };
  // drop nodes whose outputs nobody reads any more (the dead shape computation)
  let alive = spec.nodes;
  for (;;) {
    const used = new Set([...alive.flatMap((m) => m.inputs), ...spec.outputs.map((o) => o.name)]);
    const next = alive.filter((m) => m.outputs.some((o) => o && used.has(o)));
    if (next.length === alive.length) break;
    alive = next;
  }
  for (const m of spec.nodes) if (!alive.includes(m)) removeNode(spec, m);
  pruneConstants(spec);
  return { graph: new Graph(spec), actions };
}
