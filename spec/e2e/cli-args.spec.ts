/** The command line's arguments: one-line usage errors (exit 2) with a hint, invalid values naming the option,
 * negative numbers as option values, one vocabulary of methods and their parameters across commands, and
 * --target by class name. */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readNpy } from '../../lib';
import { joinNegativeValues, parseErrorMessage } from '../../scripts/commands/args';
import { parseTargets } from '../../scripts/commands/target';
import { ROOT } from '../helpers/paths';
import { relL2 } from '../rules/reference';

const CLI = path.join(ROOT, 'dist/scripts/cli.js');
const G = path.join(ROOT, 'spec/fixtures/golden');
const MODEL = path.join(G, 'cnn_bn-op17.onnx');
const INPUT = path.join(G, 'cnn_bn.input.npy');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const LABELS = ['tench', 'goldfish', 'great white shark', 'malamute, malemute, Alaskan malamute', 'Siberian husky', 'Eskimo dog, husky', 'tabby cat', 'tiger cat', 'cat bed', 'zebra'];

describe('CLI arguments', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-cli-args-'));
  const labels = path.join(tmp, 'labels.json');
  fs.writeFileSync(labels, JSON.stringify(LABELS));

  it('a usage error prints its message and one hint, not the help (exit 2)', () => {
    for (const [cmd, args] of [
      ['explain', [MODEL, INPUT, '--composite', 'nope']],
      ['explain', [MODEL]],
      ['explain', [MODEL, INPUT, '--no-such-flag']],
      ['audit', [MODEL, tmp]],
      ['inspect', []],
      ['evaluate', [MODEL, '--input', INPUT, '--orders', 'up']],
    ] as [string, string[]][]) {
      const r = run(cmd, ...args);
      expect(r.code, `${cmd} ${args.join(' ')}`).to.equal(2);
      const lines = r.err.trimEnd().split('\n');
      expect(lines, r.err).to.have.length(2);
      expect(lines[0]).to.match(/^onnx-lrp: /);
      expect(lines[1]).to.equal(`see onnx-lrp ${cmd} --help`);
      expect(r.err).not.to.contain('usage:');
    }
    const unknown = run('explian');
    expect(unknown.code).to.equal(2);
    expect(unknown.err).to.contain("unknown command 'explian' (did you mean explain?)").and.to.contain('see onnx-lrp --help');
    expect(run('explain', MODEL, INPUT, '--methd', 'gradient').err).to.contain("unknown option '--methd' (did you mean --method");
  });

  it('invalid rule parameters are usage errors naming the option (exit 2), not input errors', () => {
    for (const [args, msg] of [
      [['--epsilon=-1'], /^onnx-lrp: --epsilon must be ≥ 0, got '-1'$/m],
      [['--gamma', '-0.5', '--composite', 'epsilon_gamma_box', '--low=-3', '--high=3'], /--gamma must be ≥ 0/],
      [['--low=2', '--high=1', '--composite', 'epsilon_gamma_box'], /--low must be below --high \(2 ≥ 1\)/],
      [['--low=-1,0,-1', '--high=1,-1,1', '--composite', 'epsilon_gamma_box'], /--low must be below --high in every channel \(channel 1: 0 ≥ -1\)/],
      [['--low=-1,-1', '--high=1,1', '--composite', 'epsilon_gamma_box'], /--low has 2 values; the model's input 'input' \[batchx3x16x16\] has 3 channels/],
      [['--low=-1,-1,-1', '--high=1,1', '--composite', 'epsilon_gamma_box'], /--low has 3 values, --high has 2/],
      [['--epsilon', 'abc'], /--epsilon expects a number, got 'abc'/],
    ] as [string[], RegExp][]) {
      const r = run('explain', MODEL, INPUT, ...args);
      expect(r.code, `${args.join(' ')}: ${r.err}`).to.equal(2);
      expect(r.err).to.match(msg);
    }
    // the same checks in audit and evaluate
    expect(run('audit', MODEL, tmp, '--out', path.join(tmp, 'a'), '--epsilon=-1').code).to.equal(2);
    const ev = run('evaluate', MODEL, '--input', INPUT, '--low=-1,-1', '--high=1,1');
    expect(ev.code, ev.err).to.equal(2);
    expect(ev.err).to.contain('--low has 2 values');
  });

  it('a negative number after an option is its value (--low -1.5, lists too); other dash words stay options', () => {
    expect(joinNegativeValues(['--low', '-1.5', '--high', '2', '-h'], { low: { type: 'string' }, high: { type: 'string' }, help: { type: 'boolean', short: 'h' } }))
      .to.deep.equal(['--low=-1.5', '--high', '2', '-h']);
    expect(joinNegativeValues(['--low', '-3,-2.5,-1e-3', 'x'], { low: { type: 'string' } })).to.deep.equal(['--low=-3,-2.5,-1e-3', 'x']);
    expect(joinNegativeValues(['--quiet', '-1'], { quiet: { type: 'boolean' } })).to.deep.equal(['--quiet', '-1']);
    expect(joinNegativeValues(['--out', '--quiet'], { out: { type: 'string' }, quiet: { type: 'boolean' } })).to.deep.equal(['--out', '--quiet']);
    expect(joinNegativeValues(['--', '--low', '-1'], { low: { type: 'string' } })).to.deep.equal(['--', '--low', '-1']);

    const spaced = path.join(tmp, 'spaced.npy'), joined = path.join(tmp, 'joined.npy');
    const a = run('explain', MODEL, INPUT, '--composite', 'epsilon_gamma_box', '--low', '-3,-2.5,-2.5', '--high', '3', '--save-npy', spaced, '--quiet');
    expect(a.code, a.err).to.equal(0);
    const b = run('explain', MODEL, INPUT, '--composite', 'epsilon_gamma_box', '--low=-3,-2.5,-2.5', '--high=3', '--save-npy', joined, '--quiet');
    expect(b.code, b.err).to.equal(0);
    expect(Buffer.compare(fs.readFileSync(spaced), fs.readFileSync(joined))).to.equal(0);
    const t = run('explain', MODEL, INPUT, '--target', '-1');
    expect(t.code).to.equal(2);
    expect(t.err).to.contain("--target expects class indices (integers ≥ 0) or class names, got '-1'").and.not.to.contain('ambiguous');
    const missing = run('explain', MODEL, INPUT, '--out');
    expect(missing.err).to.match(/option '--out' needs a value/);
    expect(parseErrorMessage(new Error("Option '--low' argument is ambiguous.\nDid you forget to specify the option argument for '--low'?"), {}))
      .to.equal("option '--low' needs a value; a value starting with '-' that is not a number must be written --low=VALUE");
  });

  it('--target by class name: exact, synonym or unique part of a label; ambiguous and unknown names list candidates', () => {
    expect(parseTargets('malamute', LABELS)).to.equal(3);
    expect(parseTargets('Alaskan_malamute', LABELS)).to.equal(3);
    expect(parseTargets('siberian husky', LABELS)).to.equal(4);
    expect(parseTargets('husky', LABELS)).to.equal(5); // the synonym of 'Eskimo dog, husky', not part of 'Siberian husky'
    expect(parseTargets('white shark', LABELS)).to.equal(2);
    expect(parseTargets('malamute, malemute, Alaskan malamute', LABELS)).to.equal(3); // a whole label with commas
    expect(parseTargets('tench,9,zebra', LABELS)).to.deep.equal([0, 9, 9]);
    expect(() => parseTargets('cat', LABELS)).to.throw(/'cat' is ambiguous: it matches 6 \(tabby cat\), 7 \(tiger cat\), 8 \(cat bed\)/);
    expect(() => parseTargets('malamoot', LABELS)).to.throw(/'malamoot' is not a class of this model; close matches: 3 \(malamute/);
    expect(() => parseTargets('dog', undefined)).to.throw(/class name, but the model has no labels/);

    const r = run('explain', MODEL, INPUT, '--labels', labels, '--target', 'malamute');
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.contain('explaining 3 (malamute, malemute, Alaskan malamute)');
    const amb = run('explain', MODEL, INPUT, '--labels', labels, '--target', 'cat');
    expect(amb.code).to.equal(2);
    expect(amb.err).to.contain("--target 'cat' is ambiguous");
    const none = run('explain', MODEL, INPUT, '--target', 'zebra');
    expect(none.code).to.equal(2);
    expect(none.err).to.contain('no labels');
    const ev = run('evaluate', MODEL, '--input', INPUT, '--labels', labels, '--target', 'zebra', '--method', 'random', '--orders', 'morf', '--patch', '8');
    expect(ev.code, ev.err).to.equal(0);
  });

  it('one vocabulary: explain, audit and evaluate take --method/--methods and the method parameters', () => {
    for (const cmd of ['explain', 'audit', 'evaluate']) {
      const help = run(cmd, '--help').out;
      for (const flag of ['--method', '--methods', '--sg-samples', '--sg-noise', '--ig-steps', '--ig-baseline', '--occlusion-patch', '--occlusion-stride',
        '--occlusion-fill', '--layer', '--seed', '--epsilon', '--gamma', '--low', '--high', '--target', '--no-canonize', '--output-relevance']) {
        expect(help, `${cmd} ${flag}`).to.contain(flag);
      }
    }
    // explain: the parameters reach the method and its record
    const out = path.join(tmp, 'ig');
    const r = run('explain', MODEL, INPUT, '--methods', 'integrated_gradients,epsilon', '--ig-steps', '3', '--ig-baseline', '0.5', '--out', out, '--quiet');
    expect(r.code, r.err).to.equal(0);
    const rec = JSON.parse(fs.readFileSync(path.join(out, 'cnn_bn.input.record.json'), 'utf8'));
    const ig = rec.samples[0].methods.find((m: { title: string }) => m.title === 'integrated_gradients');
    expect(ig.options).to.deep.equal({ steps: 3, baseline: 0.5 });
    expect(ig.details).to.be.an('object');
    expect(rec.samples[0].methods.map((m: { title: string }) => m.title)).to.deep.equal(['epsilon', 'integrated_gradients']);
    // a parameter no listed method reads is a usage error, not silently ignored
    const unused = run('explain', MODEL, INPUT, '--ig-steps', '3');
    expect(unused.code).to.equal(2);
    expect(unused.err).to.contain('--ig-steps is a parameter of integrated_gradients');
    expect(run('explain', MODEL, INPUT, '--method', 'smoothgrad', '--sg-samples', '0').code).to.equal(2);
    // audit: same flags, recorded per input
    const folder = path.join(tmp, 'in');
    fs.mkdirSync(folder, { recursive: true });
    fs.copyFileSync(INPUT, path.join(folder, 'x.npy'));
    const a = run('audit', MODEL, folder, '--out', path.join(tmp, 'audit'), '--method', 'smoothgrad', '--sg-samples', '2', '--seed', '3', '--quiet');
    expect(a.code, a.err).to.equal(0);
    const arec = JSON.parse(fs.readFileSync(path.join(tmp, 'audit', 'x.record.json'), 'utf8'));
    expect(arec.samples[0].methods[0].options).to.deep.equal({ samples: 2, seed: 3 });
    // evaluate: --method as well as --methods, composites through --composite
    const ev = run('evaluate', MODEL, '--input', INPUT, '--method', 'random', '--composite', 'epsilon', '--orders', 'morf', '--patch', '8', '--out', path.join(tmp, 'ev'));
    expect(ev.code, ev.err).to.equal(0);
    const s = JSON.parse(fs.readFileSync(path.join(tmp, 'ev', 'summary.json'), 'utf8'));
    expect(s.methods.map((m: { label: string }) => m.label)).to.deep.equal(['epsilon', 'random']);
  });

  it('a method parameter changes the map it is given to', () => {
    const d = path.join(tmp, 'sg-default.npy'), f = path.join(tmp, 'sg-other.npy');
    for (const [file, extra] of [[d, []], [f, ['--sg-samples', '2', '--sg-noise', '0.5', '--seed', '1']]] as [string, string[]][]) {
      const r = run('explain', MODEL, INPUT, '--method', 'smoothgrad', '--save-npy', file, '--quiet', ...extra);
      expect(r.code, r.err).to.equal(0);
    }
    const [x, z] = [d, f].map((p) => readNpy(p).data as Float32Array);
    expect(z.length).to.equal(x.length);
    expect(z.some((v, i) => Math.abs(v - x[i]) > 1e-3 * (Math.abs(x[i]) + 1e-3))).to.equal(true);
  });

  it('--beta-smooth reaches the beta_smooth composite: its map is Zennit\'s for that β', () => {
    const Z = path.join(ROOT, 'spec/fixtures/zennit');
    const file = path.join(tmp, 'beta3.npy');
    const r = run('explain', MODEL, INPUT, '--composite', 'beta_smooth', '--beta-smooth', '3', '--target', '7,0', '--save-npy', file, '--quiet');
    expect(r.code, r.err).to.equal(0);
    const g = JSON.parse(fs.readFileSync(path.join(Z, 'cnn_bn.zennit.json'), 'utf8'));
    expect(g.targets).to.deep.equal([7, 0]);
    const got = readNpy(file).data as Float32Array;
    const ref = readNpy(path.join(Z, 'cnn_bn.beta_smooth_3.npy')).data as Float32Array;
    const other = readNpy(path.join(Z, 'cnn_bn.beta_smooth.npy')).data as Float32Array;
    expect(relL2(got, ref)).to.be.below(1e-5);
    expect(relL2(got, other)).to.be.above(1e-2);
    expect(run('explain', MODEL, INPUT, '--composite', 'beta_smooth', '--beta-smooth', 'x').code).to.equal(2);
  });
});
