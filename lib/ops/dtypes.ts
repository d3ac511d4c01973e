/** Element types of every value, inferred forward from inputs and constants through each op's `outputDtype`
 * (enough to declare the outputs the forward pass exposes, and to tell relevance-carrying float values from
 * shapes and indices). An op onnx-lrp does not know gives its first input's type. */
import { Graph } from '../ir/graph';
import { DType } from '../tensor';
import { opFacts } from './registry';

export function inferDtypes(graph: Graph): Map<string, DType> {
  const t = new Map<string, DType>();
  for (const i of graph.inputs) t.set(i.name, i.dtype);
  for (const [k, c] of graph.constants) t.set(k, c.dtype);
  for (const n of graph.nodes) {
    const rule = opFacts(n.opType, n.domain)?.outputDtype ?? 'input';
    const input = (i: number) => (n.inputs[i] ? t.get(n.inputs[i]) : undefined);
    const first = () => t.get(n.inputs.find((i) => i) ?? '');
    n.outputs.forEach((o, k) => {
      if (!o) return;
      let d = rule === 'input' ? first() : typeof rule === 'function' ? rule(n, input, k) : rule;
      if (d === 'float16') d = 'float32';
      t.set(o, d ?? 'float32');
    });
  }
  return t;
}
