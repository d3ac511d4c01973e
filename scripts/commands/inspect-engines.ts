/** `inspect`'s engine report: one explanation of a synthetic input with the plan shown, on the engine `auto`
 * picks; which engine that is and why, and every node that runs on the reference kernels (TypeScript) rather
 * than onnxruntime with its reason (the engine's `referenceReasons()`, or the op's declared lowering). */
import { Explainer, ReferenceNode, RulePlan, Tensor, ValueInfo, float32 } from '../../lib';

export interface EngineReport {
  /** the probe's input shapes */
  inputs: Record<string, number[]>;
  /** the engine `auto` ran, and why not the fused one when it fell back */
  auto: { used: string; note?: string };
  /** nodes on the reference kernels in the per-layer engine (empty when the fused engine ran them all) */
  reference: ReferenceNode[];
}

/** A synthetic input for each graph input (a symbolic batch is 1), or why none can be made. */
export function probeInputs(inputs: readonly ValueInfo[]): Record<string, Tensor> | string {
  const feeds: Record<string, Tensor> = {};
  for (const i of inputs) {
    const dims = (i.dims ?? []).map((d, k) => (typeof d === 'number' ? d : k === 0 ? 1 : NaN));
    if (!i.dims || dims.some((d) => !Number.isInteger(d))) return `input '${i.name}' has symbolic dimensions [${(i.dims ?? []).map((d) => d ?? '?').join(', ')}]: the engine is chosen per input shape`;
    const n = dims.reduce((a, d) => a * d, 1);
    if (i.dtype === 'float32') feeds[i.name] = float32(dims, Float32Array.from({ length: n }, (_, k) => 0.5 * Math.sin(0.7 * k)));
    else if (i.dtype === 'int64') feeds[i.name] = { dtype: 'int64', dims, data: new BigInt64Array(n) }; // token id 0
    else return `input '${i.name}' is ${i.dtype}: no synthetic input for it`;
  }
  return feeds;
}

/** Explains the probe input with `plan`'s composite (or rule map) on the `auto` engine. */
export async function engineReport(explainer: Explainer, plan: RulePlan, feeds: Record<string, Tensor>): Promise<EngineReport> {
  const e = await explainer.explain(feeds, { composite: plan.composite, options: plan.options, engine: 'auto' });
  return {
    inputs: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, [...t.dims]])),
    auto: { used: e.engine.used, ...(e.engine.note ? { note: e.engine.note } : {}) },
    reference: e.engine.used === 'fused' ? [] : explainer.referenceNodes(e.plan),
  };
}

/** The report as lines: the engine, then the reference nodes grouped by reason (a few names each). */
export function engineLines(r: EngineReport, total: number): string[] {
  const shapes = Object.entries(r.inputs).map(([k, d]) => `${k} [${d.join(', ')}]`).join(', ');
  const lines = [`engines (one explanation of a synthetic ${shapes}):`];
  lines.push(`  auto picks ${r.auto.used}${r.auto.note ? ` (${r.auto.note})` : r.auto.used === 'fused' ? ': the whole explanation as one onnxruntime graph' : ''}`);
  if (r.auto.used === 'fused') {
    lines.push('  on the reference kernels: none (the fused engine runs every node in onnxruntime)');
    return lines;
  }
  lines.push(`  on the reference kernels (TypeScript) rather than onnxruntime: ${r.reference.length ? `${r.reference.length} of ${total} nodes` : 'none'}`);
  const groups = new Map<string, { op: string; reason: string; nodes: string[] }>();
  for (const n of r.reference) {
    const reason = n.reason.startsWith(`${n.op}: `) ? n.reason.slice(n.op.length + 2) : n.reason;
    const g = groups.get(`${n.op}\u0000${reason}`) ?? { op: n.op, reason, nodes: [] };
    g.nodes.push(n.node);
    groups.set(`${n.op}\u0000${reason}`, g);
  }
  for (const { op, reason, nodes } of groups.values()) {
    const names = nodes.slice(0, 3).map((x) => `'${x}'`).join(', ') + (nodes.length > 3 ? `, … (${nodes.length - 3} more)` : '');
    lines.push(`    ${op} ×${nodes.length} (${names}): ${reason}`);
  }
  return lines;
}
