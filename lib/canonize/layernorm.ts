/** PyTorch's layer norm below opset 17 (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, then Mul by the
 * weight and Add of the bias) becomes one LayerNormalization node (onnxruntime runs it at every opset), so that
 * the rules see the layer whole (RULES.md, Transformers: one linear map with σ held constant). */
import { Graph, GraphSpec, Node } from '../ir/graph';
import { Tensor } from '../tensor';
import { Canonized, freshName, pruneConstants, removeNode, replaceNode } from './rewrite';
import { isLastAxisMean, onlyConsumer, otherInput, producerOf, scalarOf } from './match';

interface Affine {
  last: Node;
  scale?: string;
  bias?: string;
  nodes: Node[];
}

/** The constant Mul (scale) and Add (bias) after the normalised value `n`, each optional. */
export function affineAfter(graph: Graph, n: string): Affine | null {
  const nodes: Node[] = [];
  let v = n;
  let scale: string | undefined;
  let bias: string | undefined;
  const mul = onlyConsumer(graph, v, 'Mul');
  const mulOther = mul && otherInput(mul, v);
  if (mul && mulOther && graph.isConstant(mulOther) && mulOther !== v) { scale = mulOther; nodes.push(mul); v = mul.outputs[0]; }
  const add = onlyConsumer(graph, v, 'Add');
  const addOther = add && otherInput(add, v);
  if (add && addOther && graph.isConstant(addOther) && addOther !== v) { bias = addOther; nodes.push(add); }
  return nodes.length ? { last: nodes[nodes.length - 1], scale, bias, nodes } : null;
}

/** One affine parameter as a 1-D float32 constant of width D (a scalar or [1,…,D] broadcast up). */
export function vectorConstant(spec: GraphSpec, graph: Graph, value: string | undefined, D: number, fill: number, base: string): string | null {
  let data: Float32Array;
  if (value) {
    const t = graph.constant(value)!;
    if (t.dtype !== 'float32') return null;
    const src = t.data as Float32Array;
    if (src.length === D) data = src;
    else if (src.length === 1) data = new Float32Array(D).fill(src[0]);
    else return null;
    if (src.length === D && t.dims.length === 1) return value;
  } else {
    data = new Float32Array(D).fill(fill);
  }
  const name = freshName(spec, base);
  spec.constants.set(name, { dtype: 'float32', dims: [D], data } as Tensor);
  return name;
}

export function widthOf(graph: Graph, ...values: (string | undefined)[]): number | null {
  for (const v of values) {
    const t = v ? graph.constant(v) : undefined;
    if (t && t.data.length > 1) return t.dims[t.dims.length - 1];
  }
  return null;
}

export function nodePrefix(name: string): string {
  const k = name.lastIndexOf('/');
  return k > 0 ? name.slice(0, k + 1) : `${name}/`;
}

/** Div(x − mean(x), sqrt(mean((x − mean(x))²) + ε)) at `div`: x, ε and the nodes. */
function normalized(graph: Graph, div: Node): { x: string; eps: number; nodes: Node[] } | null {
  const [d, s] = div.inputs;
  const sub = producerOf(graph, d, 'Sub');
  const sqrt = producerOf(graph, s, 'Sqrt');
  if (!sub || !sqrt || onlyConsumer(graph, s) !== div) return null;
  const [x, m] = sub.inputs;
  const mean = producerOf(graph, m, 'ReduceMean');
  if (!mean || mean.inputs[0] !== x || !isLastAxisMean(graph, mean) || onlyConsumer(graph, m) !== sub) return null;
  const addEps = producerOf(graph, sqrt.inputs[0], 'Add');
  if (!addEps || onlyConsumer(graph, sqrt.inputs[0]) !== sqrt) return null;
  const vOut = addEps.inputs.find((i) => !graph.isConstant(i));
  const eps = scalarOf(graph, addEps.inputs.find((i) => graph.isConstant(i)));
  const varMean = vOut && producerOf(graph, vOut, 'ReduceMean');
  if (!varMean || eps === null || !isLastAxisMean(graph, varMean) || onlyConsumer(graph, vOut!) !== addEps) return null;
  const pow = producerOf(graph, varMean.inputs[0], 'Pow');
  const sq = producerOf(graph, varMean.inputs[0], 'Mul');
  const squared = pow ? pow.inputs[0] === d && scalarOf(graph, pow.inputs[1]) === 2 : !!sq && sq.inputs[0] === d && sq.inputs[1] === d;
  const sqNode = pow ?? sq;
  if (!squared || !sqNode || onlyConsumer(graph, varMean.inputs[0]) !== varMean) return null;
  const dUsers = graph.consumers(d);
  if (graph.isOutput(d) || dUsers.some((c) => c !== sqNode && c !== div)) return null;
  return { x, eps, nodes: [mean, sub, sqNode, varMean, addEps, sqrt, div] };
}

export function fuseLayerNorm(graph: Graph): Canonized {
  const spec = graph.toSpec();
  const actions: string[] = [];
  for (const div of graph.nodes) {
    if (div.opType !== 'Div' || div.domain !== '') continue;
    const core = normalized(graph, div);
    if (!core) continue;
    const aff = affineAfter(graph, div.outputs[0]);
    const D = widthOf(graph, aff?.scale, aff?.bias);
    if (D === null) continue; // no affine part: the width is unknown here
    const base = nodePrefix(div.name);
    const scale = vectorConstant(spec, graph, aff?.scale, D, 1, `${base}ln_scale`);
    const bias = vectorConstant(spec, graph, aff?.bias, D, 0, `${base}ln_bias`);
    if (!scale || !bias) continue;
    const last = aff ? aff.last : div;
    for (const n of [...core.nodes, ...(aff?.nodes ?? [])]) if (n !== last) removeNode(spec, n);
    const name = freshNodeName(spec, `${base}LayerNormalization`);
    replaceNode(spec, last, {
      name, opType: 'LayerNormalization', domain: '', inputs: [core.x, scale, bias], outputs: [last.outputs[0]],
      attrs: { axis: -1, epsilon: core.eps }, attrTypes: { axis: 2, epsilon: 1 },
    });
    actions.push(`fused the layer norm ending at ${last.opType} '${last.name}' (${core.nodes.length + (aff?.nodes.length ?? 0)} nodes, ε = ${core.eps}) into one LayerNormalization '${name}'`);
  }
  if (!actions.length) return { graph, actions };
  pruneConstants(spec);
  return { graph: new Graph(spec), actions };
}

export function freshNodeName(spec: GraphSpec, base: string): string {
  const used = new Set(spec.nodes.map((n) => n.name));
  let name = base;
  for (let k = 1; used.has(name); k++) name = `${base}_${k}`;
  return name;
}
