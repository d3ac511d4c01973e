/** Node-only: audits — explain every input in a folder (recursively), write per-input files, summary.csv,
 * summary.json and index.html; with `evaluate`, also measure every map's faithfulness (region-perturbation
 * AOPC, and localisation where the input has a ground-truth sidecar). Resumable: an input whose record
 * (written last, atomically) matches the current settings and whose files are all there is not explained
 * again. Inputs that cannot be explained are recorded with the reason and the audit goes on. */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { DualClass, Explainer, OutputRelevance } from '../explain';
import { explainClasses } from '../evaluate/class-sensitivity';
import { ImageInputOptions } from '../io/image';
import { ModelMetadata, boundsOf, withBounds } from '../metadata';
import { openModel, readMetadata } from '../node-io';
import { ReadLimits, readJsonSafe } from '../safe-read';
import { CompositeOptions } from '../plan/composites';
import { RenderOptions } from '../render/display';
import { AuditEvaluationOptions, MethodEvaluation, batchedExplainer, evaluateInput, evaluationSettings, readGroundTruth, sidecarsOf, withoutSidecars } from './evaluate-input';
import { AUDIT_MARKER, FileWriteError, INPUT_EXTENSIONS, isImageFile, listInputs, removeStaleTemporaries, withWriterTag, writeFileAtomic } from './files';
import { imageOptionsFor, loadInput, tokenInput } from './input';
import { TokenInput, padTokenId, tokenInputOf } from '../methods/tokens';
import { Method, defaultMethod, explainInput, methodsFor, resultTitles, withImageBounds } from '../methods/run';
import { TextPer, textEntries } from './text-inputs';
import { ExplanationRecord, writeInputFiles } from './record';
import { AuditRow, AuditSummary, indexHtml, summaryCsv } from './report';
import { Shard, ShardError, ShardSummary, checkShard, fileHash, listingOf, shardName, shardOf, shardSettings } from './shard';
import { summaryOf } from './summary';

export interface AuditOptions {
  model: string;
  /** folder searched recursively for .png/.jpg/.jpeg/.bmp/.npy inputs */
  folder: string;
  /** output folder (created); must not be the input folder itself (it may lie inside it: it is skipped) */
  out: string;
  /** LRP composites (default: the model's default composite, `defaultMethod`: lib/plan/default.ts); or give `methods` */
  composites?: string[];
  methods?: Method[];
  /** rule parameters; zBox bounds default to the metadata's */
  options?: CompositeOptions;
  /** class to explain for every input (default: each input's prediction) */
  target?: number;
  /** relevance started at the output for every method that takes one; default: each method's own ('logit' for
   * LRP, 'one' for the gradient family), recorded per method */
  outputRelevance?: OutputRelevance;
  /** with outputRelevance 'contrastive': the dual class (default 'others') and clipping (default true) */
  dual?: DualClass;
  clip?: boolean;
  /** "why the target and not K": one map per method and class K (titled `<method> vs K`) */
  contrast?: number[];
  /** metadata object or JSON file (default: MODEL with .json, if present) */
  metadata?: ModelMetadata | string;
  /** class names (default: the metadata's) */
  labels?: string[];
  /** preprocessing overrides */
  image?: ImageInputOptions;
  render?: RenderOptions;
  /** comparison grid per input (default: when there are several methods) */
  grid?: boolean;
  /** write .npy relevance (default true) */
  npy?: boolean;
  /** explain every input again, ignoring earlier records */
  force?: boolean;
  /** stop after the current input; the summary is written with complete: false */
  signal?: AbortSignal;
  /** region-perturbation evaluation of every map (`true`: MoRF, 4×4 regions, all of them, zeros); adds AOPC
   * per order, and relevance mass accuracy and the pointing game for inputs with a NAME.mask.npy or
   * NAME.box.json beside them, to the records and summaries. Part of the settings key: records made without
   * it (or with other settings) are redone. */
  evaluate?: boolean | AuditEvaluationOptions;
  /** text models (a token-id input): .txt files are inputs too, each one text ('file', default) or one text per
   * non-empty line ('line': inputs named FILE.txt#N, N the line number) */
  textPer?: TextPer;
  /** an already opened explainer for `model` (not released by the audit) */
  explainer?: Explainer;
  /** canonizers to skip (openModel's option; with `explainer`, say how it was opened): part of the settings key */
  canonize?: { skip?: string[] } | false;
  /** told about assumptions made (e.g. ImageNet preprocessing for a model without metadata) and warnings of
   * explanations (e.g. an input outside the zBox bounds), prefixed with the input's name */
  notice?: (message: string) => void;
  /** file size, image pixel and input size limits (lib/safe-read.ts; maxInputElements: see Explainer) */
  limits?: ReadLimits & { maxInputElements?: number };
  /** explain only the inputs of this shard (by a hash of their relative path: `shardOf`), write only their files
   * and `summary.shard-I-of-N.json` (not summary.json/csv, index.html: `mergeShards` writes those) */
  shard?: Shard;
}

export interface AuditProgress {
  /** inputs found */
  total: number;
  /** inputs handled so far (explained, failed or resumed) */
  done: number;
  ok: number;
  failed: number;
  resumed: number;
  /** the input just handled (relative path) and how it went */
  current?: string;
  status?: 'ok' | 'error' | 'resumed';
  error?: string;
  elapsedMs: number;
  /** inputs explained per second (resumed ones excluded) */
  rate: number;
  /** estimated time left, null before the first explained input */
  etaMs: number | null;
  finished: boolean;
}

export interface AuditResult extends AuditSummary {
  /** absolute paths of the written summary files (a shard: `json` is its summary.shard-I-of-N.json, and no csv or html) */
  files: { json: string; csv?: string; html?: string };
}

export class AuditError extends Error {
  override name = 'AuditError';
}

const SUMMARY_EVERY_MS = 30_000;

function statKey(file: string): string {
  try {
    const st = fs.statSync(file);
    return `${st.size}:${Math.round(st.mtimeMs)}`;
  } catch {
    return 'missing';
  }
}

/** Output stem per input: the relative path without extension; the extension is kept when two inputs of a
 * folder share a name (a.png, a.jpg → a-png, a-jpg). */
export function outputStems(rels: string[]): Map<string, string> {
  const strip = (r: string) => r.slice(0, r.length - path.posix.extname(r).length);
  const count = new Map<string, number>();
  for (const r of rels) count.set(strip(r).toLowerCase(), (count.get(strip(r).toLowerCase()) ?? 0) + 1);
  return new Map(rels.map((r) => [r, count.get(strip(r).toLowerCase())! > 1 ? `${strip(r)}-${path.posix.extname(r).slice(1)}` : strip(r)]));
}

function rowsOf(rel: string, relDir: string, stemRel: string, rec: ExplanationRecord, resumed: boolean): AuditRow[] {
  const p = (f?: string) => (f === undefined ? undefined : relDir ? `${relDir}/${f}` : f);
  const record = `${stemRel}.record.json`;
  if (rec.error !== undefined) return [{ input: rel, status: 'error', error: rec.error, record, files: {}, methods: {}, resumed }];
  const evaluation = (e?: MethodEvaluation) => (e ? { aopc: e.aopc, massAccuracy: e.massAccuracy, pointingHit: e.pointingHit, ...(e.classSensitivity ? { classSensitivity: e.classSensitivity } : {}) } : {});
  return rec.samples.map((s) => ({
    input: rel, sample: rec.samples.length > 1 ? s.sample : undefined, status: 'ok' as const,
    prediction: s.prediction, predictionLabel: s.predictionLabel, score: s.score, target: s.target, targetLabel: s.targetLabel,
    record, files: { input: p(s.files.input), grid: p(s.files.grid) }, resumed, groundTruth: rec.groundTruth,
    ...(s.tokens ? { tokens: s.tokens, ...(rec.padToken ? { padToken: rec.padToken } : {}) } : {}),
    methods: Object.fromEntries(s.methods.map((m) => [m.title, {
      composite: m.composite, relevanceSum: m.conservation.inputRelevance, conservationError: m.conservation.absorbed,
      files: { heatmap: p(m.files.heatmap), overlay: p(m.files.overlay), relevance: p(m.files.relevance) }, ...evaluation(m.evaluation),
      ...(m.warnings ? { warnings: m.warnings } : {}), ...(m.tokenRelevance ? { tokenRelevance: m.tokenRelevance } : {}),
    }])),
  }));
}

/** The model's token input, if any; bad text metadata is the model's fault (stops the audit). */
function tokenSpecOf(explainer: Explainer, meta: ModelMetadata | undefined): TokenInput | null {
  try {
    return tokenInputOf(explainer, meta);
  } catch (e) {
    throw new AuditError((e as Error).message);
  }
}

/** The audit's textPer option, checked (library callers may pass anything). */
function textPerOf(textPer: string | undefined): TextPer {
  if (textPer !== undefined && textPer !== 'file' && textPer !== 'line') throw new AuditError(`textPer must be 'file' or 'line', got '${String(textPer)}'`);
  return (textPer ?? 'file') as TextPer;
}

/** A previous record for this input, if it was made with the same settings and its files are all there. */
function previous(out: string, stemRel: string, fingerprint: string): ExplanationRecord | null {
  const file = path.join(out, `${stemRel}.record.json`);
  let rec: ExplanationRecord;
  try {
    rec = readJsonSafe(file) as ExplanationRecord;
  } catch {
    return null;
  }
  if (rec.fingerprint !== fingerprint) return null;
  const dir = path.dirname(file);
  for (const s of rec.samples ?? []) {
    const files = [...Object.values(s.files), ...s.methods.flatMap((m) => Object.values(m.files))].filter((f): f is string => !!f);
    if (files.some((f) => !fs.existsSync(path.join(dir, f)))) return null;
  }
  return rec;
}

/** An audit writes only into a new or empty folder, or one an audit wrote (holding AUDIT_MARKER: reruns
 * resume), so it never overwrites files it did not write (an index.html, a summary.csv …). */
function checkOutputFolder(out: string, name: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(out);
  } catch {
    return; // created by the audit
  }
  if (!st.isDirectory()) throw new AuditError(`${name}: the output folder is a file, not a folder`);
  if (fs.existsSync(path.join(out, AUDIT_MARKER))) return;
  if (fs.readdirSync(out).length) {
    throw new AuditError(`${name}: the output folder is not empty and was not written by an audit (no ${AUDIT_MARKER} in it); give a new or empty folder, so no file of yours is overwritten`);
  }
}

/** The marker, created by the first writer only (O_EXCL: concurrent shards never write the same file). */
function createMarker(out: string): void {
  try {
    fs.writeFileSync(path.join(out, AUDIT_MARKER), 'onnx-lrp audit output: not searched for inputs by later audits\n', { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new FileWriteError(`${out}: cannot write ${AUDIT_MARKER} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** The temporaries' tag of a shard's writes (`removeStaleTemporaries` of a restarted shard removes only these). */
const shardTag = (s: Shard) => `s${s.index}of${s.count}`;

/** Explains every input under `opts.folder` (with `shard`, that shard's); `onProgress` is called after the
 * scan and after each input. */
export async function audit(opts: AuditOptions, onProgress?: (p: AuditProgress) => void): Promise<AuditResult> {
  let shard: Shard | undefined;
  try {
    shard = opts.shard && checkShard(opts.shard);
  } catch (e) {
    throw new AuditError((e as ShardError).message);
  }
  return shard ? withWriterTag(shardTag(shard), () => auditFolder(opts, shard, onProgress)) : auditFolder(opts, undefined, onProgress);
}

async function auditFolder(opts: AuditOptions, shard: Shard | undefined, onProgress?: (p: AuditProgress) => void): Promise<AuditResult> {
  const folder = path.resolve(opts.folder), out = path.resolve(opts.out);
  let st: fs.Stats;
  try {
    st = fs.statSync(folder);
  } catch {
    throw new AuditError(`${opts.folder}: input folder not found`);
  }
  if (!st.isDirectory()) throw new AuditError(`${opts.folder}: not a folder`);
  if (out === folder) throw new AuditError(`the output folder must not be the input folder (${opts.folder}); outputs would be read as inputs`);
  checkOutputFolder(out, opts.out);
  const limits = opts.limits ?? {};
  const meta = typeof opts.metadata === 'object' ? opts.metadata : readMetadata(opts.model, opts.metadata, limits);
  const options: CompositeOptions | undefined = withBounds({ ...opts.options }, boundsOf(meta));
  const asked = opts.methods ?? (opts.composites ? methodsFor(opts.composites, options) : undefined);
  if (asked && !asked.length) throw new AuditError('no composite or method to audit with');
  const titles0 = asked && resultTitles(asked, opts.contrast);
  if (titles0 && new Set(titles0).size !== titles0.length) throw new AuditError(`method titles must differ, got ${titles0.join(', ')}`);
  const labels = opts.labels ?? meta?.labels;
  const explainer = opts.explainer ?? openModel(opts.model, { canonize: opts.canonize, maxFileSize: limits.maxFileSize, maxInputElements: limits.maxInputElements });
  let methods = asked ?? [defaultMethod(explainer, options)]; // none asked for: the model's default composite
  const titles = titles0 ?? resultTitles(methods, opts.contrast);
  const defaultChoice = methods.find((m) => m.compositeReason);
  let perturber: ReturnType<typeof batchedExplainer> | null = null;
  const started = new Date();
  const t0 = Date.now();
  try {
    let assumed: string | undefined; // told once the inputs are known: only images are preprocessed
    const imageOptions = imageOptionsFor(explainer, meta, opts.image, (msg) => { assumed = msg; });
    let evaluation;
    try {
      evaluation = evaluationSettings(opts.evaluate, imageOptions);
    } catch (e) {
      throw new AuditError((e as Error).message);
    }
    if (evaluation) {
      const d = explainer.graph.inputs[0]?.dims;
      if (d && d.length !== 4 && !tokenInputOf(explainer, meta)) throw new AuditError(`evaluate: region perturbation needs image-shaped inputs [N, C, H, W]; ${explainer.source} takes [${d.join('x')}]`);
      if (imageOptions.layout === 'NHWC' && d?.length === 4) throw new AuditError('evaluate: region perturbation needs NCHW inputs; this model takes NHWC');
    }
    methods = withImageBounds(methods, imageOptions);
    for (const m of methods.filter((x) => !x.attribution)) explainer.plan({ composite: m.ruleMap ? undefined : m.composite, options: m.options, ruleMap: m.ruleMap }); // unknown composite / bad map: fail before any input
    const outDims = explainer.graph.outputs[0]?.dims;
    const classes = outDims?.[outDims.length - 1];
    if (opts.target !== undefined && typeof classes === 'number' && !(Number.isInteger(opts.target) && opts.target >= 0 && opts.target < classes)) {
      throw new AuditError(`target ${opts.target} is out of range: the output has ${classes} classes (0–${classes - 1})`);
    }
    fs.mkdirSync(out, { recursive: true });
    createMarker(out);
    await removeStaleTemporaries(out, shard ? { tag: shardTag(shard) } : {}); // left by a killed run (of this shard)
    const tokens = tokenSpecOf(explainer, meta);
    if (evaluation && tokens && typeof evaluation.replacement !== 'number') { // token deletion: the pad token, recorded as such
      const pad = padTokenId(tokens);
      if (pad === undefined) throw new AuditError(`evaluate: token deletion needs a replacement token id (replacement: ID); the vocabulary of ${explainer.source} has no pad token`);
      evaluation = { ...evaluation, replacement: pad };
    }
    const files = withoutSidecars(await listInputs(folder, { exclude: [out], extensions: tokens ? [...INPUT_EXTENSIONS, '.txt'] : undefined })); // NAME.mask.npy beside NAME.png is a ground truth
    // every input (a text model's .txt lines with textPer 'line') and its stem: a shard names its files as a single run would
    const { rels: listed, stems, lines } = textEntries(folder, files, outputStems(files), tokens ? textPerOf(opts.textPer) : 'file', limits);
    const rels = shard ? listed.filter((r) => shardOf(r, shard.count) === shard.index) : listed;
    if (assumed && rels.some((r) => isImageFile(r))) opts.notice?.(assumed);
    const settings = JSON.stringify({
      model: path.resolve(opts.model), modelStat: statKey(opts.model), methods, target: opts.target ?? null, outputRelevance: opts.outputRelevance ?? 'default',
      ...seedSettings(opts), imageOptions, render: opts.render ?? {}, grid: opts.grid ?? null, npy: opts.npy ?? true, labels: labels ?? null,
      ...(evaluation ? { evaluation } : {}), // absent without evaluation: earlier audits' records stay valid
      ...(opts.canonize !== undefined ? { canonize: opts.canonize } : {}),
      ...(opts.textPer !== undefined ? { textPer: opts.textPer } : {}),
    }); // no shard in it: shards resume an unsharded run's records and back
    const shardInfo = shard && { ...shard, ...shardSettings(JSON.parse(settings)), modelHash: await fileHash(opts.model), listing: listingOf(listed), inputs: rels };
    if (evaluation) {
      perturber = batchedExplainer(explainer);
      if (perturber.actions.length) opts.notice?.(`the model has a fixed batch size of 1; the perturbed copies run with a symbolic batch (${perturber.actions.join('; ')}), checked against single runs`);
    }
    const rowsByInput: AuditRow[][] = [];
    const progress: AuditProgress = { total: rels.length, done: 0, ok: 0, failed: 0, resumed: 0, elapsedMs: 0, rate: 0, etaMs: null, finished: false };
    let explained = 0, explainMs = 0, lastSummary = Date.now();
    const summaryFiles = { json: path.join(out, 'summary.json'), csv: path.join(out, 'summary.csv'), html: path.join(out, 'index.html') };
    const writeSummary = async (complete: boolean): Promise<AuditResult> => {
      const s: AuditSummary = summaryOf({
        model: opts.model, folder: opts.folder, methods: titles, options: options as Record<string, unknown>,
        ...(defaultChoice ? { compositeReason: defaultChoice.compositeReason } : {}),
        outputRelevance: opts.outputRelevance ?? 'default', ...seedSettings(opts), target: opts.target ?? null, evaluation: evaluation ?? undefined,
      }, rowsByInput, { started: started.toISOString(), finished: new Date().toISOString() }, complete);
      lastSummary = Date.now();
      if (shardInfo) { // a shard writes its own summary only
        const file = path.join(out, shardName(shardInfo));
        await writeFileAtomic(file, JSON.stringify({ ...s, shard: shardInfo } satisfies ShardSummary, null, 2));
        return { ...s, files: { json: file } };
      }
      await writeFileAtomic(summaryFiles.json, JSON.stringify(s, null, 2));
      await writeFileAtomic(summaryFiles.csv, summaryCsv(s));
      await writeFileAtomic(summaryFiles.html, indexHtml(s));
      return { ...s, files: summaryFiles };
    };
    onProgress?.({ ...progress });
    let complete = true;
    for (const rel of rels) {
      if (opts.signal?.aborted) { complete = false; break; }
      const line = lines.get(rel); // a line of a .txt file (textPer 'line')
      const abs = path.join(folder, ...(line?.file ?? rel).split('/'));
      const stemRel = stems.get(rel)!;
      const relDir = path.posix.dirname(stemRel) === '.' ? '' : path.posix.dirname(stemRel);
      const dir = path.join(out, ...relDir.split('/').filter(Boolean));
      const stem = path.posix.basename(stemRel);
      const truth = evaluation ? sidecarsOf(abs) : null; // a changed ground truth redoes the input
      const fingerprint = createHash('sha256').update(settings).update(`\n${rel}\n${statKey(abs)}`)
        .update(truth ? `\n${statKey(truth.mask)}\n${statKey(truth.box)}` : '').digest('hex').slice(0, 20);
      const prev = opts.force ? null : previous(out, stemRel, fingerprint);
      let rows: AuditRow[];
      const t = Date.now();
      if (prev) {
        rows = rowsOf(rel, relDir, stemRel, prev, true);
        progress.resumed++;
        progress.status = 'resumed';
        progress.error = undefined;
      } else {
        let record: ExplanationRecord;
        try {
          const input = line ? tokenInput(tokens!, { text: line.text }, rel) : await loadInput(abs, imageOptions, limits, tokens);
          const ie = await explainInput(explainer, input, { methods, target: opts.target, outputRelevance: opts.outputRelevance, dual: opts.dual, clip: opts.clip, contrast: opts.contrast });
          for (const r of ie.results) for (const w of r.explanation?.warnings ?? []) opts.notice?.(`warning: ${rel}: ${r.method.title}: ${w}`);
          let scores: MethodEvaluation[][] | undefined, groundTruth: string | undefined;
          if (evaluation && perturber) {
            const truth = readGroundTruth(abs);
            groundTruth = truth && path.relative(folder, truth.file).split(path.sep).join('/');
            try {
              await perturber.check(input.tensor);
            } catch (e) {
              throw new AuditError(`evaluate: ${(e as Error).message}`); // the model cannot be evaluated in batches: stop
            }
            scores = await evaluateInput(perturber.explainer, ie, evaluation, truth);
            if (truth?.classes && truth.classes.size >= 2 && input.tensor.dims[0] === 1) {
              const cs = await explainClasses(explainer, input, truth.classes, { methods, outputRelevance: opts.outputRelevance, dual: opts.dual, clip: opts.clip, contrast: opts.contrast });
              ie.results.forEach((r, m) => { const c = cs.get(r.method.title); if (c) scores![0][m].classSensitivity = c; });
            }
          }
          record = await writeInputFiles(dir, stem, ie, {
            model: opts.model, labels, render: opts.render, grid: opts.grid, npy: opts.npy, inputName: rel, fingerprint, evaluation: scores, groundTruth,
          });
        } catch (e) {
          if (e instanceof FileWriteError || e instanceof AuditError) throw e; // the output folder or the model is at fault, not the input
          const reason = (e as Error).message.split(abs).join(rel).split(folder + path.sep).join('');
          record = { version: 1, model: opts.model, input: rel, kind: line || /\.txt$/i.test(rel) ? 'tokens' : /\.npy$/i.test(rel) ? 'npy' : 'image', inputShape: [], outputRelevance: opts.outputRelevance ?? 'default', samples: [], fingerprint, error: reason };
          await writeFileAtomic(path.join(dir, `${stem}.record.json`), JSON.stringify(record, null, 2));
        }
        rows = rowsOf(rel, relDir, stemRel, record, false);
        explained++;
        explainMs += Date.now() - t;
        progress.status = record.error !== undefined ? 'error' : 'ok';
        progress.error = record.error;
      }
      rowsByInput.push(rows);
      if (rows.some((r) => r.status !== 'ok')) progress.failed++;
      else if (!prev) progress.ok++;
      progress.done++;
      progress.current = rel;
      progress.elapsedMs = Date.now() - t0;
      progress.rate = explainMs > 0 ? (1000 * explained) / explainMs : 0;
      progress.etaMs = progress.rate > 0 ? (1000 * (progress.total - progress.done)) / progress.rate : null;
      onProgress?.({ ...progress });
      if (Date.now() - lastSummary > SUMMARY_EVERY_MS) await writeSummary(false);
    }
    const result = await writeSummary(complete);
    progress.finished = true;
    progress.elapsedMs = Date.now() - t0;
    progress.etaMs = 0;
    onProgress?.({ ...progress });
    return result;
  } finally {
    if (perturber && perturber.explainer !== explainer) await perturber.explainer.release();
    if (!opts.explainer) await explainer.release();
  }
}

/** The seed options beyond the output relevance, when set (part of the settings key and the summary). */
function seedSettings(o: Pick<AuditOptions, 'dual' | 'clip' | 'contrast'>): { dual?: DualClass; clip?: boolean; contrast?: number[] } {
  return { ...(o.dual !== undefined ? { dual: o.dual } : {}), ...(o.clip !== undefined ? { clip: o.clip } : {}), ...(o.contrast?.length ? { contrast: o.contrast } : {}) };
}
