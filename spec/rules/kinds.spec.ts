import { expect } from 'chai';
import { NODE_RULES, RULES, buildRule } from '../../lib/rules/index';

describe('rule kinds (lib/rules/kinds.ts)', () => {
  const R = Float32Array.from([1, -2, 3, -4]);
  const x = Float32Array.from([0.5, -1, -0.5, 2]);
  const d = () => Float32Array.from([1, 0, 0, 1]);

  it('every linear rule is a node rule, and builds as kind linear with its declared proportionality', () => {
    for (const [name, def] of Object.entries(RULES)) {
      expect(NODE_RULES).to.have.property(name);
      const b = buildRule(name, name === 'zBox' ? { low: 0, high: 1 } : {}, 'linear', 'Conv', "node 'c'");
      expect(b.kind).to.equal('linear');
      if (b.kind === 'linear') expect(b.proportional).to.equal(def.proportional === true);
    }
  });

  it('element-wise rules: pass, gradient, guided, deconvnet, betaSmooth (betaSmooth only on a Relu)', () => {
    expect(buildRule('pass', {}, 'elementwise', 'Relu', 'n').kind).to.equal('pass');
    const run = (name: string, op = 'Relu') => {
      const b = buildRule(name, { betaSmooth: 2 }, 'elementwise', op, 'n');
      if (b.kind !== 'elementwise') throw new Error(`${name}: kind ${b.kind}`);
      return [...b.rule.backward(R, x, d, b.params)];
    };
    expect(run('gradient')).to.deep.equal([1, -0, 0, -4]);
    expect(run('guided')).to.deep.equal([1, 0, 0, 0]);
    expect(run('deconvnet')).to.deep.equal([1, 0, 3, 0]);
    const s = run('betaSmooth');
    s.forEach((v, k) => expect(v).to.be.closeTo(R[k] / (1 + Math.exp(-2 * x[k])), 1e-6));
    expect(run('betaSmooth', 'Sigmoid')).to.deep.equal(run('gradient', 'Sigmoid'));
  });

  it('gates split uniformly or route like the gradient; a rule with no form for a family is an error naming the node', () => {
    expect(buildRule('uniform', {}, 'gate', 'Mul', 'n').kind).to.equal('uniform');
    expect(buildRule('gradient', {}, 'gate', 'Mul', 'n').kind).to.equal('vjp');
    expect(buildRule('gradient', {}, 'routing', 'MaxPool', 'n').kind).to.equal('vjp');
    expect(() => buildRule('epsilon', {}, 'gate', 'Mul', "node 'm'")).to.throw("node 'm': rule 'epsilon' does not apply to gate ops");
    expect(() => buildRule('guided', {}, 'linear', 'Conv', "node 'c'")).to.throw(/unknown rule 'guided'/);
  });
});
