/** Token inputs on the command line: explain --text / --tokens / int64 .npy (the per-token table, records, text
 * heatmaps), one-line errors for bad ids and text (exit 1) and bad flags (exit 2), and audit over .txt files. */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { attribute, perturbationCurve, readMetadata, readNpy, tokenInputOf, encodeTexts, writeNpy } from '../../lib';
import { saveModel } from '../../lib/onnx/save';
import { ROOT } from '../helpers/paths';
import { textModel } from '../helpers/text-model';

const CLI = path.join(ROOT, 'dist/scripts/cli.js');
const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'good', 'bad', 'movie', 'not', 'very', '##ish', 'plot', '.'];

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('CLI: token inputs', function () {
  this.timeout(120000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-tokens-'));
  const model = path.join(tmp, 'text.onnx');
  const m = textModel({ layers: 2, vocab: VOCAB.length, T: 8, batch: 1, seed: 4 });
  fs.writeFileSync(model, saveModel(m.graph));
  fs.writeFileSync(path.join(tmp, 'vocab.txt'), VOCAB.join('\n') + '\n');
  fs.writeFileSync(path.join(tmp, 'text.json'), JSON.stringify({ labels: ['neg', 'pos'], text: { vocab: 'vocab.txt', tokenizer: 'wordpiece', cls: '[CLS]', sep: '[SEP]' } }));
  after(() => m.explainer.release());

  it('explain --text prints the tokens with the relevance of each method (the library\'s numbers)', async () => {
    const r = run('explain', model, '--text', 'Very goodish movie.', '--method', 'attention_rollout');
    expect(r.code, r.err).to.equal(0);
    const rows = r.out.split('\n').filter((l) => /^\s+\d+\s+\S+\s+-?\d/.test(l)).map((l) => l.trim().split(/\s+/));
    expect(rows.map((x) => x[1])).to.deep.equal(['[CLS]', 'very', 'good', '##ish', 'movie', '.', '[SEP]']); // [PAD] left out
    const meta = readMetadata(model)!;
    const batch = encodeTexts(tokenInputOf(m.explainer, meta)!, ['Very goodish movie.']);
    const a = await attribute(m.explainer, batch.tensor, { method: 'attention_rollout' });
    rows.forEach((x, k) => expect(Number(x[2])).to.be.closeTo(a.relevance.data[k], 1e-3));
  });

  it('--out and --json: text heatmaps, a grid, records with the tokens and relevance per token', () => {
    const out = path.join(tmp, 'out');
    const json = path.join(tmp, 'r.json');
    const r = run('explain', model, '--tokens', '2,4,6,3,0,0,0,0', '--method', 'attention_rollout,random', '--out', out, '--quiet');
    expect(r.code, r.err).to.equal(0);
    const rec = JSON.parse(fs.readFileSync(path.join(out, 'tokens.record.json'), 'utf8'));
    expect(rec.kind).to.equal('tokens');
    expect(rec.samples[0].tokens).to.deep.equal(['[CLS]', 'good', 'movie', '[SEP]', '[PAD]', '[PAD]', '[PAD]', '[PAD]']);
    expect(rec.samples[0].methods[0].tokenRelevance).to.have.length(8);
    for (const f of ['tokens.attention_rollout.heatmap.png', 'tokens.random.heatmap.png', 'tokens.grid.png']) expect(fs.existsSync(path.join(out, f)), f).to.equal(true);
    const j = run('explain', model, '--tokens', '2 4 6 3 0 0 0 0', '--method', 'attention_rollout', '--json', json, '--quiet');
    expect(j.code, j.err).to.equal(0);
    const rj = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(rj.tokens[0][1]).to.equal('good');
    expect(rj.tokenRelevance[0]).to.have.length(8);
    const npy = path.join(tmp, 'r.npy');
    const n = run('explain', model, '--tokens', '2,4,6,3,0,0,0,0', '--method', 'attention_rollout', '--save-npy', npy, '--quiet');
    expect(n.code, n.err).to.equal(0);
    expect(readNpy(npy).dims).to.deep.equal([1, 8]);
    expect(JSON.parse(fs.readFileSync(path.join(tmp, 'r.tokens.json'), 'utf8'))[0].slice(0, 3)).to.deep.equal(['[CLS]', 'good', 'movie']);
  });

  it('bad ids and text: one line naming the problem, exit 1; bad flags exit 2', () => {
    const ids = path.join(tmp, 'ids.npy');
    writeNpy(ids, { dtype: 'int64', dims: [1, 8], data: BigInt64Array.from([2n, 4n, -1n, 3n, 0n, 0n, 0n, 0n]) });
    for (const [args, re] of [
      [['--tokens', '2,4,99,3,0,0,0,0'], /id 99 at position 2 is outside the vocabulary of 12 tokens/],
      [['--tokens', '2,4,3'], /3 tokens; the model's input 'ids' takes exactly 8 \(pad with \[PAD\], id 0\)/],
      [['--tokens', '2,x'], /token id 'x' is not an integer/],
      [['--text', '   '], /empty text/],
      [['--text', 'good good good good good good good'], /9 tokens long .* longer than the model's 8/],
      [[ids], /id -1 at position 2 is negative/],
    ] as [string[], RegExp][]) {
      const r = run('explain', model, ...args, '--method', 'attention_rollout');
      expect(r.code, `${args.join(' ')}: ${r.err}`).to.equal(1);
      expect(r.err.trim().split('\n')).to.have.length(1);
      expect(r.err).to.match(re);
    }
    const img = run('explain', path.join(ROOT, 'spec/fixtures/golden/cnn_bn-op17.onnx'), '--text', 'good');
    expect(img.code).to.equal(2);
    expect(img.err).to.match(/--text and --tokens need a model with a token-id input/);
    const per = run('audit', model, tmp, '--out', path.join(tmp, 'a0'), '--text-per', 'page');
    expect(per.code).to.equal(2);
    expect(per.err).to.match(/--text-per must be 'file' or 'line'/);
  });

  it('audit: .txt files per line and per file, records and index.html with text heatmaps', () => {
    const inp = path.join(tmp, 'in');
    fs.mkdirSync(path.join(inp, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(inp, 'reviews.txt'), 'good movie.\n\nbad plot\n');
    fs.writeFileSync(path.join(inp, 'sub', 'one.txt'), 'not good');
    const byLine = run('audit', model, inp, '--out', path.join(tmp, 'a1'), '--method', 'attention_rollout', '--text-per', 'line', '--quiet');
    expect(byLine.code, byLine.err).to.equal(0);
    const s = JSON.parse(fs.readFileSync(path.join(tmp, 'a1', 'summary.json'), 'utf8'));
    expect(s.inputs.map((r: { input: string }) => r.input)).to.deep.equal(['reviews.txt#1', 'reviews.txt#3', 'sub/one.txt#1']);
    expect(s.inputs[1].tokens.slice(0, 4)).to.deep.equal(['[CLS]', 'bad', 'plot', '[SEP]']);
    expect(s.inputs[1].methods.attention_rollout.tokenRelevance).to.have.length(8);
    const html = fs.readFileSync(path.join(tmp, 'a1', 'index.html'), 'utf8');
    expect(html.match(/class="text-heatmap"/g)).to.have.length(3);
    expect(html).to.include('title="plot: ');
    // --workers: each worker is told textPer; the merged summary has the lines, tokens and relevance per token of one process
    const workers = run('audit', model, inp, '--out', path.join(tmp, 'a3'), '--method', 'attention_rollout', '--text-per', 'line', '--workers', '2', '--quiet');
    expect(workers.code, workers.err).to.equal(0);
    expect(fs.existsSync(path.join(tmp, 'a3', 'summary.shard-1-of-2.json'))).to.equal(true);
    const w = JSON.parse(fs.readFileSync(path.join(tmp, 'a3', 'summary.json'), 'utf8'));
    expect(w.inputs.map((r: { input: string }) => r.input)).to.deep.equal(s.inputs.map((r: { input: string }) => r.input));
    w.inputs.forEach((r: { tokens: string[]; methods: { attention_rollout: { tokenRelevance: number[] } } }, k: number) => {
      expect(r.tokens).to.deep.equal(s.inputs[k].tokens);
      r.methods.attention_rollout.tokenRelevance.forEach((v, i) => expect(v).to.be.closeTo(s.inputs[k].methods.attention_rollout.tokenRelevance[i], 1e-5));
    });
    expect(fs.readFileSync(path.join(tmp, 'a3', 'index.html'), 'utf8').match(/class="text-heatmap"/g)).to.have.length(3);
    const byFile = run('audit', model, inp, '--out', path.join(tmp, 'a2'), '--method', 'attention_rollout', '--quiet');
    expect(byFile.code, byFile.err).to.equal(0);
    const f = JSON.parse(fs.readFileSync(path.join(tmp, 'a2', 'summary.json'), 'utf8'));
    expect(f.inputs.map((r: { input: string }) => r.input)).to.deep.equal(['reviews.txt', 'sub/one.txt']);
    expect(f.inputs[0].tokens).to.deep.equal(['[CLS]', 'good', 'movie', '.', 'bad', 'plot', '[SEP]', '[PAD]']);
  });

  it('audit --evaluate: token deletion (by [PAD], special tokens kept) equals perturbationCurve on the input alone', async () => {
    const inp = path.join(tmp, 'in-eval');
    fs.mkdirSync(inp, { recursive: true });
    fs.writeFileSync(path.join(inp, 'a.txt'), 'very goodish movie .');
    const r = run('audit', model, inp, '--out', path.join(tmp, 'a3'), '--method', 'attention_rollout', '--evaluate', '--quiet');
    expect(r.code, r.err).to.equal(0);
    const s = JSON.parse(fs.readFileSync(path.join(tmp, 'a3', 'summary.json'), 'utf8'));
    const got = s.inputs[0].methods.attention_rollout.aopc.morf;
    expect(s.evaluation.settings.replacement, 'the summary records the [PAD] id actually used').to.equal(0);
    const meta = readMetadata(model)!;
    const b = encodeTexts(tokenInputOf(m.explainer, meta)!, ['very goodish movie .']);
    const a = await attribute(m.explainer, b.tensor, { method: 'attention_rollout' });
    const c = await perturbationCurve(m.explainer, b.tensor, a.relevance, { replacement: 0, keep: [[0, 6, 7]], target: a.targets });
    expect(got).to.be.closeTo(c.aopc, 1e-5);
    expect(c.regions).to.equal(5);
  });

  it('integrated_gradients on text: embedding space, the [PAD] baseline by default (the library\'s numbers), in explain and audit', async () => {
    const r = run('explain', model, '--text', 'Very goodish movie.', '--method', 'integrated_gradients', '--ig-steps', '8');
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.match(/integrated_gradients: map sum \S+, f\(x\) − f\(baseline\) \S+ \(completeness: sum \/ difference \S+; in embedding space, baseline token 0\)/);
    const rows = r.out.split('\n').filter((l) => /^\s+\d+\s+\S+\s+-?\d/.test(l)).map((l) => l.trim().split(/\s+/));
    const batch = encodeTexts(tokenInputOf(m.explainer, readMetadata(model))!, ['Very goodish movie.']);
    const a = await attribute(m.explainer, batch.tensor, { method: 'integrated_gradients', steps: 8, baseline: 0 });
    expect(rows).to.have.length(7);
    rows.forEach((x, k) => expect(Number(x[2])).to.be.closeTo(a.relevance.data[k], 1e-3 * Math.abs(a.relevance.data[k]) + 1e-6));
    const z = run('explain', model, '--tokens', '2,4,6,3,0,0,0,0', '--method', 'integrated_gradients', '--ig-baseline', 'zeros', '--ig-steps', '4');
    expect(z.code, z.err).to.equal(0);
    expect(z.out).to.include('in embedding space, baseline zeros');
    const inp = path.join(tmp, 'in-ig');
    fs.mkdirSync(inp, { recursive: true });
    fs.writeFileSync(path.join(inp, 'a.txt'), 'Very goodish movie.');
    const au = run('audit', model, inp, '--out', path.join(tmp, 'a-ig'), '--method', 'integrated_gradients', '--ig-steps', '8', '--quiet');
    expect(au.code, au.err).to.equal(0);
    const got = JSON.parse(fs.readFileSync(path.join(tmp, 'a-ig', 'summary.json'), 'utf8')).inputs[0].methods.integrated_gradients.tokenRelevance as number[];
    got.forEach((v, k) => expect(v).to.be.closeTo(a.relevance.data[k], 1e-4 * Math.abs(a.relevance.data[k]) + 1e-6));
  });

  it('methods that do not apply to token ids, and a non-id --ig-baseline: exit 2 naming the method and why', () => {
    for (const [cmd, method, re] of [
      ['explain', 'smoothgrad', /method smoothgrad does not apply to token ids: it adds Gaussian noise to the input/],
      ['explain', 'occlusion', /method occlusion does not apply to token ids: it needs a 4-D image input/],
      ['audit', 'smoothgrad', /method smoothgrad does not apply to token ids/],
    ] as [string, string, RegExp][]) {
      const r = cmd === 'explain' ? run('explain', model, '--text', 'good movie', '--method', method) : run('audit', model, tmp, '--out', path.join(tmp, `a-${method}`), '--method', method, '--quiet');
      expect(r.code, `${cmd} ${method}: ${r.err}`).to.equal(2);
      expect(r.err.split('\n')[0]).to.match(re);
    }
    const b = run('explain', model, '--text', 'good movie', '--method', 'integrated_gradients', '--ig-baseline', '2.5');
    expect(b.code).to.equal(2);
    expect(b.err).to.match(/--ig-baseline on a token model is a token id, pad or zeros, got '2\.5'/);
  });
});
