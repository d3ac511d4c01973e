/** fold-scale: a Mul/Div by a per-output-channel constant after a linear layer is folded into its weights
 * and bias (Caffe's BatchNorm + Scale as Inception v2 and DenseNet-121 in the ONNX zoo have it);
 * onnxruntime's outputs unchanged, and the cases it must not touch left alone. */
import { expect } from 'chai';
import { canonize } from '../../lib/canonize';
import { foldScale } from '../../lib/canonize/scale';
import { Graph } from '../../lib/ir/graph';
import { Tensor, float32 } from '../../lib/tensor';
import { expectClose, f32of, graphOf, node, prng, randomFeeds, randomTensor, runGraph } from '../helpers/onnx';

const rng = prng(907);
const r = (...dims: number[]) => randomTensor(rng, dims);
const ops = (g: Graph) => g.nodes.map((n) => n.opType);

async function sameOutputs(before: Graph, after: Graph): Promise<void> {
  const feeds = randomFeeds(before, rng);
  const [a, b] = await Promise.all([runGraph(before, feeds), runGraph(after, feeds)]);
  a.forEach((t, i) => {
    expect(b[i].dims).to.deep.equal(t.dims);
    expectClose(f32of(b[i]), f32of(t), 1e-5, `output ${i}`);
  });
}

function convScale(scale: Tensor, op = 'Mul', bias = true): Graph {
  return graphOf({
    nodes: [node('Conv', ['x', 'w', ...(bias ? ['b'] : [])], ['c'], { pads: [1, 1, 1, 1] }), node(op, ['c', 's'], ['y'])],
    inputs: { x: [2, 3, 5, 5] },
    constants: { w: r(4, 3, 3, 3), b: r(4), s: scale },
    outputs: ['y'],
  });
}

describe('canonizer fold-scale', () => {
  it('folds a per-channel Mul [1,C,1,1] into a Conv (weights and bias)', async () => {
    const g = convScale(r(1, 4, 1, 1));
    const c = foldScale(g);
    expect(c.actions).to.have.length(1);
    expect(c.actions[0]).to.match(/folded Mul .* into Conv/);
    expect(ops(c.graph)).to.deep.equal(['Conv']);
    await sameOutputs(g, c.graph);
  });

  it('folds a Div by [C,1,1] and a scalar Mul; a Conv without bias stays without', async () => {
    const g1 = convScale(randomTensor(rng, [4, 1, 1], 0.5, 2), 'Div');
    const c1 = foldScale(g1);
    expect(ops(c1.graph)).to.deep.equal(['Conv']);
    await sameOutputs(g1, c1.graph);
    const g2 = convScale(float32([], [-1.5]), 'Mul', false);
    const c2 = foldScale(g2);
    expect(ops(c2.graph)).to.deep.equal(['Conv']);
    expect(c2.graph.nodes[0].inputs).to.have.length(2);
    await sameOutputs(g2, c2.graph);
  });

  it('folds into Gemm (transB) and MatMul along the last axis', async () => {
    const g = graphOf({
      nodes: [node('Gemm', ['x', 'w', 'b'], ['h'], { transB: 1 }), node('Mul', ['s', 'h'], ['y']), node('MatMul', ['y', 'w2'], ['m']), node('Mul', ['m', 's2'], ['z'])],
      inputs: { x: [3, 5] },
      constants: { w: r(6, 5), b: r(6), s: r(6), w2: r(6, 4), s2: r(4) },
      outputs: ['z'],
    });
    const c = foldScale(g);
    expect(ops(c.graph)).to.deep.equal(['Gemm', 'MatMul']);
    await sameOutputs(g, c.graph);
  });

  it('with fold-bias-add, Conv → BatchNormalization → Mul → Add becomes one Conv (the Caffe2 pattern)', async () => {
    const g = graphOf({
      nodes: [
        node('Conv', ['x', 'w'], ['c'], {}), node('BatchNormalization', ['c', 'g', 'beta', 'mean', 'var'], ['n'], { epsilon: 1e-5 }),
        node('Unsqueeze', ['sv'], ['s'], { axes: [1, 2] }), node('Mul', ['n', 's'], ['m']),
        node('Unsqueeze', ['bv'], ['bb'], { axes: [1, 2] }), node('Add', ['m', 'bb'], ['a']), node('Relu', ['a'], ['y']),
      ],
      inputs: { x: [1, 3, 6, 6] },
      constants: { w: r(4, 3, 3, 3), g: r(4), beta: r(4), mean: r(4), var: randomTensor(rng, [4], 0.5, 2), sv: r(4), bv: r(4) },
      outputs: ['y'],
      opset: 9,
    });
    const c = canonize(g);
    expect(ops(c.graph)).to.deep.equal(['Conv', 'Relu']);
    expect(c.actions.join('\n')).to.match(/folded Mul/);
    await sameOutputs(g, c.graph);
  });

  it('leaves alone: a constant varying over space, a layer output read twice, a live factor, Div of a constant', () => {
    const cases = [
      convScale(r(1, 4, 5, 5)),
      convScale(r(1, 1, 1, 5)),
      graphOf({
        nodes: [node('Conv', ['x', 'w'], ['c']), node('Mul', ['c', 's'], ['y']), node('Relu', ['c'], ['z'])],
        inputs: { x: [1, 3, 5, 5] }, constants: { w: r(4, 3, 3, 3), s: r(1, 4, 1, 1) }, outputs: ['y', 'z'],
      }),
      graphOf({
        nodes: [node('Conv', ['x', 'w'], ['c']), node('Mul', ['c', 'g'], ['y'])],
        inputs: { x: [1, 3, 5, 5], g: [1, 4, 1, 1] }, constants: { w: r(4, 3, 3, 3) }, outputs: ['y'],
      }),
      graphOf({
        nodes: [node('Conv', ['x', 'w'], ['c']), node('Div', ['s', 'c'], ['y'])],
        inputs: { x: [1, 3, 5, 5] }, constants: { w: r(4, 3, 3, 3), s: r(1, 4, 1, 1) }, outputs: ['y'],
      }),
    ];
    for (const g of cases) {
      const c = foldScale(g);
      expect(c.actions).to.deep.equal([]);
      expect(ops(c.graph)).to.deep.equal(ops(g));
    }
  });
});
