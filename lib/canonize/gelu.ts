/** GELU as exported becomes one activation node, so that relevance passes it whole (RULES.md, Transformers:
 * identity over the whole pattern) instead of being split between the factors of x · (1 + erf(x/√2)):
 * - the erf form (Div by √2 or Mul by 1/√2, Erf, Add 1, Mul by x, Mul by 0.5, in any order of the two Muls)
 *   → com.microsoft Gelu;
 * - the tanh approximation (x + 0.044715·x³ (Pow or x·x·x), Mul √(2/π), Tanh, Add 1, the same two Muls)
 *   → com.microsoft FastGelu;
 * at opset ≥ 20 both become ONNX's own Gelu (approximate 'none' or 'tanh'). SiLU is fused by fuse-activations. */
import { Graph, Node } from '../ir/graph';
import { Canonized, pruneConstants, removeNode, replaceNode } from './rewrite';
import { near, onlyConsumer, otherInput, producerOf, scalarOf } from './match';

const MS = 'com.microsoft';

/** The constant operand of a binary node, with the live one. */
function constOperand(graph: Graph, n: Node): { c: number; live: string } | null {
  if (n.inputs.length !== 2) return null;
  for (const k of [0, 1]) {
    const c = scalarOf(graph, n.inputs[k]);
    if (c !== null && !graph.isConstant(n.inputs[1 - k])) return { c, live: n.inputs[1 - k] };
  }
  return null;
}

/** x/√2 or x·(1/√2) at `value`: x. */
function overSqrt2(graph: Graph, value: string): { x: string; node: Node } | null {
  const p = graph.producer(value);
  if (!p || p.domain !== '') return null;
  if (p.opType === 'Div' && !graph.isConstant(p.inputs[0]) && near(scalarOf(graph, p.inputs[1]), Math.SQRT2)) return { x: p.inputs[0], node: p };
  const c = p.opType === 'Mul' ? constOperand(graph, p) : null;
  return c && near(c.c, Math.SQRT1_2) ? { x: c.live, node: p } : null;
}

/** x + 0.044715·x³, times √(2/π), at `value`: x. */
function tanhArgument(graph: Graph, value: string): { x: string; nodes: Node[] } | null {
  const scale = producerOf(graph, value, 'Mul');
  const sc = scale && constOperand(graph, scale);
  if (!scale || !sc || !near(sc.c, Math.sqrt(2 / Math.PI)) || onlyConsumer(graph, sc.live) !== scale) return null;
  const add = producerOf(graph, sc.live, 'Add');
  if (!add || add.inputs.length !== 2) return null;
  for (const k of [0, 1]) {
    const x = add.inputs[k];
    const cube = producerOf(graph, add.inputs[1 - k], 'Mul');
    const cc = cube && constOperand(graph, cube);
    if (!cube || !cc || !near(cc.c, 0.044715) || onlyConsumer(graph, add.inputs[1 - k]) !== add) continue;
    const pow = producerOf(graph, cc.live, 'Pow');
    if (!pow || pow.inputs[0] !== x || !near(scalarOf(graph, pow.inputs[1]), 3, 0) || onlyConsumer(graph, cc.live) !== cube) continue;
    return { x, nodes: [pow, cube, add, scale] };
  }
  return null;
}

/** 0.5 · x · u, starting from u's only consumer: the last node and the nodes. Forms: (x·u)·0.5,
 * x·(u·0.5), (x·0.5)·u. */
function halfProduct(graph: Graph, u: string, x: string): { last: Node; nodes: Node[] } | null {
  const m1 = onlyConsumer(graph, u, 'Mul');
  if (!m1) return null;
  const o = otherInput(m1, u);
  if (o === x) {
    const m2 = onlyConsumer(graph, m1.outputs[0], 'Mul');
    const c = m2 && constOperand(graph, m2);
    return m2 && c && near(c.c, 0.5) ? { last: m2, nodes: [m1, m2] } : null;
  }
  if (o !== null && near(scalarOf(graph, o), 0.5)) {
    const m2 = onlyConsumer(graph, m1.outputs[0], 'Mul');
    return m2 && otherInput(m2, m1.outputs[0]) === x ? { last: m2, nodes: [m1, m2] } : null;
  }
  const half = o ? producerOf(graph, o, 'Mul') : undefined;
  const hc = half && constOperand(graph, half);
  if (half && hc && hc.live === x && near(hc.c, 0.5) && onlyConsumer(graph, o!) === m1) return { last: m1, nodes: [half, m1] };
  return null;
}

/** The Add of 1 to `value` (u = 1 + t). */
function plusOne(graph: Graph, value: string): Node | null {
  const add = onlyConsumer(graph, value, 'Add');
  const c = add && constOperand(graph, add);
  return add && c && near(c.c, 1, 0) ? add : null;
}

export function fuseGelu(graph: Graph): Canonized {
  const spec = graph.toSpec();
  const actions: string[] = [];
  const opset = graph.opsets[''] ?? 13;
  for (const n of graph.nodes) {
    if (n.domain !== '' || (n.opType !== 'Erf' && n.opType !== 'Tanh')) continue;
    const erf = n.opType === 'Erf';
    const arg = erf ? overSqrt2(graph, n.inputs[0]) : tanhArgument(graph, n.inputs[0]);
    if (!arg || onlyConsumer(graph, n.inputs[0]) !== n) continue;
    const x = arg.x;
    const inner = 'node' in arg ? [arg.node] : arg.nodes;
    const add = plusOne(graph, n.outputs[0]);
    const tail = add && halfProduct(graph, add.outputs[0], x);
    if (!add || !tail) continue;
    for (const m of [...inner, n, add, ...tail.nodes]) if (m !== tail.last) removeNode(spec, m);
    const next: Node = opset >= 20
      ? { name: tail.last.name, opType: 'Gelu', domain: '', inputs: [x], outputs: [tail.last.outputs[0]], attrs: erf ? {} : { approximate: 'tanh' }, attrTypes: erf ? {} : { approximate: 3 } }
      : { name: tail.last.name, opType: erf ? 'Gelu' : 'FastGelu', domain: MS, inputs: [x], outputs: [tail.last.outputs[0]], attrs: {}, attrTypes: {} };
    replaceNode(spec, tail.last, next);
    if (next.domain === MS) spec.opsets[MS] ??= 1;
    actions.push(`fused the ${erf ? 'erf' : 'tanh-approximated'} GELU ending at Mul '${tail.last.name}' (${inner.length + 2 + tail.nodes.length} nodes) into one ${next.domain ? `${next.domain} ` : ''}${next.opType} activation`);
  }
  if (!actions.length) return { graph, actions };
  pruneConstants(spec);
  return { graph: new Graph(spec), actions };
}
