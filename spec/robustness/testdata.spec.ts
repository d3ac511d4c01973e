/** Debian's libonnx-testdata (the ONNX project's backend test models): every model loads into the IR or fails
 * with a clear, named error, and the forward-path canonizers keep onnxruntime's outputs (scripts/robustness.ts;
 * `npm run robustness` prints the full table). Skips with a message where the package is absent. */
import { expect } from 'chai';
import {
  Case, ExplainResult, LoadResult, OutputMode, OutputResult, TESTDATA, checkExplain, checkLoad, checkOutputs, crashReason, formatSummary,
  listCases, summarize,
} from '../../scripts/robustness';
import { prng } from '../helpers/onnx';

/** The canonizer-output check runs on every eligible model unless ROBUSTNESS_SUBSET=N picks a seeded subset. */
const SUBSET = Number(process.env.ROBUSTNESS_SUBSET ?? 0);

describe('robustness: libonnx-testdata', function () {
  this.timeout(120000);
  let cases: Case[] = [];
  let loads: LoadResult[] = [];
  const outputs: OutputResult[] = [];
  const explains: ExplainResult[] = [];

  before(function () {
    cases = listCases();
    if (!cases.length) {
      console.log(`      (skipped: ${TESTDATA} not found; install Debian's libonnx-testdata — .ci/run does — or set ONNX_TESTDATA)`);
      this.skip();
    }
  });

  it('every model loads into the IR or fails with a clear, named error (no uncaught exception)', () => {
    const t0 = Date.now();
    loads = cases.map(checkLoad);
    const ms = Date.now() - t0;
    const crashes = loads.filter((r) => r.status === 'crash');
    expect(crashes.map((r) => `${r.id}: ${r.message}`)).to.deep.equal([]);
    for (const r of loads.filter((x) => x.status === 'refused')) {
      expect(r.message, r.id).to.include(cases.find((c) => c.id === r.id)!.model);
      expect(r.kind, r.id).to.not.match(/^crash/);
    }
    // every refusal falls in a named kind, not the generic fallback
    const kinds = summarize(loads).kinds.map(([k]) => k);
    expect(kinds.filter((k) => /^(ModelLoadError|GraphError|Error): /.test(k))).to.deep.equal([]);
    expect(loads.filter((r) => r.status === 'supported').length).to.be.greaterThan(250);
    console.log(`      loaded ${loads.length} models in ${(ms / 1000).toFixed(1)} s`); // timing is printed, not asserted
  });

  for (const mode of ['as-is', 'frozen', 'constant'] as OutputMode[]) {
    const title = {
      'as-is': 'models whose ops are all supported',
      frozen: 'with every input but the first frozen into an initializer',
      constant: 'with every input frozen (the constant folder)',
    }[mode];
    it(`forward-path canonizers keep onnxruntime's outputs and the shipped ones: ${title}`, async function () {
      if (!loads.length) this.skip();
      let eligible = loads.filter((r) => r.model && (mode === 'as-is' ? r.status === 'supported'
        : (r.status === 'supported' || r.status === 'unsupported') && (mode === 'constant' || r.model.graph.inputs.length >= 2)));
      if (SUBSET > 0 && eligible.length > SUBSET) {
        const rng = prng(6);
        eligible = eligible.map((r) => ({ r, k: rng() })).sort((a, b) => a.k - b.k).slice(0, SUBSET).map(({ r }) => r);
      }
      const results: OutputResult[] = [];
      for (const r of eligible) {
        try {
          results.push(await checkOutputs(cases.find((c) => c.id === r.id)!, r.model!, mode));
        } catch (e) {
          results.push({ id: r.id, status: 'crash', message: crashReason(e) ?? (e as Error).message, ms: 0, mode });
        }
      }
      outputs.push(...results);
      const bad = results.filter((o) => o.status === 'differs' || o.status === 'crash');
      expect(bad.map((o) => `${o.id}: ${o.message}`)).to.deep.equal([]);
      const same = results.filter((o) => o.status === 'same');
      expect(same.length, `${results.length} checked`).to.be.greaterThan(mode === 'as-is' ? 250 : 100);
      if (mode === 'constant') expect(same.every((o) => o.actions?.some((a) => /^folded /.test(a)))).to.equal(true);
    });
  }

  for (const mode of ['as-is', 'frozen'] as const) {
    it(`explains ${mode === 'as-is' ? 'every supported model' : 'every model with its inputs but the first frozen'} on the shipped inputs: finite relevance (the same from both engines) or a clear error`, async function () {
      if (!loads.length) this.skip();
      const eligible = loads.filter((r) => r.model && (mode === 'as-is' ? r.status === 'supported' : (r.status === 'supported' || r.status === 'unsupported') && r.model.graph.inputs.length >= 2));
      const results: ExplainResult[] = [];
      for (const r of eligible) results.push(await checkExplain(cases.find((c) => c.id === r.id)!, r.model!, mode));
      explains.push(...results);
      const bad = results.filter((e) => ['crash', 'unclear', 'nonfinite', 'engines-differ'].includes(e.status));
      expect(bad.map((e) => `${e.id}: ${e.status} ${e.message}`)).to.deep.equal([]);
      expect(results.filter((e) => e.status === 'explained').length).to.be.greaterThan(mode === 'as-is' ? 200 : 100);
    });
  }

  after(() => {
    if (!loads.length) return;
    const text = formatSummary(summarize(loads, outputs, explains));
    if (process.env.ROBUSTNESS_VERBOSE) console.log(text.replace(/^/gm, '      '));
    else console.log(`      ${text.split('\n')[0]}; ${summarize(loads).kinds.length} kinds (npm run robustness prints the table)`);
  });
});
