/** Static shapes of a graph's values for concrete input shapes, for the ops the fused engine covers: the fused
 * graph is built per batch shape before anything runs, and the per-layer lowerings read the dims of their
 * inputs and outputs. An op not listed here has no shape, and the fused engine is not chosen. Browser-safe. */
import { Graph, Node } from '../../../ir/graph';
import { attrInt, attrInts, attrString } from '../../../ops/op';
import { outputLength, resolvePads } from '../../../kernels/window';
import { toNumbers } from '../../../tensor';
import { Known, MAX_KNOWN, knownData } from './values';

/** Element-wise ops with one live input whose output has its shape. */
const SAME_SHAPE = new Set([
  'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Softmax', 'LogSoftmax', 'Identity', 'Dropout', 'BatchNormalization',
  'Clip', 'Neg', 'Abs', 'Exp', 'Elu', 'Selu', 'Softplus', 'HardSigmoid', 'HardSwish', 'Erf', 'Sqrt', 'Gelu',
  'Cast', 'Not', 'Trilu', 'QuickGelu', 'LayerNormalization', 'SimplifiedLayerNormalization',
]);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Sum', 'Max', 'Min', 'Pow', 'PRelu', 'Equal', 'Less', 'Greater',
  'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Where']);
/** ops of other domains with a shape rule here */
const DOMAIN_OPS = new Set(['com.microsoft:QuickGelu', 'com.microsoft:Gelu', 'com.microsoft:FastGelu']);
const REDUCE = new Set(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd']);

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


function reshape(known: Known, node: Node, x: readonly number[]): number[] {
  const target = known(node.inputs[1]);
  if (!target) throw new ShapeError('the target shape is not known');
  const allowZero = attrInt(node, 'allowzero', 0) === 1;
  const out = target.map((d, i) => (d === 0 && !allowZero ? x[i] : d));
  const total = x.reduce((a, b) => a * b, 1);
  const fixed = out.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  return out.map((d) => (d === -1 ? total / fixed : d));
}

function axesOf(known: Known, node: Node, opset: number, input = 13): number[] | null {
  return opset >= input ? (node.inputs[1] ? known(node.inputs[1]) : null) : (node.attrs.axes as number[] | undefined) ?? null;
}

/** numpy matmul: [..., N, K] × [..., K, M] with broadcast batch dims (a 1-D operand is not supported). */
function matmulDims(a: readonly number[], b: readonly number[]): number[] {
  if (a.length < 2 || b.length < 2) throw new ShapeError('MatMul of a 1-D operand');
  const batch = broadcast([a.slice(0, -2), b.slice(0, -2)]);
  return [...batch, a[a.length - 2], b[b.length - 1]];
}

function sliceDims(known: Known, node: Node, x: readonly number[]): number[] {
  const [starts, ends, axes, steps] = [1, 2, 3, 4].map((i) => (node.inputs[i] ? known(node.inputs[i]) : null));
  if (!starts || !ends || (node.inputs[3] && !axes) || (node.inputs[4] && !steps)) throw new ShapeError('Slice bounds that are not constants');
  const out = [...x];
  starts.forEach((s, k) => {
    const a = axes ? (axes[k] < 0 ? axes[k] + x.length : axes[k]) : k;
    const st = steps?.[k] ?? 1;
    const n = x[a];
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + n : v, lo), hi);
    const b = st > 0 ? clamp(s, 0, n) : clamp(s, -1, n - 1);
    const e = st > 0 ? clamp(ends[k], 0, n) : clamp(ends[k], -1, n - 1);
    out[a] = Math.max(0, Math.ceil((e - b) / st));
  });
  return out;
}

/** The output shapes of one node from its inputs' shapes. */
function nodeShapes(graph: Graph, node: Node, dims: (name: string) => readonly number[], known: Known): number[][] {
  const x = () => dims(node.inputs[0]);
  const opset = graph.opsets[''] ?? 13;
  if (node.domain !== '' && node.domain !== 'ai.onnx' && !DOMAIN_OPS.has(`${node.domain}:${node.opType}`)) throw new ShapeError(`domain '${node.domain}'`);
  if (SAME_SHAPE.has(node.opType)) return [[...x()]];
  if (REDUCE.has(node.opType)) {
    const a = x();
    const axes = (axesOf(known, node, opset, node.opType === 'ReduceSum' ? 13 : 18) ?? a.map((_, i) => i)).map((v) => (v < 0 ? v + a.length : v));
    const keep = attrInt(node, 'keepdims', 1) === 1;
    return [a.flatMap((d, i) => (!axes.includes(i) ? [d] : keep ? [1] : []))];
  }
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
      return [b.length === 2 && a.length >= 2 ? [...a.slice(0, -1), b[1]] : matmulDims(a, b)];
    }
    case 'Shape': {
      const r = x().length;
      const norm = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
      return [[Math.max(0, norm(attrInt(node, 'end', r)) - norm(attrInt(node, 'start', 0)))]];
    }
    case 'Gather': {
      const a = x();
      const axis = attrInt(node, 'axis', 0) < 0 ? attrInt(node, 'axis', 0) + a.length : attrInt(node, 'axis', 0);
      return [[...a.slice(0, axis), ...dims(node.inputs[1]), ...a.slice(axis + 1)]];
    }
    case 'Slice': {
      if (opset < 10) throw new ShapeError('Slice before opset 10');
      return [sliceDims(known, node, x())];
    }
    case 'ConstantOfShape': {
      const shape = known(node.inputs[0]);
      if (!shape) throw new ShapeError('a shape that is not known');
      return [shape];
    }
    case 'Expand': {
      const shape = known(node.inputs[1]);
      if (!shape) throw new ShapeError('a shape that is not known');
      return [broadcast([x(), shape])];
    }
    case 'Range': {
      const [start, limit, delta] = [0, 1, 2].map((i) => known(node.inputs[i])?.[0]);
      if (start === undefined || limit === undefined || delta === undefined) throw new ShapeError('bounds that are not known');
      return [[Math.max(0, Math.ceil((limit - start) / delta))]];
    }
    case 'Split': {
      const a = x();
      const axis = attrInt(node, 'axis', 0) < 0 ? attrInt(node, 'axis', 0) + a.length : attrInt(node, 'axis', 0);
      const split = (opset >= 13 ? (node.inputs[1] ? known(node.inputs[1]) : null) : (node.attrs.split as number[] | undefined)) ?? null;
      const n = node.outputs.length;
      const sizes = split ?? (a[axis] % n === 0 ? new Array<number>(n).fill(a[axis] / n) : null);
      if (!sizes) throw new ShapeError('an uneven split without sizes');
      return sizes.map((d) => a.map((v, i) => (i === axis ? d : v)));
    }
    case 'Flatten': {
      const a = x();
      const axis = attrInt(node, 'axis', 1) < 0 ? attrInt(node, 'axis', 1) + a.length : attrInt(node, 'axis', 1);
      const size = (s: readonly number[]) => s.reduce((p, v) => p * v, 1);
      return [[size(a.slice(0, axis)), size(a.slice(axis))]];
    }
    case 'Reshape': return [reshape(known, node, x())];
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
      const axes = axesOf(known, node, opset);
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
/** `data`, when given, receives the data of the small integer values the dims decide (./values.ts). */
export function inferShapes(graph: Graph, inputs: ReadonlyMap<string, readonly number[]>, data = new Map<string, number[]>()): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [k, v] of inputs) out.set(k, [...v]);
  const dims = (name: string): readonly number[] => {
    const d = out.get(name) ?? graph.constant(name)?.dims;
    if (!d) throw new ShapeError(`no shape for value '${name}'`);
    return d;
  };
  const known: Known = (name) => {
    if (!name) return null;
    const c = graph.constant(name);
    if (c) return c.dtype !== 'string' && c.data.length <= MAX_KNOWN ? toNumbers(c) : null;
    return data.get(name) ?? null;
  };
  for (const node of graph.nodes) {
    let shapes: number[][];
    try {
      shapes = nodeShapes(graph, node, dims, known);
      const d = shapes.length === 1 ? knownData(node, dims, known, shapes[0]) : null;
      if (d) data.set(node.outputs[0], d);
    } catch (e) {
      if (e instanceof ShapeError) throw new ShapeError(`node '${node.name}' (${node.opType}): ${e.message}`);
      throw e;
    }
    node.outputs.forEach((o, i) => { if (o && shapes[i]) out.set(o, shapes[i]); });
  }
  return out;
}
