/** `onnx-lrp evaluate MODEL (--input X.npy | --images IDX) …`: how faithful are the maps? Region perturbation
 * (MoRF / LeRF / random order → curves and AOPC), localisation with a mask or box, conservation of the LRP
 * composites, and the model-randomisation sanity check. */
import * as fs from 'fs';
import * as path from 'path';
import {
  ATTRIBUTION_NAMES, COMPOSITE_NAMES, CompositeOptions, DEFAULT_COMPOSITE, METHOD_NAMES, ModelMetadata, ORDERS, Order, PerturbationCurve, Replacement,
  SuiteRow, batchable, blackValue, curvesToCsv, evaluateMethods, loadIdxImages, float32, formatConservation, linePlot,
  methodFor, modelRandomization, openModel, readMetadata, readNpy, writePng,
} from '../../lib';
import type { AttributeOptions, Box, Dataset, EvaluationRegion, RandomizationResult } from '../../lib';
import {
  METHOD_FLAGS, METHOD_PARAM_USAGE, UsageError, canonizeOption, engineOption, checkBoundChannels, checkMethodParams, listedMethods, number, numbers, parse, parseLabels,
  parseMethodParams, parseRuleOptions, parseSeedFlags, parseTarget,
} from './common';

const USAGE = `usage: onnx-lrp evaluate MODEL (--input X.npy | --images IDX) [options]

Measures how faithful attribution maps are. Region perturbation (Samek et al. 2017): the input is cut into
square regions, the regions are replaced in order of relevance (morf: most relevant first; lerf: least relevant
first; random), the model is re-run after every step, and the mean target score is reported as a curve and
its AOPC (area over the perturbation curve; higher for morf = more faithful). With a mask or box: relevance
mass accuracy and the pointing game. LRP composites also report conservation; --randomize runs the
model-randomisation sanity check (Adebayo et al. 2018).

inputs:
  --input FILE           input tensor .npy [N, C, H, W] (float32, in the model's input space)
  --images FILE          IDX image file (.gz read as is), e.g. MNIST's t10k-images-idx3-ubyte.gz: pixels are
                         scaled to the metadata's input.valueRange (default [0, 1]) and normalised with its
                         mean/std (default none)
  --count N              images taken from the IDX file (default 100), starting at --offset K (default 0)
  --target K             class(es) to explain (one, or one per sample), by index or by name; default: the prediction
  --metadata FILE        model metadata JSON (default: MODEL with .json)
  --labels FILE.json     class names for --target NAME (default: the metadata's)
methods:
  --method LIST          comma-separated (alias --methods; --composite adds to it); default
                         the model's composite (attnlrp for a transformer, else epsilon_plus_flat),gradient,random
                         LRP composites: ${COMPOSITE_NAMES.filter((c) => !METHOD_NAMES.includes(c)).join(', ')}
                         methods: ${METHOD_NAMES.join(', ')}
  --epsilon E --gamma G  LRP rule parameters (≥ 0)          --zero-bias  drop biases in every parametric rule
  --low L --high H       zBox bounds (low < high; default: from the metadata)
  --output-relevance M   logit, one, contrastive or softmax (default: logit for LRP composites, one for the
                         gradient methods); --dual others|negated and --no-clip for contrastive; --contrast K
                         ("why the target and not K", one class here) as in explain
  --no-canonize          skip the canonizers that change rules' inputs (as in explain)
  --engine E             auto (default), fused, ort or reference (as in explain)
${METHOD_PARAM_USAGE.replace(/^.*\n/, '').replace('fill value, one or one per channel (default 0)', 'fill value (default: the perturbation\'s replacement when it is a value, else 0)')
    .replace("seeds smoothgrad's noise and random maps (default 0)", 'seeds SmoothGrad, random maps, random orders and ties (default 0)')}
perturbation:
  --orders LIST          morf,lerf,random (default morf,lerf,random)
  --patch P              region size in pixels (default 4)
  --regions N            regions replaced in total (default: all)
  --per-step K           regions replaced per step (default 1)
  --replacement R        zeros (0 in the model's input space) | mean (per image and channel) | blur | uniform |
                         black (the metadata's lowest input value, e.g. pixel 0 after normalisation) | a number
                         | one number per channel (default zeros)
  --score S              logit (default) or probability (softmax of the target)
localisation:
  --mask FILE.npy        mask [H, W], [N, H, W] or [N, 1, H, W] (non-zero inside)
  --box X0,Y0,X1,Y1      a box in pixels (x1, y1 exclusive), for every input
  --tolerance PX         pointing-game tolerance in pixels (default 0)
checks:
  --conservation         print the per-node conservation of every LRP composite
  --randomize K|all      cascading randomisation of the top K parametric layers; prints Spearman rank
                         correlations between the original and the randomised maps
output:
  --out DIR              curves-<order>.csv, curves-<order>.png, summary.json
  --batch N              images per chunk (default 50)
  --threads N            onnxruntime threads (default: onnxruntime's choice)
  --quiet                print nothing but errors`;

function list(v: unknown): string[] {
  return String(v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

const fmt = (v: number | undefined, d = 3) => (v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(d));

export async function evaluateCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parse(argv, {
    ...Object.fromEntries(Object.entries(METHOD_FLAGS).filter(([k]) => k !== 'rule-map')),
    input: { type: 'string' }, images: { type: 'string' }, count: { type: 'string' }, offset: { type: 'string' }, orders: { type: 'string' }, patch: { type: 'string' },
    regions: { type: 'string' }, 'per-step': { type: 'string' }, replacement: { type: 'string' }, score: { type: 'string' }, mask: { type: 'string' },
    box: { type: 'string' }, tolerance: { type: 'string' }, conservation: { type: 'boolean' }, randomize: { type: 'string' }, out: { type: 'string' },
    batch: { type: 'string' }, threads: { type: 'string' }, quiet: { type: 'boolean' },
  }, USAGE);
  const [modelFile, ...rest] = positionals;
  if (!modelFile) throw new UsageError('missing MODEL');
  if (rest.length) throw new UsageError(`unexpected arguments: ${rest.join(' ')}`);
  if (!v.input === !v.images) throw new UsageError('give exactly one of --input X.npy and --images IDX');
  const int = (flag: string, def: number, min = 1): number => {
    const n = number(v[flag] as string | undefined, `--${flag}`) ?? def;
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} expects an integer ≥ ${min}, got '${v[flag]}'`);
    return n;
  };
  const listed = listedMethods(v);
  const methods = [...listed.composites, ...listed.methods];
  const byDefault = !methods.length; // the first: the model's own composite, once it is open
  if (byDefault) methods.push(DEFAULT_COMPOSITE, 'gradient', 'random');
  for (const m of methods) if (!ATTRIBUTION_NAMES.includes(m)) throw new UsageError(`unknown method '${m}'; known: ${ATTRIBUTION_NAMES.join(', ')}`);
  if (new Set(methods).size !== methods.length) throw new UsageError(`a method is listed twice: ${methods.join(',')}`);
  checkMethodParams(v, methods);
  const orders = list(v.orders ?? 'morf,lerf,random') as Order[];
  for (const o of orders) if (!ORDERS.includes(o)) throw new UsageError(`unknown order '${o}' (${ORDERS.join(', ')})`);
  const score = (v.score as string | undefined) ?? 'logit';
  if (score !== 'logit' && score !== 'probability') throw new UsageError(`--score must be 'logit' or 'probability', got '${score}'`);
  const meta = readMetadata(modelFile, v.metadata as string | undefined);
  let replacement: Replacement;
  const rep = (v.replacement as string | undefined) ?? 'zeros';
  if (['zeros', 'mean', 'blur', 'uniform'].includes(rep)) replacement = rep as Replacement;
  else if (rep === 'black') replacement = blackValue(meta);
  else replacement = numbers(rep, '--replacement')!;
  const seed = int('seed', 0, 0);
  const options: CompositeOptions = parseRuleOptions(v, meta);
  const fillDefault = typeof replacement === 'number' || Array.isArray(replacement) ? replacement : 0;
  const params = parseMethodParams(v, meta);
  const attr: Omit<AttributeOptions, 'method'> = {
    options, ...seedOptionsOf(v, meta?.labels), ...params, seed, fill: params.fill ?? fillDefault,
  };
  let region: EvaluationRegion | undefined;
  if (v.mask && v.box) throw new UsageError('give --mask or --box, not both');
  if (v.mask) region = readNpy(v.mask as string);
  if (v.box) {
    const b = numbers(v.box as string, '--box');
    if (!Array.isArray(b) || b.length !== 4) throw new UsageError(`--box expects X0,Y0,X1,Y1, got '${v.box}'`);
    region = b as Box;
  }
  const tolerance = int('tolerance', 0, 0);
  if (v.tolerance !== undefined && !region) throw new UsageError('--tolerance is a pointing-game setting: add --mask or --box');
  const quiet = !!v.quiet;
  const log = (s: string) => { if (!quiet) console.log(s); };
  const threads = v.threads !== undefined ? int('threads', 1) : undefined;

  let data: Dataset;
  if (v.input) {
    const t = readNpy(v.input as string);
    if (t.dtype !== 'float32' && t.dtype !== 'float64') throw new Error(`${v.input}: expected a float tensor, got ${t.dtype}`);
    data = { x: float32(t.dims, t.data as Float32Array) };
  } else {
    data = loadIdxImages(v.images as string, meta, int('count', 100), int('offset', 0, 0));
  }
  const target = parseTarget(v, parseLabels(v, meta));
  const opened = openModel(modelFile, { threads, canonize: canonizeOption(v), engine: engineOption(v) });
  let explainer = opened;
  try {
    checkBoundChannels(v, opened);
    if (byDefault) {
      const d = opened.defaultComposite();
      methods[0] = d.composite;
      log(`composite ${d.composite} (${d.reason}; --method to choose)`);
    }
    explainer = await batchable(opened, data.x, log);
    const x = data.x;
    log(`${modelFile}: ${x.dims[0]} input(s) [${x.dims.slice(1).join('x')}]; regions ${int('patch', 4)}x${int('patch', 4)}, replacement ${JSON.stringify(replacement)}, score ${score}, seed ${seed}`);
    const t0 = Date.now();
    const rows = await evaluateMethods(explainer, x, {
      methods: methods.map((m) => methodFor(m, options, { ...params, seed, fill: params.fill ?? fillDefault })), outputRelevance: attr.outputRelevance, dual: attr.dual, clip: attr.clip, contrast: attr.contrast,
      orders, target, chunk: int('batch', 50), region, tolerance,
      perturbation: { patch: int('patch', 4), steps: v.regions !== undefined ? int('regions', 1) : undefined, perStep: int('per-step', 1), replacement, score, seed },
      onProgress: (s) => { if (!quiet && process.stderr.isTTY) process.stderr.write(`\r${s}\x1b[K`); },
    });
    if (!quiet && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    if (data.labels && !quiet) {
      const pred = await explainer.predict(x);
      const K = pred.data.length / x.dims[0];
      let ok = 0;
      data.labels.forEach((l, s) => { let b = 0; for (let k = 1; k < K; k++) if (pred.data[s * K + k] > pred.data[s * K + b]) b = k; if (b === l) ok++; });
      log(`accuracy on these inputs: ${(100 * ok / data.labels.length).toFixed(1)}%`);
    }
    log(table(rows, orders, !!region));
    log(`(${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    const notApplicable = rows.filter((r) => r.error);
    for (const r of notApplicable) log(`${r.label}: n/a: ${r.error}`);
    if (v.conservation) for (const r of rows) if (r.conservation) log(`\n${formatConservation(r.conservation)}`);
    let randomization: RandomizationResult[] | undefined;
    if (v.randomize !== undefined) {
      const k = v.randomize === 'all' ? undefined : int('randomize', 1);
      randomization = [];
      for (const m of methods) {
        try {
          randomization.push(await modelRandomization(explainer, x, { ...attr, method: m, target, layers: k, seed }));
        } catch (e) {
          log(`${m}: randomisation n/a: ${(e as Error).message}`);
        }
      }
      log(`\nmodel randomisation (cascading, top layers first): mean Spearman rank correlation with the original maps, signed / absolute`);
      for (const r of randomization) {
        log(`${r.method.padEnd(22)} ${r.steps.map((s, i) => `top ${i + 1}: ${fmt(s.meanSpearman)} / ${fmt(s.meanSpearmanAbs)}`).join('   ')}`);
      }
    }
    if (v.out) {
      const dir = v.out as string;
      fs.mkdirSync(dir, { recursive: true });
      const ok = rows.filter((r) => !r.error);
      for (const o of orders) {
        const curves = ok.map((r) => ({ label: r.label, curve: r.curves[o] as PerturbationCurve }));
        fs.writeFileSync(path.join(dir, `curves-${o}.csv`), curvesToCsv(curves));
        await writePng(path.join(dir, `curves-${o}.png`), linePlot(curves.map((c) => ({ label: `${c.label} ${c.curve.aopc.toFixed(2)}`, y: c.curve.meanScore, x: c.curve.fractions })), {
          title: `${path.basename(modelFile)}: ${o}, ${x.dims[0]} inputs`, xLabel: `fraction of ${int('patch', 4)}x${int('patch', 4)} regions replaced`, yLabel: `mean target ${score}`,
        }));
      }
      const summary = {
        model: modelFile, inputs: v.input ?? v.images, count: x.dims[0], orders, replacement, score, patch: int('patch', 4), seed,
        ...(region ? { tolerance } : {}),
        methods: rows.map((r) => ({
          label: r.label, method: r.method, error: r.error, seconds: r.seconds, aopc: r.aopc,
          curves: Object.fromEntries(Object.entries(r.curves).map(([o, c]) => [o, { fractions: c!.fractions, meanScore: c!.meanScore }])),
          localization: r.localization && { meanMassAccuracy: r.localization.meanMassAccuracy, pointingAccuracy: r.localization.pointingAccuracy },
          conservation: r.conservation && { output: r.conservation.output, input: r.conservation.input, absorbed: r.conservation.absorbed, nodes: r.conservation.nodes },
        })),
        randomization,
      };
      fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify(summary, null, 2));
      log(`wrote ${dir}/ (curves-*.csv, curves-*.png, summary.json)`);
    }
  } finally {
    if (explainer !== opened) await explainer.release();
    await opened.release();
  }
}

function table(rows: SuiteRow[], orders: Order[], localisation: boolean): string {
  const w = Math.max(8, ...rows.map((r) => r.label.length));
  const cols = [...orders.map((o) => `AOPC ${o}`), ...(localisation ? ['mass acc', 'pointing'] : []), 'absorbed', 'time s'];
  const lines = [[`${'method'.padEnd(w)}`, ...cols.map((c) => c.padStart(11))].join(' ')];
  for (const r of rows) {
    const cells = [
      ...orders.map((o) => fmt(r.aopc[o])),
      ...(localisation ? [fmt(r.localization?.meanMassAccuracy), fmt(r.localization?.pointingAccuracy)] : []),
      r.conservation ? `${(100 * r.conservation.absorbed).toFixed(1)}%` : '',
      r.error ? 'n/a' : r.seconds.toFixed(1),
    ];
    lines.push([r.label.padEnd(w), ...cells.map((c) => c.padStart(11))].join(' '));
  }
  return lines.join('\n');
}

/** --output-relevance, --dual, --no-clip and (one) --contrast as attribution options. */
function seedOptionsOf(v: Record<string, unknown>, labels: readonly string[] | undefined): Pick<AttributeOptions, 'outputRelevance' | 'dual' | 'clip' | 'contrast'> {
  const { contrast, ...rest } = parseSeedFlags(v as Parameters<typeof parseSeedFlags>[0], labels);
  if (contrast && contrast.length > 1) throw new UsageError('--contrast takes one class in evaluate');
  return { ...rest, ...(contrast ? { contrast: contrast[0] } : {}) };
}
