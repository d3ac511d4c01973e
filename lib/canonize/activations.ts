/** Activations exported as a product of the input and a function of it become one activation node, so that
 * relevance passes them whole (RULES.md: SiLU/Swish and HardSwish are `pass`) instead of being split
 * between the two factors of a gate:
 * - SiLU/Swish `x · Sigmoid(x)` (PyTorch's SiLU: EfficientNet, RegNetY …) and `x · Sigmoid(a·x)` (QuickGELU)
 *   → com.microsoft QuickGelu(alpha) (onnxruntime runs it; ONNX's own Swish exists only from opset 24);
 * - HardSwish `x · HardSigmoid(x; 1/6, 1/2)` (PyTorch's hardswish below opset 14) → HardSwish at opset ≥ 14. */
import { Graph, Node } from '../ir/graph';
import { toNumbers } from '../tensor';
import { Canonized, pruneConstants, removeNode, replaceNode, soleConsumer } from './rewrite';

const MS = 'com.microsoft';

/** If `value` is Sigmoid(x) or Sigmoid(x·a) with a scalar constant a, read by `mul` alone: x, a and the nodes. */
function sigmoidOf(graph: Graph, value: string, mul: Node): { x: string; alpha: number; nodes: Node[] } | null {
  const sig = graph.producer(value);
  if (!sig || sig.opType !== 'Sigmoid' || sig.domain !== '' || soleConsumer(graph, value) !== mul) return null;
  const inner = graph.producer(sig.inputs[0]);
  if (inner && inner.opType === 'Mul' && inner.domain === '' && soleConsumer(graph, sig.inputs[0]) === sig) {
    const k = inner.inputs.findIndex((i) => graph.isConstant(i));
    if (k >= 0) {
      const c = graph.constant(inner.inputs[k])!;
      if ((c.dtype === 'float32' || c.dtype === 'float64') && c.data.length === 1) {
        return { x: inner.inputs[1 - k], alpha: toNumbers(c)[0], nodes: [inner, sig] };
      }
    }
  }
  return { x: sig.inputs[0], alpha: 1, nodes: [sig] };
}

function isHardSigmoidOfSixth(node: Node): boolean {
  const alpha = (node.attrs.alpha as number | undefined) ?? 0.2;
  const beta = (node.attrs.beta as number | undefined) ?? 0.5;
  return Math.abs(alpha - 1 / 6) < 1e-6 && Math.abs(beta - 0.5) < 1e-6;
}

export function fuseActivations(graph: Graph): Canonized {
  const spec = graph.toSpec();
  const actions: string[] = [];
  const removed = new Set<string>();
  const opset = graph.opsets[''] ?? 13;
  for (const mul of graph.nodes) {
    if (mul.opType !== 'Mul' || mul.domain !== '' || mul.inputs.length !== 2 || removed.has(mul.name)) continue;
    if (mul.inputs.some((i) => !i || graph.isConstant(i))) continue;
    for (const k of [1, 0]) {
      const other = mul.inputs[1 - k];
      const s = sigmoidOf(graph, mul.inputs[k], mul);
      if (s && s.x === other && s.nodes.every((n) => !removed.has(n.name))) {
        for (const n of s.nodes) { removeNode(spec, n); removed.add(n.name); }
        replaceNode(spec, mul, { name: mul.name, opType: 'QuickGelu', domain: MS, inputs: [other], outputs: [mul.outputs[0]], attrs: { alpha: s.alpha }, attrTypes: { alpha: 1 } });
        spec.opsets[MS] ??= 1;
        actions.push(`fused ${s.alpha === 1 ? 'x·Sigmoid(x)' : `x·Sigmoid(${s.alpha}·x)`} at Mul '${mul.name}' into one QuickGelu activation (SiLU/Swish)`);
        break;
      }
      const hs = graph.producer(mul.inputs[k]);
      if (opset >= 14 && hs && hs.opType === 'HardSigmoid' && hs.domain === '' && hs.inputs[0] === other && isHardSigmoidOfSixth(hs)
        && soleConsumer(graph, mul.inputs[k]) === mul && !removed.has(hs.name)) {
        removeNode(spec, hs);
        removed.add(hs.name);
        replaceNode(spec, mul, { name: mul.name, opType: 'HardSwish', domain: '', inputs: [other], outputs: [mul.outputs[0]], attrs: {}, attrTypes: {} });
        actions.push(`fused x·HardSigmoid(x) at Mul '${mul.name}' into one HardSwish activation`);
        break;
      }
    }
  }
  if (!actions.length) return { graph, actions };
  pruneConstants(spec);
  return { graph: new Graph(spec), actions };
}
