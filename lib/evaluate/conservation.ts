/** Conservation, per node and end to end, from an Explanation's conservation report (the explainer measures it
 * during the backward pass; this module summarises and formats it). Browser-safe. */
import { Explanation } from '../explain';

export interface ConservationRow {
  node: string;
  op: string;
  rule: string;
  /** mean over the samples of the relevance entering the node, summed over its outputs */
  atOutputs: number;
  /** mean over the samples of the relevance leaving the node, summed over its live inputs */
  atInputs: number;
  /** mean of (atOutputs − atInputs) / |atOutputs|: the share absorbed by biases and stabilisers (negative: created) */
  absorbed: number;
}

export interface ConservationReport {
  composite: string;
  /** end to end, means over the samples */
  output: number;
  input: number;
  absorbed: number;
  /** per sample */
  perSample: { output: number; input: number; absorbed: number }[];
  nodes: ConservationRow[];
}

const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);

export function conservationReport(e: Explanation): ConservationReport {
  const c = e.conservation;
  return {
    composite: e.plan.composite,
    output: mean(c.outputRelevance), input: mean(c.inputRelevance), absorbed: mean(c.absorbed),
    perSample: c.outputRelevance.map((o, s) => ({ output: o, input: c.inputRelevance[s], absorbed: c.absorbed[s] })),
    nodes: c.nodes.map((n) => ({ node: n.node, op: n.op, rule: n.rule, atOutputs: mean(n.atOutputs), atInputs: mean(n.atInputs), absorbed: mean(n.absorbed) })),
  };
}

/** A plain-text table: one line per node, then the end-to-end line. */
export function formatConservation(r: ConservationReport): string {
  const w = Math.min(48, Math.max(4, ...r.nodes.map((n) => n.node.length)));
  const num = (v: number) => v.toPrecision(5).padStart(12);
  const lines = [`conservation (${r.composite}), means over samples`, `${'node'.padEnd(w)} ${'op'.padEnd(18)} ${'rule'.padEnd(10)} ${'R at outputs'.padStart(12)} ${'R at inputs'.padStart(12)} ${'absorbed'.padStart(9)}`];
  for (const n of r.nodes) {
    const name = n.node.length > w ? `…${n.node.slice(-(w - 1))}` : n.node;
    lines.push(`${name.padEnd(w)} ${n.op.padEnd(18)} ${n.rule.padEnd(10)} ${num(n.atOutputs)} ${num(n.atInputs)} ${(100 * n.absorbed).toFixed(2).padStart(8)}%`);
  }
  lines.push(`${'end to end'.padEnd(w)} ${''.padEnd(18)} ${''.padEnd(10)} ${num(r.output)} ${num(r.input)} ${(100 * r.absorbed).toFixed(2).padStart(8)}%`);
  return lines.join('\n');
}
