/** Issue 13's graph checklist, the parts the canonizer and e2e specs do not show by themselves, on the exported
 * fixtures of spec/fixtures/transformer: per-node conservation closes per sample (what AttnLRP does not conserve
 * is reported by the node that drops or creates it, and nodes that only move values conserve exactly, also where
 * nn.MultiheadAttention works sequence-first); a CLS token prepended by Concat of its Expand gets relevance that
 * its Concat reports as dropped; a learned or sinusoidal position embedding's share is reported by its Add and
 * dropped; the patch embedding is a strided Conv or a MatMul after Reshape/Transpose; pooling by Gather or
 * Slice of the CLS position, or ReduceMean over tokens. */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { Explainer, Explanation, Tensor, openModel, readNpy } from '../../lib';
import { FIXTURES } from '../helpers/paths';

const DIR = path.join(FIXTURES, 'transformer');
interface Case { name: string; inputs: { name: string; file: string }[]; files: Record<string, { file: string }> }
const manifest: { cases: Case[] } = JSON.parse(fs.readFileSync(path.join(DIR, 'manifest.json'), 'utf8'));
const feedsOf = (c: Case): Record<string, Tensor> => Object.fromEntries(c.inputs.map((i) => [i.name, readNpy(path.join(DIR, i.file))]));
const caseOf = (name: string) => manifest.cases.find((c) => c.name === name)!;
const sum = (a: ArrayLike<number>) => Array.from(a).reduce((p, q) => p + q, 0);

async function explainCase(name: string, opset: string, composite = 'attnlrp'): Promise<{ ex: Explainer; e: Explanation; feeds: Record<string, Tensor> }> {
  const c = caseOf(name);
  const ex = openModel(path.join(DIR, c.files[opset].file));
  const feeds = feedsOf(c);
  return { ex, e: await ex.explain(feeds, { composite, keepAll: true }), feeds };
}

/** The relevance of a value summed per token (axis 1 of a batch-first [N, T, …] value), sample 0. */
function perToken(e: Explanation, value: string): number[] {
  const r = e.values!.get(value)!;
  const [, T, ...rest] = e.valueDims!.get(value)!;
  const w = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: T }, (_, t) => sum(r.subarray(t * w, (t + 1) * w)));
}

describe('issue 13 checklist on the exported fixtures', function () {
  this.timeout(120000);

  for (const c of manifest.cases) {
    const opset = Object.keys(c.files).includes('17') ? '17' : Object.keys(c.files)[0];
    it(`${c.name} (opset ${opset}): per-node conservation closes per sample, and Transpose/Reshape nodes conserve exactly`, async () => {
      const { ex, e } = await explainCase(c.name, opset);
      try {
        const cons = e.conservation;
        for (let s = 0; s < cons.outputRelevance.length; s++) {
          const scale = Math.abs(cons.outputRelevance[s]) || 1;
          const absorbed = cons.nodes.reduce((a, n) => a + n.atOutputs[s] - n.atInputs[s], 0);
          expect(Math.abs(cons.outputRelevance[s] - cons.inputRelevance[s] - absorbed) / scale, `sample ${s}: relevance lost unreported`).to.be.below(1e-4);
          for (const n of cons.nodes.filter((x) => x.op === 'Transpose' || x.op === 'Reshape')) {
            expect(Math.abs(n.atOutputs[s] - n.atInputs[s]) / scale, `${n.node} sample ${s}`).to.be.below(1e-5);
          }
        }
      } finally {
        await ex.release();
      }
    });
  }

  for (const opset of ['13', '17']) {
    it(`vit_conv_gather (opset ${opset}): strided patch Conv; CLS by Concat of Expand, its share reported by the Concat; learned positions' share by their Add; CLS pooling by Gather`, async () => {
      const { ex, e, feeds } = await explainCase('vit_conv_gather', opset);
      try {
        const g = ex.graph;
        const plan = new Map(e.plan.entries.map((p) => [p.node, p]));
        const conv = g.nodes.find((n) => n.opType === 'Conv')!;
        expect(plan.get(conv.name)!.category).to.equal('conv');
        expect(conv.attrs.strides).to.deep.equal(conv.attrs.kernel_shape ?? [4, 4]);
        // CLS: a Concat whose other operand is computed from constants only; the relevance on token 0 is dropped there
        const concat = g.nodes.find((n) => n.opType === 'Concat' && plan.has(n.name))!;
        const cls = perToken(e, concat.outputs[0])[0];
        const nc = e.conservation.nodes.find((n) => n.node === concat.name)!;
        expect(Math.abs(cls)).to.be.above(1e-6);
        expect(nc.atOutputs[0] - nc.atInputs[0]).to.be.closeTo(cls, 1e-5 * (Math.abs(cls) + 1));
        await positionShareChecked(ex, e, feeds);
        // CLS pooling: Gather of position 0 on the token axis: relevance above it only on token 0
        const gather = g.nodes.find((n) => n.opType === 'Gather' && plan.has(n.name))!;
        const tokens = perToken(e, gather.inputs[0]);
        expect(tokens.slice(1).every((v) => v === 0)).to.equal(true);
        expect(tokens[0]).to.not.equal(0);
      } finally {
        await ex.release();
      }
    });
  }

  it('vit_linear_slice / vit_linear_mean: patch embedding by Reshape/Transpose + MatMul (dense); CLS pooling by Slice; mean pooling by ReduceMean (sumEpsilon)', async () => {
    for (const [name, pool] of [['vit_linear_slice', 'Slice'], ['vit_linear_mean', 'ReduceMean']] as const) {
      for (const opset of ['13', '17']) {
        const { ex, e } = await explainCase(name, opset);
        try {
          const g = ex.graph;
          const plan = new Map(e.plan.entries.map((p) => [p.node, p]));
          const first = e.plan.entries.find((p) => p.category === 'dense')!;
          expect(first.op).to.equal('MatMul');
          // fed through Reshape/Transpose from the image input
          let v = g.node(first.node)!.inputs[0];
          const path2: string[] = [];
          while (!g.inputs.some((i) => i.name === v)) { const p = g.producer(v)!; path2.push(p.opType); v = p.inputs[0]; }
          expect(path2.sort()).to.include.members(['Reshape', 'Transpose']);
          const last = e.plan.entries.filter((p) => p.op === pool).pop()!;
          const node = g.node(last.node)!;
          const tokens = perToken(e, node.inputs[0]);
          if (pool === 'Slice') {
            expect(tokens.slice(1).every((x) => x === 0), `${name} op${opset}: only the CLS token above the Slice`).to.equal(true);
          } else {
            expect(plan.get(node.name)).to.deep.include({ category: 'avgpool', rule: 'sumEpsilon' });
            expect(tokens.every((x) => x !== 0), `${name} op${opset}: every token pooled`).to.equal(true);
          }
        } finally {
          await ex.release();
        }
      }
    }
  });

  it('embed_meanpool: the sinusoidal position constant\'s share is reported by its Add (R·p/(x+p+ε)) and dropped', async () => {
    const { ex, e, feeds } = await explainCase('embed_meanpool', '17');
    try {
      await positionShareChecked(ex, e, feeds);
    } finally {
      await ex.release();
    }
  });
});

/** The Add of a constant (position embedding) on the relevance path reports as absorbed exactly the share
 * Σ R·p/(x + p + ε) of its relevance, and passes x·R/(x + p + ε) on. */
async function positionShareChecked(ex: Explainer, e: Explanation, feeds: Record<string, Tensor>): Promise<void> {
  const g = ex.graph;
  const add = e.plan.entries.find((p) => p.op === 'Add' && p.category === 'affine')!;
  const node = g.node(add.node)!;
  const ci = node.inputs.findIndex((i) => g.isConstant(i));
  const xName = node.inputs[1 - ci];
  const p = g.constant(node.inputs[ci])!.data as Float32Array;
  const x = (await ex.valuesOf(feeds, [xName], 'canonical')).get(xName)!.data as Float32Array;
  const R = e.values!.get(node.outputs[0])!;
  const per = x.length / e.conservation.outputRelevance.length;
  const eps = add.params.epsilon as number;
  let share = 0;
  for (let i = 0; i < per; i++) share += (R[i] * p[i % p.length]) / (x[i] + p[i % p.length] + eps);
  const n = e.conservation.nodes.find((k) => k.node === node.name)!;
  expect(Math.abs(share)).to.be.above(1e-6);
  expect(n.atOutputs[0] - n.atInputs[0]).to.be.closeTo(share, 1e-4 * (Math.abs(share) + Math.abs(n.atOutputs[0])));
}
