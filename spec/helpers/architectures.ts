/** Checks shared by spec/e2e/architectures*.spec.ts. */
import { expect } from 'chai';
import { Explanation } from '../../lib/explain';
import { LINEAR_CATEGORIES } from '../../lib/ops/op';

/** Invariants every explanation of a real architecture must meet, whatever the rules do to the totals:
 * the relevance is finite and shaped like the input; nodes other than linear layers (Conv, Gemm, … and
 * sums and average pools, whose stabiliser drops the relevance of outputs that are zero) neither absorb nor
 * create relevance (activations, BatchNorm passed through, routing, max pools, gates); and nothing is lost in the bookkeeping (what
 * the seed minus the input relevance leaves equals what the nodes report absorbing). */
export function checkExplanation(r: Explanation, what: string): void {
  expect(r.relevance.dims, `${what}: relevance shape`).to.deep.equal(r.inputs.values().next().value!.dims);
  expect(r.relevance.data.every(Number.isFinite), `${what}: finite relevance`).to.equal(true);
  const batch = r.scores.length;
  const category = new Map(r.plan.entries.map((e) => [e.node, e.category]));
  for (let s = 0; s < batch; s++) {
    const seed = r.conservation.outputRelevance[s];
    expect(Number.isFinite(seed) && seed !== 0, `${what}: sample ${s}: score ${seed}`).to.equal(true);
    let absorbed = 0;
    for (const n of r.conservation.nodes) {
      const d = n.atOutputs[s] - n.atInputs[s];
      absorbed += d;
      const c = category.get(n.node)!;
      if ((LINEAR_CATEGORIES as string[]).includes(c)) continue;
      const tol = 1e-4 * Math.max(Math.abs(n.atOutputs[s]), Math.abs(seed)) + 1e-7;
      expect(Math.abs(d), `${what}: sample ${s}: ${n.op} '${n.node}' (${n.rule}) takes ${n.atOutputs[s]} and passes on ${n.atInputs[s]}`).to.be.at.most(tol);
    }
    const leak = seed - r.conservation.inputRelevance[s] - absorbed;
    expect(Math.abs(leak), `${what}: sample ${s}: relevance unaccounted for`).to.be.at.most(1e-3 * Math.max(Math.abs(seed), Math.abs(absorbed)));
  }
}

