/** Model-randomisation sanity check (Adebayo et al. 2018, "Sanity checks for saliency maps"): re-initialise the
 * weights of the top layers (cascading, from the output down), re-explain the same inputs for the same classes
 * and measure how similar the maps stay (Spearman rank correlation, signed and of the absolute values). A method
 * whose maps barely change does not depend on what the model learned. Browser-safe. */
import { Explainer } from '../explain';
import { Graph, Node } from '../ir/graph';
import { AttributeOptions, attribute } from '../methods';
import { F32Tensor, gaussian, prng, spatialDims } from '../methods/util';
import { categoryOf } from '../ops/registry';
import { relevanceNodes } from '../plan/plan';
import { Tensor, float32, toNumbers } from '../tensor';

/** The conv / dense nodes with constant weights, in forward order. */
export function parametricLayers(graph: Graph): Node[] {
  return relevanceNodes(graph)
    .filter(({ node, category }) => (category === 'conv' || category === 'dense') && node.inputs[1] && graph.isConstant(node.inputs[1]))
    .map(({ node }) => node);
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** A copy of the graph whose named nodes have new weights and biases: Gaussian with the mean and standard
 * deviation of the originals (seeded by `seed` and the node name). */
export function randomizeLayers(graph: Graph, nodes: readonly string[], seed = 0): Graph {
  const spec = graph.toSpec();
  const done = new Set<string>();
  for (const name of nodes) {
    const node = graph.node(name);
    if (!node) throw new Error(`randomise: no node '${name}' in the graph`);
    if (categoryOf(node, graph) !== 'conv' && categoryOf(node, graph) !== 'dense') throw new Error(`randomise: node '${name}' (${node.opType}) is not a conv or dense layer`);
    node.inputs.slice(1).forEach((c, k) => {
      if (!c || !graph.isConstant(c) || done.has(c)) return;
      const t = graph.constant(c)!;
      if (t.dtype !== 'float32' && t.dtype !== 'float64' && t.dtype !== 'float16') return;
      const v = toNumbers(t);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
      const normal = gaussian(prng((seed * 7919 + hash(`${name}#${k}`)) >>> 0));
      spec.constants.set(c, float32(t.dims, Float32Array.from(v, () => mean + sd * normal())));
      done.add(c);
    });
  }
  return new Graph(spec);
}

/** Spearman rank correlation (average ranks for ties); NaN when either side is constant. */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`spearman: ${a.length} vs ${b.length} values`);
  const ra = ranks(a), rb = ranks(b);
  const n = a.length;
  const ma = (n + 1) / 2;
  let num = 0, da = 0, db = 0;
  for (let i = 0; i < n; i++) { num += (ra[i] - ma) * (rb[i] - ma); da += (ra[i] - ma) ** 2; db += (rb[i] - ma) ** 2; }
  return da === 0 || db === 0 ? NaN : num / Math.sqrt(da * db);
}

function ranks(v: ArrayLike<number>): Float64Array {
  const idx = [...Array(v.length).keys()].sort((i, j) => v[i] - v[j]);
  const r = new Float64Array(v.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && v[idx[j + 1]] === v[idx[i]]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}

/** Per-sample maps to compare: the channel sum of a [N, C, H, W] map, else each sample flattened. */
function sampleMaps(t: F32Tensor): Float32Array[] {
  const N = t.dims[0] ?? 1;
  if (t.dims.length === 4) {
    const { C, H, W } = spatialDims(t, 'map');
    return [...Array(N).keys()].map((n) => {
      const m = new Float32Array(H * W);
      for (let c = 0; c < C; c++) for (let i = 0; i < H * W; i++) m[i] += t.data[((n * C + c) * H * W) + i];
      return m;
    });
  }
  const per = t.data.length / N;
  return [...Array(N).keys()].map((n) => t.data.subarray(n * per, (n + 1) * per));
}

export interface RandomizationStep {
  /** the randomised nodes (top first) */
  layers: string[];
  /** per sample */
  spearman: number[];
  spearmanAbs: number[];
  meanSpearman: number;
  meanSpearmanAbs: number;
}

export interface RandomizationResult {
  method: string;
  targets: number[];
  steps: RandomizationStep[];
}

const nanMean = (v: number[]) => { const f = v.filter((x) => !Number.isNaN(x)); return f.length ? f.reduce((a, b) => a + b, 0) / f.length : NaN; };

/** Cascading randomisation from the top: `layers` = K randomises the top 1, 2, …, K parametric layers in turn
 * (default: all of them); a list of counts (e.g. [1, Infinity]) runs only those steps. The explained class
 * stays the original model's (its prediction, or `target`). */
export async function modelRandomization(explainer: Explainer, input: Tensor, opts: AttributeOptions & { layers?: number | number[]; seed?: number }): Promise<RandomizationResult> {
  const orig = await attribute(explainer, input, opts);
  const params = parametricLayers(explainer.graph).reverse();
  if (!params.length) throw new Error(`${explainer.source}: no conv or dense layer with constant weights to randomise`);
  const ks = Array.isArray(opts.layers)
    ? [...new Set(opts.layers.map((k) => Math.min(params.length, k)))]
    : [...Array(Math.min(params.length, opts.layers ?? params.length)).keys()].map((k) => k + 1);
  if (ks.some((k) => !(k >= 1))) throw new Error(`randomise: layer counts must be ≥ 1, got ${JSON.stringify(opts.layers)}`);
  const ref = sampleMaps(orig.relevance);
  const steps: RandomizationStep[] = [];
  for (const k of ks) {
    const layers = params.slice(0, k).map((n) => n.name);
    const derived = explainer.derive(randomizeLayers(explainer.graph, layers, opts.seed ?? 0), `${explainer.source} (top ${k} layer(s) randomised)`);
    try {
      const r = await attribute(derived, input, { ...opts, target: orig.targets });
      const maps = sampleMaps(r.relevance);
      const s = ref.map((m, n) => spearman(m, maps[n]));
      const sa = ref.map((m, n) => spearman(m.map(Math.abs), maps[n].map(Math.abs)));
      steps.push({ layers, spearman: s, spearmanAbs: sa, meanSpearman: nanMean(s), meanSpearmanAbs: nanMean(sa) });
    } finally {
      await derived.release();
    }
  }
  return { method: opts.method, targets: orig.targets, steps };
}
