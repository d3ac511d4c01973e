/** How many inputs and outputs the ONNX schemas allow for the default-domain ops onnx-lrp reads (its registry,
 * canonizers and the quantized twin), so that a node with the wrong count is refused by name at load time
 * instead of failing deep inside a canonizer or a rule. Lenient across opsets: a count any opset from 7 on
 * allows passes. Ops not listed are not checked. */
type Arity = readonly [minIn: number, maxIn: number, minOut: number, maxOut: number];

const ONE: Arity = [1, 1, 1, 1];
const TWO: Arity = [2, 2, 1, 1];
const ANY = Infinity;

const TABLE: Record<string, Arity | ((opset: number) => Arity)> = {
  Gemm: [2, 3, 1, 1], MatMul: TWO, Conv: [2, 3, 1, 1], ConvTranspose: [2, 3, 1, 1],
  AveragePool: ONE, GlobalAveragePool: ONE, GlobalMaxPool: ONE, MaxPool: [1, 1, 1, 2], LRN: ONE,
  ReduceMean: [1, 2, 1, 1], ReduceSum: [1, 2, 1, 1],
  Relu: ONE, LeakyRelu: ONE, Sigmoid: ONE, Tanh: ONE, Elu: ONE, Selu: ONE, Softplus: ONE, HardSigmoid: ONE,
  HardSwish: ONE, Gelu: ONE, Identity: ONE, Floor: ONE, Ceil: ONE, Round: ONE, Not: ONE, NonZero: ONE,
  ArgMax: ONE, ArgMin: ONE, Cast: ONE, Transpose: ONE, Flatten: ONE, Softmax: ONE, LogSoftmax: ONE,
  Shape: ONE, Size: ONE, ConstantOfShape: ONE,
  Clip: [1, 3, 1, 1], Dropout: [1, 3, 1, 2], PRelu: TWO, BatchNormalization: [5, 5, 1, 5],
  Add: TWO, Sub: TWO, Mul: TWO, Div: TWO, Equal: TWO, Less: TWO, Greater: TWO, LessOrEqual: TWO,
  GreaterOrEqual: TWO, And: TWO, Or: TWO, Gather: TWO, Expand: TWO, Tile: TWO,
  Sum: [1, ANY, 1, 1], Concat: [1, ANY, 1, 1], Split: [1, 2, 1, ANY],
  Reshape: (opset) => (opset < 5 ? ONE : TWO),
  Squeeze: [1, 2, 1, 1],
  Unsqueeze: (opset) => (opset < 13 ? ONE : TWO),
  Slice: (opset) => (opset < 10 ? ONE : [3, 5, 1, 1]),
  Pad: (opset) => (opset < 11 ? ONE : [2, 4, 1, 1]),
  Constant: [0, 0, 1, 1], Range: [3, 3, 1, 1], Where: [3, 3, 1, 1],
  QuantizeLinear: [2, 3, 1, 1], DequantizeLinear: [2, 3, 1, 1], QLinearConv: [8, 9, 1, 1], QLinearMatMul: [8, 8, 1, 1],
};

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
const range = (lo: number, hi: number) => (lo === hi ? `${lo}` : hi === ANY ? `at least ${lo}` : `${lo} to ${hi}`);

/** What is wrong with the node's input or output count, naming the node, op and opset (the loader throws it as a
 * ModelLoadError), or null when it fits. An omitted optional input is '' and counts; a required one may not be ''. */
export function arityError(node: { name: string; opType: string; domain: string; inputs: readonly string[]; outputs: readonly string[] }, opset: number): string | null {
  if (node.domain !== '') return null;
  const entry = TABLE[node.opType];
  if (!entry) return null;
  const [minIn, maxIn, minOut, maxOut] = typeof entry === 'function' ? entry(opset) : entry;
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
