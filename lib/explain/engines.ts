/** Which nodes of an explanation ran in onnxruntime and which on the reference kernels (TypeScript), with the
 * reason for each of the latter: read from the engine itself (`referenceReasons()`, the nodes it handled) and
 * from each op's declared lowering (`OpDef.lowering`), never from a list of ops here. */
import type { KernelExecutor } from '../propagate/engine/executor';
import { findOp } from '../ops/registry';
import { RulePlan } from '../plan/plan';

export interface ReferenceNode {
  node: string;
  op: string;
  category: string;
  rule: string;
  /** the engine's reason, or the op's (`OpDef.lowering`), or that the rule's step is not one the engine is
   * offered */
  reason: string;
}

/** An executor that also records every node it handled (any of its methods taking a node context and
 * answering something other than null), whatever methods the executor interface grows. */
export function recording<E extends KernelExecutor>(exec: E): { executor: E; handled: Set<string> } {
  const handled = new Set<string>();
  const executor = new Proxy(exec, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const out = (v as (...a: unknown[]) => unknown).apply(target, args);
        const name = (args[0] as { node?: { name?: unknown } } | undefined)?.node?.name;
        if (typeof name !== 'string') return out;
        return Promise.resolve(out).then((r) => {
          if (r !== null && r !== undefined) handled.add(name);
          return r;
        });
      };
    },
  });
  return { executor, handled };
}

/** The plan's nodes that did not run in onnxruntime on the per-layer engine, each with why. */
export function referenceNodes(plan: RulePlan, handled: ReadonlySet<string>, reasons: ReadonlyMap<string, string>): ReferenceNode[] {
  const out: ReferenceNode[] = [];
  for (const e of plan.entries) {
    if (handled.has(e.node)) continue;
    const low = findOp(e.op)?.lowering;
    const declared = low && 'none' in low ? `${e.op}: ${low.none}` : undefined;
    const reason = reasons.get(e.node) ?? declared ?? `${e.op}: its ${e.category} rule '${e.rule}' runs in TypeScript (not a step the onnxruntime engine is offered)`;
    out.push({ node: e.node, op: e.op, category: e.category, rule: e.rule, reason });
  }
  return out;
}
