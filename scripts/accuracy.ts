/** Measures the test accuracy of the Fashion-MNIST models shipped in models/ with onnxruntime-node.
 *
 *   npm run accuracy                      # print the table
 *   npm run accuracy -- --write           # store the measured accuracy in models/<name>.json
 *   npm run accuracy -- --check           # exit 1 if a metadata number (or a samples.json flag) is stale
 *   npm run accuracy -- --samples         # (re)write models/samples/*.png and samples.json
 *   options: --model fashion-vgg (repeatable), --batch 500, --data DIR (default $FASHION_MNIST_DIR or
 *            /usr/share/datasets/fashion-mnist)
 *
 * The data set comes from Debian's dataset-fashion-mnist package; without it the script skips (exit 0). */

import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import * as ort from 'onnxruntime-node';
import { parseIdx } from '../lib/io/idx';

const ROOT = path.resolve(__dirname, '..', '..');
const MODELS_DIR = path.join(ROOT, 'models');
const SAMPLES_DIR = path.join(MODELS_DIR, 'samples');
const DEFAULT_DATA_DIR = '/usr/share/datasets/fashion-mnist';
const SAMPLE_FILES = ['tshirt-top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'];

interface ModelMeta {
  name: string;
  file: string;
  labels: string[];
  input: { name: string; mean: number[]; std: number[] };
  output: { name: string };
  accuracy: { test: number };
  training?: { parameters?: number };
  [key: string]: unknown;
}

/** One entry of models/samples/samples.json. */
export interface Sample {
  file: string;
  label: number;
  labelName: string;
  testIndex: number;
  correct: Record<string, boolean>;
}

interface Result {
  meta: ModelMeta;
  metaPath: string;
  accuracy: number;
  /** Predicted class per test image. */
  predictions: Uint8Array;
  /** Softmax probability of the true class per test image. */
  trueProb: Float32Array;
  seconds: number;
}

interface Options {
  write: boolean;
  check: boolean;
  samples: boolean;
  models: string[];
  batch: number;
  dataDir: string;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    write: false, check: false, samples: false, models: [], batch: 500,
    dataDir: process.env.FASHION_MNIST_DIR || DEFAULT_DATA_DIR,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--write') opts.write = true;
    else if (a === '--check') opts.check = true;
    else if (a === '--samples') opts.samples = true;
    else if (a === '--model') opts.models.push(value());
    else if (a === '--batch') opts.batch = Number(value());
    else if (a === '--data') opts.dataDir = value();
    else if (a === '--help' || a === '-h') {
      console.log('usage: node dist/scripts/accuracy.js [--write] [--check] [--samples] [--model NAME]... [--batch N] [--data DIR]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(opts.batch) || opts.batch < 1) throw new Error('--batch must be a positive integer');
  return opts;
}

/** The shipped Fashion-MNIST models: every models/*.json whose dataset is Fashion-MNIST. */
function findModels(only: string[]): { meta: ModelMeta; metaPath: string }[] {
  const found: { meta: ModelMeta; metaPath: string }[] = [];
  for (const f of fs.readdirSync(MODELS_DIR).sort()) {
    if (!f.endsWith('.json')) continue;
    const metaPath = path.join(MODELS_DIR, f);
    const meta = JSON.parse(fs.readFileSync(metaPath, 'utf8')) as ModelMeta;
    if (meta.dataset !== 'Fashion-MNIST' || typeof meta.file !== 'string') continue;
    if (only.length && !only.includes(meta.name)) continue;
    found.push({ meta, metaPath });
  }
  for (const name of only) {
    if (!found.some((m) => m.meta.name === name)) throw new Error(`no metadata for model ${name} in ${MODELS_DIR}`);
  }
  return found;
}

function readIdxGz(file: string): { dims: number[]; data: Uint8Array } {
  return parseIdx(new Uint8Array(zlib.gunzipSync(fs.readFileSync(file))), path.basename(file));
}

async function evaluate(meta: ModelMeta, metaPath: string, images: Uint8Array, labels: Uint8Array, batch: number): Promise<Result> {
  const t0 = Date.now();
  const session = await ort.InferenceSession.create(path.join(MODELS_DIR, meta.file), { intraOpNumThreads: 2 });
  const n = labels.length;
  const pixels = 28 * 28;
  const mean = meta.input.mean[0];
  const std = meta.input.std[0];
  const predictions = new Uint8Array(n);
  const trueProb = new Float32Array(n);
  let correct = 0;
  try {
    for (let start = 0; start < n; start += batch) {
      const m = Math.min(batch, n - start);
      const x = new Float32Array(m * pixels);
      for (let i = 0; i < m * pixels; i++) x[i] = (images[start * pixels + i] / 255 - mean) / std;
      const out = await session.run({ [meta.input.name]: new ort.Tensor('float32', x, [m, 1, 28, 28]) });
      const logits = out[meta.output.name];
      if (!logits) throw new Error(`${meta.name}: no output named ${meta.output.name}`);
      const k = meta.labels.length;
      if (logits.dims.length !== 2 || logits.dims[0] !== m || logits.dims[1] !== k) {
        throw new Error(`${meta.name}: logits of shape [${logits.dims.join(',')}], expected [${m},${k}]`);
      }
      const v = logits.data as Float32Array;
      for (let i = 0; i < m; i++) {
        let best = 0;
        for (let c = 1; c < k; c++) if (v[i * k + c] > v[i * k + best]) best = c;
        let z = 0;
        for (let c = 0; c < k; c++) z += Math.exp(v[i * k + c] - v[i * k + best]);
        const label = labels[start + i];
        predictions[start + i] = best;
        trueProb[start + i] = Math.exp(v[i * k + label] - v[i * k + best]) / z;
        if (best === label) correct++;
      }
    }
  } finally {
    await session.release();
  }
  return { meta, metaPath, accuracy: correct / n, predictions, trueProb, seconds: (Date.now() - t0) / 1000 };
}

const round4 = (x: number): number => Math.round(x * 10000) / 10000;

/** JSON with 2-space indentation and arrays of scalars on one line (as scripts/train_fashion.py writes it). */
function formatJson(v: unknown, indent = 0): string {
  const pad = ' '.repeat(indent);
  const inner = ' '.repeat(indent + 2);
  if (Array.isArray(v)) {
    if (v.every((x) => x === null || typeof x !== 'object')) return `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
    return `[\n${v.map((x) => inner + formatJson(x, indent + 2)).join(',\n')}\n${pad}]`;
  }
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v);
    if (!entries.length) return '{}';
    return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${formatJson(x, indent + 2)}`).join(',\n')}\n${pad}}`;
  }
  return JSON.stringify(v);
}

// ------------------------------------------------------------------------------------ samples

/** Per class, the test image whose lowest true-class probability over all models is highest. */
function pickSamples(results: Result[], labels: Uint8Array, classNames: string[]): Sample[] {
  const samples: Sample[] = [];
  for (let c = 0; c < classNames.length; c++) {
    let best = -1;
    let bestScore = -1;
    for (let i = 0; i < labels.length; i++) {
      if (labels[i] !== c) continue;
      let score = Infinity;
      for (const r of results) score = Math.min(score, r.trueProb[i]);
      if (score > bestScore) { bestScore = score; best = i; }
    }
    samples.push({
      file: `${c}-${SAMPLE_FILES[c] ?? `class${c}`}.png`, label: c, labelName: classNames[c], testIndex: best,
      correct: Object.fromEntries(results.map((r) => [r.meta.name, r.predictions[best] === c])),
    });
  }
  return samples;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A minimal 8-bit grayscale PNG. */
function encodeGrayPng(width: number, height: number, pixels: Uint8Array): Buffer {
  const chunk = (type: string, body: Buffer): Buffer => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(body.length, 0);
    head.write(type, 4, 'ascii');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])), 0);
    return Buffer.concat([head, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grayscale; compression, filter, interlace: 0
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width + 1)] = 0; // filter: none
    raw.set(pixels.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0)),
  ]);
}

function writeSamples(samples: Sample[], images: Uint8Array): void {
  fs.mkdirSync(SAMPLES_DIR, { recursive: true });
  for (const s of samples) {
    const px = images.subarray(s.testIndex * 784, (s.testIndex + 1) * 784);
    fs.writeFileSync(path.join(SAMPLES_DIR, s.file), encodeGrayPng(28, 28, px));
  }
  fs.writeFileSync(path.join(SAMPLES_DIR, 'samples.json'), formatJson(samples) + '\n');
  console.log(`wrote ${samples.length} samples to ${path.relative(ROOT, SAMPLES_DIR)}/`);
}

/** Differences between samples.json and the measured predictions (for --check). */
function checkSamples(results: Result[], labels: Uint8Array): string[] {
  const file = path.join(SAMPLES_DIR, 'samples.json');
  if (!fs.existsSync(file)) return [`${path.relative(ROOT, file)} is missing (npm run accuracy -- --samples writes it)`];
  const samples = JSON.parse(fs.readFileSync(file, 'utf8')) as Sample[];
  const problems: string[] = [];
  for (const s of samples) {
    if (labels[s.testIndex] !== s.label) problems.push(`${s.file}: test image ${s.testIndex} has label ${labels[s.testIndex]}, not ${s.label}`);
    for (const r of results) {
      const measured = r.predictions[s.testIndex] === s.label;
      if (s.correct[r.meta.name] !== measured) {
        problems.push(`${s.file}: correct["${r.meta.name}"] is ${s.correct[r.meta.name]}, onnxruntime says ${measured}`);
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------- main

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const imagesFile = path.join(opts.dataDir, 't10k-images-idx3-ubyte.gz');
  const labelsFile = path.join(opts.dataDir, 't10k-labels-idx1-ubyte.gz');
  if (!fs.existsSync(imagesFile) || !fs.existsSync(labelsFile)) {
    console.log(`Fashion-MNIST test set not found in ${opts.dataDir}: \`apt-get install dataset-fashion-mnist\` provides it.`);
    console.log('skipped: no accuracy measured.');
    return 0;
  }
  const images = readIdxGz(imagesFile);
  const labels = readIdxGz(labelsFile);
  if (images.dims.length !== 3 || images.dims[1] !== 28 || images.dims[2] !== 28 || labels.dims.length !== 1 || labels.dims[0] !== images.dims[0]) {
    throw new Error(`unexpected test set shapes: images [${images.dims}], labels [${labels.dims}]`);
  }
  const models = findModels(opts.models);
  if (!models.length) throw new Error(`no Fashion-MNIST model metadata in ${MODELS_DIR}`);
  console.log(`Fashion-MNIST test set: ${labels.dims[0]} images, onnxruntime-node ${ort.env.versions.common}, batch ${opts.batch}\n`);

  const results: Result[] = [];
  const header = `${'model'.padEnd(18)} ${'params'.padStart(8)} ${'size KB'.padStart(8)} ${'accuracy'.padStart(9)} ${'metadata'.padStart(9)} ${'time s'.padStart(7)}`;
  console.log(header);
  console.log('-'.repeat(header.length));
  const problems: string[] = [];
  for (const { meta, metaPath } of models) {
    const r = await evaluate(meta, metaPath, images.data, labels.data, opts.batch);
    results.push(r);
    const measured = round4(r.accuracy);
    const stored = meta.accuracy?.test;
    const size = fs.statSync(path.join(MODELS_DIR, meta.file)).size;
    const flag = stored === measured ? '' : '  (differs)';
    console.log(`${meta.name.padEnd(18)} ${String(meta.training?.parameters ?? '?').padStart(8)} ${(size / 1024).toFixed(0).padStart(8)} `
      + `${measured.toFixed(4).padStart(9)} ${(typeof stored === 'number' ? stored.toFixed(4) : '-').padStart(9)} ${r.seconds.toFixed(1).padStart(7)}${flag}`);
    if (stored !== measured) problems.push(`${meta.name}: metadata accuracy.test is ${stored}, measured ${measured}`);
  }
  console.log('');

  if (opts.write) {
    for (const r of results) {
      const meta = JSON.parse(fs.readFileSync(r.metaPath, 'utf8'));
      meta.accuracy = { ...meta.accuracy, test: round4(r.accuracy) };
      fs.writeFileSync(r.metaPath, formatJson(meta) + '\n');
    }
    console.log(`updated accuracy.test in ${results.length} metadata file(s)`);
  }
  if (opts.samples) {
    if (opts.models.length) throw new Error('--samples needs every model: do not combine it with --model');
    writeSamples(pickSamples(results, labels.data, results[0].meta.labels), images.data);
  }
  if (opts.check) {
    if (!opts.write) {
      for (const p of problems) console.log(`check: ${p}`);
    } else problems.length = 0;
    const sampleProblems = checkSamples(results, labels.data);
    for (const p of sampleProblems) console.log(`check: ${p}`);
    if (problems.length || sampleProblems.length) {
      console.log('check failed: run `npm run accuracy -- --write` (and `--samples`) to update');
      return 1;
    }
    console.log('check passed: metadata and samples agree with onnxruntime');
  }
  return 0;
}

main().then((code) => process.exit(code), (err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
