/** The package as a user gets it: `npm pack`ed, installed into a TypeScript project that type-checks it strictly
 * (no skipLibCheck, `"types": ["node"]`) and runs the README's example; and an install that warns about nothing.
 * Offline: the consumer's dependencies are links into this checkout's node_modules, not a registry install. */
import { expect } from 'chai';
import { SpawnSyncReturns, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FIXTURES, ROOT } from './helpers/paths';

/** Every child process is bounded: a hung npm or tsc fails the spec instead of stalling the suite. */
function run(cmd: string, args: string[], cwd: string, timeout: number): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, maxBuffer: 32 << 20 });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return r;
}

function output(r: SpawnSyncReturns<string>): string {
  return `exit ${r.status}${r.signal ? ` (${r.signal})` : ''}\n${r.stdout}\n${r.stderr}`;
}

/** The package (`onnx-lrp`, `@types/node`, …) a file under node_modules belongs to. */
function packageOf(file: string): string | null {
  const parts = file.split(/[\\/]/);
  const i = parts.lastIndexOf('node_modules');
  if (i < 0) return null;
  return parts[i + 1].startsWith('@') ? `${parts[i + 1]}/${parts[i + 2]}` : parts[i + 1];
}

/** What a consumer's type-check may read: onnx-lrp's declarations, Node's (and theirs) and TypeScript's libraries. */
const OWN_TYPES = new Set(['onnx-lrp', '@types/node', 'undici-types', 'typescript']);

const CONSUMER_TSCONFIG = {
  compilerOptions: {
    strict: true,
    skipLibCheck: false,
    types: ['node'],
    lib: ['ES2022'],
    target: 'ES2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    noEmitOnError: true,
    outDir: 'out',
  },
  files: ['run.ts'],
};

/** Runs the README's example (library.ts, copied verbatim) and prints the relevance's shape as the last line. */
const CONSUMER_RUN = `import type { Explanation } from 'onnx-lrp';
import { main } from './library';

const [model, input] = process.argv.slice(2);
main(model, input).then(
  (r: Explanation) => console.log(JSON.stringify(r.relevance.dims)),
  (e: unknown) => { console.error(e instanceof Error ? e.message : String(e)); process.exitCode = 1; },
);
`;

describe('package', function () {
  this.timeout(180_000);
  let tmp = '';
  let consumer = '';
  let pack: SpawnSyncReturns<string>;

  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-pack-'));
    // dist/ is built (this spec runs from it): pack it as is, without rerunning `prepare`.
    pack = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT, 60_000);
    expect(pack.status, output(pack)).to.equal(0);
    const [{ filename }] = JSON.parse(pack.stdout) as { filename: string }[];

    consumer = path.join(tmp, 'consumer');
    const installed = path.join(consumer, 'node_modules', 'onnx-lrp');
    fs.mkdirSync(installed, { recursive: true });
    const tar = run('tar', ['-xzf', path.join(tmp, filename), '-C', installed, '--strip-components=1'], tmp, 30_000);
    expect(tar.status, output(tar)).to.equal(0);
    const manifest = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
    for (const dep of [...Object.keys(manifest.dependencies ?? {}), '@types/node']) {
      const from = path.join(ROOT, 'node_modules', dep);
      if (!fs.existsSync(from)) throw new Error(`${dep} is not installed in ${ROOT}/node_modules: run npm ci`);
      const to = path.join(consumer, 'node_modules', dep);
      fs.mkdirSync(path.dirname(to), { recursive: true });
      fs.symlinkSync(from, to, 'dir');
    }
    fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    fs.writeFileSync(path.join(consumer, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG, null, 2));
    fs.copyFileSync(path.join(ROOT, 'examples/library.ts'), path.join(consumer, 'library.ts'));
    fs.writeFileSync(path.join(consumer, 'run.ts'), CONSUMER_RUN);
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('packs without npm warning about the project configuration', () => {
    expect(pack.stderr).not.to.match(/npm warn.*(project config|allowScripts|install-scripts)/i);
  });

  it('type-checks strictly in a consumer project, reading no third-party declarations, and runs', () => {
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const build = run(process.execPath, [tsc, '-p', '.', '--listFiles'], consumer, 120_000);
    expect(build.status, output(build)).to.equal(0);
    const read = new Set(build.stdout.split('\n').map((f) => packageOf(f.trim())).filter((p): p is string => p !== null));
    expect(read.has('onnx-lrp'), build.stdout).to.equal(true);
    expect([...read].filter((p) => !OWN_TYPES.has(p)), 'third-party declarations the public types pull in').to.deep.equal([]);

    const golden = path.join(FIXTURES, 'golden');
    const r = run(process.execPath, ['out/run.js', path.join(golden, 'cnn_bn-op17.onnx'), path.join(golden, 'cnn_bn.input.npy')], consumer, 60_000);
    expect(r.status, output(r)).to.equal(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).to.deep.equal([2, 3, 16, 16]);
    expect(fs.existsSync(path.join(consumer, 'relevance.npy'))).to.equal(true);
  });

  it('covers every dependency install script in allowScripts (npm install prints no install-scripts warning)', function () {
    const ls = run('npm', ['install-scripts', 'ls', '--json'], ROOT, 60_000);
    if (ls.status !== 0 && /unknown command/i.test(ls.stderr + ls.stdout)) {
      console.log(`      (skipped: this npm (${run('npm', ['--version'], ROOT, 30_000).stdout.trim()}) has no allowScripts)`);
      this.skip();
    }
    expect(ls.status, output(ls)).to.equal(0);
    expect(JSON.parse(ls.stdout).allowScripts, 'packages with install scripts neither approved nor denied').to.deep.equal([]);
  });
});
