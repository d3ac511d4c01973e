/** Real architectures end to end: the ONNX project's light graphs (`../shared/models/onnx-light`, opset 9:
 * LRN, variadic Sum, Concat branches, ShuffleNet's Reshape/Transpose channel shuffle, Caffe2's
 * BatchNorm + Mul + Add, Dropout, a final Softmax) with seeded random weights in place of their
 * `ConstantOfShape` fills, explained at their native 224×224 with epsilon_plus_flat and epsilon_gamma_box.
 * `npm run architectures` runs the same (and the torchvision exports) and records the conservation numbers
 * docs/architectures.md shows. */
import { expect } from 'chai';
import { loadModelFile } from '../../lib/node-io';
import { Graph, Node } from '../../lib/ir/graph';
import { Tensor, float32 } from '../../lib/tensor';
import { ONNX_LIGHT, ONNX_LIGHT_DIR, explainAll, momentProbe, momentSummary, prepareOnnxLight, resultLine } from '../../scripts/architectures';
import { calibrateWeights, fillRandomWeights, kindOf, randomInput, roleOf } from '../../scripts/random-weights';
import { checkExplanation } from '../helpers/architectures';
import { needShared } from '../helpers/paths';

/** What each graph contains, as the plan must show it: op → rule (under epsilon_plus_flat, first layer aside),
 * and ops the canonizers must have removed. */
const EXPECTED: Record<string, { rules: Record<string, string>; gone: string[] }> = {
  bvlc_alexnet: { rules: { LRN: 'pass', MaxPool: 'gradient', Reshape: 'gradient', Gemm: 'epsilon' }, gone: ['Dropout', 'Softmax'] },
  densenet121: { rules: { Concat: 'gradient', BatchNormalization: 'pass', Mul: 'pass', Add: 'pass', AveragePool: 'norm', GlobalAveragePool: 'norm' }, gone: [] },
  inception_v1: { rules: { Concat: 'gradient', LRN: 'pass', AveragePool: 'norm', Gemm: 'epsilon' }, gone: ['Dropout', 'Softmax'] },
  // Caffe2's BatchNorm + Mul + Add after every Conv: merged into it (merge-batchnorm, fold-scale, fold-bias-add)
  inception_v2: { rules: { Concat: 'gradient', AveragePool: 'norm', Conv: 'zPlus' }, gone: ['BatchNormalization', 'Mul', 'Add', 'Softmax'] },
  resnet50: { rules: { Sum: 'norm', AveragePool: 'norm', Conv: 'zPlus' }, gone: ['BatchNormalization', 'Softmax'] },
  shufflenet: { rules: { Reshape: 'gradient', Transpose: 'gradient', Concat: 'gradient', Sum: 'norm', AveragePool: 'norm' }, gone: ['BatchNormalization', 'Softmax'] },
  squeezenet: { rules: { Concat: 'gradient', GlobalAveragePool: 'norm' }, gone: ['Dropout', 'Softmax'] },
  vgg19: { rules: { MaxPool: 'gradient', Gemm: 'epsilon' }, gone: ['Dropout', 'Softmax'] },
  zfnet512: { rules: { LRN: 'pass', Gemm: 'epsilon' }, gone: ['Softmax'] },
};

describe('real architectures: ONNX light graphs with seeded random weights (224×224)', function () {
  this.timeout(300000);

  describe('fillRandomWeights', () => {
    it('calibrates a synthetic residual network (no ../shared needed): every filled layer ends near unit E[y²]', async () => {
      const fill = (name: string, dims: number[]): Node => ({
        name: `fill_${name}`, opType: 'ConstantOfShape', domain: '', inputs: [`${name}_shape`], outputs: [name],
        attrs: { value: float32([1], [0.02]) },
      });
      const shapes: Record<string, number[]> = { w1: [8, 3, 3, 3], g: [8], beta: [8], mean: [8], var: [8], w2: [8, 8, 3, 3], w3: [10, 8] };
      const constants = new Map<string, Tensor>(Object.entries(shapes).map(([k, d]) => [`${k}_shape`, { dtype: 'int64', dims: [d.length], data: BigInt64Array.from(d.map(BigInt)) }]));
      const graph = new Graph({
        nodes: [
          ...Object.entries(shapes).map(([k, d]) => fill(k, d)),
          { name: 'c1', opType: 'Conv', domain: '', inputs: ['x', 'w1'], outputs: ['c1'], attrs: { pads: [1, 1, 1, 1] } },
          { name: 'bn', opType: 'BatchNormalization', domain: '', inputs: ['c1', 'g', 'beta', 'mean', 'var'], outputs: ['b1'], attrs: {} },
          { name: 'r1', opType: 'Relu', domain: '', inputs: ['b1'], outputs: ['r1'], attrs: {} },
          { name: 'c2', opType: 'Conv', domain: '', inputs: ['r1', 'w2'], outputs: ['c2'], attrs: { pads: [1, 1, 1, 1] } },
          { name: 'sum', opType: 'Sum', domain: '', inputs: ['c2', 'r1'], outputs: ['s'], attrs: {} },
          { name: 'gap', opType: 'GlobalAveragePool', domain: '', inputs: ['s'], outputs: ['p'], attrs: {} },
          { name: 'flat', opType: 'Flatten', domain: '', inputs: ['p'], outputs: ['f'], attrs: {} },
          { name: 'fc', opType: 'Gemm', domain: '', inputs: ['f', 'w3'], outputs: ['y'], attrs: { transB: 1 } },
        ],
        inputs: [{ name: 'x', dtype: 'float32', dims: [1, 3, 16, 16] }],
        outputs: [{ name: 'y', dtype: 'float32', dims: [1, 10] }],
        constants, opsets: { '': 11 },
      });
      const x = randomInput([1, 3, 16, 16], 3);
      const r = await calibrateWeights(graph, momentProbe(x), { seed: 5 });
      expect(r.graph.nodes.map((n) => n.opType)).to.not.include('ConstantOfShape');
      expect(r.filled.map((f) => f.kind)).to.deep.equal(['weight', 'bn-scale', 'bn-bias', 'bn-mean', 'bn-var', 'weight', 'weight']);
      for (const v of ['b1', 'c2', 'y']) expect(r.measured.get(v), v).to.be.within(0.6, 1.6);
    });

    it('replaces every ConstantOfShape fill by an initializer whose scale suits its consumer', function () {
      const file = needShared(this, `${ONNX_LIGHT_DIR}/densenet121.onnx`);
      const g = loadModelFile(file).graph;
      const fills = g.nodes.filter((n) => n.opType === 'ConstantOfShape');
      const { graph, filled } = fillRandomWeights(g, 1);
      expect(graph.nodes.filter((n) => n.opType === 'ConstantOfShape')).to.have.length(0);
      expect(filled).to.have.length(fills.length);
      // every Conv weight of DenseNet is now a constant the canonizers can see; BatchNorm statistics too
      for (const n of graph.nodes.filter((m: { opType: string }) => m.opType === 'Conv')) expect(graph.isConstant(n.inputs[1]), n.name).to.equal(true);
      const kinds = new Set(filled.map((f) => f.kind));
      for (const k of ['weight', 'bn-scale', 'bn-bias', 'bn-mean', 'bn-var', 'scale']) expect(kinds.has(k as never), k).to.equal(true);
      const variances = filled.filter((f) => f.kind === 'bn-var').map((f) => graph.constant(f.name)!.data as Float32Array);
      expect(variances.every((v) => v.every((x) => x > 0))).to.equal(true);
    });

    it('is deterministic for a seed and differs between seeds', function () {
      const file = needShared(this, `${ONNX_LIGHT_DIR}/squeezenet.onnx`);
      const g = loadModelFile(file).graph;
      const w = (seed: number) => { const r = fillRandomWeights(g, seed); return r.graph.constant(r.filled[0].name)!.data as Float32Array; };
      expect(Array.from(w(3))).to.deep.equal(Array.from(w(3)));
      expect(Array.from(w(3))).to.not.deep.equal(Array.from(w(4)));
    });

    it('finds a weight\'s role through the reshaping ops in front of its consumer', function () {
      const file = needShared(this, `${ONNX_LIGHT_DIR}/inception_v1.onnx`);
      const g: Graph = loadModelFile(file).graph;
      // the classifier weight reaches Gemm through a Reshape
      const gemm = g.nodes.find((n) => n.opType === 'Gemm')!;
      const fill = g.nodes.find((n) => n.opType === 'ConstantOfShape' && g.consumers(n.outputs[0])[0]?.opType === 'Reshape')!;
      const role = roleOf(g, fill.outputs[0]);
      expect(role.node?.name).to.equal(gemm.name);
      expect(kindOf(role)).to.equal('weight');
    });
  });

  // all nine in CI: ~45 s with the onnxruntime engine (VGG-19's 140 M parameters: 16 s and 4 GB at peak)
  for (const name of ONNX_LIGHT) {
    it(`${name}: explains end to end with epsilon_plus_flat and epsilon_gamma_box`, async function () {
      needShared(this, `${ONNX_LIGHT_DIR}/${name}.onnx`);
      const p = await prepareOnnxLight(name);
      // calibrated: activations neither vanish nor explode with depth (the extremes are layers whose trained
      // BatchNorm statistics or biases the file kept, e.g. ShuffleNet's zero variances in its first layer)
      const m = momentSummary(p.linearMoments);
      expect(m.median, `${name}: median Conv/Gemm output E[y²]`).to.be.within(0.5, 2);
      expect(m.last, `${name}: the logits' E[y²]`).to.be.within(0.25, 4);
      expect(m.min, `${name}: smallest Conv/Gemm output E[y²]`).to.be.above(1e-3);
      expect(m.max, `${name}: largest Conv/Gemm output E[y²]`).to.be.below(1e3);
      const results = await explainAll('onnx-light', p, (r, composite) => {
        checkExplanation(r, `${name} ${composite}`);
        if (composite !== 'epsilon_plus_flat') return;
        const entries = r.plan.entries.filter((e) => !e.first);
        for (const [op, rule] of Object.entries(EXPECTED[name].rules)) {
          const got = [...new Set(entries.filter((e) => e.op === op).map((e) => e.rule))];
          expect(got, `${name}: rules of its ${op} nodes`).to.deep.equal([rule]);
        }
        const ops = new Set(r.plan.entries.map((e) => e.op));
        for (const op of EXPECTED[name].gone) expect(ops.has(op), `${name}: ${op} left after the canonizers`).to.equal(false);
      });
      for (const r of results) console.log(`      ${resultLine(r)}`);
    });
  }
});
