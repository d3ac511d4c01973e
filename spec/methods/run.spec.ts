/** One method type and one code path (lib/methods/run.ts): a `Method` runs through `runMethod` for explain,
 * audit and evaluate; the gradient family has one definition, so `gradient` named as a composite or as a method
 * gives the same map as the explainer's gradient composite, and a method gets only the options it reads. */
import { expect } from 'chai';
import * as path from 'path';
import { Explainer, Tensor, methodFor, methodName, methodsFor, openModel, readNpy, runMethod } from '../../lib';
import { FIXTURES } from '../helpers/paths';

const G = path.join(FIXTURES, 'golden');

describe('methods/run: one method type, one code path', () => {
  let e: Explainer;
  let x: Tensor & { data: Float32Array };
  before(() => { e = openModel(path.join(G, 'cnn_bn-op17.onnx')); x = readNpy(path.join(G, 'cnn_bn.input.npy')) as Tensor & { data: Float32Array }; });
  after(async () => { await e.release(); });

  it('methodFor: a METHODS name keeps the parameters it reads, a composite its options', () => {
    const params = { samples: 4, steps: 8, seed: 3, patch: 2 };
    expect(methodFor('smoothgrad', { epsilon: 1 }, params)).to.deep.equal({ title: 'smoothgrad', attribution: 'smoothgrad', attributionOptions: { samples: 4, seed: 3 } });
    expect(methodFor('gradient', { epsilon: 1 }, params)).to.deep.equal({ title: 'gradient', attribution: 'gradient' });
    expect(methodFor('epsilon', { epsilon: 1 }, params)).to.deep.equal({ title: 'epsilon', composite: 'epsilon', options: { epsilon: 1 } });
    expect(methodsFor(['epsilon'], undefined, { map: { rules: [] } }, ['occlusion'], params).map(methodName)).to.deep.equal(['epsilon', 'occlusion', 'rule-map']);
  });

  for (const name of ['gradient', 'gradient_x_input', 'guided_backprop', 'deconvnet']) {
    it(`${name}: the composite and the method give the explainer's map, bit for bit`, async () => {
      const direct = await e.explain(x, { composite: name });
      const calls: number[][] = [];
      const asComposite = await runMethod(e, x, { title: name, composite: name, options: { epsilon: 0.5 } }, { onProgress: (d, t) => calls.push([d, t]) });
      expect(calls, 'the composite name runs the method (gradientOf reports progress)').to.deep.equal([[0, x.dims[0]], [x.dims[0], x.dims[0]]]);
      const asMethod = await runMethod(e, x, { title: name, attribution: name });
      for (const r of [asComposite, asMethod]) {
        expect(r.relevance.data).to.deep.equal(direct.relevance.data);
        expect(r.outputRelevance).to.equal('one');
        expect(r.explanation?.plan.composite).to.equal(name);
      }
      const logit = await runMethod(e, x, { title: name, composite: name }, { outputRelevance: 'logit', keepAll: true });
      expect(logit.relevance.data).to.deep.equal((await e.explain(x, { composite: name, outputRelevance: 'logit' })).relevance.data);
      expect(logit.explanation?.values?.size).to.be.greaterThan(0);
    });
  }

  it('an LRP composite and a rule map run the explainer with their options', async () => {
    const r = await runMethod(e, x, { title: 'eps', composite: 'epsilon', options: { epsilon: 0.25 } }, { outputRelevance: 'one' });
    expect(r.relevance.data).to.deep.equal((await e.explain(x, { composite: 'epsilon', options: { epsilon: 0.25 }, outputRelevance: 'one' })).relevance.data);
    const map = { composite: 'epsilon_plus', rules: [{ category: 'dense' as const, rule: 'epsilon' as const }] };
    const m = await runMethod(e, x, { title: 'mine', ruleMap: map });
    expect(m.method.title).to.equal('mine');
    expect(m.relevance.data).to.deep.equal((await e.explain(x, { ruleMap: map })).relevance.data);
  });
});
