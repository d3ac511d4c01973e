/** `onnx-lrp audit MODEL FOLDER --out DIR`: explain every input in a folder, with a progress bar; writes
 * per-input heatmaps and records, summary.csv, summary.json and index.html; `--evaluate` adds the
 * region-perturbation AOPC (and localisation with ground truth) of every map. Calls `audit()` from the library. */
import * as path from 'path';
import { AuditError, AuditEvaluationOptions, AuditOptions, AuditProgress, AuditSummary, ORDERS, Order, Shard, ShardError, audit, auditWorkers, openModel, parseShard, readMetadata } from '../../lib';
import {
  IMAGE_FLAGS, IMAGE_USAGE, METHOD_FLAGS, METHOD_PARAM_USAGE, METHOD_USAGE, RENDER_FLAGS, RENDER_USAGE, UsageError, Values, canonizeOption, engineOption, checkBoundChannels, checkTokenMethods,
  number, numbers, parse, parseImageFlags, parseLabels, parseMethods, parseSeedFlags, parseRenderFlags, singleTarget,
} from './common';
import { LIMIT_FLAGS, LIMIT_USAGE, parseLimits } from './limits';
import { ProgressBar, formatDuration } from './progress';

const EVALUATE_USAGE = `faithfulness (the region perturbation of 'onnx-lrp evaluate', per input and method):
  --evaluate             replace the regions of every input in order of each map's relevance, re-run the model
                         (batched) and record the AOPC per input and method in the records, summary.csv
                         (METHOD:aopc_ORDER columns, after the others), summary.json (also the means per method)
                         and index.html (a table of mean AOPC per method; each thumbnail's AOPC). An input with a
                         ground truth beside it, NAME.mask.npy ([H, W], [N, H, W] or [N, 1, H, W], non-zero
                         inside) or NAME.box.json ([x0, y0, x1, y1], x1/y1 exclusive), in the model input's
                         pixels, also gets relevance mass accuracy and the pointing game (NAME.mask.npy is not
                         an input). Records made without --evaluate or with other settings are redone.
  --orders LIST          morf,lerf,random (default morf)
  --patch P              region size in pixels (default 4)
  --regions N            regions replaced in total (default: all)
  --per-step K           regions replaced per step (default 1)
  --replacement R        zeros (0 in the model's input space) | mean (per image and channel) | blur | uniform |
                         black (the lowest pixel value after preprocessing) | a number | one per channel
                         (default zeros)
  --score S              logit (default) or probability (softmax of the target)
  --tolerance PX         pointing-game tolerance in pixels (default 0)
  --seed S               also seeds random orders, ties and uniform replacement (default 0)`;

const SCALE_USAGE = `scaling out (docs/scaling.md):
  --shard I/N            explain only shard I of N (0 ≤ I < N; the inputs are split by a hash of their relative
                         path, the same on every machine): their files and DIR/summary.shard-I-of-N.json only;
                         run every shard (at once, anywhere, on shared storage), then 'onnx-lrp merge DIR'.
                         A shard exits 0 once each of its inputs is handled (failures are recorded; merge
                         reports them). auto/N: I from JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or
                         SLURM_ARRAY_TASK_ID (Slurm job array, --array=0-(N-1))
  --workers K            K processes on this machine, one shard each (own onnxruntime session, cores/K
                         threads), merged at the end: the same files as one process
  --threads N            onnxruntime threads of the session (of each worker's with --workers); default:
                         onnxruntime's choice (cores/K with --workers). In a container or a Slurm task, give
                         the CPUs it has (e.g. --threads "$SLURM_CPUS_PER_TASK")`;

const USAGE = `usage: onnx-lrp audit MODEL FOLDER --out DIR [options]

Explains every input under FOLDER (recursively: .png, .jpg, .jpeg, .bmp, .npy) and writes, under DIR, per
input (mirroring FOLDER's sub-folders) heatmap and overlay PNGs, .npy relevance and a JSON record, and
summary.csv, summary.json and index.html (thumbnails side by side; opens from disk). A progress bar on stderr
shows count, rate and time left. Resumable: a rerun skips inputs already explained with the same settings.
Inputs that cannot be explained (undecodable image, wrong size, …) are recorded with the reason.
Text models (a token-id input): .txt files are inputs too (tokenised with the vocabulary in the model's
metadata JSON), and index.html shows each text as a heatmap of its tokens.

options:
  --out DIR              output folder (required; not FOLDER itself)
${METHOD_USAGE}
  --force                explain every input again, ignoring earlier results in DIR
  --text-per file|line   text models: a .txt file is one text (file, default) or one text per non-empty line
  --quiet                no progress bar, no notices

${METHOD_PARAM_USAGE}

${EVALUATE_USAGE}

${SCALE_USAGE}

${IMAGE_USAGE}

${RENDER_USAGE}

${LIMIT_USAGE}

exit codes: 0 every input explained, 1 some inputs failed or the model/run failed, 2 usage error,
130 interrupted (Ctrl-C stops after the current input; the summary is written).`;

export const EVALUATE_FLAGS = {
  evaluate: { type: 'boolean' }, orders: { type: 'string' }, patch: { type: 'string' }, regions: { type: 'string' }, 'per-step': { type: 'string' },
  replacement: { type: 'string' }, score: { type: 'string' }, tolerance: { type: 'string' }, seed: { type: 'string' },
} as const;

/** --evaluate and its settings (the flag names of `onnx-lrp evaluate`); the settings without --evaluate are a
 * usage error (--seed aside: it also seeds the methods). */
export function parseEvaluateFlags(v: Values): AuditEvaluationOptions | undefined {
  const given = Object.keys(EVALUATE_FLAGS).filter((f) => f !== 'evaluate' && f !== 'seed' && v[f] !== undefined);
  if (!v.evaluate) {
    if (given.length) throw new UsageError(`--${given[0]} is an evaluation setting: add --evaluate`);
    return undefined;
  }
  const int = (flag: string, min: number): number | undefined => {
    const n = number(v[flag] as string | undefined, `--${flag}`);
    if (n !== undefined && (!Number.isInteger(n) || n < min)) throw new UsageError(`--${flag} expects an integer ≥ ${min}, got '${v[flag]}'`);
    return n;
  };
  const orders = v.orders === undefined ? undefined : String(v.orders).split(',').map((s) => s.trim()).filter(Boolean) as Order[];
  if (orders) {
    if (!orders.length) throw new UsageError(`--orders expects a list of ${ORDERS.join(', ')}`);
    for (const o of orders) if (!ORDERS.includes(o)) throw new UsageError(`unknown order '${o}' (${ORDERS.join(', ')})`);
    if (new Set(orders).size !== orders.length) throw new UsageError(`--orders lists an order twice: ${v.orders}`);
  }
  const score = v.score as string | undefined;
  if (score !== undefined && score !== 'logit' && score !== 'probability') throw new UsageError(`--score must be 'logit' or 'probability', got '${score}'`);
  const rep = v.replacement as string | undefined;
  const replacement = rep === undefined ? undefined
    : ['zeros', 'mean', 'blur', 'uniform', 'black'].includes(rep) ? (rep as AuditEvaluationOptions['replacement']) : numbers(rep, '--replacement');
  return {
    orders, patch: int('patch', 1), steps: int('regions', 1), perStep: int('per-step', 1), replacement, score: score as 'logit' | 'probability' | undefined,
    tolerance: int('tolerance', 0), seed: int('seed', 0),
  };
}

const fmt = (x: number | null | undefined, d = 3) => (x === undefined || x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(d));

/** Mean AOPC per method and order (and localisation), as printed after an evaluated audit. */
export function evaluationTable(s: AuditSummary): string {
  const ev = s.evaluation!;
  const loc = Object.values(ev.methods).some((m) => m.localized > 0);
  const w = Math.max(8, ...s.methods.map((m) => m.length));
  const cols = [...ev.settings.orders.map((o) => `AOPC ${o}`), ...(loc ? ['mass acc', 'pointing'] : []), 'rows'];
  const lines = [[`${'method'.padEnd(w)}`, ...cols.map((c) => c.padStart(11))].join(' ')];
  for (const m of s.methods) {
    const x = ev.methods[m];
    const cells = [...ev.settings.orders.map((o) => fmt(x?.aopc[o])), ...(loc ? [fmt(x?.massAccuracy), fmt(x?.pointingAccuracy)] : []), String(x?.rows ?? 0)];
    lines.push([m.padEnd(w), ...cells.map((c) => c.padStart(11))].join(' '));
  }
  return lines.join('\n');
}

/** --shard I/N | auto/N (auto: the scheduler's index from the environment), --workers K, --threads N. */
export function parseScaleFlags(v: Values, env: NodeJS.ProcessEnv = process.env): { shard?: Shard; workers?: number; threads?: number } {
  let shard: Shard | undefined;
  if (v.shard !== undefined) {
    try {
      shard = parseShard(String(v.shard), env);
    } catch (e) {
      throw e instanceof ShardError ? new UsageError(e.message) : e;
    }
  }
  const threads = number(v.threads as string | undefined, '--threads');
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) throw new UsageError(`--threads expects an integer ≥ 1, got '${v.threads}'`);
  const workers = number(v.workers as string | undefined, '--workers');
  if (workers !== undefined && (!Number.isInteger(workers) || workers < 1)) throw new UsageError(`--workers expects an integer ≥ 1, got '${v.workers}'`);
  if (workers !== undefined && shard) throw new UsageError('--workers splits the audit into its own shards (one per worker); give --shard or --workers, not both');
  return { shard, workers, threads };
}

export async function auditCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parse(argv, {
    ...METHOD_FLAGS, ...IMAGE_FLAGS, ...RENDER_FLAGS, ...EVALUATE_FLAGS, ...LIMIT_FLAGS, out: { type: 'string' }, force: { type: 'boolean' }, quiet: { type: 'boolean' },
    shard: { type: 'string' }, workers: { type: 'string' }, threads: { type: 'string' }, 'text-per': { type: 'string' },
  }, USAGE);
  const scale = parseScaleFlags(v);
  const textPer = v['text-per'] as string | undefined;
  if (textPer !== undefined && textPer !== 'file' && textPer !== 'line') throw new UsageError(`--text-per must be 'file' or 'line', got '${textPer}'`);
  const [model, folder, ...rest] = positionals;
  if (!model || !folder) throw new UsageError(`missing ${model ? 'FOLDER' : 'MODEL and FOLDER'}`);
  if (rest.length) throw new UsageError(`unexpected arguments: ${rest.join(' ')}`);
  const out = v.out as string | undefined;
  if (!out) throw new UsageError('missing --out DIR');
  if (path.resolve(out) === path.resolve(folder)) throw new UsageError('--out must not be the input folder');
  const limits = parseLimits(v);
  const meta = readMetadata(model, v.metadata as string | undefined, limits);
  const { methods, options, byDefault } = parseMethods(v, meta);
  const evaluate = parseEvaluateFlags(v);
  const labels = parseLabels(v, meta);
  const target = singleTarget(v, labels);
  const canonize = canonizeOption(v);
  const explainer = openModel(model, { canonize, engine: engineOption(v), threads: scale.threads, maxFileSize: limits.maxFileSize, maxInputElements: limits.maxInputElements });
  try {
    checkBoundChannels(v, explainer);
    checkTokenMethods(methods, explainer);
  } catch (e) {
    await explainer.release();
    throw e;
  }
  const bar = v.quiet ? null : new ProgressBar(process.stderr, undefined, 2000);
  const ac = new AbortController();
  const onSigint = () => {
    if (ac.signal.aborted) process.exit(130);
    process.stderr.write('\ninterrupted: finishing the current input and writing the summary (Ctrl-C again to quit now)\n');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  const t0 = Date.now();
  let result;
  try {
    const opts: AuditOptions = {
      model, folder, out, methods: byDefault ? undefined : methods, options, target, ...parseSeedFlags(v, labels), metadata: meta, explainer, canonize,
      notice: (msg: string) => { if (!v.quiet) console.error(`onnx-lrp: ${msg}`); },
      labels, image: parseImageFlags(v), render: parseRenderFlags(v), grid: v['no-grid'] ? false : undefined,
      npy: !v['no-npy'], force: !!v.force, signal: ac.signal, evaluate, limits, shard: scale.shard, ...(textPer ? { textPer: textPer as 'file' | 'line' } : {}),
    };
    const onProgress = (p: AuditProgress) => bar?.update(p);
    if (scale.workers !== undefined) await explainer.release(); // each worker opens the model
    result = scale.workers === undefined ? await audit(opts, onProgress) : await auditWorkers(opts, { workers: scale.workers, threads: scale.threads }, onProgress);
  } catch (e) {
    bar?.done();
    if (e instanceof AuditError && /output folder must not be|output folder is (not empty|a file)|no composite|titles must differ|^evaluate: (unknown|no perturbation|an order|score|patch|steps|perStep|seed|tolerance|replacement)/.test(e.message)) throw new UsageError(e.message);
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
    await explainer.release();
  }
  const c = result.counts;
  if (!v.quiet) {
    if (result.compositeReason) console.log(`composite ${result.methods[0]} (${result.compositeReason}; --composite to choose)`);
    console.log(`${c.inputs} inputs in ${formatDuration(Date.now() - t0)}: ${c.ok} explained, ${c.failed} failed${c.resumed ? `, ${c.resumed} kept from an earlier run` : ''}`);
    for (const r of result.inputs.filter((x) => x.status !== 'ok')) console.log(`  failed: ${r.error?.startsWith(`${r.input}: `) ? r.error : `${r.input}: ${r.error}`}`);
    if (result.evaluation) {
      const st = result.evaluation.settings;
      console.log(`faithfulness (${st.patch}x${st.patch} regions, replacement ${JSON.stringify(st.replacement)}, score ${st.score}; means over the rows):\n${evaluationTable(result)}`);
    }
    if (scale.shard) console.log(`shard ${scale.shard.index} of ${scale.shard.count}: ${result.files.json}\nwhen every shard is done: onnx-lrp merge ${out}`);
    else console.log(`report: ${result.files.html}\nsummary: ${result.files.csv}, ${result.files.json}`);
  }
  const vanishing = result.inputs.flatMap((r) => Object.entries(r.methods).flatMap(([m, x]) => (x.warnings ?? []).map((w) => `${r.input}${r.sample === undefined ? '' : ` sample ${r.sample}`}: ${m}: ${w}`)));
  for (const w of vanishing.slice(0, 5)) console.error(`onnx-lrp: warning: ${w}`);
  if (vanishing.length > 5) console.error(`onnx-lrp: warning: ${vanishing.length - 5} more maps vanish (warnings in the records)`);
  if (!result.complete) {
    console.error('onnx-lrp: audit interrupted; rerun the same command to continue');
    process.exit(130);
  }
  if (c.failed && !scale.shard) throw new Error(`${c.failed} of ${c.inputs} inputs could not be explained (reasons in ${path.join(out, 'summary.csv')})`);
}
