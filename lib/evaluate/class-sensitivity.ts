/** Class sensitivity (issue 15): for an input with ground-truth regions of two or more classes, the relevance mass
 * (and the pointing game) on each class's own region when that class is explained, and the rank correlation
 * between the maps of different classes (near 1: the map ignores which class is explained; Sixt et al. 2020). */
import { ExplainInputOptions, MethodInput, explainInput } from '../methods/run';
import { Explainer } from '../explain';
import { float32 } from '../tensor';
import { Box, localization } from './localization';
import { spearman } from './randomization';

export interface ClassSensitivity {
  /** the classes explained (those with a region), in order */
  classes: number[];
  /** per class: share of the positive relevance inside its own region (null: no positive relevance) */
  massOnOwn: (number | null)[];
  /** per class: 1 when the map's maximum lies in its own region */
  pointingOnOwn: number[];
  /** mean Spearman rank correlation between the channel-summed maps of every pair of classes (null: a constant map) */
  rankCorrelation: number | null;
}

/** Class sensitivity from one map per class (each [1, C, H, W], channel-summed here) and the classes' boxes. */
export function classSensitivity(maps: { dims: readonly number[]; data: Float32Array }[], classes: number[], boxes: Box[]): ClassSensitivity {
  if (maps.length !== classes.length || boxes.length !== classes.length) throw new Error(`class sensitivity: ${maps.length} maps, ${classes.length} classes, ${boxes.length} boxes`);
  const massOnOwn: (number | null)[] = [], pointingOnOwn: number[] = [];
  maps.forEach((m, i) => {
    const l = localization(float32(m.dims, m.data), boxes[i]);
    massOnOwn.push(Number.isNaN(l.massAccuracy[0]) ? null : l.massAccuracy[0]);
    pointingOnOwn.push(l.pointingHits[0]);
  });
  const flat = maps.map(channelSum);
  const rs: number[] = [];
  for (let a = 0; a < flat.length; a++) for (let b = a + 1; b < flat.length; b++) {
    const r = spearman(flat[a], flat[b]);
    if (Number.isFinite(r)) rs.push(r);
  }
  return { classes, massOnOwn, pointingOnOwn, rankCorrelation: rs.length ? rs.reduce((x, v) => x + v, 0) / rs.length : null };
}

/** Explains a single-sample input once per class of `regions` with every method of `opts` and measures the class
 * sensitivity of each result (by result title). */
export async function explainClasses(explainer: Explainer, input: MethodInput, regions: ReadonlyMap<number, Box>, opts: Omit<ExplainInputOptions, 'target'>): Promise<Map<string, ClassSensitivity>> {
  if ((input.tensor.dims[0] ?? 1) !== 1) throw new Error(`${input.file}: class sensitivity takes a single sample, got a batch of ${input.tensor.dims[0]}`);
  const classes = [...regions.keys()];
  const runs: Awaited<ReturnType<typeof explainInput>>[] = [];
  for (const c of classes) runs.push(await explainInput(explainer, input, { ...opts, target: c }));
  const out = new Map<string, ClassSensitivity>();
  runs[0].results.forEach((r, i) => {
    out.set(r.method.title, classSensitivity(runs.map((run) => run.results[i].relevance), classes, classes.map((c) => regions.get(c)!)));
  });
  return out;
}

function channelSum(m: { dims: readonly number[]; data: Float32Array }): Float32Array {
  const C = m.dims.length === 4 ? m.dims[1] : 1;
  const hw = m.data.length / C;
  const out = new Float32Array(hw);
  for (let c = 0; c < C; c++) for (let i = 0; i < hw; i++) out[i] += m.data[c * hw + i];
  return out;
}
