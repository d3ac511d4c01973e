/** The data of the small integer values a graph's shape subgraphs compute (Shape → Gather → Concat → Reshape,
 * ConstantOfShape → Equal → Where → Expand, the causal-mask Slices), decided by the input dims alone: the
 * fused engine's static shapes read them where a shape or an index comes from such a subgraph. Only what the
 * dims decide is computed here; a value that depends on the input's data stays unknown. Browser-safe. */
import { Node } from '../../../ir/graph';
import { attrInt, broadcastMap } from '../../../ops/op';

/** The data of small integer values (shapes, indices, masks) where the graph decides them: constants, and
 * what the shape subgraphs compute from the input dims. */
export type Known = (name: string | undefined) => number[] | null;

/** values larger than this are not tracked */
export const MAX_KNOWN = 4096;

const BINARY: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => a + b, Sub: (a, b) => a - b, Mul: (a, b) => a * b, Div: (a, b) => Math.trunc(a / b),
  Equal: (a, b) => Number(a === b), Less: (a, b) => Number(a < b), Greater: (a, b) => Number(a > b),
  And: (a, b) => Number(a && b), Or: (a, b) => Number(a || b), Max: Math.max, Min: Math.min,
};

const size = (d: readonly number[]) => d.reduce((a, v) => a * v, 1);

/** Output 0's data when the graph decides it (null: unknown, or too large to track). */
export function knownData(node: Node, dims: (name: string) => readonly number[], known: Known, out: readonly number[]): number[] | null {
  if (size(out) > MAX_KNOWN || (node.domain !== '' && node.domain !== 'ai.onnx')) return null;
  const ins = node.inputs.map((i) => (i ? known(i) : null));
  const all = ins.every((v, i) => v !== null || !node.inputs[i]);
  switch (node.opType) {
    case 'Shape': {
      const d = dims(node.inputs[0]);
      const r = d.length;
      const norm = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
      return d.slice(norm(attrInt(node, 'start', 0)), norm(attrInt(node, 'end', r)));
    }
    case 'ConstantOfShape': {
      const v = node.attrs.value as { data: ArrayLike<number | bigint> } | undefined;
      return new Array<number>(size(out)).fill(v ? Number(v.data[0]) : 0);
    }
    case 'Cast': case 'Identity': case 'Squeeze': case 'Unsqueeze': case 'Reshape': case 'Expand':
      if (!ins[0]) return null;
      return node.opType === 'Expand' ? Array.from(broadcastMap(dims(node.inputs[0]), out), (i) => ins[0]![i]) : ins[0];
    case 'Concat': return all ? ins.flatMap((v) => v ?? []) : null;
    case 'Gather': {
      if (!ins[0] || !ins[1] || dims(node.inputs[0]).length !== 1) return null;
      const n = ins[0].length;
      return ins[1].map((i) => ins[0]![i < 0 ? i + n : i]);
    }
    case 'Slice': {
      if (!all || dims(node.inputs[0]).length !== 1) return null;
      const [x, starts, ends] = ins as number[][];
      const step = ins[4]?.[0] ?? 1;
      const n = x.length;
      const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + n : v, lo), hi);
      const b = step > 0 ? clamp(starts[0], 0, n) : clamp(starts[0], -1, n - 1);
      const e = step > 0 ? clamp(ends[0], 0, n) : clamp(ends[0], -1, n - 1);
      const r: number[] = [];
      for (let i = b; step > 0 ? i < e : i > e; i += step) r.push(x[i]);
      return r;
    }
    case 'Range': {
      if (!all) return null;
      const [start, , delta] = ins.map((v) => v![0]);
      return Array.from({ length: out[0] }, (_, i) => start + i * delta);
    }
    case 'Not': return ins[0] ? ins[0].map((v) => Number(!v)) : null;
    case 'Where': {
      if (!all) return null;
      const maps = node.inputs.map((i) => broadcastMap(dims(i), out));
      return Array.from({ length: size(out) }, (_, o) => (ins[0]![maps[0][o]] ? ins[1]![maps[1][o]] : ins[2]![maps[2][o]]));
    }
    default: {
      const f = BINARY[node.opType];
      if (!f || !all || node.inputs.length !== 2) return null;
      const maps = node.inputs.map((i) => broadcastMap(dims(i), out));
      return Array.from({ length: size(out) }, (_, o) => f(ins[0]![maps[0][o]], ins[1]![maps[1][o]]));
    }
  }
}
