/** Rule-map entries and the global options (--epsilon, --zero-bias, …): an entry's own params win; the options
 * fill the params its rule declares, as the composites use them (epsilon: the epsilon rule's ε only). */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { COMPOSITE_NAMES, Explainer, RULES, RuleMap, Tensor, openModel, optionParams, readNpy } from '../../lib';
import { isRuleName } from '../../lib/rules';
import { FIXTURES, ROOT } from '../helpers/paths';

const G = path.join(FIXTURES, 'golden');
const MODEL = path.join(G, 'cnn_bn-op17.onnx');
const INPUT = path.join(G, 'cnn_bn.input.npy');
const CLI = path.join(ROOT, 'dist/scripts/cli.js');

/** epsilon_plus spelled out as a rule map */
const SPELLED: RuleMap = { composite: 'epsilon_plus', rules: [{ category: 'dense', rule: 'epsilon' }, { category: 'conv', rule: 'zPlus' }] };

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => v === b[i]);

describe('rule maps and the global options', () => {
  let e: Explainer;
  let x: Tensor;
  before(() => { e = openModel(MODEL); x = readNpy(INPUT); });
  after(async () => { await e.release(); });

  it('optionParams fills only what the rule declares; epsilon goes to the epsilon rule, normEpsilon to norm', () => {
    const o = { epsilon: 0.5, gamma: 0.1, low: -1, high: 2, zeroBias: true, normEpsilon: 0.01 };
    expect(optionParams('epsilon', o)).to.deep.equal({ epsilon: 0.5, zeroBias: true });
    expect(optionParams('zPlus', o)).to.deep.equal({ zeroBias: true });
    expect(optionParams('gamma', o)).to.deep.equal({ gamma: 0.1, zeroBias: true });
    expect(optionParams('norm', o)).to.deep.equal({ epsilon: 0.01, zeroBias: true });
    expect(optionParams('zBox', o)).to.include({ low: -1, high: 2 });
    expect(optionParams('pass', o)).to.deep.equal({});
    expect(optionParams('epsilon', {})).to.deep.equal({});
  });

  it('--epsilon and --zero-bias reach rule-map entries: a spelled-out composite gives the composite\'s numbers', async () => {
    for (const options of [{ epsilon: 0.5 }, { zeroBias: true }, { epsilon: 0.5, zeroBias: true }]) {
      const composite = await e.explain(x, { composite: 'epsilon_plus', options });
      const mapped = await e.explain(x, { ruleMap: SPELLED, options });
      const plain = await e.explain(x, { ruleMap: SPELLED });
      const what = JSON.stringify(options);
      expect(same(mapped.relevance.data, composite.relevance.data), what).to.equal(true);
      expect(same(mapped.relevance.data, plain.relevance.data), `${what} changes the map`).to.equal(false);
      for (const p of mapped.plan.entries.filter((q) => q.source.startsWith('rule-map'))) {
        if (options.zeroBias) expect(p.params.zeroBias, p.node).to.equal(true);
        if (options.epsilon && p.rule === 'epsilon') expect(p.params.epsilon, p.node).to.equal(0.5);
        if (p.rule === 'zPlus') expect(p.params.epsilon, p.node).to.equal(1e-6); // a stabiliser, not --epsilon
      }
    }
  });

  it('an entry\'s own params win over the global options', async () => {
    const own: RuleMap = { composite: 'epsilon_plus', rules: [
      { category: 'dense', rule: 'epsilon', params: { epsilon: 0.01, zeroBias: false } }, { category: 'conv', rule: 'zPlus', params: { zeroBias: false } },
    ] };
    const base = await e.explain(x, { ruleMap: own });
    const withOptions = await e.explain(x, { ruleMap: own, options: { epsilon: 0.5, zeroBias: true } });
    expect(same(withOptions.relevance.data, base.relevance.data)).to.equal(true);
    const dense = withOptions.plan.entries.find((p) => p.category === 'dense')!;
    expect(dense.params).to.include({ epsilon: 0.01 });
    expect(dense.params.zeroBias).to.equal(false);
  });

  it('--zero-bias works with every composite: zeroBias lands exactly on the rules that declare it', () => {
    for (const composite of COMPOSITE_NAMES) {
      const plan = e.plan({ composite, options: { zeroBias: true, low: -3, high: 3 } });
      for (const p of plan.entries) {
        if (!isRuleName(p.rule) || !['conv', 'dense'].includes(p.category)) continue;
        const declared = (RULES[p.rule].params as string[]).includes('zeroBias');
        for (const k of Object.keys(p.params)) expect(RULES[p.rule].params as string[], `${composite} ${p.node}`).to.include(k);
        // flat and zBox have no bias term: they take no zeroBias (and are not given one)
        if (declared && p.source === 'composite' && p.rule !== 'flat' && p.rule !== 'zBox') expect(p.params.zeroBias, `${composite} ${p.node} ${p.rule}`).to.equal(true);
      }
    }
  });

  it('CLI: --epsilon and --zero-bias change a rule-map result where the entry leaves them open, not where it sets them', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-rulemap-'));
    const open = path.join(tmp, 'open.json'), fixed = path.join(tmp, 'fixed.json');
    fs.writeFileSync(open, JSON.stringify(SPELLED));
    fs.writeFileSync(fixed, JSON.stringify({ composite: 'epsilon_plus', rules: [
      { category: 'dense', rule: 'epsilon', params: { epsilon: 1e-6, zeroBias: false } }, { category: 'conv', rule: 'zPlus', params: { zeroBias: false } },
    ] }));
    let k = 0;
    const map = (...args: string[]) => {
      const npy = path.join(tmp, `r${k++}.npy`);
      const r = spawnSync(process.execPath, [CLI, 'explain', MODEL, '--input', INPUT, ...args, '--save-npy', npy, '--quiet'], { encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
      return readNpy(npy).data as Float32Array;
    };
    for (const flags of [['--epsilon', '0.5'], ['--zero-bias']]) {
      expect(same(map('--rule-map', open, ...flags), map('--rule-map', open)), `${flags} on an open entry`).to.equal(false);
      expect(same(map('--rule-map', open, ...flags), map('--composite', 'epsilon_plus', ...flags)), `${flags}: as the composite`).to.equal(true);
      expect(same(map('--rule-map', fixed, ...flags), map('--rule-map', fixed)), `${flags} on an entry that sets it`).to.equal(true);
    }
  });
});
