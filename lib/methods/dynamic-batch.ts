/** Models exported with a fixed batch size of 1 (e.g. the ONNX model zoo's mnist-8: input [1, 1, 28, 28] and a
 * Reshape to the constant [1, 256]) cannot run the batched methods and evaluations. `dynamicBatch` makes the
 * batch dimension symbolic: the first dimension of every graph input and output, and a leading 1 in the
 * constant target shape of a Reshape becomes -1. That last step is a heuristic (a Reshape whose leading 1 is not
 * the batch would change meaning), so callers should compare the outputs of a batch against single runs;
 * `checkDynamicBatch` does. Browser-safe. */
import { Explainer } from '../explain';
import { Graph, ValueInfo } from '../ir/graph';
import { Tensor, float32, sizeOf, toNumbers } from '../tensor';

export function dynamicBatch(graph: Graph, name = 'N'): { graph: Graph; actions: string[] } {
  const spec = graph.toSpec();
  const actions: string[] = [];
  const fix = (v: ValueInfo, what: string): ValueInfo => {
    if (!v.dims || v.dims[0] !== 1) return v;
    actions.push(`${what} '${v.name}': batch dimension 1 → '${name}'`);
    return { ...v, dims: [name, ...v.dims.slice(1)] };
  };
  spec.inputs = spec.inputs.map((v) => fix(v, 'input'));
  spec.outputs = spec.outputs.map((v) => fix(v, 'output'));
  if (!actions.length) return { graph, actions };
  for (const n of graph.nodes) {
    if (n.opType !== 'Reshape' || !n.inputs[1] || !graph.isConstant(n.inputs[1])) continue;
    const t = graph.constant(n.inputs[1])!;
    const shape = toNumbers(t);
    if (shape[0] !== 1 || shape.includes(-1)) continue;
    const data = BigInt64Array.from([-1, ...shape.slice(1)].map((v) => BigInt(v)));
    spec.constants.set(n.inputs[1], { dtype: 'int64', dims: [...t.dims], data } as Tensor);
    actions.push(`Reshape '${n.name}': target shape [${shape.join(',')}] → [-1,${shape.slice(1).join(',')}]`);
  }
  spec.valueInfo = new Map();
  return { graph: new Graph(spec), actions };
}

/** Runs `batch` (batch first, N ≥ 2) through `batched` and each sample alone through `single`; throws unless the
 * outputs agree (relative 1e-4). */
export async function checkDynamicBatch(single: Explainer, batched: Explainer, batch: Tensor & { data: Float32Array | BigInt64Array | Int32Array }): Promise<void> {
  const N = batch.dims[0];
  const per = sizeOf(batch.dims.slice(1));
  const all = await batched.predict(batch);
  const K = all.data.length / N;
  for (let s = 0; s < N; s++) {
    const one = await single.predict({ dtype: batch.dtype, dims: [1, ...batch.dims.slice(1)], data: batch.data.slice(s * per, (s + 1) * per) });
    for (let k = 0; k < K; k++) {
      const a = one.data[k], b = all.data[s * K + k];
      if (Math.abs(a - b) > 1e-4 * Math.max(1, Math.abs(a))) {
        throw new Error(`${single.source}: with a symbolic batch dimension, sample ${s} gives output ${k} = ${b}, alone ${a}: the batch rewrite is not valid for this model`);
      }
    }
  }
}

/** A model with batch dimension 1 (mnist-8) gets a symbolic one, checked against single runs. */
export async function batchable(explainer: Explainer, x: Tensor & { data: Float32Array }, log: (s: string) => void): Promise<Explainer> {
  const { graph, actions } = dynamicBatch(explainer.graph);
  if (!actions.length) return explainer;
  const b = explainer.derive(graph, explainer.source);
  if (x.dims[0] > 1) await checkDynamicBatch(explainer, b, float32([2, ...x.dims.slice(1)], x.data.subarray(0, 2 * x.data.length / x.dims[0])));
  log(`note: the model has a fixed batch size of 1; evaluated with a symbolic batch (${actions.join('; ')}), checked against single runs`);
  return b;
}
