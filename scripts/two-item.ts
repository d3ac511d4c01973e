/** The two-item benchmark (issue 15): scenes of two Fashion-MNIST test items side by side (28 × 56), explained once
 * for each item's class; does the map put its mass on the explained item?
 *
 *   npm run two-item -- --make models/two-item-samples --count 6   # scenes as PNGs with NAME.box.json sidecars
 *   npm run two-item                                               # the benchmark table of docs/class-discriminative.md
 *   npm run two-item -- --count 100 --no-write                      # fewer scenes, print only
 *   npm run two-item -- --accuracy                                  # onnxruntime's accuracy on the 10,000 test scenes
 *   npm run two-item -- --from out/two-item/results.json            # rewrite the tables from a saved run
 *
 * Writes the full table into docs/class-discriminative.md and the mass columns into the README (between markers).
 *
 * Scene k puts test image k left and test image right[k] of models/two-item-pairs.json right (two different
 * classes; the pairing of scripts/train_two_item.py). An item's box is the tight box of its non-zero pixels.
 * Set-up (fixed; nothing tuned per method): the first N scenes (default 500); each scene explained for the left
 * item's class and for the right item's class, whatever the model predicts; mass accuracy = share of the positive
 * (channel-summed) relevance inside the explained item's box; pointing game = the map's maximum inside that box;
 * rank correlation = Spearman's between the two maps of a scene (near 1: the map ignores the class). LRP with
 * default parameters (zBox bounds from the metadata), gradient with the one-hot, Grad-CAM after the last Conv,
 * Integrated Gradients 16 steps from the black image. Modes: default ('logit' for LRP, 'one' for the gradient),
 * contrastive (CLRP, dual class 'others', clipped) and softmax (SGLRP). */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { AttributeOptions, Box, COMPOSITE_NAMES, ModelMetadata, Tensor, attribute, boundsOf, isLrpComposite, localization, openModel, spearman, writePng } from '../lib';
import { parseIdx } from '../lib/io/idx';

const ROOT = path.resolve(__dirname, '..', '..');
const FASHION = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
const MODEL = path.join(ROOT, 'models', 'fashion-two-item.onnx');
const DOC = path.join(ROOT, 'docs', 'class-discriminative.md');
const README = path.join(ROOT, 'README.md');
const MARK = ['<!-- two-item-table:start -->', '<!-- two-item-table:end -->'];
const README_MARK = ['<!-- two-item-mass:start -->', '<!-- two-item-mass:end -->'];
const MODES = ['default', 'contrastive', 'softmax'] as const;
type Mode = (typeof MODES)[number];

type F32 = Tensor & { data: Float32Array };

interface Scenes { pixels: Uint8Array; count: number; classes: [number, number][]; boxes: [Box, Box][] }

function readIdx(file: string) {
  const raw = fs.readFileSync(file);
  return parseIdx(new Uint8Array(raw[0] === 0x1f && raw[1] === 0x8b ? zlib.gunzipSync(raw) : raw), path.basename(file));
}

/** The first `count` scenes: 28 × 56 pixels each, the two items' classes and boxes. */
export function buildScenes(count: number): Scenes {
  const images = readIdx(path.join(FASHION, 't10k-images-idx3-ubyte.gz')).data as Uint8Array;
  const labels = readIdx(path.join(FASHION, 't10k-labels-idx1-ubyte.gz')).data as Uint8Array;
  const right: number[] = JSON.parse(fs.readFileSync(path.join(ROOT, 'models', 'two-item-pairs.json'), 'utf8')).right;
  const pixels = new Uint8Array(count * 28 * 56);
  const classes: [number, number][] = [], boxes: [Box, Box][] = [];
  for (let k = 0; k < count; k++) {
    const items = [k, right[k]];
    const bx = items.map((item, side) => {
      let x0 = 28, y0 = 28, x1 = 0, y1 = 0;
      for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
        const v = images[item * 784 + y * 28 + x];
        pixels[k * 1568 + y * 56 + side * 28 + x] = v;
        if (v > 0) { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + 1); y1 = Math.max(y1, y + 1); }
      }
      return [x0 + side * 28, y0, x1 + side * 28, y1] as Box;
    });
    classes.push([labels[items[0]], labels[items[1]]]);
    boxes.push([bx[0], bx[1]]);
  }
  return { pixels, count, classes, boxes };
}

/** Writes scenes as NAME.png with NAME.box.json ({"classes": {"K": box}}) into `dir`. */
async function makeScenes(dir: string, count: number, labels: string[]): Promise<void> {
  const s = buildScenes(count);
  fs.mkdirSync(dir, { recursive: true });
  for (let k = 0; k < count; k++) {
    const slug = (c: number) => labels[c].toLowerCase().replace(/[^a-z]+/g, '-');
    const name = `scene-${String(k).padStart(4, '0')}-${slug(s.classes[k][0])}-${slug(s.classes[k][1])}`;
    const rgba = new Uint8ClampedArray(28 * 56 * 4);
    for (let i = 0; i < 28 * 56; i++) rgba.fill(s.pixels[k * 1568 + i], 4 * i, 4 * i + 3), (rgba[4 * i + 3] = 255);
    await writePng(path.join(dir, `${name}.png`), { width: 56, height: 28, rgba });
    const classes = Object.fromEntries(s.classes[k].map((c, i) => [String(c), s.boxes[k][i]]));
    fs.writeFileSync(path.join(dir, `${name}.box.json`), `${JSON.stringify({ classes, labels: s.classes[k].map((c) => labels[c]) })}\n`);
  }
  console.log(`wrote ${count} scenes (PNG + box.json) to ${dir}`);
}

interface Row { method: string; mode: Mode; mass: number; massN: number; pointing: number; rank: number; seconds: number }

/** Mean mass accuracy and pointing on the explained item's box, and mean rank correlation of the two maps. */
async function measure(model: string, meta: ModelMetadata, s: Scenes, method: string, mode: Mode, batch: number): Promise<Row> {
  const explainer = openModel(model);
  const mean = meta.input!.mean![0], std = meta.input!.std![0];
  const bounds = boundsOf(meta)!;
  const opts: Partial<AttributeOptions> = isLrpComposite(method) ? { options: { low: bounds.low, high: bounds.high } } : {};
  if (method === 'integrated_gradients') Object.assign(opts, { steps: 16, baseline: (0 - mean) / std });
  if (mode !== 'default') opts.outputRelevance = mode;
  let mass = 0, massN = 0, hits = 0, rank = 0;
  const t0 = Date.now();
  try {
    for (let start = 0; start < s.count; start += batch) {
      const n = Math.min(batch, s.count - start);
      const x = { dtype: 'float32', dims: [n, 1, 28, 56], data: Float32Array.from(s.pixels.subarray(start * 1568, (start + n) * 1568), (p) => (p / 255 - mean) / std) } as F32;
      const maps: Float32Array[] = [];
      for (const side of [0, 1]) {
        const target = [...Array(n).keys()].map((i) => s.classes[start + i][side]);
        const a = await attribute(explainer, x, { ...opts, method, target });
        const loc = localization(a.relevance, [...Array(n).keys()].map((i) => s.boxes[start + i][side]));
        loc.massAccuracy.forEach((v) => { if (!Number.isNaN(v)) { mass += v; massN++; } });
        hits += loc.pointingHits.reduce((p, v) => p + v, 0);
        maps.push(a.relevance.data);
      }
      for (let i = 0; i < n; i++) {
        const r = spearman(maps[0].subarray(i * 1568, (i + 1) * 1568), maps[1].subarray(i * 1568, (i + 1) * 1568));
        rank += Number.isFinite(r) ? r : 0;
      }
    }
  } finally {
    await explainer.release();
  }
  return { method, mode, mass: mass / Math.max(1, massN), massN, pointing: hits / (2 * s.count), rank: rank / s.count, seconds: (Date.now() - t0) / 1000 };
}

/** Items whose class is among the two largest logits (left, right, both), over the 10,000 test scenes. */
async function accuracy(meta: ModelMetadata): Promise<void> {
  const s = buildScenes(10000);
  const mean = meta.input!.mean![0], std = meta.input!.std![0];
  const explainer = openModel(MODEL);
  const hits = [0, 0, 0];
  try {
    for (let start = 0; start < s.count; start += 1000) {
      const x = { dtype: 'float32', dims: [1000, 1, 28, 56], data: Float32Array.from(s.pixels.subarray(start * 1568, (start + 1000) * 1568), (p) => (p / 255 - mean) / std) } as F32;
      const z = (await explainer.predict(x)).data;
      for (let i = 0; i < 1000; i++) {
        const row = [...z.subarray(i * 10, i * 10 + 10)];
        const top = [...row.keys()].sort((a, b) => row[b] - row[a]).slice(0, 2);
        const [l, r] = s.classes[start + i].map((c) => top.includes(c));
        hits[0] += +l; hits[1] += +r; hits[2] += +(l && r);
      }
    }
  } finally {
    await explainer.release();
  }
  const f = (v: number) => (v / s.count).toFixed(4);
  console.log(`onnxruntime, 10,000 test scenes: items ${((hits[0] + hits[1]) / (2 * s.count)).toFixed(4)} (left ${f(hits[0])}, right ${f(hits[1])}), both items right ${f(hits[2])}`);
}

function table(rows: Row[], count: number, meta: ModelMetadata): string {
  const by = new Map<string, Partial<Record<Mode, Row>>>();
  for (const r of rows) by.set(r.method, { ...by.get(r.method), [r.mode]: r });
  const cell = (r: Row | undefined, f: (r: Row) => number) => (r ? f(r).toFixed(3) : '–');
  const lines = [
    `${count} scenes of \`models/fashion-two-item.onnx\` (each item of each scene explained: ${2 * count} maps per cell; item accuracy ${meta.accuracy?.test}). `
      + 'Mass: share of the positive relevance on the explained item\'s box (0.5 ≈ no preference between the two items). '
      + 'Pointing: the maximum lies on that box. ρ: rank correlation of the two items\' maps of a scene (1: the same map for either class).',
    '',
    '| method | mass default | mass contrastive | mass softmax | pointing default | pointing contrastive | pointing softmax | ρ default | ρ contrastive | ρ softmax |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [m, r] of by) {
    lines.push(`| ${m} | ${MODES.map((k) => cell(r[k], (x) => x.mass)).join(' | ')} | ${MODES.map((k) => cell(r[k], (x) => x.pointing)).join(' | ')} | ${MODES.map((k) => cell(r[k], (x) => x.rank)).join(' | ')} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const arg = (name: string) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
  const meta = JSON.parse(fs.readFileSync(MODEL.replace(/\.onnx$/, '.json'), 'utf8')) as ModelMetadata;
  if (!fs.existsSync(path.join(FASHION, 't10k-images-idx3-ubyte.gz'))) {
    console.log(`Fashion-MNIST test set not found in ${FASHION}: \`apt-get install dataset-fashion-mnist\` provides it.`);
    return;
  }
  const count = Number(arg('--count') ?? 500);
  if (!(Number.isInteger(count) && count > 0 && count <= 10000)) throw new Error(`--count must be an integer in 1..10000, got ${arg('--count')}`);
  const make = arg('--make');
  if (make) return makeScenes(make, count, meta.labels!);
  if (argv.includes('--accuracy')) return accuracy(meta);
  let rows: Row[];
  const from = arg('--from');
  if (from) {
    const saved = JSON.parse(fs.readFileSync(from, 'utf8')) as { count: number; rows: Row[] };
    rows = saved.rows;
    return writeTables(rows, saved.count, meta, argv.includes('--no-write'));
  }
  const s = buildScenes(count);
  const lrp = COMPOSITE_NAMES.filter(isLrpComposite);
  const runs: [string, Mode][] = [...lrp, 'gradient'].flatMap((m) => MODES.map((mode) => [m, mode] as [string, Mode]));
  runs.push(['gradcam', 'default'], ['integrated_gradients', 'default']);
  rows = [];
  for (const [m, mode] of runs) {
    const r = await measure(MODEL, meta, s, m, mode, 100);
    rows.push(r);
    console.log(`${m.padEnd(28)} ${mode.padEnd(12)} mass ${r.mass.toFixed(3)} (${r.massN} maps with positive relevance)  pointing ${r.pointing.toFixed(3)}  rho ${r.rank.toFixed(3)}  ${r.seconds.toFixed(1)} s`);
  }
  const out = path.join(ROOT, 'out', 'two-item');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'results.json'), JSON.stringify({ count, rows }, null, 2));
  writeTables(rows, count, meta, argv.includes('--no-write'));
}

/** Prints the tables and (unless `dryRun`) writes them between the markers of the doc and the README. */
function writeTables(rows: Row[], count: number, meta: ModelMetadata, dryRun: boolean): void {
  const t = table(rows, count, meta);
  console.log(`\n${t}`);
  if (dryRun) return;
  replaceBetween(DOC, MARK, t);
  replaceBetween(README, README_MARK, massTable(rows, count));
  console.log(`wrote the tables into ${path.relative(ROOT, DOC)} and ${path.relative(ROOT, README)}`);
}

function replaceBetween(file: string, mark: string[], text: string): void {
  const doc = fs.readFileSync(file, 'utf8');
  const a = doc.indexOf(mark[0]), b = doc.indexOf(mark[1]);
  if (a < 0 || b < a) throw new Error(`${file}: markers ${mark.join(' … ')} not found`);
  fs.writeFileSync(file, `${doc.slice(0, a + mark[0].length)}\n${text}\n${doc.slice(b)}`);
}

/** The README's short table: mass on the explained item per method and mode. */
function massTable(rows: Row[], count: number): string {
  const by = new Map<string, Partial<Record<Mode, Row>>>();
  for (const r of rows) by.set(r.method, { ...by.get(r.method), [r.mode]: r });
  const lines = [
    `Share of the positive relevance on the explained item (two-item benchmark, ${count} scenes × both items; 0.5: no preference; \`npm run two-item\`):`,
    '',
    '| method | default | contrastive | softmax |',
    '|---|---:|---:|---:|',
  ];
  for (const [m, r] of by) lines.push(`| ${m} | ${MODES.map((k) => (r[k] ? r[k]!.mass.toFixed(2) : '–')).join(' | ')} |`);
  return lines.join('\n');
}

if (require.main === module) {
  main().catch((e) => { console.error(`two-item: ${(e as Error).message}`); process.exit(1); });
}
