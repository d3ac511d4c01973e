/** Explanations of a batched backward pass with several seed row blocks (contrast.ts): each block is assembled as
 * its own explanation, then combined: CLRP's target minus dual (clipped at 0 unless asked otherwise), or one
 * explanation per contrast class. */
import { Propagation } from '../propagate/core';
import { Tensor, TypedArray, float32 } from '../tensor';
import { vanishingWarnings } from '../warnings';
import { blockOf } from './contrast';
import { Assembly, assembleExplanation } from './result';
import { Explanation } from './types';

/** The explanation of an assembly whose propagation stacked `k` seed blocks of the logits' batch. */
export function assembleBlocks(a: Assembly, k: number): Explanation {
  const batch = a.logits.dims[0] ?? 1;
  const parts = [...Array(k).keys()].map((b) => assembleExplanation({
    ...a, values: blockValues(a.values, b, k, batch), prop: blockProp(a.prop, b, k),
    seed: { ...a.seed, relevance: blockOf(a.seed.relevance, b, k), sums: a.seed.blockSums[b], norms: a.seed.blockNorms[b] },
  }));
  if (a.seed.mode === 'contrastive') return difference(parts[0], parts[1], a.seed.clip ?? true, a);
  const ks = a.seed.contrast ?? [];
  const all = parts.map((p, b) => ({ ...p, contrast: ks[b] }));
  return { ...all[0], moreContrasts: all.slice(1) };
}

/** CLRP: the target's explanation minus the dual's, clipped at 0 (`clip`) at every input; the conservation summary
 * and kept values are the (unclipped) differences. */
function difference(t: Explanation, d: Explanation, clip: boolean, a: Assembly): Explanation {
  const diff = (x: Float32Array, y: Float32Array) => x.map((v, i) => (clip ? Math.max(0, v - y[i]) : v - y[i]));
  const inputs = new Map([...t.inputs].map(([name, r]) => [name, float32(r.dims, diff(r.data, d.inputs.get(name)!.data))]));
  const relevance = inputs.get([...inputs.keys()][0])!;
  const batch = t.targets.length, per = relevance.data.length / batch;
  const outSums = t.conservation.outputRelevance.map((v, s) => v - d.conservation.outputRelevance[s]);
  const inSums = [...Array(batch).keys()].map((s) => relevance.data.subarray(s * per, (s + 1) * per).reduce((x, v) => x + v, 0));
  const norms = a.seed.blockNorms[0].map((n, s) => n + a.seed.blockNorms[1][s]);
  const absorbed = outSums.map((o, s) => (norms[s] === 0 ? 0 : (o - inSums[s]) / norms[s]));
  const sub = (x: number[], y: number[]) => x.map((v, s) => v - y[s]);
  const nodes = t.conservation.nodes.map((n, i) => {
    const m = d.conservation.nodes[i];
    const atOutputs = sub(n.atOutputs, m.atOutputs), atInputs = sub(n.atInputs, m.atInputs);
    return { ...n, atOutputs, atInputs, absorbed: atOutputs.map((v, s) => (v === 0 ? 0 : (v - atInputs[s]) / Math.abs(v))) };
  });
  const values = t.values && d.values ? new Map([...t.values].map(([name, r]) => [name, r.map((v, i) => v - d.values!.get(name)![i])])) : undefined;
  const blank = vanishingWarnings({ plan: a.plan, relevance: relevance.data, scores: t.scores, outputRelevance: outSums, inputRelevance: inSums, absorbed })
    .filter((w) => w.includes('exactly 0'));
  if (a.seed.dual === 'negated' && blank.length) {
    blank.splice(0, blank.length, 'the negated dual class gives the same map as the target when the output layer\'s rule ignores the weights\' signs (epsilon, z): use a composite with zPlus, alpha-beta or gamma there, or the others dual class');
  }
  return {
    ...t, relevance, inputs, values, dual: a.seed.dual, clipped: clip,
    conservation: { outputRelevance: outSums, inputRelevance: inSums, absorbed, nodes },
    warnings: [...t.warnings.filter((w) => !/exactly 0|absorbed/.test(w)), ...blank],
  };
}

/** The values of block `b`: rows b·N … of every value with k·N rows (the others, e.g. shapes, as they are). */
function blockValues(values: Map<string, Tensor>, b: number, k: number, batch: number): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, t] of values) {
    if (t.dims[0] !== k * batch || Array.isArray(t.data)) { out.set(name, t); continue; }
    const n = t.data.length / k;
    out.set(name, { dtype: t.dtype, dims: [batch, ...t.dims.slice(1)], data: (t.data as TypedArray).subarray(b * n, (b + 1) * n) });
  }
  return out;
}

function blockProp(p: Propagation, b: number, k: number): Propagation {
  return {
    relevance: new Map([...p.relevance].map(([name, r]) => [name, blockOf(r, b, k)])),
    conservation: p.conservation.map((c) => ({ ...c, atOutputs: blockOf(c.atOutputs, b, k), atInputs: blockOf(c.atInputs, b, k) })),
  };
}
