/** `npm run bench`: how much an LRP explanation costs against the forward pass it explains.
 *
 * Exports torchvision VGG16 and ResNet50 with random weights at 224×224 (scripts/bench/export_models.py, cached
 * in ~/.cache/onnx-lrp/bench; skipped with a message when torch is absent), then measures, each configuration
 * in its own child process:
 *   - timing: onnxruntime's forward alone (default options, and without spinning threads: the faster of the two
 *     is the denominator) and onnx-lrp with epsilon, epsilon_plus_flat, epsilon_gamma_box and
 *     epsilon_alpha2_beta1, batch 1 and 8, run alternately in one process; medians and ratios to the forward
 *     measured in the same process (the ratios are what to compare across machines);
 *   - the time from loading a model to its first explanation against creating a plain onnxruntime session;
 *   - peak RSS of one explanation against a forward pass with every intermediate value kept.
 * Prints a table and writes out/bench/results.json. Never a test: it takes minutes.
 *
 *   npm run bench [-- --models vgg16,resnet50] [--batches 1,8] [--rounds 7] [--threads 2] [--out FILE]
 *                 [--only timing,first,memory]
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { DATA_TYPE_CODE } from '../lib/ir/dtypes';
import { inferDtypes } from '../lib/ops/dtypes';

const ROOT = path.resolve(__dirname, '../..');
const CACHE = path.join(os.homedir(), '.cache', 'onnx-lrp', 'bench');
const COMPOSITES = ['epsilon', 'epsilon_plus_flat', 'epsilon_gamma_box', 'epsilon_alpha2_beta1'];
const TARGETS: Record<string, number> = { epsilon: 2.2, epsilon_plus_flat: 2.2, epsilon_gamma_box: 4, epsilon_alpha2_beta1: 4 };
/** ImageNet normalisation: the bounds of a normalised [0, 1] image, per channel (zBox in epsilon_gamma_box) */
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const LOW = MEAN.map((m, c) => (0 - m) / STD[c]);
const HIGH = MEAN.map((m, c) => (1 - m) / STD[c]);

interface Args { models: string[]; batches: number[]; rounds: number; threads: number; out: string; only: string[] }

function parseArgs(argv: string[]): Args {
  const a: Args = { models: ['vgg16', 'resnet50'], batches: [1, 8], rounds: 7, threads: 2, out: path.join(ROOT, 'out/bench/results.json'), only: ['timing', 'first', 'memory'] };
  for (let i = 0; i < argv.length; i++) {
    const [k, inline] = argv[i].split('=');
    const v = inline ?? argv[++i];
    if (k === '--models') a.models = v.split(',');
    else if (k === '--batches') a.batches = v.split(',').map(Number);
    else if (k === '--rounds') a.rounds = Number(v);
    else if (k === '--threads') a.threads = Number(v);
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

const median = (v: number[]) => { const s = [...v].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

// ---------------------------------------------------------------------------------------------------------
// child processes: one configuration each, result as one JSON line on stdout

type Child =
  | { kind: 'timing'; model: string; batches: number[]; rounds: number; threads: number }
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
      const t0 = performance.now();
      const model = lib.loadModelFile(file);
      const t1 = performance.now();
      const e = lib.Explainer.create(model, lib.ortBackend, { source: file, threads: c.threads });
      const t2 = performance.now();
      await e.explain(x, { composite: c.composite, options });
      const t3 = performance.now();
      await e.explain(x, { composite: c.composite, options });
      const t4 = performance.now();
      return { ms: t3 - t0, load: t1 - t0, canonize: t2 - t1, explain: t3 - t2, second: t4 - t3 };
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
      const e = lib.openModel(file, { threads: c.threads });
      const x = { dtype: 'float32' as const, dims: [c.batch, 3, 224, 224], data: input(c.batch) };
      await e.explain(x, { composite: c.composite, options });
      await e.explain(x, { composite: c.composite, options });
      return { maxRssMB: peakRssMB() };
    }
    case 'all-outputs': {
      await writeAllOutputs(c.model);
      return { file: allOutputsFile(c.model) };
    }
    case 'timing': {
      const s = await ort.InferenceSession.create(file, sessionOpts);
      // the same without spinning worker threads (faster when other processes compete for the cores)
      const quiet = await ort.InferenceSession.create(file, { ...sessionOpts, extra: { session: { intra_op: { allow_spinning: '0' } } } });
      const e = lib.openModel(file, { threads: c.threads });
      const out: Record<string, unknown> = {};
      for (const batch of c.batches) {
        const data = input(batch);
        const xo = new ort.Tensor('float32', data, [batch, 3, 224, 224]);
        const x = { dtype: 'float32' as const, dims: [batch, 3, 224, 224], data };
        const feeds = { [s.inputNames[0]]: xo };
        const runs: Record<string, () => Promise<unknown>> = { forward: () => s.run(feeds), forwardNoSpin: () => quiet.run(feeds) };
        for (const comp of COMPOSITES) runs[comp] = () => e.explain(x, { composite: comp, options });
        for (const f of Object.values(runs)) { await f(); await f(); } // warm-up: kernels compiled, buffers sized
        const times: Record<string, number[]> = {};
        for (let r = 0; r < c.rounds; r++) {
          for (const [k, f] of Object.entries(runs)) {
            const t = performance.now();
            await f();
            (times[k] ??= []).push(performance.now() - t);
          }
        }
        out[`batch${batch}`] = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, { median: median(v), min: Math.min(...v), all: v.map((t) => Math.round(t * 10) / 10) }]));
      }
      await e.release();
      await s.release();
      await quiet.release();
      return out;
    }
  }
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
  const r = spawnSync(process.execPath, [__filename, '--child', JSON.stringify(c)], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`bench child ${JSON.stringify(c)} failed (exit ${r.status}):\n${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line);
}

// ---------------------------------------------------------------------------------------------------------

function exportModels(args: Args): string[] {
  const missing = args.models.filter((m) => !fs.existsSync(path.join(CACHE, `${m}.onnx`)));
  if (missing.length) {
    const py = '/usr/bin/python3';
    const r = spawnSync(py, [path.join(ROOT, 'scripts/bench/export_models.py'), CACHE], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      console.log(`torch/torchvision not usable (${r.error?.message ?? r.stdout.trim() ?? r.stderr.trim()}): the export step is skipped`);
    }
  }
  const have = args.models.filter((m) => fs.existsSync(path.join(CACHE, `${m}.onnx`)));
  for (const m of args.models.filter((x) => !have.includes(x))) console.log(`${m}: no model in ${CACHE}; skipped`);
  return have;
}

function zennit(): string {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import torch, zennit; print(zennit.__version__ if hasattr(zennit, "__version__") else "")'], { encoding: 'utf8' });
  if (r.status === 0) return 'importable, but a side-by-side run is not implemented here';
  return 'skipped: Zennit is not importable (only Debian\'s torch is installed), so no reference-library comparison was run';
}

function machine() {
  const cpu = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  let nproc = os.cpus().length;
  try { nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()); } catch { /* os.cpus() */ }
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const ortVersion = require('onnxruntime-node/package.json').version as string;
  return { nproc, cpu, load: os.loadavg(), node: process.version, onnxruntime: ortVersion, memoryGB: Math.round(os.totalmem() / 1e9) };
}

const fmt = (v: number, d = 2) => v.toFixed(d);

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const models = exportModels(args);
  const m0 = machine();
  console.log(`machine: ${m0.nproc} × ${m0.cpu}, load ${m0.load.map((l) => l.toFixed(1)).join(' ')}; node ${m0.node}, onnxruntime-node ${m0.onnxruntime}; threads ${args.threads}`);
  const results: Record<string, unknown> = { date: new Date().toISOString(), machine: m0, args };
  const rows: string[] = [];
  const want = (k: string) => args.only.includes(k);
  for (const model of models) {
    console.log(`\n== ${model}`);
    const table: Record<string, Record<string, { ms: number; ratio: number; perInput: number }>> = {};
    let timing: Record<string, any> | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
    if (want('timing')) {
      // one process per batch size: kernels for batches keep memory arenas, which would crowd the other size
      timing = Object.assign({}, ...args.batches.map((b) => runChild({ kind: 'timing', model, batches: [b], rounds: args.rounds, threads: args.threads })));
      for (const b of args.batches) {
        const t = timing![`batch${b}`];
        // the denominator: the faster of the two forward configurations
        const fwd = Math.min(t.forward.median, t.forwardNoSpin.median);
        table[b] = {};
        for (const k of ['forward', 'forwardNoSpin', ...COMPOSITES]) table[b][k] = { ms: t[k].median, ratio: t[k].median / fwd, perInput: t[k].median / b };
        console.log(`batch ${b}: forward ${fmt(t.forward.median, 1)} ms (without spinning ${fmt(t.forwardNoSpin.median, 1)} ms); ` + COMPOSITES.map((k) => `${k} ${fmt(table[b][k].ratio)}×`).join(', '));
      }
    }
    // first explanation vs plain session creation, alternated, fresh processes
    let first: Record<string, unknown> & { create: number; first: number; ratio: number } | undefined;
    if (want('first')) {
      const creates: number[] = [];
      const firsts: Record<string, number>[] = [];
      for (let r = 0; r < 3; r++) {
        creates.push(runChild({ kind: 'create', model, threads: args.threads }).ms);
        firsts.push(runChild({ kind: 'first', model, threads: args.threads, composite: 'epsilon_plus_flat' }) as Record<string, number>);
      }
      const best = firsts.sort((a, b) => a.ms - b.ms)[1];
      first = { create: median(creates), first: best.ms, ratio: best.ms / median(creates), creates, firsts, breakdown: best };
      console.log(`first explanation (load + epsilon_plus_flat) ${fmt(first.first, 0)} ms vs session creation ${fmt(first.create, 0)} ms: ${fmt(first.ratio)}× ` +
        `(load ${fmt(best.load, 0)}, canonize ${fmt(best.canonize, 0)}, first explain ${fmt(best.explain, 0)}, a second one ${fmt(best.second, 0)} ms)`);
    }
    // peak RSS, one configuration per process
    const memory: Record<string, Record<string, number>> = {};
    if (want('memory')) {
      runChild({ kind: 'all-outputs', model }); // in a child: loading the model would raise this process's RSS
      for (const b of args.batches) {
        memory[b] = { forwardAll: runChild({ kind: 'rss-forward', model, threads: args.threads, batch: b }).maxRssMB };
        for (const comp of COMPOSITES) memory[b][comp] = runChild({ kind: 'rss-lrp', model, threads: args.threads, batch: b, composite: comp }).maxRssMB;
        console.log(`peak RSS batch ${b}: forward with every value kept ${fmt(memory[b].forwardAll, 0)} MB; ` + COMPOSITES.map((k) => `${k} ${fmt(memory[b][k] / memory[b].forwardAll)}×`).join(', '));
      }
    }
    results[model] = { timing, table, first, memory };
    for (const b of args.batches) {
      const mem = (k: string) => (memory[b] ? `${fmt(memory[b][k] / memory[b].forwardAll)}× (${fmt(memory[b][k], 0)} MB)` : '');
      const fwd = table[b] ? Math.min(table[b].forward.ms, table[b].forwardNoSpin.ms) : 0;
      if (table[b] || memory[b]) rows.push(`| ${model} | ${b} | forward alone | ${table[b] ? `${fmt(fwd, 0)} ms` : ''} | ${table[b] ? `${fmt(fwd / b, 0)} ms` : ''} | ${memory[b] ? `${fmt(memory[b].forwardAll, 0)} MB, every value kept` : ''} |`);
      for (const k of COMPOSITES) {
        const t = table[b]?.[k];
        if (t || memory[b]) rows.push(`| ${model} | ${b} | ${k} | ${t ? `**${fmt(t.ratio)}×** (target ≤ ${TARGETS[k]}×)` : ''} | ${t ? `${fmt(t.perInput, 0)} ms` : ''} | ${mem(k)} |`);
      }
    }
    if (first) rows.push(`| ${model} | 1 | load → first explanation | **${fmt(first.ratio)}×** session creation (target ≤ 2×) | ${fmt(first.first, 0)} ms vs ${fmt(first.create, 0)} ms | |`);
  }
  results.zennit = zennit();
  results.machineAfter = machine().load;
  console.log(`\nZennit: ${results.zennit}`);
  console.log('\n| model | batch | what | time, ratio to the forward in the same run | per input | peak RSS, ratio to the forward with every value kept |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
  fs.mkdirSync(path.dirname(args.out), { recursive: true });
  fs.writeFileSync(args.out, JSON.stringify(results, null, 1));
  console.log(`\nresults: ${args.out}`);
}

if (process.argv[2] === '--child') {
  child(JSON.parse(process.argv[3])).then((r) => { process.stdout.write(`${JSON.stringify(r)}\n`); process.exit(0); }, (e) => { console.error(e); process.exit(1); });
} else {
  main().catch((e) => { console.error(e instanceof Error ? e.message : e); process.exit(1); });
}
