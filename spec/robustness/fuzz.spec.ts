/** The seeded fuzz test (scripts/fuzz.ts), a seeded subset of the 1,000 cases `npm run fuzz` runs: every
 * mutation of the shipped models ends in a clear error or a valid explanation, never a crash, hang or OOM. */
import { expect } from 'chai';
import { FAILURES, FuzzResult, MUTATIONS, mutate, prng, runFuzz, seedModels, summarizeFuzz } from '../../scripts/fuzz';

/** The same seed as `npm run fuzz`; CI runs FUZZ_CASES of its 1,000 cases (default 150), picked by a seeded draw. */
const SEED = 1;
const CASES = Number(process.env.FUZZ_CASES ?? 150);

function subset(n: number, of = 1000): number[] {
  const rng = prng(2024);
  const all = Array.from({ length: of }, (_, i) => i);
  for (let i = all.length - 1; i > 0; i--) { const j = Math.floor(rng() * (i + 1)); [all[i], all[j]] = [all[j], all[i]]; }
  return all.slice(0, Math.min(n, of)).sort((a, b) => a - b);
}

describe('robustness: fuzz (seeded mutations of the shipped models)', function () {
  this.timeout(180000);

  before(function () {
    if (!seedModels().length) {
      console.log('      (skipped: no seed models under models/ or spec/fixtures/golden/)');
      this.skip();
    }
  });

  it('mutations are deterministic per seed and index, and cover byte- and protobuf-level kinds', () => {
    const a = mutate(SEED, 17, '/tmp/x/model');
    const b = mutate(SEED, 17, '/tmp/x/model');
    expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).to.equal(true);
    expect(a.detail).to.equal(b.detail);
    const kinds = new Set(Array.from({ length: 400 }, (_, i) => mutate(SEED, i, '/tmp/x/model').mutation));
    for (const k of ['truncate', 'byte-flips', 'init-wrong-dims', 'init-huge-dims', 'raw-data-length', 'drop-initializer', 'dangling-input', 'cycle', 'external-data']) {
      expect(kinds.has(k), k).to.equal(true);
    }
    expect([...kinds].every((k) => MUTATIONS.includes(k))).to.equal(true);
  });

  // a hang never ends; the threshold only has to exceed the slowest legitimate case on a loaded machine
  it(`${CASES} seeded cases: each a clear error or a finite explanation (no crash, hang > 60 s or OOM)`, async () => {
    const t0 = Date.now();
    const results = await runFuzz({ seed: SEED, indices: subset(CASES), timeoutMs: 60000, workers: 2 });
    const ms = Date.now() - t0;
    expect(results.length).to.equal(CASES);
    const fails = results.filter((r) => FAILURES.includes(r.outcome));
    if (fails.length) console.log(summarizeFuzz(results));
    expect(fails.map((r) => `#${r.index} ${r.outcome} [${r.seedModel}; ${r.mutation}: ${r.detail}] ${r.message.split('\n')[0]}`)).to.deep.equal([]);
    expect(results.filter((r) => r.outcome === 'explained').length, 'some mutations still explain').to.be.greaterThan(CASES / 10);
    expect(results.filter((r) => r.outcome === 'clear-error').length).to.be.greaterThan(CASES / 3);
    console.log(`      ${summarizeFuzz(results).split('\n')[0]} in ${(ms / 1000).toFixed(1)} s`);
  });

  it('the harness itself: a hanging case is killed at the timeout, a worker that runs out of memory is reported, and the run goes on', async () => {
    const results: FuzzResult[] = await runFuzz({
      // the injected hang blocks without spinning, so a long threshold costs wall time only; cases 0 and 3 take
      // well under a second alone, and 20 s leaves them room on a machine shared by many processes
      seed: SEED, indices: [0, 1, 2, 3], timeoutMs: 20000, workers: 1, heapMb: 64, inject: { 1: 'hang', 2: 'oom' },
    });
    expect(results.map((r) => r.outcome)).to.deep.equal([results[0].outcome, 'hang', 'died', results[3].outcome]);
    expect(FAILURES.includes(results[0].outcome)).to.equal(false);
    expect(FAILURES.includes(results[3].outcome)).to.equal(false);
    expect(results[1].message).to.match(/still running after 20000 ms/);
    expect(results[2].message).to.match(/worker exited/);
  });
});
