/** The scaling recipes in docs/deploy/ (docs/scaling.md), run here as far as this machine allows: the
 * Kubernetes Jobs parsed, their commands checked against the CLI's --help and run with the index Kubernetes
 * would set; the Slurm array script run as each array task, and the submit script against a stand-in `sbatch`
 * that records its arguments; the GNU parallel one-liner run (by GNU parallel where installed, else its
 * commands one by one); the Dockerfile's stages checked against package.json and the files the CLI loads. */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { builtinModules } from 'module';
import { ROOT } from '../helpers/paths';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const yaml = require('js-yaml') as { load(text: string): unknown }; // mocha's own YAML parser
const CLI = path.join(ROOT, 'dist/scripts/cli.js');
const DEPLOY = path.join(ROOT, 'docs/deploy');
const NODE_CLI = `${process.execPath} ${CLI}`;

interface Container { command: string[]; image: string; volumeMounts: { name: string; mountPath: string }[] }
interface JobSpec {
  kind: string;
  spec: {
    completionMode?: string; completions?: number; parallelism?: number; podReplacementPolicy?: string;
    template: { spec: { restartPolicy: string; containers: Container[]; volumes: { name: string; persistentVolumeClaim: { claimName: string } }[] } };
  };
}

function sh(cmd: string, args: string[], env: Record<string, string> = {}) {
  const e = { ...process.env, ...env };
  for (const k of ['JOB_COMPLETION_INDEX', 'SLURM_ARRAY_TASK_ID']) if (!(k in env)) delete e[k];
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: e });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const helpOf = (cmd: string) => sh(process.execPath, [CLI, cmd, '--help']).out;

/** The long flags of a command line, each of which the command's --help must list. */
function expectFlagsInHelp(command: string[]): void {
  const help = helpOf(command[1]);
  for (const f of command.filter((a) => a.startsWith('--'))) expect(help, `${command[1]} ${f}`).to.match(new RegExp(`^ +${f}\\b`, 'm'));
}

function inputs(dir: string, n: number): void {
  fs.mkdirSync(dir, { recursive: true });
  const samples = fs.readdirSync(path.join(ROOT, 'models/samples')).filter((f) => f.endsWith('.png')).slice(0, n);
  for (const f of samples) fs.copyFileSync(path.join(ROOT, 'models/samples', f), path.join(dir, f));
}

const summary = (out: string) => JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));

describe('docs/deploy: scaling recipes', function () {
  this.timeout(120_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-deploy-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('Kubernetes: an Indexed Job of N shard pods on a shared volume, then a merge Job; their commands run', () => {
    const audit = yaml.load(fs.readFileSync(path.join(DEPLOY, 'kubernetes-audit.yaml'), 'utf8')) as JobSpec;
    const merge = yaml.load(fs.readFileSync(path.join(DEPLOY, 'kubernetes-merge.yaml'), 'utf8')) as JobSpec;
    expect([audit.kind, merge.kind]).to.deep.equal(['Job', 'Job']);
    const a = audit.spec.template.spec.containers[0], m = merge.spec.template.spec.containers[0];
    expect(a.command.slice(0, 2)).to.deep.equal(['onnx-lrp', 'audit']);
    expect(m.command.slice(0, 2)).to.deep.equal(['onnx-lrp', 'merge']);
    expectFlagsInHelp(a.command);
    expectFlagsInHelp(m.command);
    const n = Number(/^auto\/(\d+)$/.exec(a.command[a.command.indexOf('--shard') + 1])![1]);
    expect(audit.spec).to.include({ completionMode: 'Indexed', completions: n, parallelism: n, podReplacementPolicy: 'Failed' });
    const out = a.command[a.command.indexOf('--out') + 1];
    expect(m.command[2]).to.equal(out);
    expect(m.image).to.equal(a.image);
    // the output folder and the inputs on the one shared volume, the same claim in both Jobs
    for (const job of [audit, merge]) {
      const c = job.spec.template.spec.containers[0], vols = job.spec.template.spec.volumes;
      expect(c.volumeMounts.some((v) => out.startsWith(`${v.mountPath}/`))).to.equal(true);
      expect(vols.map((v) => v.persistentVolumeClaim.claimName)).to.deep.equal(['onnx-lrp-data']);
    }
    expect(a.volumeMounts.some((v) => a.command[3].startsWith(`${v.mountPath}/`))).to.equal(true);
    // run them: /app is the image's checkout, /data the volume; each pod gets its JOB_COMPLETION_INDEX
    const local = (arg: string) => arg.replace(/^\/app\//, `${ROOT}/`).replace(/^\/data\//, `${tmp}/k8s/`);
    inputs(local(a.command[3]), 6);
    for (let i = 0; i < n; i++) {
      const r = sh(process.execPath, [CLI, ...a.command.slice(1).map(local)], { JOB_COMPLETION_INDEX: String(i) });
      expect(r.code, r.err).to.equal(0);
    }
    const r = sh(process.execPath, [CLI, ...m.command.slice(1).map(local)]);
    expect(r.code, r.err).to.equal(0);
    expect(summary(local(out)).counts).to.include({ inputs: 6, ok: 6 });
  });

  it('Slurm: the array script runs as each task; the submit script queues the array, then the merge after it', () => {
    const script = fs.readFileSync(path.join(DEPLOY, 'slurm-array.sh'), 'utf8');
    const [, lo, hi] = /^#SBATCH --array=(\d+)-(\d+)$/m.exec(script)!;
    expect(Number(lo)).to.equal(0);
    const n = Number(hi) + 1;
    const folder = path.join(tmp, 'slurm/in'), out = path.join(tmp, 'slurm/out'), model = path.join(ROOT, 'models/fashion-mlp.onnx');
    inputs(folder, 5);
    expect(sh('bash', [path.join(DEPLOY, 'slurm-array.sh'), model, folder, out], { ONNX_LRP: NODE_CLI }).err).to.contain('run as a Slurm array');
    for (let i = 0; i < n; i++) {
      const r = sh('bash', [path.join(DEPLOY, 'slurm-array.sh'), model, folder, out], { SLURM_ARRAY_TASK_ID: String(i), SLURM_ARRAY_TASK_COUNT: String(n), SLURM_CPUS_PER_TASK: '1', ONNX_LRP: NODE_CLI });
      expect(r.code, r.err).to.equal(0);
      expect(fs.existsSync(path.join(out, `summary.shard-${i}-of-${n}.json`))).to.equal(true);
    }
    // slurm-submit.sh against a stand-in sbatch (records its arguments, answers "jobid;cluster")
    const bin = path.join(tmp, 'bin'), log = path.join(tmp, 'sbatch.log');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'sbatch'), '#!/usr/bin/env bash\nfor a in "$@"; do printf "%s\\0" "$a"; done >> "$SBATCH_LOG"; printf "\\n" >> "$SBATCH_LOG"\necho "$((4100 + $(wc -l < "$SBATCH_LOG")));cluster"\n', { mode: 0o755 });
    const r = sh('bash', [path.join(DEPLOY, 'slurm-submit.sh'), model, folder, out, String(n)], { PATH: `${bin}:${process.env.PATH}`, SBATCH_LOG: log, ONNX_LRP: NODE_CLI });
    expect(r.code, r.err).to.equal(0);
    const calls = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split('\0').filter(Boolean));
    expect(calls[0]).to.deep.equal(['--parsable', `--array=0-${n - 1}`, path.join(DEPLOY, 'slurm-array.sh'), model, folder, out]);
    expect(calls[1]).to.include('--dependency=afterok:4101');
    const wrap = calls[1].find((c) => c.startsWith('--wrap='))!.slice('--wrap='.length);
    const merged = sh('bash', ['-c', wrap]);
    expect(merged.code, merged.err).to.equal(0);
    expect(summary(out).counts).to.include({ inputs: 5, ok: 5 });
  });

  it('GNU parallel: the one-liner (and parallel.sh) run the shards, then the merge', () => {
    const script = fs.readFileSync(path.join(DEPLOY, 'parallel.sh'), 'utf8');
    const line = /^# +(parallel .*)$/m.exec(script)![1];
    const folder = path.join(tmp, 'par/in'), out = path.join(tmp, 'par/out'), model = path.join(ROOT, 'models/fashion-mlp.onnx');
    inputs(folder, 5);
    const cmd = line.replace(/npx onnx-lrp/g, NODE_CLI).replace(/\bMODEL\b/g, model).replace(/\bFOLDER\b/g, folder).replace(/\bOUT\b/g, out);
    const [jobs, then] = cmd.split(' && ');
    const [template, args] = jobs.split(' ::: ');
    expectFlagsInHelp(['onnx-lrp', 'audit', ...template.split(' ').filter((a) => a.startsWith('--'))]);
    const gnu = sh('parallel', ['--version']).out?.startsWith('GNU parallel');
    if (gnu) {
      const r = sh('bash', ['-c', cmd]);
      expect(r.code, r.err).to.equal(0);
      const s = sh('bash', [path.join(DEPLOY, 'parallel.sh'), model, folder, path.join(tmp, 'par/out2'), '3'], { ONNX_LRP: NODE_CLI });
      expect(s.code, s.err).to.equal(0);
      expect(summary(path.join(tmp, 'par/out2')).counts).to.include({ inputs: 5, ok: 5 });
    } else {
      console.log('      (GNU parallel is not installed: the one-liner\'s commands run one by one)');
      for (const i of args.split(' ')) {
        const r = sh('bash', ['-c', template.replace(/^parallel -j \d+ /, '').replace(/\{\}/g, i)]);
        expect(r.code, r.err).to.equal(0);
      }
      const r = sh('bash', ['-c', then]);
      expect(r.code, r.err).to.equal(0);
    }
    expect(summary(out).counts).to.include({ inputs: 5, ok: 5 });
  });

  it('Dockerfile: Node 20, a build stage for dist/, npm ci --omit=dev; the CLI loads only production dependencies', () => {
    const text = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    const froms = [...text.matchAll(/^FROM (\S+)(?: AS (\w+))?$/gm)];
    expect(froms.map((f) => f[1].split(':')[0])).to.deep.equal(['node', 'node']);
    for (const f of froms) expect(f[1]).to.match(/^node:20-/);
    const [build, run] = text.split(/^FROM /m).slice(1);
    expect(build).to.match(/npx tsc -p tsconfig.json/);
    expect(run).to.match(/npm ci --omit=dev --ignore-scripts/);
    expect(text).to.match(/ONNXRUNTIME_NODE_INSTALL=skip/); // as .ci/run: npm < 11.16 ignores allowScripts
    for (const m of text.matchAll(/^COPY (?!--from)(.+) (\S+)$/gm)) for (const src of m[1].split(' ')) expect(fs.existsSync(path.join(ROOT, src)), src).to.equal(true);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(run).to.contain(`ln -s /app/${pkg.bin['onnx-lrp']} /usr/local/bin/onnx-lrp`);
    const copied = [...run.matchAll(/^COPY --from=build \/src\/(\S+) (\S+)$/gm)].map((m) => m[1]);
    // every file the CLI requires (transitively, including the --workers worker) is in the copied folders, and
    // every package it requires is a production dependency
    const seen = new Set<string>(), packages = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      expect(copied.some((c) => path.relative(path.join(ROOT, c), file).split(path.sep)[0] !== '..'), path.relative(ROOT, file)).to.equal(true);
      const src = fs.readFileSync(file, 'utf8');
      const deps = [...src.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
      if (/path\.join\(__dirname, 'worker\.js'\)/.test(src)) deps.push('./worker');
      for (const d of deps) {
        if (d.startsWith('.')) visit(require.resolve(path.resolve(path.dirname(file), d)));
        else if (!builtinModules.includes(d.replace(/^node:/, ''))) packages.add(d.startsWith('@') ? d.split('/').slice(0, 2).join('/') : d.split('/')[0]);
      }
    };
    visit(CLI);
    expect(seen.has(path.join(ROOT, 'dist/lib/audit/worker.js'))).to.equal(true);
    for (const p of packages) expect(Object.keys(pkg.dependencies), p).to.include(p);
    expect(packages.has('onnxruntime-node')).to.equal(true);
  });
});
