/** Result assembly: from the propagated relevance to the `Explanation` (input relevance per graph input,
 * the conservation summary, warnings). */
import { Graph } from '../ir/graph';
import { RulePlan } from '../plan/plan';
import { Propagation } from '../propagate/core';
import { Tensor, float32 } from '../tensor';
import { vanishingWarnings } from '../warnings';
import { boundsWarnings } from './bounds';
import { Seed } from './seed';
import { EngineUse, ExplainError, Explanation } from './types';

export interface Assembly {
  source: string;
  graph: Graph;
  plan: RulePlan;
  feeds: Record<string, Tensor>;
  /** the forward pass's values, by name */
  values: Map<string, Tensor>;
  logits: Tensor & { data: Float32Array };
  seed: Seed;
  /** the relevance (every value's, or with the fused engine the inputs' unless keepAll) and the node sums */
  prop: Propagation & { valueDims?: ReadonlyMap<string, readonly number[]> };
  engine: EngineUse;
  /** whether the output relevance was asked for (false: the plan's default) */
  askedOutputRelevance: boolean;
  keepAll?: boolean;
}

/** The explanation of a propagation: throws when the relevance at an input is not finite. */
export function assembleExplanation(a: Assembly): Explanation {
  const { graph, plan, values, prop, seed } = a;
  const batch = a.logits.dims[0] ?? 1;
  const inputs = inputRelevance(graph, plan, values, prop.relevance);
  const first = inputs.get(graph.inputs[0].name)!;
  if (![...inputs.values()].every((r) => r.data.every(Number.isFinite))) throw nonFiniteRelevance(a.source, graph, prop.relevance);
  const inSums = sampleSums(first.data, batch);
  const absorbed = seed.sums.map((o, s) => (o === 0 ? 0 : (o - inSums[s]) / Math.abs(o)));
  return {
    relevance: first, inputs, output: a.logits, predictions: seed.predictions, targets: seed.targets, scores: seed.scores,
    outputRelevance: seed.mode, outputRelevanceDefault: !a.askedOutputRelevance, plan, engine: a.engine,
    conservation: {
      outputRelevance: seed.sums,
      inputRelevance: inSums,
      absorbed,
      nodes: prop.conservation.map((c) => ({ ...c, absorbed: c.atOutputs.map((v, s) => (v === 0 ? 0 : (v - c.atInputs[s]) / Math.abs(v))) })),
    },
    values: a.keepAll ? prop.relevance : undefined,
    warnings: [
      ...boundsWarnings(graph, plan, a.feeds),
      ...vanishingWarnings({ plan, relevance: first.data, scores: seed.scores, outputRelevance: seed.sums, inputRelevance: inSums, absorbed }),
    ],
    valueDims: a.keepAll ? new Map([...prop.relevance.keys()].flatMap((k) => { const d = values.get(k)?.dims ?? prop.valueDims?.get(k); return d ? [[k, [...d]] as [string, number[]]] : []; })) : undefined,
  };
}

/** The relevance of every graph input (zero where none arrived), times the input for gradient × input. */
function inputRelevance(graph: Graph, plan: RulePlan, values: Map<string, Tensor>, relevance: ReadonlyMap<string, Float32Array>): Map<string, Tensor & { data: Float32Array }> {
  const inputs = new Map<string, Tensor & { data: Float32Array }>();
  for (const i of graph.inputs) {
    const x = values.get(i.name)!;
    let r = relevance.get(i.name) ?? new Float32Array(x.data.length);
    if (plan.mode === 'gradient_x_input') r = r.map((v, k) => v * Number((x.data as Float32Array)[k]));
    inputs.set(i.name, float32(x.dims, r));
  }
  return inputs;
}

/** The error for relevance that overflowed or became NaN (non-finite weights, a stabiliser too small for the
 * values): names the node nearest the output whose relevance is finite at its outputs but not at an input. */
function nonFiniteRelevance(source: string, graph: Graph, relevance: ReadonlyMap<string, Float32Array>): ExplainError {
  const finite = (v: string) => relevance.get(v)?.every(Number.isFinite) ?? true;
  const at = [...graph.nodes].reverse().find((n) => n.outputs.every(finite) && n.inputs.some((i) => i && !finite(i)));
  const where = at ? ` at node '${at.name}' (${at.opType})` : '';
  return new ExplainError(`${source}: relevance is not finite${where} (NaN or ±Inf: non-finite weights or values, or a stabiliser too small for them); try a larger epsilon`);
}

function sampleSums(r: Float32Array, batch: number): number[] {
  const n = r.length / batch;
  return [...Array(batch).keys()].map((s) => { let v = 0; for (let i = s * n; i < (s + 1) * n; i++) v += r[i]; return v; });
}
