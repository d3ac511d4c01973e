/** `npm run architectures`: explains real architectures end to end and records their conservation.
 * - The ONNX project's light graphs (`../shared/models/onnx-light/*.onnx`, opset 9, weights stripped to
 *   `ConstantOfShape` fills): filled with seeded, calibrated random weights (scripts/random-weights.ts),
 *   explained at their native 224×224, batch 1.
 * - torchvision architectures exported by scripts/export_torchvision.py into the cache
 *   ($ONNX_LRP_CACHE/torchvision, default ~/.cache/onnx-lrp/torchvision), explained on their batch-2 sample.
 * Each CNN is explained with epsilon_plus_flat and epsilon_gamma_box (bounds ±3), each transformer (vit_b_16)
 * with attnlrp, the composite it gets by default (lib/plan/default.ts: `compositesFor`). Results go to
 * docs/architectures.json (merged with the rows of models not run), and the tables of verified architectures
 * (docs/architectures.md, README.md) are regenerated from it (scripts/ops-table.ts).
 *
 *   npm run architectures [-- --only resnet50,googlenet] [--no-onnx-light] [--no-torchvision] [--json FILE]
 *
 * The functions are shared with spec/e2e/architectures*.spec.ts (which runs a subset in CI). */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { canonize } from '../lib/canonize';
import { Explainer, Explanation } from '../lib/explain';
import { ortBackend } from '../lib/forward/ort';
import { Graph } from '../lib/ir/graph';
import { inferDtypes } from '../lib/ops/dtypes';
import { loadModelFile, readNpy } from '../lib/node-io';
import { saveModel } from '../lib/onnx/save';
import { LINEAR_CATEGORIES } from '../lib/ops/op';
import { TRANSFORMER_COMPOSITE } from '../lib/plan/default';
import { Tensor } from '../lib/tensor';
import { calibrateWeights, randomInput } from './random-weights';

export const ROOT = path.resolve(__dirname, '../..');
export const SHARED = process.env.SHARED_DIR ?? path.resolve(ROOT, '../shared');
export const ONNX_LIGHT_DIR = 'models/onnx-light';
export const COMPOSITES = ['epsilon_plus_flat', 'epsilon_gamma_box'] as const;
/** The composites a transformer is explained with. */
export const TRANSFORMER_COMPOSITES = [TRANSFORMER_COMPOSITE] as const;
/** Every composite of the table, in its column order. */
export const ALL_COMPOSITES: readonly string[] = [...COMPOSITES, ...TRANSFORMER_COMPOSITES];
export const BOUNDS = { low: -3, high: 3 };
export const RESULTS_FILE = path.join(ROOT, 'docs/architectures.json');

export const ONNX_LIGHT = [
  'bvlc_alexnet', 'densenet121', 'inception_v1', 'inception_v2', 'resnet50', 'shufflenet', 'squeezenet', 'vgg19', 'zfnet512',
] as const;

/** The torchvision models scripts/export_torchvision.py exports (same names). */
export const TORCHVISION = [
  'resnet18', 'resnet50', 'vgg16_bn', 'densenet121', 'mobilenet_v2', 'mobilenet_v3_small', 'efficientnet_b0',
  'shufflenet_v2_x1_0', 'squeezenet1_1', 'googlenet', 'regnet_x_400mf', 'vit_b_16',
] as const;

/** Where exported models are cached: $ONNX_LRP_CACHE, default ~/.cache/onnx-lrp (never inside the repo). */
export function cacheDir(): string {
  return process.env.ONNX_LRP_CACHE || path.join(os.homedir(), '.cache', 'onnx-lrp');
}

export function torchvisionDir(): string {
  return path.join(cacheDir(), 'torchvision');
}

export interface TorchvisionEntry {
  name: string;
  file: string;
  input: number[];
  opset: number;
  sample: string;
  logits: string;
  params: number;
  bytes: number;
}

/** The export manifest's entries whose files are present (none when nothing was exported here). */
export function torchvisionManifest(): TorchvisionEntry[] {
  const file = path.join(torchvisionDir(), 'manifest.json');
  if (!fs.existsSync(file)) return [];
  const m = JSON.parse(fs.readFileSync(file, 'utf8')) as { models: TorchvisionEntry[] };
  return m.models.filter((e) => [e.file, e.sample, e.logits].every((f) => fs.existsSync(path.join(torchvisionDir(), f))));
}

const meanSquare = (a: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * a[i]; return a.length ? s / a.length : 0; };

/** Runs a graph on one input in onnxruntime and returns E[x²] and the size of every float value. */
export function momentProbe(input: Tensor) {
  return async (graph: Graph): Promise<Map<string, { moment: number; size: number }>> => {
    const dtypes = inferDtypes(graph);
    const names = [...new Set(graph.nodes.flatMap((n) => n.outputs))].filter((o) => o && (dtypes.get(o) ?? 'float32') === 'float32');
    const bytes = saveModel(graph, { extraOutputs: names.map((name) => ({ name, dtype: 'float32' as const, dims: null })) });
    const session = await ortBackend.create(bytes, { threads: 0 });
    try {
      const values = await session.run({ [graph.inputs[0].name]: input }, names);
      const out = new Map<string, { moment: number; size: number }>();
      for (const [k, v] of values) out.set(k, { moment: meanSquare(v.data as Float32Array), size: v.data.length });
      out.set(graph.inputs[0].name, { moment: meanSquare(input.data as Float32Array), size: input.data.length });
      return out;
    } finally {
      await session.release();
    }
  };
}

export interface Prepared {
  name: string;
  source: string;
  graph: Graph;
  input: Tensor & { data: Float32Array };
  /** E[y²] of every Conv/Gemm output of the canonized graph (BatchNorm and bias merged), measured on the
   * input after calibration */
  linearMoments: number[];
  /** PyTorch's logits for the input (torchvision only) */
  reference?: Float32Array;
}

/** An onnx-light graph with seeded, calibrated random weights and a seeded input at its native size. */
export async function prepareOnnxLight(name: string, seed = 1): Promise<Prepared> {
  const file = path.join(SHARED, ONNX_LIGHT_DIR, `${name}.onnx`);
  const model = loadModelFile(file);
  const info = model.graph.inputs[0];
  if (!info.dims || info.dims.some((d) => typeof d !== 'number')) throw new Error(`${file}: input '${info.name}' has no static shape`);
  const input = randomInput(info.dims as number[], seed + 6);
  const probe = momentProbe(input);
  const r = await calibrateWeights(model.graph, probe, { seed, inputMoment: meanSquare(input.data) });
  // the linear layers LRP sees: after the canonizers merged BatchNorm, Scale and bias into them
  const canonical = canonize(r.graph).graph;
  const measured = await probe(canonical);
  const linearMoments = canonical.nodes.filter((n) => ['Conv', 'Gemm', 'MatMul'].includes(n.opType)).map((n) => measured.get(n.outputs[0])?.moment ?? NaN);
  return { name, source: `onnx-light/${name}.onnx`, graph: r.graph, input, linearMoments };
}

export function prepareTorchvision(entry: TorchvisionEntry): Prepared {
  const dir = torchvisionDir();
  const model = loadModelFile(path.join(dir, entry.file));
  const input = readNpy(path.join(dir, entry.sample)) as Tensor & { data: Float32Array };
  const reference = readNpy(path.join(dir, entry.logits)).data as Float32Array;
  return { name: entry.name, source: `torchvision/${entry.file}`, graph: model.graph, input, linearMoments: [], reference };
}

/** Median, extremes and last (the logits' layer) of the linear layers' output moments. */
export function momentSummary(moments: number[]): { median: number; min: number; max: number; last: number } {
  const sorted = [...moments].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], max: sorted[sorted.length - 1], last: moments[moments.length - 1] };
}

export function explainerFor(p: Prepared): Explainer {
  return Explainer.create({ graph: p.graph, irVersion: 8, producer: 'onnx-lrp', metadata: {} }, ortBackend, { source: p.source });
}

export interface Result {
  family: 'onnx-light' | 'torchvision';
  model: string;
  input: number[];
  composite: string;
  seconds: number;
  /** per sample */
  score: number[];
  inputRelevance: number[];
  absorbed: number[];
  /** share of the seed absorbed (or created, when negative) by linear layers (Conv, Gemm, … and the norm
   * rule's sums and average pools: their biases and stabilisers) and by every other node; sample 0 */
  absorbedLinear: number;
  absorbedOther: number;
  /** the seed minus the input relevance minus what the nodes report absorbing, relative: the engine's
   * bookkeeping (relevance lost where values fan out); sample 0 */
  leak: number;
  /** max |ONNX logits − PyTorch logits| (torchvision) */
  logitDiff?: number;
  nodes: number;
  ops: Record<string, number>;
}

export function summarize(family: Result['family'], p: Prepared, explainer: Explainer, r: Explanation, composite: string, seconds: number): Result {
  const categories = new Map(r.plan.entries.map((e) => [e.node, e.category]));
  let lin = 0;
  let other = 0;
  for (const n of r.conservation.nodes) {
    const d = n.atOutputs[0] - n.atInputs[0];
    if ((LINEAR_CATEGORIES as string[]).includes(categories.get(n.node) ?? '')) lin += d;
    else other += d;
  }
  const seed = r.conservation.outputRelevance[0];
  const scale = Math.abs(seed) || 1;
  const ops: Record<string, number> = {};
  for (const n of explainer.graph.nodes) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
  let logitDiff: number | undefined;
  if (p.reference) {
    logitDiff = 0;
    for (let i = 0; i < p.reference.length; i++) logitDiff = Math.max(logitDiff, Math.abs(r.output.data[i] - p.reference[i]));
  }
  return {
    family, model: p.name, input: [...p.input.dims], composite, seconds,
    score: r.scores, inputRelevance: r.conservation.inputRelevance, absorbed: r.conservation.absorbed,
    absorbedLinear: lin / scale, absorbedOther: other / scale,
    leak: (seed - r.conservation.inputRelevance[0] - lin - other) / scale,
    ...(logitDiff !== undefined ? { logitDiff } : {}),
    nodes: explainer.graph.nodes.length, ops,
  };
}

/** The composites a model is explained with: attnlrp for a graph whose default it is (a transformer), else the
 * CNN composites. */
export function compositesFor(explainer: Explainer): readonly string[] {
  return explainer.defaultComposite().composite === TRANSFORMER_COMPOSITE ? TRANSFORMER_COMPOSITES : COMPOSITES;
}

/** Explains a prepared model with each of its composites (`compositesFor`); returns one result per composite. */
export async function explainAll(family: Result['family'], p: Prepared, check?: (r: Explanation, composite: string) => void): Promise<Result[]> {
  const explainer = explainerFor(p);
  const out: Result[] = [];
  try {
    for (const composite of compositesFor(explainer)) {
      const t0 = Date.now();
      const r = await explainer.explain(p.input, { composite, options: BOUNDS });
      const seconds = (Date.now() - t0) / 1000;
      check?.(r, composite);
      out.push(summarize(family, p, explainer, r, composite, seconds));
    }
  } finally {
    await explainer.release();
  }
  return out;
}

function fmt(v: number, digits = 3): string {
  return Number.isFinite(v) ? v.toFixed(digits) : String(v);
}

export function resultLine(r: Result): string {
  return `${r.family}/${r.model} [${r.input.join('x')}] ${r.composite}: ${fmt(r.seconds, 1)} s, score ${fmt(r.score[0])}, `
    + `input ${fmt(r.inputRelevance[0])}, absorbed ${fmt(100 * r.absorbed[0], 1)}% (linear ${fmt(100 * r.absorbedLinear, 1)}%, other ${fmt(100 * r.absorbedOther, 2)}%)`
    + (r.logitDiff !== undefined ? `, |Δlogits| ${r.logitDiff.toExponential(1)}` : '');
}

/** docs/architectures.json: one result per line. */
export function writeResults(results: Result[]): string {
  const note = JSON.stringify('written by npm run architectures; rendered into docs/architectures.md and README.md by npm run ops-table');
  return `{\n "note": ${note},\n "results": [\n  ${results.map((r) => JSON.stringify(r)).join(',\n  ')}\n ]\n}\n`;
}

async function main(argv: string[]) {
  const arg = (name: string) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
  const only = arg('--only')?.split(',');
  const json = arg('--json') ?? RESULTS_FILE;
  const results: Result[] = [];
  const failures: string[] = [];
  const t0 = Date.now();
  const run = async (family: Result['family'], name: string, prepare: () => Promise<Prepared> | Prepared) => {
    if (only && !only.includes(name)) return;
    try {
      const t = Date.now();
      const p = await prepare();
      const prepared = (Date.now() - t) / 1000;
      const rs = await explainAll(family, p);
      for (const r of rs) console.log(resultLine(r));
      if (family === 'onnx-light') {
        const m = momentSummary(p.linearMoments);
        console.log(`  (weights filled and calibrated in ${fmt(prepared, 1)} s; Conv/Gemm outputs E[y²]: median ${fmt(m.median, 2)}, range ${fmt(m.min, 2)}–${fmt(m.max, 2)}, last ${fmt(m.last, 2)})`);
      }
      results.push(...rs);
    } catch (e) {
      failures.push(`${family}/${name}: ${(e as Error).message}`);
      console.log(`${family}/${name}: FAILED: ${(e as Error).message}`);
    }
  };
  if (!argv.includes('--no-onnx-light')) {
    if (!fs.existsSync(path.join(SHARED, ONNX_LIGHT_DIR))) console.log(`onnx-light: skipped (${path.join(SHARED, ONNX_LIGHT_DIR)} not found)`);
    else for (const name of ONNX_LIGHT) await run('onnx-light', name, () => prepareOnnxLight(name));
  }
  if (!argv.includes('--no-torchvision')) {
    const manifest = torchvisionManifest();
    const missing = TORCHVISION.filter((n) => !manifest.some((e) => e.name === n) && (!only || only.includes(n)));
    if (missing.length) console.log(`torchvision: not in ${torchvisionDir()}: ${missing.join(', ')} (run /usr/bin/python3 scripts/export_torchvision.py)`);
    for (const e of manifest) await run('torchvision', e.name, () => prepareTorchvision(e));
  }
  // merge into the results file (a partial run keeps the other models' rows)
  let previous: Result[] = [];
  if (fs.existsSync(json)) previous = (JSON.parse(fs.readFileSync(json, 'utf8')) as { results: Result[] }).results;
  const key = (r: Result) => `${r.family}/${r.model}/${r.composite}`;
  const fresh = new Set(results.map(key));
  const merged = [...previous.filter((r) => !fresh.has(key(r))), ...results];
  const order = (r: Result) => (r.family === 'onnx-light' ? ONNX_LIGHT.indexOf(r.model as never) : 100 + TORCHVISION.indexOf(r.model as never)) * 10 + ALL_COMPOSITES.indexOf(r.composite);
  merged.sort((a, b) => order(a) - order(b));
  fs.mkdirSync(path.dirname(json), { recursive: true });
  fs.writeFileSync(json, writeResults(merged));
  console.log(`${results.length} explanations in ${fmt((Date.now() - t0) / 1000, 0)} s → ${path.relative(process.cwd(), json)}`);
  if (path.resolve(json) === RESULTS_FILE) {
    // keep the tables of verified architectures (docs/architectures.md, README.md) in step (npm run ops-table)
    const { renderPages } = await import('./ops-table');
    const changed = renderPages();
    if (changed.length) console.log(`${changed.join(', ')}: tables rewritten`);
  }
  if (failures.length) {
    console.log(`${failures.length} failed:\n  ${failures.join('\n  ')}`);
    process.exitCode = 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
