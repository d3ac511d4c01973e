/** fuse-activations: x·Sigmoid(x) (SiLU), x·Sigmoid(a·x) and x·HardSigmoid(x) (HardSwish) become one
 * activation node that relevance passes whole; onnxruntime's outputs unchanged; squeeze-excitation gates
 * (a product with a sigmoid of something else) stay gates. */
import { expect } from 'chai';
import { fuseActivations } from '../../lib/canonize/activations';
import { Graph } from '../../lib/ir/graph';
import { buildPlan } from '../../lib/plan/plan';
import { float32 } from '../../lib/tensor';
import { expectClose, f32of, graphOf, node, prng, randomFeeds, runGraph } from '../helpers/onnx';

const rng = prng(5150);
const ops = (g: Graph) => g.nodes.map((n) => `${n.domain ? `${n.domain}::` : ''}${n.opType}`);

async function sameOutputs(before: Graph, after: Graph): Promise<void> {
  const feeds = randomFeeds(before, rng, -4, 4);
  const [a, b] = await Promise.all([runGraph(before, feeds), runGraph(after, feeds)]);
  a.forEach((t, i) => expectClose(f32of(b[i]), f32of(t), 1e-5, `output ${i}`));
}

describe('canonizer fuse-activations', () => {
  it('x·Sigmoid(x) in either order becomes com.microsoft QuickGelu(alpha=1), category activation, rule pass', async () => {
    for (const order of [['x', 's'], ['s', 'x']]) {
      const g = graphOf({ nodes: [node('Sigmoid', ['x'], ['s']), node('Mul', order, ['y'])], inputs: { x: [2, 3, 4] }, outputs: ['y'] });
      const c = fuseActivations(g);
      expect(ops(c.graph)).to.deep.equal(['com.microsoft::QuickGelu']);
      expect(c.graph.nodes[0].attrs.alpha).to.equal(1);
      expect(c.actions[0]).to.match(/x·Sigmoid\(x\).*QuickGelu/);
      await sameOutputs(g, c.graph);
      const plan = buildPlan(c.graph, { composite: 'epsilon_plus_flat' });
      expect(plan.entries.map((e) => [e.category, e.rule])).to.deep.equal([['activation', 'pass']]);
    }
  });

  it('x·Sigmoid(1.702·x) (QuickGELU) keeps its alpha', async () => {
    const g = graphOf({
      nodes: [node('Mul', ['x', 'a'], ['t']), node('Sigmoid', ['t'], ['s']), node('Mul', ['x', 's'], ['y'])],
      inputs: { x: [3, 5] }, constants: { a: float32([], [1.702]) }, outputs: ['y'],
    });
    const c = fuseActivations(g);
    expect(ops(c.graph)).to.deep.equal(['com.microsoft::QuickGelu']);
    expect(c.graph.nodes[0].attrs.alpha).to.be.closeTo(1.702, 1e-6);
    await sameOutputs(g, c.graph);
  });

  it('x·HardSigmoid(x; 1/6, 1/2) becomes HardSwish at opset 14, and stays at opset 13 (no HardSwish there)', async () => {
    const spec = (opset: number) => graphOf({
      nodes: [node('HardSigmoid', ['x'], ['h'], { alpha: 1 / 6, beta: 0.5 }), node('Mul', ['x', 'h'], ['y'])],
      inputs: { x: [2, 8] }, outputs: ['y'], opset,
    });
    const g = spec(14);
    const c = fuseActivations(g);
    expect(ops(c.graph)).to.deep.equal(['HardSwish']);
    await sameOutputs(g, c.graph);
    expect(fuseActivations(spec(13)).actions).to.deep.equal([]);
  });

  it('leaves gates alone: a sigmoid of another tensor (squeeze-excitation), a sigmoid read twice, HardSigmoid(0.2, 0.5)', () => {
    const cases = [
      graphOf({ nodes: [node('Sigmoid', ['z'], ['s']), node('Mul', ['x', 's'], ['y'])], inputs: { x: [2, 3], z: [2, 3] }, outputs: ['y'] }),
      graphOf({ nodes: [node('Sigmoid', ['x'], ['s']), node('Mul', ['x', 's'], ['y']), node('Relu', ['s'], ['r'])], inputs: { x: [2, 3] }, outputs: ['y', 'r'] }),
      graphOf({ nodes: [node('HardSigmoid', ['x'], ['h']), node('Mul', ['x', 'h'], ['y'])], inputs: { x: [2, 3] }, outputs: ['y'], opset: 14 }),
    ];
    for (const g of cases) {
      const c = fuseActivations(g);
      expect(c.actions).to.deep.equal([]);
      expect(ops(c.graph)).to.deep.equal(ops(g));
    }
  });
});
