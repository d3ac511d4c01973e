/** The command line: explain and inspect, their successes and their errors (exit codes, messages). */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readNpy } from '../../lib';
import { ROOT } from '../helpers/paths';

const CLI = path.join(ROOT, 'dist/scripts/cli.js');
const G = path.join(ROOT, 'spec/fixtures/golden');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('CLI', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-cli-'));

  it('--help lists the commands', () => {
    const r = run('--help');
    expect(r.code).to.equal(0);
    expect(r.out).to.contain('explain').and.to.contain('inspect');
  });

  it('explain writes .npy relevance equal to the golden map', () => {
    const out = path.join(tmp, 'r.npy');
    const json = path.join(tmp, 'r.json');
    const r = run('explain', path.join(G, 'cnn_pool-op13.onnx'), '--input', path.join(G, 'cnn_pool.input.npy'), '--composite', 'epsilon_plus_flat',
      '--target', JSON.parse(fs.readFileSync(path.join(G, 'cnn_pool.golden.json'), 'utf8')).targets.join(','), '--save-npy', out, '--json', json);
    expect(r.code, r.err).to.equal(0);
    const got = readNpy(out).data as Float32Array;
    const ref = readNpy(path.join(G, 'cnn_pool.epsilon_plus_flat.logit.npy')).data as Float32Array;
    let num = 0;
    let den = 0;
    ref.forEach((v, i) => { num += (got[i] - v) ** 2; den += v * v; });
    expect(Math.sqrt(num / den)).to.be.below(1e-4);
    const rec = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(rec.composite).to.equal('epsilon_plus_flat');
    expect(rec.outputRelevance).to.equal('logit');
    expect(rec.samples).to.have.length(2);
  });

  it('explain with gamma box takes per-channel bounds', () => {
    const r = run('explain', path.join(G, 'cnn_bn-op17.onnx'), path.join(G, 'cnn_bn.input.npy'), '--composite', 'epsilon_gamma_box', '--low=-3.5,-3,-3', '--high=3.5,2.5,2.5');
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.contain('sample 1');
  });

  it('explain with a rule map', () => {
    const map = path.join(tmp, 'map.json');
    fs.writeFileSync(map, JSON.stringify({ composite: 'epsilon', rules: [{ first: true, rule: 'flat' }, { op: 'Conv', rule: 'zPlus' }] }));
    const r = run('explain', path.join(G, 'vgg-op17.onnx'), '--input', path.join(G, 'vgg.input.npy'), '--rule-map', map, '--json', path.join(tmp, 'm.json'));
    expect(r.code, r.err).to.equal(0);
    const plan = JSON.parse(fs.readFileSync(path.join(tmp, 'm.json'), 'utf8')).plan;
    expect(plan[0].rule).to.equal('flat');
    expect(plan.filter((e: { op: string; rule: string }) => e.op === 'Conv').slice(1).every((e: { rule: string }) => e.rule === 'zPlus')).to.equal(true);
  });

  it('errors: unknown composite (2), missing model file (1), bad target (1), missing input (2)', () => {
    expect(run('explain', path.join(G, 'mlp-op17.onnx'), '--input', path.join(G, 'mlp.input.npy'), '--composite', 'nope').code).to.equal(2);
    const missing = run('explain', path.join(tmp, 'nope.onnx'), '--input', path.join(G, 'mlp.input.npy'));
    expect(missing.code).to.equal(1);
    expect(missing.err).to.contain('nope.onnx');
    const bad = run('explain', path.join(G, 'mlp-op17.onnx'), '--input', path.join(G, 'mlp.input.npy'), '--target', '12');
    expect(bad.code).to.equal(1);
    expect(bad.err).to.contain('target 12 is out of range');
    expect(run('explain', path.join(G, 'mlp-op17.onnx')).code).to.equal(2);
    const shape = run('explain', path.join(G, 'cnn_bn-op17.onnx'), '--input', path.join(G, 'mlp.input.npy'));
    expect(shape.code).to.equal(1);
    expect(shape.err).to.match(/shape/);
  });

  it('inspect prints the IR summary, canonizer actions and the plan', () => {
    const r = run('inspect', path.join(G, 'resnet-op13.onnx'), '--composite', 'epsilon_alpha2_beta1');
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.contain('merged BatchNormalization');
    expect(r.out).to.contain('alphaBeta');
    expect(r.out).to.contain('unsupported: none');
  });
});
