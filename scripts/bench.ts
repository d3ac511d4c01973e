/** `npm run bench`: how much an LRP explanation costs against the forward pass it explains.
 *
 * Exports torchvision VGG16, ResNet50 and ViT-B/16 with random weights at 224×224 (scripts/bench/export_models.py,
 * cached in ~/.cache/onnx-lrp/bench; skipped with a message when torch is absent or the export fails), then
 * measures, each configuration in its own child process:
 *   - timing: onnxruntime's forward alone (default options, and without spinning threads: the faster of the two
 *     is the denominator) and onnx-lrp with epsilon, epsilon_plus_flat, epsilon_gamma_box and
 *     epsilon_alpha2_beta1 on its default engine (the fused one: one onnxruntime graph per explanation) and on
 *     the per-layer one ('ort'), batch 1 and 8, 1 and 2 threads, run alternately in one process; with
 *     ZENNIT_SRC=<zennit>/src also Zennit 0.5.1 on Debian's torch (scripts/bench/zennit_server.py: the same
 *     torchvision models and weights, the same inputs and thread count), alternating with them; medians and
 *     ratios to the forward measured in the same process (the ratios are what to compare across machines);
 *     ViT-B/16 with attnlrp (issue 14's transformer line, target ≤ 3×) at --transformer-batches;
 *   - the time from loading a model to its first explanation against creating a plain onnxruntime session,
 *     with the fused session's own creation time;
 *   - peak RSS of one explanation against a forward pass with every intermediate value kept, with the size of
 *     the fused graph handed to onnxruntime;
 *   - what stands in the way: onnxruntime's profile of each fused explanation at batch 1, one thread, in
 *     forwards by part (scripts/bench/profile.ts).
 * Prints a table and writes out/bench/results.json. Never a test: it takes minutes.
 *
 *   npm run bench [-- --models vgg16,resnet50,vit_b_16] [--batches 1,8] [--rounds 7] [--threads 1,2] [--out FILE]
 *                 [--only timing,first,memory,profile] [--warmup 2] [--zennit-rounds N] [--zennit-batches 1,8]
 *                 [--transformer-batches 1] [--engines auto,ort] [--per-layer-batches 1] [--docs]
 * (--zennit-rounds / --zennit-batches: Zennit in the first N rounds only / at these batch sizes only;
 * --engines auto: the default engine only, no per-layer column; --per-layer-batches: the per-layer engine at these
 * batch sizes only)
 * --docs writes the table into docs/speed.md (between `<!-- bench:start -->` and `<!-- bench:end -->`) and
 * its summary into README.md (`<!-- bench-summary:start -->` … `end`); nothing else writes them.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { DATA_TYPE_CODE } from '../lib/ir/dtypes';
import { inferDtypes } from '../lib/ops/dtypes';
import { ZennitServer, zennitSource } from './bench/zennit';
import { writeDocs } from './bench/docs';
import { profileFused, profileLine } from './bench/profile';
import type { Ort as ProfiledOrt } from './bench/profile';

const ROOT = path.resolve(__dirname, '../..');
const CACHE = path.join(os.homedir(), '.cache', 'onnx-lrp', 'bench');
const CNN_COMPOSITES = ['epsilon', 'epsilon_plus_flat', 'epsilon_gamma_box', 'epsilon_alpha2_beta1'];
/** the transformers: AttnLRP only (issue 14: ≤ 3× the forward on vit_b_16) */
const TRANSFORMERS = new Set(['vit_b_16']);
const compositesOf = (model: string) => (TRANSFORMERS.has(model) ? ['attnlrp'] : CNN_COMPOSITES);
/** issue 14: within 1.15× of each rule's floor (epsilon 2×, zPlus and gamma 3×, alpha-beta 5× the forward) */
const TARGETS: Record<string, number> = { epsilon: 2.3, epsilon_plus_flat: 3.45, epsilon_gamma_box: 3.45, epsilon_alpha2_beta1: 5.75, attnlrp: 3 };
/** ImageNet normalisation: the bounds of a normalised [0, 1] image, per channel (zBox in epsilon_gamma_box) */
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const LOW = MEAN.map((m, c) => (0 - m) / STD[c]);
const HIGH = MEAN.map((m, c) => (1 - m) / STD[c]);

interface Args { models: string[]; batches: number[]; rounds: number; warmup: number; threads: number[]; out: string; only: string[]; zennitRounds: number; zennitBatches: number[] | null; transformerBatches: number[]; engines: string[]; perLayerBatches: number[] | null; docs: boolean }

function parseArgs(argv: string[]): Args {
  const a: Args = { models: ['vgg16', 'resnet50', 'vit_b_16'], batches: [1, 8], rounds: 7, warmup: 2, threads: [1, 2], out: path.join(ROOT, 'out/bench/results.json'), only: ['timing', 'first', 'memory', 'profile'], zennitRounds: 0, zennitBatches: null, transformerBatches: [1], engines: ['auto', 'ort'], perLayerBatches: null, docs: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--docs') { a.docs = true; continue; }
    const [k, inline] = argv[i].split('=');
    const v = inline ?? argv[++i];
    if (k === '--models') a.models = v.split(',');
    else if (k === '--batches') a.batches = v.split(',').map(Number);
    else if (k === '--rounds') a.rounds = Number(v);
    else if (k === '--threads') a.threads = v.split(',').map(Number);
    else if (k === '--zennit-rounds') a.zennitRounds = Number(v);
    else if (k === '--zennit-batches') a.zennitBatches = v.split(',').map(Number);
    else if (k === '--transformer-batches') a.transformerBatches = v.split(',').map(Number);
    else if (k === '--engines') a.engines = v.split(',');
    else if (k === '--per-layer-batches') a.perLayerBatches = v.split(',').map(Number);
    else if (k === '--warmup') a.warmup = Number(v);
    else if (k === '--out') a.out = path.resolve(v);
    else if (k === '--only') a.only = v.split(',');
    else throw new Error(`unknown argument '${argv[i]}' (see the header of scripts/bench.ts)`);
  }
  return a;
}

/** Seeded standard-normal-ish input, batch-first NCHW. */
function input(batch: number): Float32Array {
  let s = 12345;
  const rand = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 2 ** 32; };
  const x = new Float32Array(batch * 3 * 224 * 224);
  for (let i = 0; i < x.length; i++) x[i] = Math.max(LOW[0], Math.min(HIGH[2], (rand() + rand() + rand() - 1.5) * 2));
  return x;
}

/** Peak RSS of this process in MB. /proc/self/status VmHWM belongs to the process's own memory map, which
 * execve starts afresh; getrusage's maxrss would carry the parent's peak over fork+exec. */
function peakRssMB(): number {
  const m = /VmHWM:\s*(\d+)\s*kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

/** Current RSS of this process in MB. */
function rssMB(): number {
  const m = /VmRSS:\s*(\d+)\s*kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.memoryUsage().rss / 2 ** 20;
}

const median = (v: number[]) => { const s = [...v].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

// ---------------------------------------------------------------------------------------------------------
// child processes: one configuration each, result as one JSON line on stdout

type Child =
  | { kind: 'timing'; model: string; batches: number[]; rounds: number; warmup: number; threads: number; composites: string[]; engines: string[]; zennit?: string; zennitRounds: number }
  | { kind: 'profile'; model: string; composite: string }
  | { kind: 'create'; model: string; threads: number }
  | { kind: 'first'; model: string; threads: number; composite: string }
  | { kind: 'rss-forward'; model: string; threads: number; batch: number }
  | { kind: 'rss-lrp'; model: string; threads: number; batch: number; composite: string }
  | { kind: 'all-outputs'; model: string };

async function child(c: Child): Promise<unknown> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  const lib = await import('../lib');
  const file = path.join(CACHE, `${c.model}.onnx`);
  const options = { low: LOW, high: HIGH };
  const sessionOpts = { intraOpNumThreads: 'threads' in c ? c.threads : 0, interOpNumThreads: 1 };
  switch (c.kind) {
    case 'create': {
      const t = performance.now();
      const s = await ort.InferenceSession.create(file, sessionOpts);
      const ms = performance.now() - t;
      await s.release();
      return { ms };
    }
    case 'first': {
      const x = { dtype: 'float32' as const, dims: [1, 3, 224, 224], data: input(1) };
      const created = { ms: 0, mb: 0 };
      const backend = timedBackend(lib, created);
      const t0 = performance.now();
      const model = lib.loadModelFile(file);
      const t1 = performance.now();
      const e = lib.Explainer.create(model, backend, { source: file, threads: c.threads });
      const t2 = performance.now();
      await e.explain(x, { composite: c.composite, options });
      const t3 = performance.now();
      await e.explain(x, { composite: c.composite, options });
      const t4 = performance.now();
      return { ms: t3 - t0, load: t1 - t0, canonize: t2 - t1, explain: t3 - t2, second: t4 - t3, sessionCreate: created.ms, modelMB: created.mb };
    }
    case 'rss-forward': {
      // the plain forward pass with every intermediate value kept (exposed as an output and fetched)
      const s = await ort.InferenceSession.create(allOutputsFile(c.model), sessionOpts);
      const x = new ort.Tensor('float32', input(c.batch), [c.batch, 3, 224, 224]);
      let kept = await s.run({ [s.inputNames[0]]: x });
      kept = await s.run({ [s.inputNames[0]]: x });
      return { maxRssMB: peakRssMB(), outputs: Object.keys(kept).length };
    }
    case 'rss-lrp': {
      const created = { ms: 0, mb: 0 };
      const e = lib.Explainer.create(lib.loadModelFile(file), timedBackend(lib, created), { source: file, threads: c.threads });
      (globalThis as { gc?: () => void }).gc?.(); // the file's buffer, once decoded, is garbage
      const loadedMB = rssMB();
      const x = { dtype: 'float32' as const, dims: [c.batch, 3, 224, 224], data: input(c.batch) };
      await e.explain(x, { composite: c.composite, options });
      await e.explain(x, { composite: c.composite, options });
      return { maxRssMB: peakRssMB(), loadedMB, modelMB: created.mb };
    }
    case 'profile': {
      const x = { dtype: 'float32' as const, dims: [1, 3, 224, 224], data: input(1) };
      return { profile: await profileFused(lib, ort as unknown as ProfiledOrt, file, x, c.composite, options, 1, 3) };
    }
    case 'all-outputs': {
      await writeAllOutputs(c.model);
      return { file: allOutputsFile(c.model) };
    }
    case 'timing': return timing(c, lib, ort, file, sessionOpts);
  }
}

type Lib = typeof import('../lib');
type Ort = typeof import('onnxruntime-node');

/** onnxruntime-node's backend, adding up the time spent creating sessions and the size of the models given. */
function timedBackend(lib: Lib, created: { ms: number; mb: number }): import('../lib/forward/backend').InferenceBackend {
  return {
    async create(bytes, opts) {
      const t = performance.now();
      const s = await lib.ortBackend.create(bytes, opts);
      created.ms += performance.now() - t;
      created.mb += bytes.length / 2 ** 20;
      return s;
    },
  };
}

/** Alternating runs of the forward, every composite on each engine and (with `c.zennit`) Zennit: medians per
 * batch size. A run may report its own time (Zennit's, measured in Python without the transfer). */
async function timing(c: Extract<Child, { kind: 'timing' }>, lib: Lib, ort: Ort, file: string, sessionOpts: object): Promise<unknown> {
  const s = await ort.InferenceSession.create(file, sessionOpts);
  // the same without spinning worker threads (faster when other processes compete for the cores)
  const quiet = await ort.InferenceSession.create(file, { ...sessionOpts, extra: { session: { intra_op: { allow_spinning: '0' } } } });
  const e = lib.openModel(file, { threads: c.threads });
  const zennit = c.zennit ? ZennitServer.start(c.zennit) : null;
  if (zennit) await zennit.load(c.model, c.threads, LOW, HIGH);
  const out: Record<string, unknown> = {};
  const options = { low: LOW, high: HIGH };
  for (const batch of c.batches) {
    const data = input(batch);
    const feeds = { [s.inputNames[0]]: new ort.Tensor('float32', data, [batch, 3, 224, 224]) };
    const x = { dtype: 'float32' as const, dims: [batch, 3, 224, 224], data };
    const runs: Record<string, () => Promise<number | void>> = { forward: async () => { await s.run(feeds); }, forwardNoSpin: async () => { await quiet.run(feeds); } };
    const engines: Record<string, string> = {};
    for (const comp of c.composites) {
      for (const engine of c.engines) {
        runs[`${comp}@${engine}`] = async () => { const r = await e.explain(x, { composite: comp, options, engine: engine as import('../lib').Engine }); engines[`${comp}@${engine}`] = r.engine.used + (r.engine.note ? ` (${r.engine.note})` : ''); };
      }
    }
    const zruns: Record<string, () => Promise<number>> = {};
    const check: Record<string, unknown> = {};
    if (zennit) {
      for (const comp of c.composites) zruns[`${comp}@zennit`] = async () => (await zennit.explain(comp, data, batch)).ms;
      // the same model, weights and input: Zennit's logits against onnxruntime's
      const z = await zennit.explain('epsilon', data, batch);
      const o = await e.predict(x);
      check.logitsMaxAbsDiff = Math.max(...z.logits.map((v, i) => Math.abs(v - o.data[i])));
    }
    for (const f of Object.values(runs)) for (let w = 0; w < c.warmup; w++) await f(); // warm-up: kernels compiled, buffers sized
    const times: Record<string, number[]> = {};
    const zr = Math.min(c.rounds, c.zennitRounds || c.rounds);
    for (let r = 0; r < c.rounds; r++) {
      const all = r < zr ? { ...runs, ...zruns } : runs;
      for (const [k, f] of Object.entries(all)) {
        const t = performance.now();
        const own = await f();
        (times[k] ??= []).push(typeof own === 'number' ? own : performance.now() - t);
      }
    }
    out[`batch${batch}`] = { ...Object.fromEntries(Object.entries(times).map(([k, v]) => [k, { median: median(v), min: Math.min(...v), all: v.map((t) => Math.round(t * 10) / 10) }])), engines, check };
  }
  zennit?.close();
  await e.release();
  await s.release();
  await quiet.release();
  return out;
}

/** The model with every intermediate value added as a graph output, written next to it once: the original
 * bytes followed by a second ModelProto holding only graph.output entries (protobuf merges the two), so the
 * weights are neither decoded nor re-encoded. */
function allOutputsFile(model: string): string {
  return path.join(CACHE, `${model}.all-outputs.onnx`);
}

async function writeAllOutputs(model: string): Promise<void> {
  const target = allOutputsFile(model);
  const file = path.join(CACHE, `${model}.onnx`);
  if (fs.existsSync(target) && fs.statSync(target).mtimeMs >= fs.statSync(file).mtimeMs) return;
  const lib = await import('../lib');
  const { onnx } = await import('../lib/onnx/proto');
  const graph = lib.loadModelFile(file).graph;
  const dtypes = inferDtypes(graph);
  const names = graph.nodes.flatMap((n) => n.outputs).filter((v) => v && !graph.isOutput(v));
  const extra = onnx.ModelProto.encode(onnx.ModelProto.create({
    graph: { output: names.map((name) => ({ name, type: { tensorType: { elemType: DATA_TYPE_CODE[dtypes.get(name) ?? 'float32'] ?? 1 } } })) },
  })).finish();
  fs.writeFileSync(`${target}.tmp`, Buffer.concat([fs.readFileSync(file), extra]));
  fs.renameSync(`${target}.tmp`, target);
}

function runChild(c: Child): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = spawnSync(process.execPath, ['--expose-gc', __filename, '--child', JSON.stringify(c)], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`bench child ${JSON.stringify(c)} failed (exit ${r.status}):\n${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line);
}

// ---------------------------------------------------------------------------------------------------------

function exportModels(args: Args): string[] {
  const missing = args.models.filter((m) => !fs.existsSync(path.join(CACHE, `${m}.onnx`)));
  if (missing.length) {
    const py = '/usr/bin/python3';
    const r = spawnSync(py, [path.join(ROOT, 'scripts/bench/export_models.py'), CACHE, missing.join(',')], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      console.log(`torch/torchvision not usable (${r.error?.message ?? r.stdout.trim() ?? r.stderr.trim()}): the export step is skipped`);
    }
  }
  const have = args.models.filter((m) => fs.existsSync(path.join(CACHE, `${m}.onnx`)));
  for (const m of args.models.filter((x) => !have.includes(x))) console.log(`${m}: no model in ${CACHE}; skipped`);
  return have;
}

function machine() {
  const cpu = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  let nproc = os.cpus().length;
  try { nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()); } catch { /* os.cpus() */ }
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const ortVersion = require('onnxruntime-node/package.json').version as string;
  const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const has = (f: string) => new RegExp(`\\b${f}\\b`).test(info);
  const flags = ['avx2', 'avx512f', 'avx512_vnni', 'avx_vnni'].filter(has).join(', ') || 'no AVX2';
  return { nproc, cpu, flags, load: os.loadavg(), node: process.version, onnxruntime: ortVersion, memoryGB: Math.round(os.totalmem() / 1e9) };
}

const fmt = (v: number, d = 2) => v.toFixed(d);

type Timing = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Table rows of one model, batch and thread count: the forward, then each composite on the fused and the
 * per-layer engine (ratios to the forward of the same run) and Zennit (time, and its ratio to onnx-lrp). */
function timingRows(model: string, b: number, threads: number, t: Timing): string[] {
  const fwdAll = Math.min(t.forward.median, t.forwardNoSpin.median);
  const rows = [`| ${model} | ${b} | ${threads} | forward alone | ${fmt(fwdAll, 0)} ms (median over the composites' processes) | | | |`];
  for (const k of compositesOf(model)) {
    const f = t[`${k}@auto`].median, o = t[`${k}@ort`]?.median, z = t[`${k}@zennit`]?.median;
    const fwd = t[`${k}@forward`] ?? fwdAll;
    const used = String(t.engines?.[`${k}@auto`] ?? '').startsWith('fused') ? '' : ` (${t.engines?.[`${k}@auto`]})`;
    const met = f / fwd <= TARGETS[k] ? 'met' : 'missed';
    rows.push(`| ${model} | ${b} | ${threads} | ${k} | **${fmt(f / fwd)}×**${used} (≤ ${TARGETS[k]}×: ${met}), ${fmt(f / b, 0)} ms per input | ${o ? `${fmt(o / fwd)}×` : '—'} | ${z ? `${fmtMs(z)} ms` : '—'} | ${z ? `${fmt(z / f, 1)}×` : '—'} |`);
  }
  return rows;
}

const fmtMs = (v: number) => Math.round(v).toLocaleString('en-US');

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const models = exportModels(args);
  const m0 = machine();
  const z = zennitSource();
  console.log(`machine: ${m0.nproc} × ${m0.cpu} (${m0.flags}), load ${m0.load.map((l) => l.toFixed(1)).join(' ')}; node ${m0.node}, onnxruntime-node ${m0.onnxruntime}; threads ${args.threads.join(', ')}`);
  console.log('src' in z ? `Zennit: ${z.src}, alternating with onnx-lrp` : `Zennit: skipped, ${z.skipped}`);
  const results: Record<string, unknown> = { date: new Date().toISOString(), machine: m0, args, zennit: 'src' in z ? z.src : z.skipped };
  const rows: string[] = [];
  const extra: string[] = [];
  const stands: string[] = [];
  const summary: { first: string[]; memory: number[] } = { first: [], memory: [] };
  const want = (k: string) => args.only.includes(k);
  const last = args.threads[args.threads.length - 1];
  for (const model of models) {
    console.log(`\n== ${model}`);
    const timing: Record<string, Timing> = {};
    const transformer = TRANSFORMERS.has(model);
    const COMPOSITES = compositesOf(model);
    const batches = transformer ? args.transformerBatches : args.batches;
    // the per-layer engine runs a transformer's attention and layer norms on the reference kernels: seconds per explanation
    const engines = transformer ? ['auto'] : args.engines;
    if (want('timing')) {
      // one process per batch size and thread count: kernels for batches keep memory arenas, which would crowd the other size
      for (const threads of args.threads) {
        for (const b of batches) {
          const withZennit = !transformer && 'src' in z && (!args.zennitBatches || args.zennitBatches.includes(b));
          // one process per composite too: each fused session keeps its weights and memory arena (VGG16 at
          // batch 8: ~3 GB), and the per-layer engine its kernels; four of each in one process ran out of memory
          const parts = COMPOSITES.map((comp) => runChild({ kind: 'timing', model, batches: [b], rounds: args.rounds, warmup: args.warmup, threads, composites: [comp], engines: args.perLayerBatches && !args.perLayerBatches.includes(b) ? engines.filter((x) => x !== 'ort') : engines, zennit: withZennit ? z.src : undefined, zennitRounds: args.zennitRounds })[`batch${b}`]);
          const t: Timing = Object.assign({}, ...parts, { engines: Object.assign({}, ...parts.map((p) => p.engines)), check: parts[0].check });
          // each composite's denominator: the forward measured in its own process (the faster configuration)
          COMPOSITES.forEach((comp, i) => { t[`${comp}@forward`] = Math.min(parts[i].forward.median, parts[i].forwardNoSpin.median); });
          t.forward = { median: median(parts.map((p) => p.forward.median)) };
          t.forwardNoSpin = { median: median(parts.map((p) => p.forwardNoSpin.median)) };
          timing[`${b}x${threads}`] = t;
          const r = timingRows(model, b, threads, t);
          rows.push(...r);
          console.log(`batch ${b}, ${threads} thread(s), load ${os.loadavg()[0].toFixed(1)}${t.check?.logitsMaxAbsDiff !== undefined ? `, Zennit's logits vs onnxruntime's: max |Δ| ${t.check.logitsMaxAbsDiff.toExponential(1)}` : ''}:\n${r.join('\n')}`);
        }
      }
    }
    // first explanation vs plain session creation, alternated, fresh processes
    let first: Record<string, unknown> & { create: number; first: number; ratio: number } | undefined;
    if (want('first')) {
      const creates: number[] = [];
      const firsts: Record<string, number>[] = [];
      for (let r = 0; r < 3; r++) {
        creates.push(runChild({ kind: 'create', model, threads: last }).ms);
        firsts.push(runChild({ kind: 'first', model, threads: last, composite: transformer ? 'attnlrp' : 'epsilon_plus_flat' }) as Record<string, number>);
      }
      const best = firsts.sort((a, b) => a.ms - b.ms)[1];
      first = { create: median(creates), first: best.ms, ratio: best.ms / median(creates), creates, firsts, breakdown: best };
      const comp = transformer ? 'attnlrp' : 'epsilon_plus_flat';
      const line = `${model}: load → first explanation (${comp}, ${last} threads) ${fmtMs(first.first)} ms vs session creation ${fmtMs(first.create)} ms: **${fmt(first.ratio)}×** (target ≤ 2×: ${first.ratio <= 2 ? 'met' : 'missed'}; load ${fmt(best.load, 0)}, canonize ${fmt(best.canonize, 0)}, first explain ${fmt(best.explain, 0)} ms, of which creating onnxruntime sessions ${fmt(best.sessionCreate, 0)} ms (${fmt(best.sessionCreate / first.create)}× the plain session's creation, for ${fmtMs(best.modelMB)} MB of graph against the model file's ${fmtMs(fs.statSync(path.join(CACHE, `${model}.onnx`)).size / 2 ** 20)} MB), building the graph and the first run the rest; a second explanation ${fmt(best.second, 0)} ms)`;
      extra.push(line);
      summary.first.push(`${model} ${fmt(first.ratio)}×`);
      console.log(line);
    }
    // peak RSS, one configuration per process
    const memory: Record<string, Record<string, number>> = {};
    if (want('memory')) {
      runChild({ kind: 'all-outputs', model }); // in a child: loading the model would raise this process's RSS
      for (const b of batches) {
        memory[b] = { forwardAll: runChild({ kind: 'rss-forward', model, threads: last, batch: b }).maxRssMB };
        const parts: string[] = [];
        for (const comp of COMPOSITES) {
          const r = runChild({ kind: 'rss-lrp', model, threads: last, batch: b, composite: comp });
          memory[b][comp] = r.maxRssMB;
          summary.memory.push(r.maxRssMB / memory[b].forwardAll);
          memory[b][`${comp}@loaded`] = r.loadedMB;
          memory[b][`${comp}@graph`] = r.modelMB;
          parts.push(`${comp} **${fmt(r.maxRssMB / memory[b].forwardAll)}×** (${r.maxRssMB / memory[b].forwardAll <= 1.5 ? 'met' : 'missed'}: ${fmt(r.maxRssMB, 0)} MB; the model loaded in JS ${fmt(r.loadedMB, 0)} MB and the graphs handed to onnxruntime ${fmt(r.modelMB, 0)} MB, both alive while onnxruntime builds its own copy)`);
        }
        const line = `${model} batch ${b}: peak RSS against the forward with every value kept (${fmt(memory[b].forwardAll, 0)} MB), target ≤ 1.5×: ` + parts.join('; ');
        extra.push(line);
        console.log(line);
      }
    }
    // what stands in the way: onnxruntime's profile of each fused explanation, batch 1, one thread
    const profile: Record<string, unknown> = {};
    if (want('profile')) {
      for (const comp of COMPOSITES) {
        const p = runChild({ kind: 'profile', model, composite: comp }).profile;
        profile[comp] = p;
        const line = `${model} ${comp}: ${typeof p === 'string' ? p : profileLine(p)}`;
        stands.push(line);
        console.log(line);
      }
    }
    results[model] = { timing, first, memory, profile };
  }
  const m1 = machine();
  results.machineAfter = m1.load;
  const header = [
    '| model | batch | threads | what | onnx-lrp (default engine: fused), ratio to the forward in the same run | per-layer engine | Zennit 0.5.1 | Zennit / onnx-lrp |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const machineLine = `${m0.nproc} × ${m0.cpu} (${m0.flags}), ${m0.memoryGB} GB; load average ${m0.load.map((l) => l.toFixed(1)).join(' ')} at the start, ${m1.load.map((l) => l.toFixed(1)).join(' ')} at the end; node ${m0.node}, onnxruntime-node ${m0.onnxruntime}; ${'src' in z ? 'Zennit 0.5.1 on Debian\'s torch' : 'no Zennit run'}; medians of ${args.rounds} rounds${'src' in z && args.zennitRounds ? ` (Zennit: ${Math.min(args.rounds, args.zennitRounds)})` : ''}, ${results.date}`;
  console.log(`\n${machineLine}\n`);
  for (const r of [...header, ...rows]) console.log(r);
  for (const l of extra) console.log(`- ${l}`);
  for (const l of stands) console.log(`- ${l}`);
  fs.mkdirSync(path.dirname(args.out), { recursive: true });
  fs.writeFileSync(args.out, JSON.stringify(results, null, 1));
  console.log(`\nresults: ${args.out}`);
  if (args.docs) writeDocs(ROOT, { machine: machineLine, table: [...header, ...rows], notes: extra, profile: stands, summary: [
    ...(summary.first.length ? [`load to first explanation ${summary.first.join(', ')} the plain session's creation (target ≤ 2×)`] : []),
    ...(summary.memory.length ? [`peak memory ${fmt(Math.min(...summary.memory), 1)}–${fmt(Math.max(...summary.memory), 1)}× the forward with every value kept (target ≤ 1.5×)`] : []),
  ] });
}

if (process.argv[2] === '--child') {
  child(JSON.parse(process.argv[3])).then((r) => { process.stdout.write(`${JSON.stringify(r)}\n`); process.exit(0); }, (e) => { console.error(e); process.exit(1); });
} else {
  main().catch((e) => { console.error(e instanceof Error ? e.message : e); process.exit(1); });
}
