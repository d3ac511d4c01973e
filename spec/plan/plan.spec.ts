/** The rule plan (lib/plan): which rules a category accepts and which global options a rule reads come from the
 * rule table (lib/rules: NODE_RULES' categories, RULES' options and bounds); the default composite is
 * DEFAULT_COMPOSITE. */
import { expect } from 'chai';
import { Graph, Node } from '../../lib/ir/graph';
import { DEFAULT_COMPOSITE } from '../../lib/plan/composites';
import { buildPlan, optionParams } from '../../lib/plan/plan';
import { NODE_RULES, RULES, RULE_NAMES, rulesFor } from '../../lib/rules';
import { float32 } from '../../lib/tensor';

const node = (name: string, opType: string, inputs: string[], outputs: string[]): Node => ({ name, opType, domain: '', inputs, outputs, attrs: {} });

/** x → MatMul(w) → Relu → MatMul(v) → y: dense, activation, dense */
const graph = new Graph({
  nodes: [node('fc1', 'MatMul', ['x', 'w'], ['h']), node('relu', 'Relu', ['h'], ['a']), node('fc2', 'MatMul', ['a', 'v'], ['y'])],
  inputs: [{ name: 'x', dtype: 'float32', dims: [1, 4] }], outputs: [{ name: 'y', dtype: 'float32', dims: [1, 2] }],
  constants: new Map([['w', float32([4, 4], new Float32Array(16).fill(0.5))], ['v', float32([4, 2], new Float32Array(8).fill(0.25))]]),
  opsets: { '': 17 },
});

describe('plan: rules from the rule table', () => {
  it('each category accepts the rules that declare it', () => {
    for (const c of ['conv', 'dense', 'avgpool', 'sum']) expect(rulesFor(c), c).to.deep.equal(RULE_NAMES);
    expect(rulesFor('activation')).to.deep.equal(['pass', 'gradient', 'guided', 'deconvnet', 'betaSmooth']);
    expect(rulesFor('affine')).to.deep.equal(['pass', 'gradient']);
    expect(rulesFor('gate')).to.deep.equal(['gradient', 'uniform']);
    expect(rulesFor('maxpool')).to.deep.equal(['gradient']);
    expect(rulesFor('routing')).to.deep.equal(['gradient']);
    expect(rulesFor('shape')).to.deep.equal([]);
    expect(rulesFor('softmax')).to.deep.equal([]);
  });

  it('a rule map giving a rule outside its categories is refused, naming the rules that apply', () => {
    expect(() => buildPlan(graph, { ruleMap: { rules: [{ op: 'Relu', rule: 'uniform' }] } }))
      .to.throw("node 'relu' (Relu, activation): rule 'uniform' does not apply; use one of pass, gradient, guided, deconvnet, betaSmooth");
    expect(() => buildPlan(graph, { ruleMap: { rules: [{ category: 'dense', rule: 'guided' }] } })).to.throw(/rule 'guided' does not apply; use one of epsilon, zero/);
    const p = buildPlan(graph, { ruleMap: { rules: [{ op: 'Relu', rule: 'guided' }, { category: 'dense', rule: 'gradient' }] } });
    expect(p.entries.map((e) => e.rule)).to.deep.equal(['gradient', 'guided', 'gradient']);
  });

  it('the options a rule reads are its own declaration, filtered to its parameters', () => {
    for (const [name, def] of Object.entries(RULES)) {
      for (const param of Object.values(def.options ?? {})) expect(def.params, `${name} reads an option into '${param}'`).to.include(param);
    }
    const all = { epsilon: 0.5, normEpsilon: 0.01, gamma: 0.1, alpha: 3, beta: 2, low: -1, high: 2, zeroBias: true };
    expect(optionParams('alphaBeta', all)).to.deep.equal({ alpha: 3, beta: 2, zeroBias: true });
    expect(optionParams('zBox', all)).to.deep.equal({ low: -1, high: 2 });
    expect(optionParams('flat', all)).to.deep.equal({});
    expect(optionParams('gamma', { ...all, zeroBias: false })).to.deep.equal({ gamma: 0.1 });
    const p = buildPlan(graph, { options: { epsilon: 0.5, zeroBias: true }, ruleMap: { rules: [{ category: 'dense', rule: 'epsilon' }] } });
    expect(p.entries[0].params).to.deep.equal({ epsilon: 0.5, zeroBias: true });
  });

  it('only zBox is bounded; every rule of the table has categories', () => {
    expect(Object.entries(RULES).filter(([, d]) => d.bounded).map(([n]) => n)).to.deep.equal(['zBox']);
    for (const [name, def] of Object.entries(NODE_RULES)) expect(def.categories.length, name).to.be.greaterThan(0);
  });

  it('without a composite the plan uses DEFAULT_COMPOSITE', () => {
    expect(DEFAULT_COMPOSITE).to.equal('epsilon_plus_flat');
    const p = buildPlan(graph);
    expect(p.composite).to.equal(DEFAULT_COMPOSITE);
    expect(p.entries.map((e) => e.rule)).to.deep.equal(['flat', 'pass', 'epsilon']);
  });
});
