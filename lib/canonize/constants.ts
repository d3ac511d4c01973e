/** Constant nodes become initializers, and pure data moves on constants (Reshape, Flatten, Transpose,
 * Squeeze, Unsqueeze, Identity, Cast to float) are folded, so that weights reached through them are constants.
 * Shape subgraphs that depend on live tensors stay (they carry no relevance; onnxruntime computes them). */
import { Graph, Node } from '../ir/graph';
import { Tensor, TypedArray, toNumbers } from '../tensor';
import { Canonized, pruneConstants, removeNode } from './rewrite';
import { strides } from '../ops/op';

function constantValue(node: Node): Tensor | null {
  const a = node.attrs;
  if (a.value && typeof a.value === 'object' && 'dims' in a.value) return a.value as Tensor;
  if (typeof a.value_float === 'number') return { dtype: 'float32', dims: [], data: Float32Array.of(a.value_float) };
  if (Array.isArray(a.value_floats)) return { dtype: 'float32', dims: [a.value_floats.length], data: Float32Array.from(a.value_floats as number[]) };
  if (typeof a.value_int === 'number') return { dtype: 'int64', dims: [], data: BigInt64Array.of(BigInt(a.value_int)) };
  if (Array.isArray(a.value_ints)) return { dtype: 'int64', dims: [a.value_ints.length], data: BigInt64Array.from((a.value_ints as number[]).map(BigInt)) };
  return null;
}

function reshapeTarget(inDims: readonly number[], shape: number[], allowZero: boolean): number[] {
  const out = shape.map((s, i) => (s === 0 && !allowZero ? inDims[i] : s));
  const n = inDims.reduce((a, b) => a * b, 1);
  const k = out.indexOf(-1);
  if (k >= 0) out[k] = n / out.filter((_, i) => i !== k).reduce((a, b) => a * b, 1);
  return out;
}

function transpose(t: Tensor, perm: number[]): Tensor {
  const yd = perm.map((p) => t.dims[p]);
  const xs = strides(t.dims);
  const src = t.data as TypedArray;
  const out = new (src.constructor as { new (n: number): TypedArray })(src.length);
  const n = src.length;
  const c = new Array<number>(yd.length).fill(0);
  for (let o = 0; o < n; o++) {
    let rem = o;
    for (let d = yd.length - 1; d >= 0; d--) { c[d] = rem % yd[d]; rem = Math.floor(rem / yd[d]); }
    let i = 0;
    for (let d = 0; d < yd.length; d++) i += c[d] * xs[perm[d]];
    out[o] = src[i] as never;
  }
  return { dtype: t.dtype, dims: yd, data: out };
}

function fold(node: Node, inputs: Tensor[], opset: number): Tensor | null {
  const [x] = inputs;
  if (x.dtype === 'string') return null;
  switch (node.opType) {
    case 'Identity': return x;
    case 'Reshape': {
      const shape = node.inputs[1] ? toNumbers(inputs[1]) : (node.attrs.shape as number[]);
      return { ...x, dims: reshapeTarget(x.dims, shape, node.attrs.allowzero === 1) };
    }
    case 'Flatten': {
      let axis = (node.attrs.axis as number | undefined) ?? 1;
      if (axis < 0) axis += x.dims.length;
      const a = x.dims.slice(0, axis).reduce((p, q) => p * q, 1);
      return { ...x, dims: [a, x.data.length / a] };
    }
    case 'Squeeze': {
      const axes = (opset >= 13 ? (node.inputs[1] ? toNumbers(inputs[1]) : undefined) : (node.attrs.axes as number[] | undefined))?.map((a) => (a < 0 ? a + x.dims.length : a));
      return { ...x, dims: x.dims.filter((d, i) => (axes ? !axes.includes(i) : d !== 1)) };
    }
    case 'Unsqueeze': {
      const axes = opset >= 13 ? toNumbers(inputs[1]) : (node.attrs.axes as number[]);
      const rank = x.dims.length + axes.length;
      const norm = axes.map((a) => (a < 0 ? a + rank : a));
      const dims: number[] = [];
      let k = 0;
      for (let i = 0; i < rank; i++) dims.push(norm.includes(i) ? 1 : x.dims[k++]);
      return { ...x, dims };
    }
    case 'Transpose': return transpose(x, (node.attrs.perm as number[] | undefined) ?? x.dims.map((_, i) => x.dims.length - 1 - i));
    case 'Cast': {
      if (node.attrs.to !== 1) return null; // only casts to float32
      return { dtype: 'float32', dims: x.dims, data: Float32Array.from(toNumbers(x)) };
    }
    default: return null;
  }
}

export function foldConstants(graph: Graph): Canonized {
  const spec = graph.toSpec();
  const actions: string[] = [];
  const opset = graph.opsets[''] ?? 13;
  let folded = 0;
  for (const node of graph.nodes) {
    if (node.domain !== '') continue;
    if (node.opType === 'Constant') {
      const v = constantValue(node);
      if (!v) continue;
      spec.constants.set(node.outputs[0], v);
      removeNode(spec, node);
      folded++;
      continue;
    }
    const ins = node.inputs.filter((i) => i !== '');
    if (!ins.length || node.outputs.length !== 1 || !ins.every((i) => spec.constants.has(i))) continue;
    const v = fold(node, node.inputs.map((i) => (i ? spec.constants.get(i)! : (undefined as unknown as Tensor))), opset);
    if (!v) continue;
    spec.constants.set(node.outputs[0], v);
    removeNode(spec, node);
    actions.push(`folded ${node.opType} '${node.name}' on constants`);
  }
  if (folded) actions.unshift(`turned ${folded} Constant node(s) into initializers`);
  pruneConstants(spec);
  return { graph: new Graph(spec), actions };
}
