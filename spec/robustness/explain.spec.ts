/** Explainer errors found by the fuzz test and by explaining the libonnx-testdata models: what has nothing to
 * explain, or nothing finite, is an ExplainError naming the model and the output or node, never a TypeError or
 * NaN relevance. */
import { expect } from 'chai';
import { Explainer, ExplainError } from '../../lib/explain';
import { ortBackend } from '../../lib/forward/ort';
import { loadModel } from '../../lib/onnx/load';
import { onnx } from '../../lib/onnx/proto';
import { float32 } from '../../lib/tensor';
import { crashReason } from '../../scripts/robustness';
import { encodeModel, valueInfoProto } from '../helpers/onnx';

const T = onnx.TensorProto.DataType;

function explainer(graph: onnx.IGraphProto): Explainer {
  return Explainer.create(loadModel(encodeModel({ graph: { name: 'g', ...graph } }), { source: 'm.onnx' }), ortBackend, { source: 'm.onnx', threads: 1 });
}

async function explainError(ex: Explainer, input: Parameters<Explainer['explain']>[0], re: RegExp, opts: Parameters<Explainer['explain']>[1] = { composite: 'epsilon' }): Promise<void> {
  let err: unknown;
  try {
    await ex.explain(input, opts);
  } catch (e) {
    err = e;
  } finally {
    await ex.release();
  }
  expect(crashReason(err), 'not an internal error').to.equal(null);
  expect(err).to.be.instanceOf(ExplainError);
  expect((err as Error).message).to.match(re);
  expect((err as Error).message.startsWith('m.onnx: ')).to.equal(true);
}

/** x [1,3] → Gemm(W [3,2], b) → y */
function gemm(w: number[], b = [0, 0]): onnx.IGraphProto {
  return {
    node: [{ name: 'fc', opType: 'Gemm', input: ['x', 'W', 'b'], output: ['y'] }],
    initializer: [
      { name: 'W', dataType: T.FLOAT, dims: [3, 2], floatData: w },
      { name: 'b', dataType: T.FLOAT, dims: [2], floatData: b },
    ],
    input: [valueInfoProto('x', T.FLOAT, [1, 3])], output: [valueInfoProto('y', T.FLOAT, [1, 2])],
  };
}

describe('robustness: explain errors', () => {
  it('a model without inputs (its output a constant)', async () => {
    const ex = explainer({
      node: [{ name: 'c', opType: 'Constant', output: ['y'], attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: { dataType: T.FLOAT, dims: [1, 2], floatData: [1, 2] } }] }],
      output: [valueInfoProto('y', T.FLOAT, [1, 2])],
    });
    await explainError(ex, {}, /the model has no inputs/);
  });

  it('an integer or bool output (ArgMax labels) names the float outputs to pick instead', async () => {
    const ex = explainer({
      node: [{ name: 'relu', opType: 'Relu', input: ['x'], output: ['scores'] }, { name: 'am', opType: 'ArgMax', input: ['scores'], output: ['label'] }],
      input: [valueInfoProto('x', T.FLOAT, [1, 4])], output: [valueInfoProto('label', T.INT64, [1, 1]), valueInfoProto('scores', T.FLOAT, [1, 4])],
    });
    await explainError(ex, float32([1, 4], [1, 2, 3, 4]), /output 'label' is int64, not a float score.*float outputs: scores; pick one with the output option/);
  });

  it('an empty output', async () => {
    const ex = explainer({
      node: [{ name: 's', opType: 'Slice', input: ['x', 'st', 'en'], output: ['y'] }],
      initializer: [{ name: 'st', dataType: T.INT64, dims: [1], int64Data: [5] }, { name: 'en', dataType: T.INT64, dims: [1], int64Data: [9] }],
      input: [valueInfoProto('x', T.FLOAT, [4])], output: [valueInfoProto('y', T.FLOAT)],
    });
    await explainError(ex, float32([4], [1, 2, 3, 4]), /output 'y' is empty \(shape \[0\]\)/);
  });

  it('NaN weights: a non-finite output is refused, naming the output', async () => {
    await explainError(explainer(gemm([1, NaN, 2, 3, 4, 5])), float32([1, 3], [1, 1, 1]), /output 'y' is not finite \(element 1 is NaN\)/);
  });

  it('relevance that is not finite though the output is names the node where it happened', async () => {
    // y = h·W2 = 3e38 − 2.99997e38 ≈ 3e33 is finite; its gradient times the logit, 3e33 · 3e19 at h, is not
    const ex = explainer({
      node: [{ name: 'fc1', opType: 'Gemm', input: ['x', 'W1'], output: ['h'] }, { name: 'fc2', opType: 'Gemm', input: ['h', 'W2'], output: ['y'] }],
      initializer: [
        { name: 'W1', dataType: T.FLOAT, dims: [2, 2], floatData: [2e19, 2e19, -1e19, -1.00001e19] },
        { name: 'W2', dataType: T.FLOAT, dims: [2, 1], floatData: [3e19, -3e19] },
      ],
      input: [valueInfoProto('x', T.FLOAT, [1, 2])], output: [valueInfoProto('y', T.FLOAT, [1, 1])],
    });
    await explainError(ex, float32([1, 2], [1, 1]), /relevance is not finite at node 'fc2' \(Gemm\).*try a larger epsilon/, { composite: 'gradient', outputRelevance: 'logit' });
  });
});
