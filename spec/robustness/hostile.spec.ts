/** Hostile files: special files (FIFOs, devices, links to them), oversized files, decompression bombs, huge
 * declared inputs, swapped arguments, a foreign --out folder, CSV injection and inputs outside the zBox bounds.
 * Every hostile file is generated here, in a temporary folder, and is at most a few KB; every CLI run has a
 * timeout, so a hang fails the test instead of stalling the suite. */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import {
  AuditSummary, Explainer, FileReadError, decodeImage, encodePng, float32, listInputs, openModel, ortBackend, readFileSafe, readImageHeader, readNpy,
  saveModel, summaryCsv, writeNpy, loadModel,
} from '../../lib';
import { graphOf, node } from '../helpers/onnx';
import { MODELS, ROOT } from '../helpers/paths';

const CLI = path.join(ROOT, 'dist/scripts/cli.js');
const MLP = path.join(MODELS, 'fashion-mlp.onnx');
const VGG = path.join(MODELS, 'fashion-vgg.onnx');
const SAMPLE = path.join(MODELS, 'samples/0-tshirt-top.png');
const POSIX = process.platform !== 'win32';

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 90_000 });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

/** One line on stderr, starting with 'onnx-lrp: ', and no stack trace or raw decoder text. */
function expectCleanError(err: string): void {
  expect(err).to.match(/^onnx-lrp: /);
  expect(err).not.to.match(/\n\s+at |waitng|out of range|heap out of memory|MIME/);
}

function mkfifo(file: string): void {
  const r = spawnSync('mkfifo', [file]);
  if (r.status !== 0) throw new Error(`mkfifo ${file} failed`);
}

// ---- image bytes ------------------------------------------------------------------------------------------

function crc32(b: Uint8Array): number {
  let c = ~0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A PNG declaring width × height (8-bit RGB) whose image data is the first `rows` rows of zeros, deflated: the
 * shape of a decompression bomb (a 20000² bomb is the same header over ~390 KB of data) in a few hundred bytes. */
function pngDeclaring(width: number, height: number, rows = 4): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 2;
  const idat = zlib.deflateSync(Buffer.alloc(Math.min(rows, height) * (1 + 3 * Math.min(width, 4096))));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

/** A BMP header (BITMAPINFOHEADER, 24 bit) declaring width × height, without pixel data. */
function bmpDeclaring(width: number, height: number): Buffer {
  const b = Buffer.alloc(54);
  b.write('BM', 0, 'ascii');
  b.writeUInt32LE(54, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(width, 18);
  b.writeInt32LE(-height, 22); // top-down
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  return b;
}

/** A JPEG start: SOI, an APP0 segment, then a baseline frame header declaring width × height (≤ 65535). */
function jpegDeclaring(width: number, height: number): Buffer {
  const app0 = Buffer.from([0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]);
  const sof = Buffer.from([0xff, 0xc0, 0x00, 0x11, 0x08, height >> 8, height & 255, width >> 8, width & 255, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app0, sof, Buffer.from([0xff, 0xd9])]);
}

async function smallPng(w: number, h: number): Promise<Buffer> {
  const rgba = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < rgba.length; i++) rgba[i] = (i * 37) % 256;
  return encodePng({ width: w, height: h, rgba });
}

describe('hostile files', function () {
  this.timeout(180_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-hostile-'));
  const f = (name: string) => path.join(tmp, name);
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  describe('readFileSafe: regular files only, bounded', () => {
    it('reads a regular file, and one behind a link', function () {
      fs.writeFileSync(f('plain.bin'), Buffer.from([1, 2, 3]));
      expect([...readFileSafe(f('plain.bin'))]).to.deep.equal([1, 2, 3]);
      if (!POSIX) return;
      fs.symlinkSync(f('plain.bin'), f('link.bin'));
      expect([...readFileSafe(f('link.bin'))]).to.deep.equal([1, 2, 3]);
    });

    it('refuses devices, links to devices, FIFOs and folders without reading them', function () {
      if (!POSIX || !fs.existsSync('/dev/zero')) this.skip();
      fs.symlinkSync('/dev/zero', f('zero.npy'));
      mkfifo(f('pipe.png'));
      expect(() => readFileSafe('/dev/zero', { what: 'model' })).to.throw(FileReadError, '/dev/zero: a character device, not a regular file');
      expect(() => readFileSafe(f('zero.npy'))).to.throw(FileReadError, 'zero.npy: a character device');
      expect(() => readFileSafe(f('pipe.png'))).to.throw(FileReadError, 'pipe.png: a FIFO (named pipe)'); // returns: no writer, no block
      expect(() => readFileSafe(tmp)).to.throw(FileReadError, 'not a regular file');
    });

    it('refuses a file above the size limit before reading it, and says how to raise it', () => {
      fs.writeFileSync(f('big.bin'), Buffer.alloc(4096));
      expect(readFileSafe(f('big.bin'), { maxBytes: 4096 }).length).to.equal(4096);
      expect(() => readFileSafe(f('big.bin'), { maxBytes: 4095 })).to.throw(FileReadError, 'big.bin: the file is 4096 bytes, above the limit of 4095 bytes (raise it with --max-file-size');
    });

    it('names a missing file and a link loop', function () {
      expect(() => readFileSafe(f('missing.onnx'), { what: 'model' })).to.throw(FileReadError, 'missing.onnx: cannot read the model (not found)');
      if (!POSIX) return;
      fs.symlinkSync(f('loop-b'), f('loop-a'));
      fs.symlinkSync(f('loop-a'), f('loop-b'));
      expect(() => readFileSafe(f('loop-a'))).to.throw(FileReadError, 'a loop of symbolic links');
    });

    it('readNpy and openModel go through it', function () {
      writeNpy(f('t.npy'), float32([2, 3], new Float32Array(6)));
      expect(() => readNpy(f('t.npy'), { maxFileSize: 64 })).to.throw('above the limit of 64 bytes');
      expect(readNpy(f('t.npy')).dims).to.deep.equal([2, 3]);
      expect(() => openModel(MLP, { maxFileSize: 1000 })).to.throw(/fashion-mlp\.onnx: the model is .* above the limit of 1000 bytes/);
      if (POSIX && fs.existsSync('/dev/zero')) expect(() => openModel('/dev/zero')).to.throw('/dev/zero: a character device');
    });
  });

  describe('images: the declared size is checked before decoding', () => {
    it('reads width and height from PNG, BMP and JPEG headers', async () => {
      expect(readImageHeader(pngDeclaring(20000, 20000))).to.deep.equal({ format: 'png', width: 20000, height: 20000 });
      expect(readImageHeader(bmpDeclaring(30000, 30000))).to.deep.equal({ format: 'bmp', width: 30000, height: 30000 });
      expect(readImageHeader(jpegDeclaring(60000, 50000))).to.deep.equal({ format: 'jpeg', width: 60000, height: 50000 });
      expect(readImageHeader(await smallPng(7, 5))).to.deep.equal({ format: 'png', width: 7, height: 5 });
    });

    it('refuses PNG, BMP and JPEG bombs above the pixel limit (default 100 M), naming the file', async () => {
      const bombs: [string, Buffer, string][] = [
        ['bomb.png', pngDeclaring(20000, 20000), 'PNG image declares 20000x20000 pixels (400.0 M), above the limit of 100.0 M'],
        ['bomb.bmp', bmpDeclaring(30000, 30000), 'BMP image declares 30000x30000'],
        ['bomb.jpg', jpegDeclaring(60000, 50000), 'JPEG image declares 60000x50000'],
        ['huge.png', pngDeclaring(65535, 65535), 'PNG image declares 65535x65535'],
      ];
      for (const [name, bytes, msg] of bombs) {
        expect(bytes.length).to.be.below(2000);
        fs.writeFileSync(f(name), bytes);
        let err: Error | undefined;
        try { await decodeImage(f(name)); } catch (e) { err = e as Error; }
        expect(err?.message, name).to.contain(`${f(name)}: the ${msg}`);
        expect(err?.message).to.contain('--max-pixels');
      }
    });

    it('--max-pixels applies to real images: a 40x30 PNG decodes under 1200 pixels, not under 1199', async () => {
      fs.writeFileSync(f('real.png'), await smallPng(40, 30));
      expect((await decodeImage(f('real.png'), undefined, { maxPixels: 1200 })).width).to.equal(40);
      let msg = '';
      try { await decodeImage(f('real.png'), undefined, { maxPixels: 1199 }); } catch (e) { msg = (e as Error).message; }
      expect(msg).to.contain('40x30 pixels');
    });

    it('a truncated PNG gets a clear message, not the decoder\'s', async () => {
      const png = await smallPng(64, 64);
      fs.writeFileSync(f('cut.png'), png.subarray(0, Math.floor(png.length / 2)));
      let msg = '';
      try { await decodeImage(f('cut.png')); } catch (e) { msg = (e as Error).message; }
      expect(msg).to.equal(`${f('cut.png')}: cannot decode the PNG image: truncated or corrupt (64x64 declared)`);
    });

    it('a GIF or TIFF is named, and the message lists only the formats read', async () => {
      fs.writeFileSync(f('anim.png'), Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(32)]));
      fs.writeFileSync(f('scan.png'), Buffer.concat([Buffer.from([0x49, 0x49, 0x2a, 0]), Buffer.alloc(32)]));
      fs.writeFileSync(f('text.png'), 'hello');
      const msgs: string[] = [];
      for (const n of ['anim.png', 'scan.png', 'text.png']) {
        try { await decodeImage(f(n)); } catch (e) { msgs.push((e as Error).message); }
      }
      expect(msgs[0]).to.contain('anim.png: cannot decode the image: a GIF image; onnx-lrp reads PNG, JPEG and BMP');
      expect(msgs[1]).to.contain('a TIFF image');
      expect(msgs[2]).to.equal(`${f('text.png')}: cannot decode the image: not a PNG, JPEG or BMP image`);
    });
  });

  describe('the CLI', () => {
    it('/dev/zero as the model: a clear error, exit 1', function () {
      if (!POSIX || !fs.existsSync('/dev/zero')) this.skip();
      const r = run('explain', '/dev/zero', SAMPLE);
      expect(r.signal).to.equal(null);
      expect(r.code).to.equal(1);
      expect(r.err.trim()).to.equal('onnx-lrp: /dev/zero: a character device, not a regular file; only regular files are read');
    });

    it('a FIFO or a link to /dev/urandom as the input: a clear error, exit 1, no hang', function () {
      if (!POSIX || !fs.existsSync('/dev/urandom')) this.skip();
      mkfifo(f('in.jpg'));
      fs.symlinkSync('/dev/urandom', f('rand.png'));
      for (const [name, kind] of [['in.jpg', 'a FIFO (named pipe)'], ['rand.png', 'a character device']]) {
        const r = run('explain', MLP, f(name));
        expect(r.signal, name).to.equal(null);
        expect(r.code).to.equal(1);
        expectCleanError(r.err);
        expect(r.err).to.contain(`${f(name)}: ${kind}, not a regular file`);
      }
    });

    it('MODEL and INPUT swapped: a hint either way', () => {
      let r = run('explain', SAMPLE, MLP);
      expect(r.code).to.equal(1);
      expect(r.err.trim()).to.equal(`onnx-lrp: ${SAMPLE}: this is a PNG image, not an ONNX model; are MODEL and INPUT swapped? (the model comes first)`);
      r = run('explain', MLP, MLP);
      expect(r.code).to.equal(1);
      expect(r.err).to.contain(`${MLP}: an ONNX model given as an input; are MODEL and INPUT swapped?`);
    });

    it('--max-file-size and --max-pixels refuse with the flag named; bad values are usage errors', async () => {
      let r = run('explain', MLP, SAMPLE, '--max-file-size', '100K');
      expect(r.code).to.equal(1);
      expect(r.err).to.match(/fashion-mlp\.onnx: the model is [\d.]+ KiB, above the limit of 100 KiB \(raise it with --max-file-size/);
      r = run('explain', MLP, SAMPLE, '--max-pixels', '100');
      expect(r.code).to.equal(1);
      expect(r.err).to.contain('0-tshirt-top.png: the PNG image declares 28x28 pixels');
      expect(run('explain', MLP, SAMPLE, '--max-pixels', '1k').code).to.equal(0);
      r = run('explain', MLP, SAMPLE, '--max-file-size', 'lots');
      expect(r.code).to.equal(2);
      expect(r.err).to.contain('--max-file-size expects a positive number');
    });

    it('a model input declared [1,3,20000,20000] is refused before any resize, naming the input and shape', () => {
      const g = graphOf({ nodes: [node('GlobalAveragePool', ['pixels'], ['p']), node('Flatten', ['p'], ['y'])], inputs: { pixels: [1, 3, 20000, 20000] }, outputs: ['y'] });
      fs.writeFileSync(f('huge-input.onnx'), saveModel(g));
      fs.writeFileSync(f('photo.png'), pngDeclaring(64, 48, 48));
      const r = run('explain', f('huge-input.onnx'), f('photo.png'));
      expect(r.code).to.equal(1);
      expectCleanError(r.err);
      expect(r.err).to.contain("input 'pixels' has shape [1x3x20000x20000], 1,200,000,000 elements, above the limit of 67,108,864 (maxInputElements; --max-input-elements)");
    });

    it('an input outside the zBox bounds (a 1e30 pixel) warns on stderr; inside, no warning', () => {
      const x = new Float32Array(28 * 28).fill(0.1);
      writeNpy(f('inside.npy'), float32([1, 1, 28, 28], x));
      x[100] = 1e30;
      writeNpy(f('outside.npy'), float32([1, 1, 28, 28], x));
      let r = run('explain', VGG, f('outside.npy'), '--composite', 'epsilon_gamma_box');
      expect(r.code, r.err).to.equal(0);
      expect(r.err).to.match(/warning: .*outside\.npy: epsilon_gamma_box: input 'input': 1 of 784 values lie outside the zBox bounds of node '[^']+' \(values in \[0\.1, 1e\+30\]/);
      r = run('explain', VGG, f('inside.npy'), '--composite', 'epsilon_gamma_box');
      expect(r.code, r.err).to.equal(0);
      expect(r.err).not.to.contain('zBox bounds'); // (a flat gray input's map vanishes: that warning is spec/methods/warnings')
    });
  });

  describe('audit', () => {
    it('records links to devices and FIFOs as failed inputs, writes its summary, and a rerun does the same', function () {
      if (!POSIX || !fs.existsSync('/dev/zero')) this.skip();
      const dir = f('audit-in');
      fs.mkdirSync(dir);
      fs.copyFileSync(SAMPLE, path.join(dir, 'good.png'));
      fs.symlinkSync('/dev/zero', path.join(dir, 'zero.npy'));
      fs.symlinkSync('/dev/urandom', path.join(dir, 'rand.png'));
      mkfifo(path.join(dir, 'pipe.jpg'));
      for (let k = 0; k < 2; k++) {
        const r = run('audit', MLP, dir, '--out', f('audit-out'), '--quiet');
        expect(r.signal).to.equal(null);
        expect(r.code, r.err).to.equal(1);
        expect(r.err.trim()).to.equal(`onnx-lrp: 3 of 4 inputs could not be explained (reasons in ${path.join(f('audit-out'), 'summary.csv')})`);
        const s = JSON.parse(fs.readFileSync(path.join(f('audit-out'), 'summary.json'), 'utf8')) as AuditSummary;
        const byName = Object.fromEntries(s.inputs.map((i) => [i.input, i]));
        expect(byName['good.png'].status).to.equal('ok');
        expect(byName['zero.npy'].error).to.equal('zero.npy: a character device, not a regular file; only regular files are read');
        expect(byName['rand.png'].error).to.equal('rand.png: a character device, not a regular file; only regular files are read');
        expect(byName['pipe.jpg'].error).to.equal('pipe.jpg: a FIFO (named pipe), not a regular file; only regular files are read');
      }
    });

    it('listInputs lists special files with an input extension (so they are recorded), not other names', async function () {
      if (!POSIX) this.skip();
      const dir = f('list-in');
      fs.mkdirSync(dir);
      mkfifo(path.join(dir, 'p.png'));
      mkfifo(path.join(dir, 'p.txt'));
      fs.writeFileSync(path.join(dir, 'a.npy'), '');
      expect(await listInputs(dir)).to.deep.equal(['a.npy', 'p.png']);
    });

    it('refuses a non-empty --out it did not write (exit 2, nothing overwritten); its own folder resumes', () => {
      const dir = f('audit-in2');
      fs.mkdirSync(dir);
      fs.copyFileSync(SAMPLE, path.join(dir, 'a.png'));
      const mine = f('my-site');
      fs.mkdirSync(mine);
      fs.writeFileSync(path.join(mine, 'index.html'), '<p>my page</p>');
      let r = run('audit', MLP, dir, '--out', mine, '--quiet');
      expect(r.code).to.equal(2);
      expect(r.err.trim()).to.equal(`onnx-lrp: ${mine}: the output folder is not empty and was not written by an audit (no .onnx-lrp-audit in it); give a new or empty folder, so no file of yours is overwritten\nsee onnx-lrp audit --help`);
      expect(fs.readFileSync(path.join(mine, 'index.html'), 'utf8')).to.equal('<p>my page</p>');
      const out = f('audit-out2');
      fs.mkdirSync(out); // empty: accepted
      expect(run('audit', MLP, dir, '--out', out, '--quiet').code).to.equal(0);
      r = run('audit', MLP, dir, '--out', out);
      expect(r.code, r.err).to.equal(0);
      expect(r.out).to.contain('1 kept from an earlier run');
    });

    it('summary.csv neutralises cells starting with =, +, -, @ (numbers stay numbers)', () => {
      const s = {
        version: 1, model: 'm.onnx', folder: 'in', methods: ['eps'], options: {}, outputRelevance: 'logit', target: null, started: '', finished: '', complete: true,
        counts: { inputs: 2, rows: 2, ok: 1, failed: 1, resumed: 0 },
        inputs: [
          { input: '=HYPERLINK("http://x","y").png', status: 'ok', prediction: 1, predictionLabel: '@SUM(A1)', score: -1.5, target: 1, targetLabel: '+cmd', record: 'r.json', files: {}, methods: { eps: { relevanceSum: -0.25, conservationError: 0, files: {} } }, resumed: false },
          { input: '-x.npy', status: 'error', error: '-error', record: 'e.json', files: {}, methods: {}, resumed: false },
        ],
      } as unknown as AuditSummary;
      const lines = summaryCsv(s).trim().split('\n');
      expect(lines[1].startsWith(`"'=HYPERLINK(""http://x"",""y"").png"`)).to.equal(true);
      expect(lines[1]).to.contain(",'@SUM(A1),-1.5,1,'+cmd,");
      expect(lines[1]).to.contain(',-0.25,0,');
      expect(lines[2].startsWith("'-x.npy,,error,'-error,")).to.equal(true);
    });
  });

  describe('library', () => {
    it('Explainer refuses an input above maxInputElements, naming it', async () => {
      const g = graphOf({ nodes: [node('Relu', ['x'], ['h']), node('Flatten', ['h'], ['y'])], inputs: { x: ['n', 4, 4] }, outputs: ['y'] });
      const e = Explainer.create(loadModel(saveModel(g)), ortBackend, { source: 'tiny', maxInputElements: 32 });
      try {
        expect((await e.explain(float32([2, 4, 4], new Float32Array(32).fill(1)))).relevance.dims).to.deep.equal([2, 4, 4]);
        let msg = '';
        try { await e.explain(float32([3, 4, 4], new Float32Array(48).fill(1))); } catch (err) { msg = (err as Error).message; }
        expect(msg).to.equal("tiny: input 'x' has shape [3x4x4], 48 elements, above the limit of 32 (maxInputElements; --max-input-elements)");
      } finally {
        await e.release();
      }
    });

    it('Explanation.warnings names an input outside the zBox bounds, per channel', async () => {
      const e = openModel(VGG);
      try {
        const x = new Float32Array(28 * 28).fill(0.5);
        const inside = await e.explain(float32([1, 1, 28, 28], x), { composite: 'epsilon_gamma_box', options: { low: 0, high: 1 } });
        const bounds = (w: string[]) => w.filter((m) => m.includes('zBox bounds')); // (a flat input's map also vanishes)
        expect(bounds(inside.warnings)).to.deep.equal([]);
        x[3] = -2; x[4] = 1e30;
        const outside = await e.explain(float32([1, 1, 28, 28], x), { composite: 'epsilon_gamma_box', options: { low: [0], high: [1] } });
        expect(bounds(outside.warnings)).to.have.length(1);
        expect(bounds(outside.warnings)[0]).to.match(/^input 'input': 2 of 784 values lie outside the zBox bounds of node '[^']+' \(values in \[-2, 1e\+30\], bounds \[0\] to \[1\]\)/);
        const eps = await e.explain(float32([1, 1, 28, 28], x), { composite: 'epsilon' });
        expect(bounds(eps.warnings)).to.deep.equal([]); // no zBox layer, no bounds to break
      } finally {
        await e.release();
      }
    });
  });
});
