/** Sharded audits (issue 16): 4 shards as separate CLI processes over 60 copies of the shipped samples, one
 * killed midway and restarted (it redoes only what it had not finished), `merge`, and the result compared with
 * a single-process audit of the same inputs and settings (same records and files, same CSV rows in the same
 * order, same summary.json and index.html apart from timings and the count of resumed rows); `--workers`;
 * `--shard auto/N` from the scheduler's environment; merges that must fail (a missing or unfinished shard,
 * mixed settings, mixed models) with a clear message and exit code 1. fashion-mlp keeps it fast. */
import { expect } from 'chai';
import { ChildProcess, spawn, spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseShard, shardOf } from '../../lib';
import { ROOT } from '../helpers/paths';

const CLI = path.join(ROOT, 'dist/scripts/cli.js');
const MLP = path.join(ROOT, 'models/fashion-mlp.onnx');
const OTHER = path.join(ROOT, 'models/fashion-mobilenet.onnx');
const SAMPLES = path.join(ROOT, 'models/samples');
const METHODS = ['--composite', 'epsilon_plus_flat'];

/** The environment without the schedulers' shard variables (the spec may itself run under Slurm or Kubernetes). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  for (const k of ['JOB_COMPLETION_INDEX', 'SLURM_ARRAY_TASK_ID']) if (!(k in extra)) delete env[k];
  return env;
}

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: cleanEnv(env) });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function start(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; signal: string | null; err: string }> } {
  const child = spawn(process.execPath, [CLI, ...args], { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  return { child, done: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, err }))) };
}

function walk(dir: string, rel = ''): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? walk(dir, r) : [r];
  }).sort();
}

/** Files per input (not the summaries, the marker or shard summaries). */
const inputFiles = (dir: string) => walk(dir).filter((f) => f.includes('/'));

/** summary.json without what differs from run to run: timings and which rows were resumed. */
function normalised(file: string): unknown {
  const s = JSON.parse(fs.readFileSync(file, 'utf8'));
  delete s.started; delete s.finished; delete s.counts.resumed;
  for (const r of s.inputs) delete r.resumed;
  return s;
}
const htmlWithoutTimings = (file: string) => fs.readFileSync(file, 'utf8').replace(/Finished [^.<]*\.\d+Z\./, 'Finished.').replace(/ \(\d+ rows kept from an earlier run\)/, '');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('sharded audit', function () {
  this.timeout(120_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-shard-'));
  const inDir = path.join(tmp, 'in');
  const rels: string[] = [];
  before(() => {
    for (const sub of ['a', 'b', 'c', 'd', 'e/f', 'g']) {
      fs.mkdirSync(path.join(inDir, sub), { recursive: true });
      for (const f of fs.readdirSync(SAMPLES).filter((x) => x.endsWith('.png'))) {
        fs.copyFileSync(path.join(SAMPLES, f), path.join(inDir, sub, f));
        rels.push(`${sub}/${f}`);
      }
    }
    fs.writeFileSync(path.join(inDir, 'g/broken.png'), 'not an image'); // a failed input: recorded, merged like the rest
    rels.push('g/broken.png');
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('splits by sha256 of the relative path modulo N, the same everywhere; --shard I/N and auto/N', () => {
    for (const r of rels) expect(shardOf(r, 4)).to.equal(createHash('sha256').update(r).digest().readUInt32BE(0) % 4);
    expect(shardOf('a/0-tshirt-top.png', 4)).to.equal(3); // pinned: shards of different versions must agree
    const counts = [0, 1, 2, 3].map((i) => rels.filter((r) => shardOf(r, 4) === i).length);
    expect(Math.min(...counts)).to.be.greaterThan(5);
    expect(parseShard('2/4', {})).to.deep.equal({ index: 2, count: 4 });
    expect(parseShard('auto/4', { JOB_COMPLETION_INDEX: '3' })).to.deep.equal({ index: 3, count: 4 });
    expect(parseShard('auto/4', { SLURM_ARRAY_TASK_ID: '0' })).to.deep.equal({ index: 0, count: 4 });
    expect(() => parseShard('4/4', {})).to.throw('--shard 4/4: I must be below N (shards are numbered 0–3)');
    expect(() => parseShard('1-4', {})).to.throw("--shard expects I/N (0 ≤ I < N) or auto/N, got '1-4'");
    expect(() => parseShard('auto/0', {})).to.throw('N must be an integer ≥ 1');
    expect(() => parseShard('auto/4', { SLURM_ARRAY_TASK_ID: '4' })).to.throw('SLURM_ARRAY_TASK_ID=4 is not a shard index in 0–3 (run the array as --array=0-3)');
    // from the command line: usage errors (exit 2), before the model is read
    const none = run(['audit', MLP, inDir, '--out', path.join(tmp, 'x'), '--shard', 'auto/4']);
    expect(none.code).to.equal(2);
    expect(none.err).to.contain('--shard auto/4: neither JOB_COMPLETION_INDEX (Kubernetes Indexed Job) nor SLURM_ARRAY_TASK_ID (Slurm job array) is set');
    const out = run(['audit', MLP, inDir, '--out', path.join(tmp, 'x'), '--shard', 'auto/4'], { JOB_COMPLETION_INDEX: '7' });
    expect(out.code).to.equal(2);
    expect(out.err).to.contain('JOB_COMPLETION_INDEX=7 is not a shard index in 0–3');
    expect(run(['audit', MLP, inDir, '--out', path.join(tmp, 'x'), '--shard', '0/2', '--workers', '2']).code).to.equal(2);
    expect(run(['audit', MLP, inDir, '--out', path.join(tmp, 'x'), '--workers', '2', '--threads', '0']).err).to.contain("--threads expects an integer ≥ 1, got '0'");
    expect(fs.existsSync(path.join(tmp, 'x'))).to.equal(false);
  });

  it('4 shard processes, one killed midway and restarted, merge to what one process writes', async () => {
    const single = path.join(tmp, 'single'), out = path.join(tmp, 'sharded');
    const args = (o: string) => ['audit', MLP, inDir, '--out', o, ...METHODS, '--quiet'];
    const mine = (k: number) => rels.filter((r) => shardOf(r, 4) === k);
    const victim = [0, 1, 2, 3].sort((a, b) => mine(b).length - mine(a).length)[0]; // the longest shard
    const records = () => mine(victim).filter((r) => fs.existsSync(path.join(out, r.replace(/\.png$/, '.record.json'))));
    const runs = [0, 1, 2, 3].map((k) => start([...args(out), '--shard', `${k}/4`]));
    while (records().length < 1 && runs[victim].child.exitCode === null) await sleep(5);
    runs[victim].child.kill('SIGKILL');
    const ends = await Promise.all(runs.map((r) => r.done));
    expect(ends[victim].signal).to.equal('SIGKILL');
    for (const k of [0, 1, 2, 3].filter((k) => k !== victim)) expect(ends[k].code, ends[k].err).to.equal(0); // g/broken.png failed: recorded, exit 0
    const finished = records();
    expect(finished.length, 'killed before it finished').to.be.within(1, mine(victim).length - 1);
    expect(fs.existsSync(path.join(out, `summary.shard-${victim}-of-4.json`))).to.equal(false);
    console.log(`      (shard ${victim} killed after ${finished.length} of its ${mine(victim).length} inputs)`);

    // merging now fails: a shard is missing (nothing written); --partial merges what is there
    const early = run(['merge', out]);
    expect(early.code).to.equal(1);
    expect(early.err).to.match(new RegExp(`^onnx-lrp: .*: missing shard ${victim} of 4 \\(no summary\\.shard-${victim}-of-4\\.json; ${mine(victim).length} of ${rels.length} inputs\\); run those shards \\(they resume\\), then merge again, or merge with --partial\\n$`));
    expect(fs.existsSync(path.join(out, 'summary.json'))).to.equal(false);
    const partial = run(['merge', out, '--partial']);
    expect(partial.out).to.contain(`incomplete: ${mine(victim).length} inputs have no result (missing shards ${victim})`);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).complete).to.equal(false);

    // a temporary left by a killed run of this shard goes; another shard's (maybe still being written) stays
    const ownTmp = path.join(out, `a/.x.png.tmp-s${victim}of4-99999999-0`), otherTmp = path.join(out, `a/.y.png.tmp-s${(victim + 1) % 4}of4-99999999-0`);
    fs.writeFileSync(ownTmp, ''); fs.writeFileSync(otherTmp, '');
    const mtimes = finished.map((r) => fs.statSync(path.join(out, r.replace(/\.png$/, '.record.json'))).mtimeMs);
    const again = run([...args(out), '--shard', `${victim}/4`]);
    expect(again.code, again.err).to.equal(0);
    expect([fs.existsSync(ownTmp), fs.existsSync(otherTmp)]).to.deep.equal([false, true]);
    fs.rmSync(otherTmp);
    const shardSummary = JSON.parse(fs.readFileSync(path.join(out, `summary.shard-${victim}-of-4.json`), 'utf8'));
    expect(shardSummary.counts.resumed).to.equal(finished.length); // only the unfinished inputs were redone
    expect(shardSummary.shard.inputs).to.deep.equal(mine(victim));
    expect(finished.map((r) => fs.statSync(path.join(out, r.replace(/\.png$/, '.record.json'))).mtimeMs)).to.deep.equal(mtimes);

    const merged = run(['merge', out]);
    expect(merged.code).to.equal(1); // as audit: some input failed
    expect(merged.out).to.contain(`merged 4 of 4 shards: ${rels.length} inputs, ${rels.length - 1} rows explained, 1 failed (${finished.length} kept from earlier runs)`);
    expect(merged.err).to.contain('1 of 61 inputs could not be explained');

    const one = run(args(single));
    expect(one.code).to.equal(1);
    expect(inputFiles(out)).to.deep.equal(inputFiles(single));
    for (const f of inputFiles(single)) expect(fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(single, f))), f).to.equal(true);
    expect(fs.readFileSync(path.join(out, 'summary.csv'), 'utf8')).to.equal(fs.readFileSync(path.join(single, 'summary.csv'), 'utf8'));
    expect(normalised(path.join(out, 'summary.json'))).to.deep.equal(normalised(path.join(single, 'summary.json')));
    expect(htmlWithoutTimings(path.join(out, 'index.html'))).to.equal(htmlWithoutTimings(path.join(single, 'index.html')));
    expect(walk(out).filter((f) => !f.includes('/'))).to.deep.equal([
      '.onnx-lrp-audit', 'index.html', 'summary.csv', 'summary.json', ...[0, 1, 2, 3].map((k) => `summary.shard-${k}-of-4.json`),
    ]);
  });

  it('--workers K: K processes, then merged, the same CSV rows as one process', () => {
    const w = path.join(tmp, 'workers');
    const r = run(['audit', MLP, inDir, '--out', w, ...METHODS, '--workers', '2']);
    expect(r.code).to.equal(1); // g/broken.png
    expect(r.out).to.contain(`${rels.length} inputs in`);
    expect(fs.existsSync(path.join(w, 'summary.shard-1-of-2.json'))).to.equal(true);
    const rows = (dir: string) => fs.readFileSync(path.join(dir, 'summary.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
    const a = rows(w), b = rows(path.join(tmp, 'single'));
    expect(a.map((x) => x[0])).to.deep.equal(b.map((x) => x[0]));
    // each worker runs with its share of the cores: numbers to float tolerance, the rest exactly
    a.forEach((row, i) => row.forEach((cell, j) => {
      const x = Number(cell), y = Number(b[i][j]);
      if (cell !== '' && Number.isFinite(x) && Number.isFinite(y)) expect(Math.abs(x - y), `${row[0]} ${b[0][j]}`).to.be.at.most(1e-5 * Math.max(1, Math.abs(y)));
      else expect(cell).to.equal(b[i][j]);
    }));
  });

  it('refuses to merge shards made with other settings or another model, with a clear message (exit 1)', () => {
    const small = path.join(tmp, 'small');
    fs.mkdirSync(small);
    for (const f of fs.readdirSync(path.join(inDir, 'a'))) fs.copyFileSync(path.join(inDir, 'a', f), path.join(small, f));
    const settings = path.join(tmp, 'settings'), model = path.join(tmp, 'model');
    expect(run(['audit', MLP, small, '--out', settings, '--shard', '0/2', '--quiet']).code).to.equal(0);
    const slurm = run(['audit', MLP, small, '--out', settings, '--shard', 'auto/2', '--epsilon', '0.5', '--quiet'], { SLURM_ARRAY_TASK_ID: '1' });
    expect(slurm.code, slurm.err).to.equal(0);
    const s = run(['merge', settings]);
    expect(s.code).to.equal(1);
    expect(s.err).to.match(/^onnx-lrp: shard 1 of 2 \(summary\.shard-1-of-2\.json\) was made with other settings than shard 0 \(settings key \w+ vs \w+; differing: methods\); rerun it with the same options, then merge\n$/);
    expect(fs.existsSync(path.join(settings, 'summary.json'))).to.equal(false);

    expect(run(['audit', MLP, small, '--out', model, '--shard', 'auto/2', '--quiet'], { JOB_COMPLETION_INDEX: '0' }).code).to.equal(0);
    expect(run(['audit', OTHER, small, '--out', model, '--shard', '1/2', '--quiet']).code).to.equal(0);
    const m = run(['merge', model]);
    expect(m.code).to.equal(1);
    expect(m.err).to.match(/^onnx-lrp: shard 1 of 2 \(summary\.shard-1-of-2\.json\) was made with another model than shard 0: sha256 [0-9a-f]{12}… \(.*fashion-mobilenet\.onnx\) vs [0-9a-f]{12}… \(.*fashion-mlp\.onnx\); rerun it with the same model, then merge\n$/);

    // the folder changed between shards: another listing
    const listing = path.join(tmp, 'listing');
    expect(run(['audit', MLP, small, '--out', listing, '--shard', '0/2', '--quiet']).code).to.equal(0);
    fs.copyFileSync(path.join(small, '0-tshirt-top.png'), path.join(small, 'new.png'));
    expect(run(['audit', MLP, small, '--out', listing, '--shard', '1/2', '--quiet']).code).to.equal(0);
    fs.rmSync(path.join(small, 'new.png'));
    expect(run(['merge', listing]).err).to.contain('shard 1 of 2 (summary.shard-1-of-2.json) listed other inputs than shard 0 (11 vs 10 inputs): the input folder changed while the shards ran');

    // two splits in one folder: say which; a folder without shards
    expect(run(['audit', MLP, small, '--out', model, '--shard', '0/3', '--quiet']).code).to.equal(0);
    expect(run(['merge', model]).err).to.contain('holds shard summaries of 2 splits (*-of-2, *-of-3); say which with --shards N');
    expect(run(['merge', model, '--shards', '3']).err).to.contain('missing shards 1, 2 of 3');
    expect(run(['merge', small]).err).to.contain('no shard summaries (summary.shard-I-of-N.json) in it');
    expect(run(['merge']).code).to.equal(2);
  });
});
