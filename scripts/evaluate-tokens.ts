/** The token table of docs/evaluation.md (issue 13): MoRF deletion of tokens (AOPC) and the localisation of the
 * evidence tokens, for every text model shipped with a test set whose key gives the evidence positions
 * (models/text-evidence.json: task.testSet, scripts/train_text.py).
 *
 *   npm run evaluate -- --tokens                       # the table (prints it, writes out/evaluate-tokens/)
 *   npm run evaluate -- --tokens --count 100           # fewer sentences
 *   npm run evaluate -- --tokens --method attention_rollout,random
 *
 * Set-up (fixed; nothing tuned per method):
 *  - inputs: the first N sentences of the test set (default 200), tokenised with the model's vocabulary; the
 *    explained class is the model's prediction;
 *  - deletion: the content tokens (not [CLS]/[SEP]/[PAD]) in order of relevance, most relevant first, one per
 *    step, all of them; a deleted token becomes [PAD] (the model's in-graph padding mask then hides it from
 *    attention, so deleting is removing; [UNK] would be a token the model attends to); the score is the
 *    target logit, AOPC = 1/(L+1) Σ_k (f(x⁰) − f(xᵏ)), L = the longest sentence's content tokens;
 *  - localisation: relevance mass accuracy (share of the positive relevance of the content tokens on the
 *    evidence tokens) and rank accuracy (share of the k most relevant tokens that are evidence, k = |evidence|);
 *  - maps: every method at its defaults (LRP seeded with the target logit; gradient × input and IG with the
 *    one-hot; IG in embedding space, 32 trapezoid steps from the [PAD] embedding at every position, as the CLI's
 *    default); random: a uniform random map (seed 0); ties in the deletion order broken at random (seed 0). */
import * as fs from 'fs';
import * as path from 'path';
import { ModelMetadata, PerturbationCurve, TokenInput, encodeTexts, methodFor, runMethod, openModel, padTokenId, perturbationCurve, readMetadata, specialPositions, textMetadataOf, tokenInputOf, tokenLocalization, tokenRelevance } from '../lib';
import { mergeCurves } from '../lib/evaluate';
import { resolveTargets } from '../lib/methods/util';

const ROOT = path.resolve(__dirname, '..', '..');
const METHODS = ['attnlrp', 'cp_lrp', 'gradient_x_input', 'integrated_gradients', 'attention_rollout', 'random'];

interface TestSet { file: string; texts: string[]; evidence: number[][] }
interface Row { method: string; error?: string; seconds: number; curves: PerturbationCurve[]; mass: number[]; rank: number[] }

/** The test set named by the metadata (task.testSet: text, one sentence per line, and key: per line the 0-based
 * word indices of the evidence words; a token's position is its word index, plus one after a [CLS]). */
function testSetOf(modelFile: string, meta: ModelMetadata, count: number): TestSet | null {
  const t = (meta as { task?: { testSet?: { text: string; key: string } } }).task?.testSet;
  if (!t) return null;
  const dir = path.dirname(modelFile);
  const lines = fs.readFileSync(path.join(dir, t.text), 'utf8').split('\n').filter((l) => l.trim());
  const key = JSON.parse(fs.readFileSync(path.join(dir, t.key), 'utf8')) as { examples: { evidence: number[] }[] };
  const shift = textMetadataOf(meta)?.cls ? 1 : 0;
  const n = Math.min(count, lines.length);
  return { file: path.join(dir, t.text), texts: lines.slice(0, n), evidence: key.examples.slice(0, n).map((e) => e.evidence.map((w) => w + shift)) };
}

async function evaluateModel(modelFile: string, methods: string[], count: number): Promise<{ rows: Row[]; n: number; accuracy: number | null; seconds: number }> {
  const t0 = Date.now();
  const meta = readMetadata(modelFile)!;
  const set = testSetOf(modelFile, meta, count);
  if (!set) throw new Error(`${modelFile}: no task.testSet in the metadata`);
  const e = openModel(modelFile, { threads: 1 });
  try {
    const spec = tokenInputOf(e, meta) as TokenInput;
    const rows: Row[] = methods.map((method) => ({ method, seconds: 0, curves: [], mass: [], rank: [] }));
    const pad = padTokenId(spec) ?? 0;
    let correct = 0;
    const labels = (JSON.parse(fs.readFileSync(set.file.replace(/\.txt$/, '.json'), 'utf8')) as { examples: { label: number }[] }).examples;
    const chunk = 50;
    for (let s0 = 0; s0 < set.texts.length; s0 += chunk) {
      const texts = set.texts.slice(s0, s0 + chunk), evidence = set.evidence.slice(s0, s0 + chunk);
      const batch = encodeTexts(spec, texts);
      const keep = batch.tokens.map((t) => specialPositions(t, spec));
      const { targets, predictions } = resolveTargets(await e.predict(batch.tensor), undefined);
      predictions.forEach((p, k) => { if (p === labels[s0 + k]?.label) correct++; });
      for (const r of rows) {
        if (r.error) continue;
        const t = Date.now();
        try {
          const a = await runMethod(e, batch.tensor, methodFor(r.method, undefined, { seed: 0, baseline: pad }), { target: targets });
          r.seconds += (Date.now() - t) / 1000;
          const N = texts.length, T = batch.tensor.dims[1];
          const rel = new Float32Array(N * T);
          for (let s = 0; s < N; s++) rel.set(tokenRelevance(a.relevance, s), s * T);
          r.curves.push(await perturbationCurve(e, batch.tensor, { dtype: 'float32', dims: [N, T], data: rel }, { order: 'morf', replacement: pad, keep, target: targets, seed: s0, batchSize: 512 }));
          const loc = tokenLocalization(rel, N, evidence, keep);
          r.mass.push(...loc.massAccuracy);
          r.rank.push(...loc.rankAccuracy);
        } catch (err) {
          r.error = (err as Error).message.split('\n')[0];
        }
      }
    }
    return { rows, n: set.texts.length, accuracy: correct / set.texts.length, seconds: (Date.now() - t0) / 1000 };
  } finally {
    await e.release();
  }
}

const meanSe = (v: number[]) => {
  const x = v.filter((a) => !Number.isNaN(a));
  const m = x.reduce((a, b) => a + b, 0) / Math.max(1, x.length);
  const sd = Math.sqrt(x.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, x.length - 1));
  return { m, se: sd / Math.sqrt(Math.max(1, x.length)), n: x.length };
};

export async function tokensMain(argv: string[]): Promise<void> {
  let count = 200, methods = METHODS, out = path.join(ROOT, 'out', 'evaluate-tokens');
  const models: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], val = () => { const v = argv[++i]; if (v === undefined) throw new Error(`${a} needs a value`); return v; };
    if (a === '--tokens') continue;
    else if (a === '--count') count = Number(val());
    else if (a === '--method') methods = val().split(',');
    else if (a === '--model') models.push(val());
    else if (a === '--out') out = path.resolve(val());
    else throw new Error(`unknown argument ${a} (npm run evaluate -- --tokens [--count N] [--method A,B] [--model NAME] [--out DIR])`);
  }
  if (!Number.isInteger(count) || count < 1) throw new Error('--count expects a positive integer');
  const dir = path.join(ROOT, 'models');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.onnx')).map((f) => path.join(dir, f)).filter((f) => {
    const meta = readMetadata(f);
    return !!meta && !!textMetadataOf(meta) && !!(meta as { task?: { testSet?: unknown } }).task?.testSet && (!models.length || models.includes(path.basename(f, '.onnx')));
  });
  if (!files.length) { console.log('no text model with a test set in models/ (metadata task.testSet): nothing to evaluate'); return; }
  const lines: string[] = [];
  for (const f of files) {
    console.log(`${path.basename(f)}: ${count} sentences …`);
    const r = await evaluateModel(f, methods, count);
    lines.push(`${path.basename(f, '.onnx')}: first ${r.n} test sentences (accuracy on them ${r.accuracy === null ? 'n/a' : `${(100 * r.accuracy).toFixed(1)}%`}), deleted tokens replaced by [PAD]:`, '');
    lines.push('| method | MoRF AOPC | evidence mass | evidence rank | seconds |', '| --- | ---: | ---: | ---: | ---: |');
    for (const row of r.rows) {
      if (row.error) { lines.push(`| ${row.method} | n/a | n/a | n/a | (${row.error.replace(/\|/g, '/')}) |`); continue; }
      const c = mergeCurves(row.curves), a = meanSe(c.aopcPerSample), m = meanSe(row.mass), k = meanSe(row.rank);
      lines.push(`| ${row.method} | ${a.m.toFixed(2)} ± ${a.se.toFixed(2)} | ${m.m.toFixed(3)} | ${k.m.toFixed(3)} | ${row.seconds.toFixed(1)} |`);
    }
    lines.push('');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, `${path.basename(f, '.onnx')}.json`), JSON.stringify(r.rows.map((row) => ({
      method: row.method, error: row.error, seconds: row.seconds, aopc: row.curves.length ? mergeCurves(row.curves).aopc : null,
      massAccuracy: row.mass.length ? meanSe(row.mass).m : null, rankAccuracy: row.rank.length ? meanSe(row.rank).m : null,
    })), null, 2));
  }
  const text = lines.join('\n');
  console.log(`\n${text}`);
  fs.writeFileSync(path.join(out, 'table.md'), text + '\n');
}
