/** Which forward values the onnxruntime engine can do without. A linear node's output z read only by a Relu
 * is replaced by the Relu's output y = max(z, 0) when the relevance arriving at z is zero wherever z ≤ 0 (so
 * every rule reads z only where z = y > 0, and y has z's sign pattern for the gamma masks). Not exposing z
 * keeps onnxruntime's Conv+Relu fusion and saves fetching one tensor per layer. Browser-safe. */
import { Graph } from '../../../ir/graph';
import { LINEAR_CATEGORIES } from '../../../ops/op';
import { findOp } from '../../../ops/registry';
import { builtRule } from '../../../plan/built';
import { RulePlan } from '../../../plan/plan';

/** Linear-node outputs read by nothing but one Relu: z → the Relu's output. Depends on the graph only. */
export function reluAliases(graph: Graph): Map<string, string> {
  const out = new Map<string, string>();
  for (const node of graph.nodes) {
    const z = node.outputs[0];
    if (!z || node.outputs.length !== 1 || graph.isOutput(z)) continue;
    const cons = graph.consumers(z);
    if (cons.length !== 1 || cons[0].opType !== 'Relu' || cons[0].domain !== '' || cons[0].inputs.length !== 1) continue;
    // a linear op's rules read z only where relevance arrives (z > 0 here)
    if (!findOp(node.opType, node.domain)?.linear) continue;
    out.set(z, cons[0].outputs[0]);
  }
  return out;
}

/** Does the plan send zero relevance to `value` wherever the value is zero (for a Relu's input: ≤ 0)? */
export function zeroWhereZero(graph: Graph, plan: RulePlan, value: string): boolean {
  const byNode = new Map(plan.entries.map((e) => [e.node, e]));
  const memo = new Map<string, boolean>();
  const check = (v: string): boolean => {
    const hit = memo.get(v);
    if (hit !== undefined) return hit;
    memo.set(v, false);
    let ok = !graph.isOutput(v);
    for (const c of ok ? graph.consumers(v) : []) {
      const e = byNode.get(c.name);
      if (!e) continue; // sends no relevance back
      const rule = builtRule(e);
      // a linear rule: when its input relevance is the input times something (zero wherever the input is)
      if ((LINEAR_CATEGORIES as readonly string[]).includes(e.category)) ok = rule.kind === 'linear' && rule.proportional;
      else if (e.category === 'activation' && c.opType === 'Relu') {
        ok = rule.kind === 'pass' ? check(c.outputs[0]) : rule.kind === 'elementwise' && rule.rule.zeroWhereDerivativeZero;
      }
      else if (e.category === 'maxpool') ok = c.opType === 'MaxPool' && c.outputs.length === 1 && check(c.outputs[0]);
      // routing ops move values (each output element is an input element or a constant pad): zero stays zero
      else if (e.category === 'routing') ok = c.outputs.every((o) => !o || check(o));
      else ok = false;
      if (!ok) break;
    }
    memo.set(v, ok);
    return ok;
  };
  return check(value);
}

/** Whether every alias of `reluAliases` is valid for this plan (all are used, or none: false when one would
 * change the result). */
export function aliasesFor(graph: Graph, plan: RulePlan, aliases: Map<string, string>): boolean {
  for (const z of aliases.keys()) if (!zeroWhereZero(graph, plan, z)) return false;
  return true;
}
