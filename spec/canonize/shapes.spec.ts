/** fold-shape-subgraphs: PyTorch's x.view(x.size(0), -1) becomes Reshape(x, [0, -1]); outputs unchanged for
 * any batch size (the fixture is exported by PyTorch with a dynamic batch axis). */
import { expect } from 'chai';
import * as path from 'path';
import { canonize, float32, loadModelFile, ortBackend, saveModel } from '../../lib';
import { foldShapeSubgraphs } from '../../lib/canonize/shapes';
import { FIXTURES } from '../helpers/paths';

describe('canonizer fold-shape-subgraphs', () => {
  const model = loadModelFile(path.join(FIXTURES, 'view-reshape.onnx'));

  it('folds Shape → Gather → Unsqueeze → Concat into a constant target with 0 for the batch', () => {
    const afterConst = canonize(model.graph, { skip: ['fold-shape-subgraphs', 'strip-softmax', 'explicit-sums', 'merge-batchnorm', 'fold-bias-add'] }).graph;
    const r = foldShapeSubgraphs(afterConst);
    expect(r.actions.join('\n')).to.contain('[0, -1]');
    expect(r.graph.nodes.map((n) => n.opType)).to.not.include.members(['Shape', 'Gather', 'Concat', 'Unsqueeze']);
  });

  for (const batch of [1, 3]) {
    it(`keeps onnxruntime's output for batch ${batch}`, async () => {
      const x = float32([batch, 1, 8, 8], Array.from({ length: batch * 64 }, (_, i) => Math.sin(i * 0.37)));
      const before = await ortBackend.create(saveModel(model.graph));
      const canon = canonize(model.graph, { skip: ['strip-softmax'] }).graph;
      const after = await ortBackend.create(saveModel(canon));
      const a = (await before.run({ input: x }, [model.graph.outputs[0].name])).get(model.graph.outputs[0].name)!.data as Float32Array;
      const b = (await after.run({ input: x }, [canon.outputs[0].name])).get(canon.outputs[0].name)!.data as Float32Array;
      expect(b.length).to.equal(a.length);
      a.forEach((v, i) => expect(b[i]).to.be.closeTo(v, 1e-6));
      await before.release();
      await after.release();
    });
  }
});
