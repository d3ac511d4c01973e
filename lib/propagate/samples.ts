/** Which sample each element of a value belongs to, for the per-sample conservation sums: element i of a value
 * is sample ⌊i / stride⌋ mod batch. Batch-first values have stride = size / batch; values whose batch axis
 * moved (nn.MultiheadAttention works sequence-first: Transpose [1, 0, 2]) or merged with another axis (heads:
 * Reshape [S, N·H, d]) have another. Found by following the batch axis from the graph inputs through the
 * relevance path, by shapes alone; a value where it is lost falls back to batch-first. */
import { Graph } from '../ir/graph';
import { RulePlan } from '../plan/plan';
import { Tensor } from '../tensor';

const prod = (d: readonly number[], from = 0, to = d.length) => d.slice(from, to).reduce((a, b) => a * b, 1);

/** Where the batch lies along one axis: dims[axis] = outer · batch · inner. */
interface BatchAxis { axis: number; inner: number }

function locate(dims: readonly number[], stride: number, batch: number): BatchAxis | null {
  for (let a = dims.length - 1; a >= 0; a--) {
    const tail = prod(dims, a + 1);
    if (stride % tail !== 0) continue;
    const inner = stride / tail;
    if (dims[a] % (inner * batch) === 0) return { axis: a, inner };
  }
  return null;
}

/** The output's stride, from one input's dims and stride (null: lost). */
function follow(inDims: readonly number[], stride: number, outDims: readonly number[], batch: number, perm?: readonly number[]): number | null {
  const size = prod(outDims);
  if (inDims.length === outDims.length && inDims.every((d, i) => d === outDims[i])) return stride;
  const at = locate(inDims, stride, batch);
  if (!at) return null;
  if (perm) {
    const j = perm.indexOf(at.axis);
    return j < 0 ? null : at.inner * prod(outDims, j + 1);
  }
  if (size === prod(inDims)) return stride; // a reshape: the flat layout is unchanged
  const lead = prod(inDims, 0, at.axis);
  for (let j = 0; j < outDims.length; j++) {
    if (outDims[j] === inDims[at.axis] && prod(outDims, 0, j) === lead) return at.inner * prod(outDims, j + 1);
  }
  return null;
}

/** The stride of every value on the relevance path whose dims are known and whose batch is not batch-first. */
export function sampleStrides(graph: Graph, plan: RulePlan, values: ReadonlyMap<string, Tensor>, batch: number): Map<string, number> {
  const strides = new Map<string, number>();
  const dimsOf = (v: string) => values.get(v)?.dims;
  for (const i of graph.inputs) {
    const d = dimsOf(i.name);
    if (d && prod(d) % batch === 0) strides.set(i.name, prod(d) / batch);
  }
  const onPath = new Set(plan.entries.map((e) => e.node));
  for (const node of graph.nodes) {
    if (!onPath.has(node.name)) continue;
    const from = node.inputs.find((i) => i && strides.has(i) && dimsOf(i));
    if (!from) continue;
    const perm = node.opType === 'Transpose' ? (node.attrs.perm as number[] | undefined) ?? [...dimsOf(from)!.keys()].reverse() : undefined;
    for (const o of node.outputs) {
      const d = o ? dimsOf(o) : undefined;
      if (!o || !d) continue;
      const s = follow(dimsOf(from)!, strides.get(from)!, d, batch, perm);
      if (s !== null && prod(d) % (s * batch) === 0) strides.set(o, s);
    }
  }
  for (const [k, s] of strides) if (s * batch === prod(dimsOf(k)!)) strides.delete(k); // batch-first: the default
  return strides;
}
