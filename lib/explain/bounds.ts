/** Warnings for inputs outside the bounds a bounded rule (zBox) assumes. */
import { Graph } from '../ir/graph';
import { isFloat } from '../ops/op';
import { RulePlan } from '../plan/plan';
import { RULES, isRuleName } from '../rules';
import { Tensor } from '../tensor';

/** A warning per layer with a bounded rule (RULES[rule].bounded: zBox) reading a model input with values
 * outside its [low, high] bounds: the rule assumes low ≤ x ≤ high, so such a map is unreliable (wrong bounds,
 * or preprocessing other than the bounds imply). */
export function boundsWarnings(graph: Graph, plan: RulePlan, feeds: Record<string, Tensor>): string[] {
  const out: string[] = [];
  for (const e of plan.entries) {
    if (!isRuleName(e.rule) || !RULES[e.rule].bounded || e.params.low === undefined || e.params.high === undefined) continue;
    const node = graph.node(e.node);
    for (const name of (node?.inputs ?? []).map((v) => feedBehind(graph, v))) {
      const x = name === undefined ? undefined : feeds[name];
      if (!x || !isFloat(x)) continue;
      const w = outsideBounds(x, e.params.low, e.params.high);
      if (w) out.push(`input '${name}': ${w.count} of ${x.data.length} values lie outside the ${e.rule} bounds of node '${e.node}' (values in [${fmtNum(w.min)}, ${fmtNum(w.max)}], bounds [${fmtBounds(e.params.low)}] to [${fmtBounds(e.params.high)}]); the ${e.rule} rule assumes low ≤ x ≤ high, so this map is unreliable: check the preprocessing or --low/--high`);
    }
  }
  return out;
}

/** Ops that move a value without changing it: the bounds of a layer behind them are the model input's. */
const MOVES = new Set(['Flatten', 'Reshape', 'Transpose', 'Identity', 'Squeeze', 'Unsqueeze']);

/** The graph input that `value` is (behind a chain of MOVES ops), if any. */
function feedBehind(graph: Graph, value: string): string | undefined {
  for (let v = value, k = 0; k < 16; k++) {
    if (graph.inputs.some((i) => i.name === v)) return v;
    const p = graph.producer(v);
    if (!p || !MOVES.has(p.opType) || !p.inputs[0]) return undefined;
    v = p.inputs[0];
  }
  return undefined;
}

const fmtNum = (v: number) => Number(v.toPrecision(4)).toString();
const fmtBounds = (b: number | readonly number[]) => (typeof b === 'number' ? [b] : [...b]).map(fmtNum).join(',');

/** Values of x (NCHW-like: channel = axis 1 when the bounds are per channel) below low or above high, beyond a
 * float32 rounding tolerance; null when all are inside. */
function outsideBounds(x: Tensor, low: number | readonly number[], high: number | readonly number[]): { count: number; min: number; max: number } | null {
  const data = x.data as ArrayLike<number>;
  const C = x.dims.length > 1 ? x.dims[1] : 1;
  const inner = x.dims.slice(2).reduce((a, d) => a * d, 1);
  const perChannel = (b: number | readonly number[], pick: (...v: number[]) => number) =>
    Array.from({ length: C }, (_, c) => (typeof b === 'number' ? b : b.length === C ? b[c] : pick(...b)));
  const los = perChannel(low, Math.min), his = perChannel(high, Math.max);
  const tols = los.map((lo, c) => 1e-4 * Math.max(1, Math.abs(his[c] - lo)));
  let count = 0, min = Infinity, max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const c = Math.floor(i / inner) % C, v = data[i];
    if (!(v >= los[c] - tols[c] && v <= his[c] + tols[c])) count++;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return count ? { count, min, max } : null;
}
