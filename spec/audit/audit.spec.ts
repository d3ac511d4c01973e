/** audit(): recursive inputs, per-input files, summaries, bad inputs recorded, resumability, atomic writes,
 * progress; and explainImage/loadInput from the library. Uses the small golden CNN (3x16x16, no metadata). */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  AuditProgress, AuditSummary, audit, explainImage, imageOptionsFor, loadInput, openModel, readNpy, renderRelevance, tensorToImage, writeNpy, writePng,
} from '../../lib';
import { outputStems } from '../../lib/audit/audit';
import { AUDIT_MARKER, listInputs, readLabels, writeFileAtomic } from '../../lib/audit/files';
import { ROOT } from '../helpers/paths';

const G = path.join(ROOT, 'spec/fixtures/golden');
const MODEL = path.join(G, 'cnn_bn-op17.onnx');

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

describe('audit', () => {
  let tmp: string, inDir: string, out: string;
  const composites = ['epsilon_plus_flat', 'epsilon_alpha2_beta1'];

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-audit-'));
    inDir = path.join(tmp, 'in');
    out = path.join(inDir, 'report'); // inside the input folder: must be skipped
    const x = readNpy(path.join(G, 'cnn_bn.input.npy'));
    const range = { valueRange: [-3, 3] as [number, number] };
    fs.mkdirSync(path.join(inDir, 'sub/deeper'), { recursive: true });
    fs.mkdirSync(path.join(inDir, '.hidden'), { recursive: true });
    await writePng(path.join(inDir, 'a.png'), tensorToImage(x, { ...range, index: 0 }));
    await writePng(path.join(inDir, 'sub/deeper/b#1.png'), tensorToImage(x, { ...range, index: 1 }));
    await writePng(path.join(inDir, 'sub/big.png'), { width: 20, height: 20, rgba: new Uint8ClampedArray(1600).fill(128) });
    await writePng(path.join(inDir, '.hidden/h.png'), tensorToImage(x, range));
    fs.writeFileSync(path.join(inDir, 'sub/bad.png'), 'this is not a PNG');
    fs.writeFileSync(path.join(inDir, 'notes.txt'), 'ignored');
    writeNpy(path.join(inDir, 'x.npy'), x);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('lists inputs recursively, sorted, without hidden files, other extensions or the excluded output folder', async () => {
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'old.png'), '');
    fs.writeFileSync(path.join(out, AUDIT_MARKER), ''); // an earlier audit's folder: audit() writes into it again
    expect(await listInputs(inDir, { exclude: [out] })).to.deep.equal(['a.png', 'sub/bad.png', 'sub/big.png', 'sub/deeper/b#1.png', 'x.npy']);
    expect([...outputStems(['a.png', 'a.jpg', 'b/c.png']).values()]).to.deep.equal(['a-png', 'a-jpg', 'b/c']);
  });

  let summary: AuditSummary;
  const events: AuditProgress[] = [];

  it('explains every input, records bad ones with the reason, writes summaries and reports progress', async () => {
    summary = await audit({ model: MODEL, folder: inDir, out, composites, image: { resize: 'none' }, labels: 'abcdefghij'.split('') }, (p) => events.push(p));
    expect(summary.complete).to.equal(true);
    expect(summary.counts).to.deep.equal({ inputs: 5, rows: 6, ok: 4, failed: 2, resumed: 0 });
    const by = (name: string) => summary.inputs.filter((r) => r.input === name);
    expect(by('sub/bad.png')[0].error).to.equal('sub/bad.png: cannot decode the image: not a PNG, JPEG or BMP image');
    expect(by('sub/big.png')[0].error).to.match(/20x20.*16x16/);
    expect(by('x.npy').map((r) => r.sample)).to.deep.equal([0, 1]);
    const a = by('a.png')[0];
    expect(a.status).to.equal('ok');
    expect(a.predictionLabel).to.equal('abcdefghij'[a.prediction!]);
    expect(Object.keys(a.methods)).to.deep.equal(composites);
    for (const r of summary.inputs.filter((x) => x.status === 'ok')) {
      for (const f of [r.record, r.files.input, r.files.grid, ...Object.values(r.methods).flatMap((m) => [m.files.heatmap, m.files.overlay, m.files.relevance])]) {
        expect(f, `${r.input}`).to.be.a('string');
        expect(fs.existsSync(path.join(out, f!)), f).to.equal(true);
      }
    }
    expect(by('sub/deeper/b#1.png')[0].files.input).to.equal('sub/deeper/b#1.input.png');
    // progress: after the scan, then once per input, the last one finished
    expect(events[0]).to.include({ total: 5, done: 0 });
    expect(events.map((e) => e.done)).to.deep.equal([0, 1, 2, 3, 4, 5, 5]);
    expect(events.at(-1)!.finished).to.equal(true);
    expect(events.filter((e) => e.status === 'error').map((e) => e.current)).to.deep.equal(['sub/bad.png', 'sub/big.png']);
    expect(events[3].rate).to.be.greaterThan(0);
    // summaries
    const csv = fs.readFileSync(path.join(out, 'summary.csv'), 'utf8').trim().split('\n');
    expect(csv).to.have.length(7);
    expect(csv[0]).to.contain('epsilon_plus_flat:conservation_error');
    expect(csv.find((l) => l.startsWith('sub/big.png'))).to.contain(',error,');
    expect(JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).counts.rows).to.equal(6);
    // nothing half-written is left behind, and the old file in the output folder was not read as an input
    expect(walk(out).filter((f) => path.basename(f).includes('.tmp-'))).to.deep.equal([]);
    expect(by('report/old.png')).to.have.length(0);
  });

  it('the .npy relevance equals explaining the image directly (explainImage)', async () => {
    const ex = openModel(MODEL);
    try {
      const r = await explainImage(ex, path.join(inDir, 'a.png'), { composite: 'epsilon_alpha2_beta1', image: { resize: 'none' } });
      expect(r.input.dims).to.deep.equal([1, 3, 16, 16]);
      expect(r.imageOptions).to.include({ channels: 'rgb', layout: 'NCHW', resize: 'none' });
      const saved = readNpy(path.join(out, summary.inputs[0].methods.epsilon_alpha2_beta1.files.relevance!)).data as Float32Array;
      expect(Array.from(saved)).to.deep.equal(Array.from(r.relevance.data));
      expect(imageOptionsFor(ex, undefined, { size: [8, 8] }).size).to.deep.equal([8, 8]);
      // docs/library.md's lines: render over the source, bounds from metadata
      const meta = { input: { valueRange: [0, 1] as [number, number] }, bounds: { low: -3, high: 3 } };
      const g = await explainImage(ex, path.join(inDir, 'a.png'), { composite: 'epsilon_gamma_box', metadata: meta });
      expect(g.plan.options).to.include({ low: -3, high: 3 });
      const { heatmap, overlay } = renderRelevance(g.relevance, { source: g.image, region: g.region }, { colormap: 'coldnhot', opacity: 0.6 });
      expect([heatmap.width, overlay!.width]).to.deep.equal([224, 224]);
    } finally {
      await ex.release();
    }
  });

  it('is resumable: a rerun skips finished inputs; a lost record or changed settings redo only what they touch', async () => {
    const rec = path.join(out, 'a.record.json');
    const before = fs.statSync(rec).mtimeMs;
    const again = await audit({ model: MODEL, folder: inDir, out, composites, image: { resize: 'none' }, labels: 'abcdefghij'.split('') });
    expect(again.counts.resumed).to.equal(6);
    expect(fs.statSync(rec).mtimeMs).to.equal(before);
    expect(again.inputs.map((r) => r.input)).to.deep.equal(summary.inputs.map((r) => r.input));
    fs.rmSync(path.join(out, 'sub/deeper/b#1.epsilon_plus_flat.heatmap.png'));
    fs.rmSync(path.join(out, 'x.record.json'));
    const partial = await audit({ model: MODEL, folder: inDir, out, composites, image: { resize: 'none' }, labels: 'abcdefghij'.split('') });
    expect(partial.inputs.filter((r) => !r.resumed).map((r) => r.input)).to.deep.equal(['sub/deeper/b#1.png', 'x.npy', 'x.npy']);
    expect(fs.existsSync(path.join(out, 'sub/deeper/b#1.epsilon_plus_flat.heatmap.png'))).to.equal(true);
    const other = await audit({ model: MODEL, folder: inDir, out, composites: ['epsilon'], image: { resize: 'none' }, npy: false });
    expect(other.counts.resumed).to.equal(0);
    expect(Object.keys(other.inputs[0].methods)).to.deep.equal(['epsilon']);
  });

  it('stops early on abort with a partial summary (complete: false), and a rerun continues', async () => {
    const out2 = path.join(tmp, 'out2');
    const ac = new AbortController();
    const s = await audit({ model: MODEL, folder: inDir, out: out2, composites: ['epsilon'], image: { resize: 'none' }, signal: ac.signal }, (p) => { if (p.done === 1) ac.abort(); });
    expect(s.complete).to.equal(false);
    expect(s.counts.inputs).to.equal(1);
    expect(JSON.parse(fs.readFileSync(path.join(out2, 'summary.json'), 'utf8')).complete).to.equal(false);
    const rest = await audit({ model: MODEL, folder: inDir, out: out2, composites: ['epsilon'], image: { resize: 'none' } });
    expect(rest.complete).to.equal(true);
    expect(rest.counts).to.include({ inputs: 5, resumed: 1 });
  });

  it('errors before any input: missing folder, output = input folder, bad target, unknown composite', async () => {
    const fails = async (o: Partial<Parameters<typeof audit>[0]>, re: RegExp) => {
      let err: Error | undefined;
      try { await audit({ model: MODEL, folder: inDir, out: path.join(tmp, 'o3'), ...o }); } catch (e) { err = e as Error; }
      expect(err?.message, JSON.stringify(o)).to.match(re);
    };
    await fails({ folder: path.join(tmp, 'nope') }, /nope: input folder not found/);
    await fails({ out: inDir }, /must not be the input folder/);
    await fails({ target: 10 }, /target 10 is out of range: the output has 10 classes/);
    await fails({ composites: ['nope'] }, /nope/);
    await fails({ model: path.join(tmp, 'missing.onnx') }, /missing.onnx/);
    expect(fs.existsSync(path.join(tmp, 'o3', 'summary.json'))).to.equal(false);
  });

  it('loadInput reads JPEG and BMP as well as PNG, preprocessed to the model input (center-crop, grayscale, NHWC)', async () => {
    const { Jimp } = await import('jimp');
    const data = Buffer.alloc(40 * 20 * 4);
    for (let i = 0; i < 800; i++) data.set([i % 40 < 20 ? 250 : 10, 128, 30, 255], 4 * i);
    const img = Jimp.fromBitmap({ width: 40, height: 20, data });
    for (const [ext, mime] of [['jpg', 'image/jpeg'], ['bmp', 'image/bmp']] as const) {
      const f = path.join(tmp, `pic.${ext}`);
      fs.writeFileSync(f, await img.getBuffer(mime));
      const x = await loadInput(f, { size: [10, 10], resize: 'center-crop', channels: 'grayscale', layout: 'NHWC' });
      expect(x.kind).to.equal('image');
      expect(x.tensor.dims).to.deep.equal([1, 10, 10, 1]);
      expect(x.views[0].region).to.deep.equal({ left: 10, top: 0, width: 20, height: 20 });
      expect([x.views[0].source!.width, x.views[0].source!.height]).to.deep.equal([40, 20]);
    }
    let err: Error | undefined;
    try { await loadInput(path.join(tmp, 'notes.txt')); } catch (e) { err = e as Error; }
    expect(err?.message).to.match(/notes.txt: unknown input type/);
  });

  it('writeFileAtomic replaces a file whole; readLabels takes arrays and index objects', async () => {
    const f = path.join(tmp, 'w/x.txt');
    await writeFileAtomic(f, 'one');
    await writeFileAtomic(f, 'two');
    expect(fs.readFileSync(f, 'utf8')).to.equal('two');
    expect(fs.readdirSync(path.dirname(f))).to.deep.equal(['x.txt']);
    fs.writeFileSync(path.join(tmp, 'l1.json'), '["a","b"]');
    fs.writeFileSync(path.join(tmp, 'l2.json'), '{"1":"b","0":"a"}');
    fs.writeFileSync(path.join(tmp, 'l3.json'), '{"x":1}');
    expect(readLabels(path.join(tmp, 'l1.json'))).to.deep.equal(['a', 'b']);
    expect(readLabels(path.join(tmp, 'l2.json'))).to.deep.equal(['a', 'b']);
    expect(() => readLabels(path.join(tmp, 'l3.json'))).to.throw(/l3.json/);
  });
});
