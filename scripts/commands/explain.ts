/** `onnx-lrp explain MODEL INPUT... [--composite A,B] [--out DIR] …`: images or .npy tensors in; predictions,
 * conservation and (with --out) heatmaps, overlays, .npy relevance, a JSON record and a comparison grid out. */
import * as path from 'path';
import {
  ComparisonRow, Explainer, defaultMethod, ExplanationRecord, GRID_CELL, InputExplanation, Method, RenderOptions, MethodResult, comparisonGrid, comparisonRows, resultRecord, encodePng, explainInput, isImageFile, imageOptionsFor, withImageBounds, loadInput, openModel, readMetadata, sliceSample, writeFileAtomic, writeInputFiles, writeNpy,
  float32, parseTokenList, tokenInput, tokenInputOf, tokenRelevance,
} from '../../lib';
import {
  IMAGE_FLAGS, IMAGE_USAGE, METHOD_FLAGS, METHOD_PARAM_USAGE, METHOD_USAGE, RENDER_FLAGS, RENDER_USAGE, UsageError, Values, canonizeOption, engineOption, checkBoundChannels, checkTokenMethods,
  parse, parseImageFlags, parseLabels, parseMethods, parseSeedFlags, parseRenderFlags, parseTarget,
} from './common';
import { LIMIT_FLAGS, LIMIT_USAGE, parseLimits } from './limits';
import { writeKeptRelevance } from './keep-all';
import { ProgressBar } from './progress';

const USAGE = `usage: onnx-lrp explain MODEL INPUT... [options]

Explains the model's output for each input with Layer-wise Relevance Propagation (or a gradient method).
INPUT: an image (.png, .jpg, .jpeg, .bmp; preprocessed to the model's input) or a tensor (.npy: float32,
C order, batch first). Prints prediction, score and relevance conservation; --out writes per input a heatmap
and an overlay PNG and .npy relevance per composite, a JSON record, and a comparison grid for several composites;
with several inputs also comparison.png (one row per input). The batched methods (smoothgrad,
integrated_gradients, occlusion) show progress on stderr; a map that vanishes (relevance at the input 0, or
≥ 99% absorbed) gets a warning on stderr with the cause and a remedy.

Text models (token ids input): INPUT may be an int64 .npy of token ids [T] or [N, T] or a .txt file (one
text), or give --text / --tokens; the relevance of each token is printed in a table (padding left out) and
--out draws text heatmaps (tokens coloured by relevance).

options:
  --input FILE           an input (repeatable; same as a positional INPUT)
  --text "…"             a text, tokenised with the vocabulary in the model's metadata JSON (repeatable)
  --tokens "12,7,99"     token ids (the model's fixed length, special tokens and padding included)
${METHOD_USAGE.replace('default: the prediction', 'default: the prediction; K1,K2,…: one per sample of a .npy batch')}
  --out DIR              write heatmaps, overlays, relevance, records and grids into DIR
  --keep-all             with --out: also every node's relevance, STEM.METHOD.values/VALUE.npy (names made
                         file-safe; index.json maps files to values and nodes), and the per-node conservation
                         table STEM.METHOD.conservation.csv and .json (LRP composites, single-pass gradients)
  --save-npy OUT.npy     write the input relevance (one input, one composite); token inputs: the relevance per
                         token [N, T], and their strings in OUT.tokens.json
  --json OUT.json        write a JSON record of the run (one input, one composite)
  --quiet                print nothing but warnings and errors (no progress)

${METHOD_PARAM_USAGE}

${IMAGE_USAGE}

${RENDER_USAGE}

${LIMIT_USAGE}

exit codes: 0 success, 1 the model, an input or the run failed, 2 usage error.
examples:
  onnx-lrp explain models/fashion-vgg.onnx models/samples/*.png --composite epsilon_plus_flat,epsilon_gamma_box --out out/
  onnx-lrp explain model.onnx --input x.npy --composite epsilon_gamma_box --low -0.81 --high 2.02 --save-npy r.npy
  onnx-lrp explain resnet18.onnx dog.jpg --target malamute --method integrated_gradients --ig-steps 64 --out out/`;

const fmt = (x: number) => x.toPrecision(6);
/** comparison.png holds at most this many rows (inputs × samples). */
const MAX_COMPARISON_ROWS = 24;

export async function explainCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parse(argv, {
    input: { type: 'string', multiple: true }, text: { type: 'string', multiple: true }, tokens: { type: 'string' }, ...METHOD_FLAGS, ...IMAGE_FLAGS, ...RENDER_FLAGS, ...LIMIT_FLAGS,
    out: { type: 'string' }, 'save-npy': { type: 'string' }, json: { type: 'string' }, quiet: { type: 'boolean' }, 'keep-all': { type: 'boolean' },
  }, USAGE);
  const [modelFile, ...rest] = positionals;
  if (!modelFile) throw new UsageError('missing MODEL');
  const texts = (v.text as unknown as string[] | undefined) ?? [];
  const tokenList = v.tokens as string | undefined;
  const inputs = [...((v.input as unknown as string[] | undefined) ?? []), ...rest, ...texts.map((_, k) => `text-${k + 1}`), ...(tokenList !== undefined ? ['tokens'] : [])];
  if (!inputs.length) throw new UsageError('missing INPUT (an image or .npy file, or --text / --tokens)');
  const limits = parseLimits(v);
  const meta = readMetadata(modelFile, v.metadata as string | undefined, limits);
  const parsed = parseMethods(v, meta);
  let { methods } = parsed;
  const imageFlags = parseImageFlags(v);
  const render = parseRenderFlags(v);
  const labels = parseLabels(v, meta);
  const seed = parseSeedFlags(v, labels);
  const target = parseTarget(v, labels);
  const out = v.out as string | undefined;
  const keepAll = !!v['keep-all'];
  if (keepAll && !out) throw new UsageError('--keep-all writes into --out DIR: add --out');
  if ((v['save-npy'] || v.json) && (inputs.length > 1 || methods.length > 1 || (seed.contrast?.length ?? 0) > 1)) {
    throw new UsageError('--save-npy and --json take one input, one composite and at most one --contrast class; use --out DIR for several');
  }
  const quiet = !!v.quiet;
  const stems = uniqueStems(inputs);
  const bar = quiet ? null : new ProgressBar(process.stderr, undefined, 2000);
  const explainer = openModel(modelFile, { canonize: canonizeOption(v), engine: engineOption(v), maxFileSize: limits.maxFileSize, maxInputElements: limits.maxInputElements });
  if (parsed.byDefault) {
    methods = [defaultMethod(explainer, parsed.options)];
    if (!quiet) console.log(`composite ${methods[0].composite} (${methods[0].compositeReason}; --composite to choose)`);
  }
  let failed = 0;
  const allRows: ComparisonRow[] = [];
  try {
    checkBoundChannels(v, explainer);
    // the preprocessing notice concerns images only
    const notice = (msg: string) => { if (!quiet && inputs.some((f) => isImageFile(f))) console.error(`onnx-lrp: ${msg}`); };
    const imageOptions = imageOptionsFor(explainer, meta, imageFlags, notice);
    methods = withImageBounds(methods, imageOptions);
    const tokenSpec = tokenInputOf(explainer, meta);
    if ((texts.length || tokenList !== undefined) && !tokenSpec) throw new UsageError(`--text and --tokens need a model with a token-id input (int64); ${modelFile} takes ${explainer.graph.inputs.map((x) => `${x.name} (${x.dtype})`).join(', ')}`);
    checkTokenMethods(methods, explainer);
    const generated = inputs.length - texts.length - (tokenList !== undefined ? 1 : 0);
    for (const [i, file] of inputs.entries()) {
      try {
        const loaded = i < generated ? await loadInput(file, imageOptions, limits, tokenSpec)
          : i < generated + texts.length ? tokenInput(tokenSpec!, { text: texts[i - generated] }, file)
            : tokenInput(tokenSpec!, { ids: parseTokenList(tokenList!) }, file);
        const onProgress = bar ? methodProgress(bar, file) : undefined;
        const ie = await explainInput(explainer, loaded, { methods, target, ...seed, keepAll, onProgress });
        for (const r of ie.results) for (const w of r.warnings) console.error(`onnx-lrp: warning: ${file}: ${r.method.title}: ${w}`);
        if (!quiet) printInput(file, ie, labels);
        if (out && !v['no-grid'] && !loaded.tokens && allRows.length < MAX_COMPARISON_ROWS) allRows.push(...comparisonRows(ie, labels, stems[i]));
        await writeOutputs({ v, modelFile, labels, render, explainer, quiet }, file, stems[i], ie);
      } catch (e) {
        if (inputs.length === 1) throw e;
        failed++;
        console.error(`onnx-lrp: ${(e as Error).message}`);
      }
    }
    if (out && allRows.length > 1) {
      const file = path.join(out, 'comparison.png');
      const rows = allRows.slice(0, MAX_COMPARISON_ROWS);
      await writeFileAtomic(file, await encodePng(await comparisonGrid(rows, { ...render, displaySize: undefined, cellSize: render.displaySize ?? GRID_CELL })));
      if (!quiet) console.log(`wrote ${file} (${rows.length} rows: every input beside its maps)`);
    }
  } finally {
    await explainer.release();
  }
  if (failed) throw new Error(`${failed} of ${inputs.length} inputs could not be explained (see above)`);
}

/** Per sample: prediction, target and logit, then one line per method (`summary`); token inputs: the table of
 * relevance per token. */
function printInput(file: string, ie: InputExplanation, labels: string[] | undefined): void {
  const first = ie.results[0];
  const label = (k: number) => (labels?.[k] !== undefined ? `${k} (${labels[k]})` : `${k}`);
  for (const [s, t] of first.targets.entries()) {
    const name = first.targets.length > 1 ? `${file} sample ${s}` : file;
    console.log(`${name}: predicted ${label(first.predictions[s])}, explaining ${label(t)}, logit ${first.scores[s].toPrecision(5)}`);
    for (const r of ie.results) console.log(`  ${r.method.title}: ${summary(r, s)}`);
    if (ie.input.tokens) console.log(tokenTable(ie.input.tokens[s], ie.results, s, ie.input.padToken));
  }
}

/** The relevance of every token (padding left out) under each method: a table, indented. */
function tokenTable(tokens: string[], results: MethodResult[], s: number, pad?: string): string {
  const rel = results.map((r) => tokenRelevance(r.relevance, s));
  const w = Math.min(24, Math.max(5, ...tokens.map((t) => t.length)));
  const cols = results.map((r) => Math.max(11, r.method.title.length));
  const lines = [`    ${'#'.padStart(3)}  ${'token'.padEnd(w)}  ${results.map((r, k) => r.method.title.padStart(cols[k])).join('  ')}`];
  tokens.forEach((t, i) => {
    if (t === pad) return;
    const name = t.length > w ? `${t.slice(0, w - 1)}…` : t;
    lines.push(`    ${String(i).padStart(3)}  ${name.padEnd(w)}  ${rel.map((r, k) => (r[i] >= 0 ? ' ' : '') + r[i].toExponential(3)).map((x, k) => x.padStart(cols[k])).join('  ')}`);
  });
  return lines.join('\n');
}

interface OutputContext { v: Values; modelFile: string; labels?: string[]; render: RenderOptions; explainer: Explainer; quiet: boolean }

/** The files of one input: --out (heatmaps, overlays, .npy, record; --keep-all), --save-npy and --json. */
async function writeOutputs(c: OutputContext, file: string, stem: string, ie: InputExplanation): Promise<void> {
  const { v, quiet } = c;
  const out = v.out as string | undefined;
  const first = ie.results[0];
  const tokens = ie.input.tokens;
  if (out) {
    const rec = await writeInputFiles(out, stem, ie, { model: c.modelFile, labels: c.labels, render: c.render, grid: v['no-grid'] ? false : undefined, npy: !v['no-npy'] });
    if (!quiet) console.log(`  wrote ${countFiles(rec)} files to ${out} (${stem}.*; record ${path.join(out, `${stem}.record.json`)})`);
    if (v['keep-all']) {
      for (const line of await writeKeptRelevance(out, stem, ie, c.explainer)) if (!quiet) console.log(`  ${line}`);
    }
  }
  if (v['save-npy']) {
    const npy = v['save-npy'] as string;
    if (tokens) {
      // token inputs: relevance per token [N, T], the token strings beside it
      writeNpy(npy, float32([tokens.length, tokens[0].length], tokens.flatMap((_, s) => Array.from(tokenRelevance(first.relevance, s)))));
      await writeFileAtomic(npy.replace(/\.npy$/i, '') + '.tokens.json', JSON.stringify(tokens));
    } else writeNpy(npy, first.relevance);
    if (!quiet) console.log(`wrote ${npy} [${tokens ? `${tokens.length}x${tokens[0].length}` : first.relevance.dims.join('x')}] float32${tokens ? ' and its token strings (.tokens.json)' : ''}`);
  }
  if (v.json) {
    const record = resultRecord(first, { model: c.modelFile, input: file, labels: c.labels, relevanceFile: v['save-npy'] as string | undefined, tokens });
    await writeFileAtomic(v.json as string, JSON.stringify(record, null, 2));
    if (!quiet) console.log(`wrote ${v.json}`);
  }
}

/** One line per method and sample: LRP's conservation (relevance in, at the input, the share absorbed); for
 * Integrated Gradients its completeness (map sum against f(x) − f(baseline)); for the other methods the map's
 * sum, with no conservation claim. */
function summary(r: MethodResult, s: number): string {
  const e = r.explanation;
  if (e && r.outputRelevance === 'contrastive') {
    // target minus dual class: the seed sums to 0, and clipping breaks conservation on purpose
    return `contrastive (dual class ${e.dual}${e.clipped ? ', clipped at 0' : ', unclipped'}): map sum ${fmt(e.conservation.inputRelevance[s])} (no conservation claim)`;
  }
  if (e && e.plan.mode === 'lrp') {
    const c = e.conservation;
    return `relevance ${fmt(c.outputRelevance[s])} at the output → ${fmt(c.inputRelevance[s])} at the input (${(100 * c.absorbed[s]).toFixed(2)}% absorbed by biases and stabilisers)`;
  }
  let sum = 0;
  for (const x of sliceSample(r.relevance, s).data) sum += x;
  const d = r.details as { sums?: number[]; delta?: number[]; space?: string; baseline?: string } | undefined;
  if (d?.delta && d.sums) {
    const where = d.space ? `; in ${d.space} space, baseline ${d.baseline}` : '';
    return `map sum ${fmt(d.sums[s])}, f(x) − f(baseline) ${fmt(d.delta[s])} (completeness: sum / difference ${d.delta[s] === 0 ? 'n/a' : fmt(d.sums[s] / d.delta[s])}${where})`;
  }
  return `map sum ${fmt(sum)} (target logit ${fmt(r.scores[s])}; no conservation claim)`;
}

/** Progress of the batched methods on stderr (audit's bar: redrawn on a terminal, else a line at the start,
 * every 2 s and at the end): one bar per method of an input. */
function methodProgress(bar: ProgressBar, file: string): (m: Method, done: number, total: number) => void {
  let key: Method | undefined;
  let t0 = 0;
  return (m, done, total) => {
    if (total <= 1) return; // one pass: nothing to count
    if (key !== m || done === 0) { key = m; t0 = Date.now(); }
    const secs = (Date.now() - t0) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    bar.update({ done, total, rate, etaMs: rate > 0 ? (1000 * (total - done)) / rate : null, current: `${path.basename(file)} ${m.title}`, finished: done >= total });
  };
}

function countFiles(rec: ExplanationRecord): number {
  let n = 1;
  for (const s of rec.samples) n += Object.values(s.files).filter(Boolean).length + s.methods.reduce((a, m) => a + Object.values(m.files).filter(Boolean).length, 0);
  return n;
}

/** Output stems: the input's name without extension; made unique with a counter when names repeat. */
function uniqueStems(files: string[]): string[] {
  const seen = new Map<string, number>();
  return files.map((f) => {
    const base = path.basename(f).replace(/\.[^.]*$/, '') || 'input';
    const k = seen.get(base) ?? 0;
    seen.set(base, k + 1);
    return k ? `${base}-${k + 1}` : base;
  });
}
