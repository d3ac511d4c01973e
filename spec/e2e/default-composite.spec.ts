/** The composite a model gets when none is asked for (lib/plan/default.ts), shown with its reason by explain,
 * --json, the audit summary and inspect; and inspect's engine report: the engine `auto` picks for that plan and
 * every node on the reference kernels with its reason, read from the engine and the op definitions (never
 * from a list of ops in the spec). */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { chooseComposite } from '../../lib/plan/default';
import { findOp } from '../../lib/ops/registry';
import { DEFAULT_COMPOSITE } from '../../lib/plan/composites';
import { FIXTURES, ROOT } from '../helpers/paths';

const CLI = path.join(ROOT, 'dist/scripts/cli.js');
const CNN = path.join(ROOT, 'models/fashion-resnet.onnx');
const TEXT = path.join(ROOT, 'models/text-evidence.onnx');
const VIT = path.join(FIXTURES, 'transformer/vit_conv_gather-op17.onnx');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface InspectJson {
  composite: string; compositeReason?: string; plan: { node: string; op: string }[];
  engines: { auto: { used: string; note?: string }; reference: { node: string; op: string; reason: string }[] } | { skipped: string };
}

describe('default composite by graph', function () {
  this.timeout(120000);

  it('chooses attnlrp for a transformer (a patch-embedding convolution allowed), the CNN default otherwise and for hybrids', () => {
    expect(chooseComposite(['conv', 'activation', 'dense'])).to.deep.include({ composite: DEFAULT_COMPOSITE });
    const t = chooseComposite(['embedding', 'layernorm', 'dense', 'attention', 'softmax', 'attention']);
    expect(t.composite).to.equal('attnlrp');
    expect(t.reason).to.match(/transformer \(2 attention, 1 layernorm, 1 softmax nodes, 0 convolutions\)/);
    expect(chooseComposite(['conv', 'layernorm', 'attention']).composite).to.equal('attnlrp');
    const hybrid = chooseComposite(['conv', 'conv', 'conv', 'attention', 'softmax', 'attention']);
    expect(hybrid.composite).to.equal(DEFAULT_COMPOSITE);
    expect(hybrid.reason).to.match(/hybrid/);
  });

  it('explain without --composite runs attnlrp on a transformer and says why; --json records the reason', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-default-'));
    const json = path.join(tmp, 'r.json');
    const r = run('explain', TEXT, '--text', 'the movie was great', '--json', json);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.match(/^composite attnlrp \(default for a transformer \(\d+ attention, \d+ layernorm, \d+ softmax nodes, 0 convolutions\); --composite to choose\)$/m);
    const rec = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(rec.composite).to.equal('attnlrp');
    expect(rec.compositeReason).to.match(/^default for a transformer/);
    // asked for: no reason, the composite asked for
    const asked = run('explain', TEXT, '--text', 'the movie was great', '--composite', 'cp_lrp', '--json', json);
    expect(asked.code, asked.err).to.equal(0);
    expect(asked.out).not.to.match(/^composite /m);
    expect(JSON.parse(fs.readFileSync(json, 'utf8'))).to.include({ composite: 'cp_lrp' }).and.not.to.have.property('compositeReason');
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('explain and audit keep epsilon_plus_flat on a CNN; the audit summary gives the reason', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-default-'));
    const inputs = path.join(tmp, 'in');
    fs.mkdirSync(inputs);
    fs.copyFileSync(path.join(ROOT, 'models/samples', fs.readdirSync(path.join(ROOT, 'models/samples')).find((f) => f.endsWith('.png'))!), path.join(inputs, 'a.png'));
    const r = run('audit', CNN, inputs, '--out', path.join(tmp, 'out'), '--no-npy');
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.match(/^composite epsilon_plus_flat \(default for a graph without attention, layer norm or softmax nodes \(\d+ convolutions\); --composite to choose\)$/m);
    const s = JSON.parse(fs.readFileSync(path.join(tmp, 'out/summary.json'), 'utf8'));
    expect(s.methods).to.deep.equal(['epsilon_plus_flat']);
    expect(s.compositeReason).to.match(/without attention/);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('evaluate without --method runs the model\'s composite first: attnlrp on a ViT, epsilon_plus_flat on a CNN', () => {
    const x = path.join(FIXTURES, 'transformer/vit_conv_gather.x.npy');
    const r = run('evaluate', VIT, '--input', x, '--orders', 'morf', '--patch', '4');
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.match(/^composite attnlrp \(default for a transformer .*; --method to choose\)$/m);
    expect(r.out).to.match(/^attnlrp\s+-?\d+\.\d{3}/m);
    const g = path.join(FIXTURES, 'golden');
    const cnn = run('evaluate', path.join(g, 'gap-op17.onnx'), '--input', path.join(g, 'gap.input.npy'), '--orders', 'morf');
    expect(cnn.code, cnn.err).to.equal(0);
    expect(cnn.out).to.match(/^composite epsilon_plus_flat \(default for a graph without attention/m);
    expect(cnn.out).to.match(/^epsilon_plus_flat\s+-?\d+\.\d{3}/m);
  });

  for (const [name, file, composite] of [['a CNN', CNN, DEFAULT_COMPOSITE], ['a text transformer', TEXT, 'attnlrp'], ['a ViT with a patch-embedding Conv', VIT, 'attnlrp']] as const) {
    it(`inspect on ${name}: the default composite with its reason, the engine auto picks and every reference node with its reason`, () => {
      const r = run('inspect', file, '--json');
      expect(r.code, r.err).to.equal(0);
      const j = JSON.parse(r.out) as InspectJson;
      expect(j.composite).to.equal(composite);
      expect(j.compositeReason).to.match(/^default for/);
      expect(j.engines).not.to.have.property('skipped');
      const e = j.engines as Exclude<InspectJson['engines'], { skipped: string }>;
      expect(['fused', 'ort']).to.include(e.auto.used);
      if (e.auto.used === 'fused') {
        expect(e.reference).to.deep.equal([]);
      } else {
        expect(e.auto.note, 'why not fused').to.match(/^fused engine not used: /);
        const planned = new Set(j.plan.map((p) => p.node));
        for (const n of e.reference) {
          expect(planned.has(n.node), n.node).to.equal(true);
          expect(n.reason, n.node).to.match(/\S/);
        }
        // every planned node whose op declares no lowering is on the reference kernels, with its op's reason
        const listed = new Map(e.reference.map((n) => [n.node, n.reason]));
        for (const p of j.plan) {
          const low = findOp(p.op)?.lowering;
          if (low && 'none' in low) expect(listed.get(p.node), `${p.node} (${p.op})`).to.contain(low.none);
        }
      }
      const text = run('inspect', file);
      expect(text.code, text.err).to.equal(0);
      expect(text.out).to.contain(`rule plan (${composite}: default for`);
      expect(text.out).to.match(new RegExp(`^  auto picks ${e.auto.used}`, 'm'));
      if (e.auto.used === 'ort' && e.reference.length) {
        expect(text.out).to.match(/^ {2}on the reference kernels \(TypeScript\) rather than onnxruntime: \d+ of \d+ nodes$/m);
        const first = e.reference[0];
        expect(text.out).to.contain(`'${first.node}'`);
      }
      expect(run('inspect', file, '--no-engines').out).not.to.contain('auto picks');
    });
  }
});
