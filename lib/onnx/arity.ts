/** Checks each default-domain node's input and output counts against its op's `arity` (lib/ops: the
 * registry and the quantized ops the canonizer replaces), so that a node with the wrong count is refused by
 * name at load time instead of failing deep inside a canonizer or a rule. Lenient across opsets: a count any
 * opset from 7 on allows passes. Ops onnx-lrp does not know are not checked. */
import { ANY } from '../ops/op';
import { opFacts } from '../ops/registry';

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
const range = (lo: number, hi: number) => (lo === hi ? `${lo}` : hi === ANY ? `at least ${lo}` : `${lo} to ${hi}`);

/** What is wrong with the node's input or output count, naming the node, op and opset (the loader throws it as a
 * ModelLoadError), or null when it fits. An omitted optional input is '' and counts; a required one may not be ''. */
export function arityError(node: { name: string; opType: string; domain: string; inputs: readonly string[]; outputs: readonly string[] }, opset: number): string | null {
  if (node.domain !== '') return null;
  const facts = opFacts(node.opType, '');
  if (!facts) return null;
  const [minIn, maxIn, minOut, maxOut] = facts.arity(opset);
  // trailing omitted inputs/outputs do not count
  let nIn = node.inputs.length;
  while (nIn > 0 && node.inputs[nIn - 1] === '') nIn--;
  let nOut = node.outputs.length;
  while (nOut > 0 && node.outputs[nOut - 1] === '') nOut--;
  const where = `node '${node.name}' (${node.opType}, opset ${opset})`;
  if (nIn < minIn || nIn > maxIn) return `${where} has ${count(nIn, 'input')}; the op takes ${range(minIn, maxIn)}`;
  if (nOut < minOut || nOut > maxOut) return `${where} has ${count(nOut, 'output')}; the op gives ${range(minOut, maxOut)}`;
  const missing = node.inputs.slice(0, minIn).findIndex((i) => i === '');
  if (missing >= 0) return `${where}: required input ${missing} is empty`;
  if (minOut > 0 && node.outputs[0] === '') return `${where}: its first output has no name`;
  return null;
}
