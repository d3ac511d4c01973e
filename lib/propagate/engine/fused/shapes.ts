/** Static shapes of a graph's values for concrete input shapes, for the ops the fused engine covers: the fused
 * graph is built per batch shape before anything runs, and the per-layer lowerings read the dims of their
 * inputs and outputs. An op not listed here has no shape, and the fused engine is not chosen. Browser-safe. */
import { Graph, Node } from '../../../ir/graph';
import { attrInt, attrInts, attrString } from '../../../ops/op';
import { outputLength, resolvePads } from '../../../kernels/window';
import { toNumbers } from '../../../tensor';

/** Element-wise ops with one live input whose output has its shape. */
const SAME_SHAPE = new Set([
  'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Softmax', 'LogSoftmax', 'Identity', 'Dropout', 'BatchNormalization',
  'Clip', 'Neg', 'Abs', 'Exp', 'Elu', 'Selu', 'Softplus', 'HardSigmoid', 'HardSwish', 'Erf', 'Sqrt', 'Gelu',
]);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Sum', 'Max', 'Min', 'Pow', 'PRelu']);

export class ShapeError extends Error {
  override name = 'ShapeError';
}

function broadcast(shapes: (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    s.forEach((d, i) => {
      const k = rank - s.length + i;
      if (out[k] === 1) out[k] = d;
      else if (d !== 1 && d !== out[k]) throw new ShapeError(`shapes [${shapes.map((v) => v.join(',')).join('] and [')}] do not broadcast`);
    });
  }
  return out;
}

function windowed(node: Node, x: readonly number[], kernel: number[], channels: number): number[] {
  const D = x.length - 2;
  const strides = attrInts(node, 'strides', new Array(D).fill(1));
  const dil = attrInts(node, 'dilations', new Array(D).fill(1));
  const inSp = x.slice(2);
  const pads = resolvePads(attrString(node, 'auto_pad', 'NOTSET'), inSp, kernel, strides, dil, attrInts(node, 'pads', []));
  const ceil = attrInt(node, 'ceil_mode', 0) === 1;
  return [x[0], channels, ...inSp.map((n, d) => outputLength(n, kernel[d], strides[d], dil[d], pads.begin[d], pads.end[d], ceil))];
}

function constInts(graph: Graph, name: string | undefined): number[] | null {
  const c = name ? graph.constant(name) : undefined;
  return c && c.dtype !== 'string' ? toNumbers(c) : null;
}

function reshape(graph: Graph, node: Node, x: readonly number[]): number[] {
  const target = constInts(graph, node.inputs[1]);
  if (!target) throw new ShapeError('the target shape is not a constant');
  const allowZero = attrInt(node, 'allowzero', 0) === 1;
  const out = target.map((d, i) => (d === 0 && !allowZero ? x[i] : d));
  const total = x.reduce((a, b) => a * b, 1);
  const known = out.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  return out.map((d) => (d === -1 ? total / known : d));
}

function axesOf(graph: Graph, node: Node, opset: number): number[] | null {
  return opset >= 13 ? constInts(graph, node.inputs[1]) : (node.attrs.axes as number[] | undefined) ?? null;
}

/** The output shapes of one node from its inputs' shapes. */
function nodeShapes(graph: Graph, node: Node, dims: (name: string) => readonly number[]): number[][] {
  const x = () => dims(node.inputs[0]);
  const opset = graph.opsets[node.domain] ?? graph.opsets[''] ?? 13;
  if (node.domain !== '' && node.domain !== 'ai.onnx') throw new ShapeError(`domain '${node.domain}'`);
  if (SAME_SHAPE.has(node.opType)) return [[...x()]];
  if (BROADCAST.has(node.opType)) return [broadcast(node.inputs.filter(Boolean).map(dims))];
  switch (node.opType) {
    case 'Conv': {
      const w = dims(node.inputs[1]);
      return [windowed(node, x(), attrInts(node, 'kernel_shape', w.slice(2)), w[0])];
    }
    case 'MaxPool': case 'AveragePool': {
      if (node.outputs.length > 1 && node.outputs[1]) throw new ShapeError('MaxPool with Indices');
      return [windowed(node, x(), attrInts(node, 'kernel_shape', []), x()[1])];
    }
    case 'GlobalAveragePool': case 'GlobalMaxPool': return [[x()[0], x()[1], ...x().slice(2).map(() => 1)]];
    case 'Gemm': {
      const a = x(), b = dims(node.inputs[1]);
      return [[attrInt(node, 'transA', 0) ? a[1] : a[0], attrInt(node, 'transB', 0) ? b[0] : b[1]]];
    }
    case 'MatMul': {
      const a = x(), b = dims(node.inputs[1]);
      if (a.length < 2 || b.length !== 2) throw new ShapeError('MatMul other than [..., K] × [K, M]');
      return [[...a.slice(0, -1), b[1]]];
    }
    case 'Flatten': {
      const a = x();
      const axis = attrInt(node, 'axis', 1) < 0 ? attrInt(node, 'axis', 1) + a.length : attrInt(node, 'axis', 1);
      const size = (s: readonly number[]) => s.reduce((p, v) => p * v, 1);
      return [[size(a.slice(0, axis)), size(a.slice(axis))]];
    }
    case 'Reshape': return [reshape(graph, node, x())];
    case 'Concat': {
      const parts = node.inputs.filter(Boolean).map(dims);
      const a = attrInt(node, 'axis', 0) < 0 ? attrInt(node, 'axis', 0) + parts[0].length : attrInt(node, 'axis', 0);
      return [parts[0].map((d, i) => (i === a ? parts.reduce((t, p) => t + p[i], 0) : d))];
    }
    case 'Transpose': {
      const a = x();
      const perm = attrInts(node, 'perm', a.map((_, i) => a.length - 1 - i));
      return [perm.map((p) => a[p])];
    }
    case 'Squeeze': case 'Unsqueeze': {
      const a = x();
      const axes = axesOf(graph, node, opset);
      if (node.opType === 'Squeeze') {
        const drop = (axes ?? a.flatMap((d, i) => (d === 1 ? [i] : []))).map((v) => (v < 0 ? v + a.length : v));
        return [a.filter((_, i) => !drop.includes(i))];
      }
      if (!axes) throw new ShapeError('Unsqueeze without constant axes');
      const rank = a.length + axes.length;
      const at = axes.map((v) => (v < 0 ? v + rank : v));
      const out: number[] = [];
      for (let i = 0, k = 0; i < rank; i++) out.push(at.includes(i) ? 1 : a[k++]);
      return [out];
    }
    default: throw new ShapeError('no static shape rule');
  }
}

/** Every value's dims (constants included) for the given input dims; throws ShapeError naming the node. */
export function inferShapes(graph: Graph, inputs: ReadonlyMap<string, readonly number[]>): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [k, v] of inputs) out.set(k, [...v]);
  const dims = (name: string): readonly number[] => {
    const d = out.get(name) ?? graph.constant(name)?.dims;
    if (!d) throw new ShapeError(`no shape for value '${name}'`);
    return d;
  };
  for (const node of graph.nodes) {
    let shapes: number[][];
    try {
      shapes = nodeShapes(graph, node, dims);
    } catch (e) {
      if (e instanceof ShapeError) throw new ShapeError(`node '${node.name}' (${node.opType}): ${e.message}`);
      throw e;
    }
    node.outputs.forEach((o, i) => { if (o && shapes[i]) out.set(o, shapes[i]); });
  }
  return out;
}
