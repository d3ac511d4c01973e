/** The propagation core adds relevance where a value feeds several consumers, including one node reading the
 * same value twice (Add(a, a)): with no biases the epsilon rule conserves it exactly, on the three engines. */
import { expect } from 'chai';
import { Explainer, Graph, float32, ortBackend } from '../../lib';

describe('propagate: a value read twice by one node', () => {
  const W = float32([4, 4], Array.from({ length: 16 }, (_, i) => Math.sin(i + 1)));
  const graph = new Graph({
    nodes: [
      { name: 'g', opType: 'Gemm', domain: '', inputs: ['x', 'W'], outputs: ['h'], attrs: {} },
      { name: 'r', opType: 'Relu', domain: '', inputs: ['h'], outputs: ['a'], attrs: {} },
      { name: 's', opType: 'Add', domain: '', inputs: ['a', 'a'], outputs: ['b'], attrs: {} },
      { name: 't', opType: 'Add', domain: '', inputs: ['b', 'a'], outputs: ['y'], attrs: {} },
    ],
    inputs: [{ name: 'x', dtype: 'float32', dims: [1, 4] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [1, 4] }],
    constants: new Map([['W', W]]),
    opsets: { '': 13 },
  });
  const explainer = Explainer.create({ graph, irVersion: 8, producer: '', metadata: {} }, ortBackend, { canonize: false });
  after(() => explainer.release());

  for (const engine of ['fused', 'ort', 'reference'] as const) {
    it(`conserves relevance (${engine})`, async () => {
      const x = float32([1, 4], [0.5, -0.2, 0.9, 0.3]);
      const r = await explainer.explain(x, { composite: 'epsilon', engine, target: 0, options: { epsilon: 1e-9 }, keepAll: true });
      expect(r.engine.used).to.equal(engine);
      const out = r.conservation.outputRelevance[0];
      expect(out).to.be.greaterThan(0.1);
      expect(r.conservation.inputRelevance[0]).to.be.closeTo(out, 1e-5 * Math.abs(out));
      // 'a' feeds s twice and t once: its relevance is the whole seed (s and t pass everything through)
      const a = r.values!.get('a')!;
      expect(a.reduce((p, v) => p + v, 0)).to.be.closeTo(out, 1e-5 * Math.abs(out));
    });
  }
});
