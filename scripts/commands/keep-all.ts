/** `explain --keep-all`: every value's relevance as .npy files in a folder per method, with an index, and the
 * per-node conservation table (CSV and JSON) the explanation already holds. */
import * as fs from 'fs';
import * as path from 'path';
import { Explainer, InputExplanation, MethodResult, encodeNpy, float32, slug, writeFileAtomic } from '../../lib';

/** File-safe, unique (case-insensitively) names for values: other characters become '_', at most 100 long. */
export function safeNames(values: string[]): Map<string, string> {
  const used = new Set<string>();
  const out = new Map<string, string>();
  for (const v of values) {
    const base = v.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._-]+/, '').slice(0, 100) || 'value';
    let name = base;
    for (let k = 2; used.has(name.toLowerCase()); k++) name = `${base}-${k}`;
    used.add(name.toLowerCase());
    out.set(v, name);
  }
  return out;
}

/** A CSV cell: quoted when needed; text starting with = + - @ (a formula to spreadsheets) gets a leading '. */
function cell(x: string | number): string {
  if (typeof x === 'number') return Number.isFinite(x) ? String(x) : '';
  const t = /^[=+\-@\t\r]/.test(x) ? `'${x}` : x;
  return /[",\n\r]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

/** The per-node conservation table: one row per node and sample (relevance at the node's outputs, at its inputs,
 * and the share absorbed). */
export function conservationCsv(res: MethodResult): string {
  const c = res.explanation!.conservation;
  const lines = ['node,op,rule,sample,relevance_at_outputs,relevance_at_inputs,absorbed'];
  for (const n of c.nodes) n.atOutputs.forEach((r, s) => lines.push([n.node, n.op, n.rule, s, r, n.atInputs[s], n.absorbed[s]].map(cell).join(',')));
  return `${lines.join('\n')}\n`;
}

/** Writes, per method that kept its values, `STEM.METHOD.values/` (one .npy per value, index.json) and
 * `STEM.METHOD.conservation.{csv,json}`; returns one line per method for the user. */
export async function writeKeptRelevance(out: string, stem: string, ie: InputExplanation, explainer: Explainer): Promise<string[]> {
  const lines: string[] = [];
  for (const res of ie.results) {
    const e = res.explanation;
    const base = `${stem}.${slug(res.method.title)}`;
    if (!e?.values) {
      lines.push(`${res.method.title}: no per-node relevance (only LRP composites and single-pass gradient methods have it)`);
      continue;
    }
    const dir = path.join(out, `${base}.values`);
    fs.mkdirSync(dir, { recursive: true });
    const names = safeNames([...e.values.keys()]);
    const batch = e.targets.length;
    const index = [];
    for (const [value, data] of e.values) {
      const dims = e.valueDims?.get(value) ?? [batch, data.length / batch];
      const file = `${names.get(value)}.npy`;
      await writeFileAtomic(path.join(dir, file), encodeNpy(float32(dims, data)));
      const node = explainer.graph.producer(value);
      index.push({ file, value, shape: dims, node: node?.name ?? null, op: node?.opType ?? null, graphInput: !node });
    }
    await writeFileAtomic(path.join(dir, 'index.json'), JSON.stringify(index, null, 2));
    await writeFileAtomic(path.join(out, `${base}.conservation.csv`), conservationCsv(res));
    // what the backward pass started from, beside the sums it conserves
    const seed = { outputRelevance: e.outputRelevance, ...(e.dual !== undefined ? { dual: e.dual, clipped: e.clipped } : {}), ...(e.contrast !== undefined ? { contrast: e.contrast } : {}) };
    await writeFileAtomic(path.join(out, `${base}.conservation.json`), JSON.stringify({ ...seed, ...e.conservation }, null, 2));
    lines.push(`${res.method.title}: ${index.length} values' relevance in ${dir}, per-node conservation in ${base}.conservation.csv/.json`);
  }
  return lines;
}
