/** The faithfulness benchmark quoted in docs/evaluation.md (issue 5): MoRF (and LeRF) AOPC of every LRP composite and
 * the baseline methods on the shipped Fashion-MNIST models and on ../shared/models/mnist-8.onnx with the MNIST
 * test set.
 *
 *   npm run evaluate                          # the docs/evaluation.md tables (prints it, writes out/evaluate/)
 *   npm run evaluate -- --count 50            # fewer images per model
 *   npm run evaluate -- --model fashion-vgg   # one model (repeatable; mnist-8 is a name too)
 *   npm run evaluate -- --tokens              # the token table instead (text models: scripts/evaluate-tokens.ts)
 *
 * Set-up (fixed, documented in docs/evaluation.md; nothing here is tuned per method):
 *  - inputs: the first N test images of each data set, in file order: 500 for fashion-mlp and mnist-8, 100 for
 *    the CNNs (all methods on 500 images of every CNN do not fit the ~10 minute budget on this shared 2-core
 *    machine); the explained class is the model's prediction;
 *  - regions: 4×4 pixels (7×7 = 49 regions of a 28×28 image), replaced one per step, all 49 steps;
 *  - replacement: black, i.e. the input value of pixel 0 after the model's normalisation (Fashion models:
 *    (0 − 0.286)/0.353 = −0.810; mnist-8: 0), so removing a region removes its ink;
 *  - score: the target logit; AOPC = 1/(L+1) Σ_k (f(x⁰) − f(xᵏ)), L = 49, averaged over the images;
 *  - maps: LRP seeded with the target logit (the library default) and default parameters (ε = 1e-6, γ = 0.25,
 *    zBox bounds from the metadata); the gradient methods with the one-hot (true gradients); SmoothGrad 16 copies, σ = 0.15 of the input range; IG 16 steps (trapezoid) from the black image;
 *    occlusion 4×4 patches, stride 2, filled black; Grad-CAM after the last Conv; CAM where the model has a GAP
 *    head; random: a uniform random map;
 *  - every random choice (noise, random maps, tie-breaking of equal region relevance) is seeded with 0. */
import * as fs from 'fs';
import * as path from 'path';
import { Explainer, ModelMetadata, PerturbationCurve, Tensor, attribute, boundsOf, curvesToCsv, linePlot, openModel, perturbationCurve, writePng } from '../lib';
import { RandomizationResult, mergeCurves, modelRandomization } from '../lib/evaluate';
import { resolveTargets, sliceBatch } from '../lib/methods/util';
import type { AttributeOptions } from '../lib';
import { batchable, blackValue, loadIdxImages } from '../lib';
import { tokensMain } from './evaluate-tokens';

const ROOT = path.resolve(__dirname, '..', '..');
const SHARED = process.env.SHARED_DIR ?? path.resolve(ROOT, '..', 'shared');
const FASHION = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';

/** images per model (first N of the test set); see docs/evaluation.md for the timing that set them */
const COUNTS: Record<string, number> = { 'fashion-mlp': 500, 'mnist-8': 500 };
const DEFAULT_COUNT = 100;
/** images of the randomisation sanity check */
const RANDOMIZE_COUNT = 16;

const LRP = ['epsilon', 'epsilon_plus', 'epsilon_plus_flat', 'epsilon_alpha2_beta1', 'epsilon_gamma_box'];
const BASELINES = ['gradient', 'gradient_x_input', 'smoothgrad', 'integrated_gradients', 'occlusion', 'gradcam', 'cam', 'random'];
const LABELS: Record<string, string> = { integrated_gradients: 'integrated gradients', gradient_x_input: 'gradient × input' };

type F32 = Tensor & { data: Float32Array };

interface Bench { name: string; model: string; images: string; meta: ModelMetadata }

function benches(only: string[]): Bench[] {
  const out: Bench[] = [];
  const dir = path.join(ROOT, 'models');
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []) {
    if (!f.endsWith('.json')) continue;
    const meta = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as ModelMetadata;
    if (meta.dataset !== 'Fashion-MNIST' || !meta.file || !fs.existsSync(path.join(dir, meta.file))) continue;
    out.push({ name: meta.name ?? f.replace(/\.json$/, ''), model: path.join(dir, meta.file), images: path.join(FASHION, 't10k-images-idx3-ubyte.gz'), meta });
  }
  const mnist = path.join(SHARED, 'models', 'mnist-8.onnx');
  if (fs.existsSync(mnist)) {
    // the ONNX model zoo's MNIST CNN: [1, 1, 28, 28] floats in [0, 1] (black background, white digit), no
    // normalisation; its accuracy on the first 2000 test images is 98.3% with [0, 1] and 98.4% with raw 0–255
    // (the ReLU network is nearly scale-invariant), so [0, 1] follows the zoo's documentation.
    out.push({
      name: 'mnist-8', model: mnist, images: path.join(SHARED, 'data', 'mnist', 't10k-images-idx3-ubyte.gz'),
      meta: { name: 'mnist-8', input: { valueRange: [0, 1] }, bounds: { low: 0, high: 1 } },
    });
  }
  for (const n of only) if (!out.some((b) => b.name === n)) throw new Error(`no model '${n}' (have: ${out.map((b) => b.name).join(', ')})`);
  return only.length ? out.filter((b) => only.includes(b.name)) : out;
}

function args(argv: string[]): { count?: number; models: string[]; out: string } {
  const o = { count: undefined as number | undefined, models: [] as string[], out: path.join(ROOT, 'out', 'evaluate') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], val = () => { const v = argv[++i]; if (v === undefined) throw new Error(`${a} needs a value`); return v; };
    if (a === '--count') o.count = Number(val());
    else if (a === '--model') o.models.push(val());
    else if (a === '--out') o.out = path.resolve(val());
    else if (a === '--help' || a === '-h') { console.log('usage: npm run evaluate -- [--count N] [--model NAME]... [--out DIR]'); process.exit(0); }
    else throw new Error(`unknown argument ${a}`);
  }
  if (o.count !== undefined && (!Number.isInteger(o.count) || o.count < 1)) throw new Error('--count expects a positive integer');
  return o;
}

interface Setting { name: string; value: number[] }
interface MethodResult { label: string; error?: string; seconds: number; curves: Map<string, PerturbationCurve[]>; absorbed: number[] }
interface BenchResult { settings: Setting[]; methods: MethodResult[]; seconds: number; accuracy: number; count: number; randomization: RandomizationResult[] }

/** Maps that depend on the reference value (IG's baseline, occlusion's fill) are recomputed per setting. */
const PER_SETTING = new Set(['integrated_gradients', 'occlusion']);

async function runBench(b: Bench, count: number, outDir: string): Promise<BenchResult> {
  const t0 = Date.now();
  const data = loadIdxImages(b.images, b.meta, count, 0);
  const black = blackValue(b.meta);
  const zeros = black.map(() => 0);
  const settings: Setting[] = [{ name: 'black', value: black }];
  if (black.some((v) => v !== 0)) settings.push({ name: 'zeros', value: zeros });
  const bounds = boundsOf(b.meta);
  const opened = openModel(b.model, { threads: 1 });
  let e: Explainer = opened;
  try {
    e = await batchable(opened, data.x, (s) => console.log(`  ${s}`));
    const common: Omit<AttributeOptions, 'method'> = {
      options: { low: bounds?.low, high: bounds?.high }, seed: 0,
      samples: 16, noise: 0.15, steps: 16, integration: 'trapezoid', patch: 4, stride: 2, batchSize: 64,
    };
    const targets = resolveTargets(await e.predict(data.x), undefined).targets;
    const results: MethodResult[] = [...LRP, ...BASELINES].map((label) => ({ label, seconds: 0, curves: new Map(), absorbed: [] }));
    const chunk = 50;
    let last = Date.now();
    for (let s0 = 0; s0 < count; s0 += chunk) {
      const s1 = Math.min(count, s0 + chunk);
      const x = sliceBatch(data.x, s0, s1), target = targets.slice(s0, s1);
      for (const m of results) {
        if (m.error) continue;
        let map: F32 | undefined;
        for (const st of settings) {
          if (!map || PER_SETTING.has(m.label)) {
            const t = Date.now();
            try {
              const a = await attribute(e, x, { ...common, method: m.label, target, baseline: st.value[0], fill: st.value });
              map = a.relevance;
              if (a.explanation?.plan.mode === 'lrp' && st === settings[0]) m.absorbed.push(...a.explanation.conservation.absorbed);
            } catch (err) {
              m.error = (err as Error).message;
              break;
            }
            m.seconds += (Date.now() - t) / 1000;
          }
          for (const order of ['morf', 'lerf'] as const) {
            const c = await perturbationCurve(e, x, map, { patch: 4, order, replacement: st.value, score: 'logit', seed: s0, target, batchSize: 512 });
            const key = `${st.name}/${order}`;
            m.curves.set(key, [...(m.curves.get(key) ?? []), c]);
          }
        }
      }
      if (Date.now() - last > 30000) { last = Date.now(); console.log(`  ${s1}/${count} images (${((Date.now() - t0) / 1000).toFixed(0)} s)`); }
    }
    // sanity check (Adebayo et al. 2018) on the first RANDOMIZE_COUNT images: randomise the top layer, then all
    const xr = sliceBatch(data.x, 0, Math.min(count, RANDOMIZE_COUNT));
    const randomization: RandomizationResult[] = [];
    for (const m of results) {
      if (m.error) continue;
      randomization.push(await modelRandomization(e, xr, { ...common, method: m.label, target: targets.slice(0, xr.dims[0]), baseline: black[0], fill: black, layers: [1, Infinity], seed: 0 }));
    }
    const pred = await e.predict(data.x);
    const K = pred.data.length / count;
    let ok = 0;
    data.labels?.forEach((l, s) => { let k = 0; for (let c = 1; c < K; c++) if (pred.data[s * K + c] > pred.data[s * K + k]) k = c; if (k === l) ok++; });
    const dir = path.join(outDir, b.name);
    fs.mkdirSync(dir, { recursive: true });
    const okRows = results.filter((r) => !r.error);
    for (const st of settings) {
      for (const o of ['morf', 'lerf'] as const) {
        const curves = okRows.map((r) => ({ label: r.label, curve: mergeCurves(r.curves.get(`${st.name}/${o}`)!) }));
        fs.writeFileSync(path.join(dir, `curves-${st.name}-${o}.csv`), curvesToCsv(curves));
        await writePng(path.join(dir, `curves-${st.name}-${o}.png`), linePlot(curves.map((c) => ({ label: `${c.label} ${c.curve.aopc.toFixed(2)}`, y: c.curve.meanScore, x: c.curve.fractions, ...(c.label === 'random' ? { dashed: true, color: [110, 110, 110] as [number, number, number] } : {}) })), {
          title: `${b.name}: ${o.toUpperCase()}, ${count} images, ${st.name}`, xLabel: `fraction of 4x4 regions replaced by ${st.name === 'black' ? 'black' : 'the input value 0'}`, yLabel: 'mean target logit',
        }));
      }
    }
    const seconds = (Date.now() - t0) / 1000;
    fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify({
      model: path.relative(ROOT, b.model), images: b.images, count, accuracy: ok / count, seconds, settings,
      methods: results.map((r) => ({
        label: r.label, error: r.error, seconds: r.seconds,
        aopc: r.error ? undefined : Object.fromEntries([...r.curves.keys()].map((k) => [k, mergeCurves(r.curves.get(k)!).aopc])),
        absorbed: r.absorbed.length ? r.absorbed.reduce((a, v) => a + v, 0) / r.absorbed.length : undefined,
      })),
      randomization: randomization.map((r) => ({ method: r.method, steps: r.steps.map((st) => ({ layers: st.layers, meanSpearman: st.meanSpearman, meanSpearmanAbs: st.meanSpearmanAbs })) })),
    }, null, 2));
    return { settings, methods: results, seconds, accuracy: ok / count, count, randomization };
  } finally {
    if (e !== opened) await e.release();
    await opened.release();
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--tokens')) return tokensMain(process.argv.slice(2)); // the token table: scripts/evaluate-tokens.ts
  const o = args(process.argv.slice(2));
  const list = benches(o.models);
  if (!list.length) { console.log('no models found (models/*.json, ../shared/models/mnist-8.onnx): nothing to evaluate'); return; }
  const results: { b: Bench; r: Awaited<ReturnType<typeof runBench>> }[] = [];
  const t0 = Date.now();
  for (const b of list) {
    if (!fs.existsSync(b.images)) { console.log(`${b.name}: test images ${b.images} not found; skipped`); continue; }
    const count = o.count ?? COUNTS[b.name] ?? DEFAULT_COUNT;
    console.log(`${b.name}: ${count} images …`);
    const r = await runBench(b, count, o.out);
    console.log(`  done in ${r.seconds.toFixed(0)} s (accuracy on these images ${(100 * r.accuracy).toFixed(1)}%)`);
    results.push({ b, r });
  }
  const names = [...LRP, ...BASELINES];
  const aopc = (r: BenchResult, label: string, key: string, withSe: boolean) => {
    const m = r.methods.find((x) => x.label === label);
    if (!m || m.error) return 'n/a';
    const c = m.curves.get(key);
    if (!c) return '';
    const merged = mergeCurves(c);
    if (!withSe) return merged.aopc.toFixed(2);
    const n = merged.aopcPerSample.length;
    const sd = Math.sqrt(merged.aopcPerSample.reduce((a, v) => a + (v - merged.aopc) ** 2, 0) / Math.max(1, n - 1));
    return `${merged.aopc.toFixed(2)} ± ${(sd / Math.sqrt(n)).toFixed(2)}`;
  };
  const lines: string[] = [];
  const tables: [string, string, (r: BenchResult) => boolean][] = [
    ['black/morf', 'MoRF AOPC (higher = more faithful) ± its standard error over the images; regions replaced by black', () => true],
    ['zeros/morf', 'MoRF AOPC; regions replaced by the input value 0 (the data set mean after normalisation; IG baseline and occlusion fill 0 too)', (r) => r.settings.length > 1],
    ['black/lerf', 'LeRF AOPC (lower = better); regions replaced by black', () => true],
  ];
  for (const [key, title, has] of tables) {
    const cols = results.filter(({ r }) => has(r));
    if (!cols.length) continue;
    lines.push(`${title}:`, '');
    lines.push(`| method | ${cols.map(({ b, r }) => `${b.name} (${r.count})`).join(' | ')} |`);
    lines.push(`| --- | ${cols.map(() => '---:').join(' | ')} |`);
    for (const n of names) lines.push(`| ${LABELS[n] ?? n} | ${cols.map(({ r }) => aopc(r, n, key, key === 'black/morf')).join(' | ')} |`);
    lines.push('');
  }
  lines.push(`Model randomisation (first ${RANDOMIZE_COUNT} images): Spearman rank correlation of the maps before and after randomising the top layer / all layers, signed (|absolute|); near 1 = the map ignores the weights:`, '');
  lines.push(`| method | ${results.map(({ b }) => b.name).join(' | ')} |`);
  lines.push(`| --- | ${results.map(() => ':---:').join(' | ')} |`);
  const f2 = (v: number) => (Number.isNaN(v) ? 'n/a' : v.toFixed(2));
  for (const n of names) {
    lines.push(`| ${LABELS[n] ?? n} | ${results.map(({ r }) => {
      const x = r.randomization.find((q) => q.method === n);
      return x ? x.steps.map((st) => `${f2(st.meanSpearman)} (${f2(st.meanSpearmanAbs)})`).join(' / ') : 'n/a';
    }).join(' | ')} |`);
  }
  lines.push('');
  lines.push(`| | ${results.map(({ b }) => b.name).join(' | ')} |`);
  lines.push(`| --- | ${results.map(() => '---:').join(' | ')} |`);
  lines.push(`| images | ${results.map(({ r }) => r.count).join(' | ')} |`);
  lines.push(`| accuracy on them | ${results.map(({ r }) => `${(100 * r.accuracy).toFixed(1)}%`).join(' | ')} |`);
  lines.push(`| seconds | ${results.map(({ r }) => r.seconds.toFixed(0)).join(' | ')} |`);
  const text = lines.join('\n');
  console.log(`\n${text}\n\ntotal ${((Date.now() - t0) / 1000).toFixed(0)} s; curves, plots and summaries in ${path.relative(process.cwd(), o.out) || '.'}/`);
  fs.mkdirSync(o.out, { recursive: true });
  fs.writeFileSync(path.join(o.out, 'table.md'), text + '\n');
}

main().then(() => process.exit(0), (e) => { console.error(e instanceof Error ? e.message : e); process.exit(1); });
