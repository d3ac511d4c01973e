/** `npm run imagenet-demo`: the article's figure. The ONNX zoo's int8 MobileNetV2 (../shared, explained
 * through its float twin) on ImageNet photos: five LRP composites beside CAM and Grad-CAM, the class name and
 * score in the caption, written to docs/imagenet-<photo>-grid.png. A second row explains the same photo for its two
 * most likely classes that show different objects (the top class and the best-ranked class of another kind: for a
 * dog, the first class that is neither a dog, ImageNet 151–268, nor the dog sled), each with the default output relevance and with
 * `contrastive` (CLRP, docs/class-discriminative.md). Also prints what docs/quantized.md quotes: the
 * top-1 agreement of the int8 model and its twin over every photo in ../shared/images, and each composite's
 * conservation (input relevance against the explained logit).
 *
 *   npm run imagenet-demo [-- [--images dog.jpg,eagle.jpg] [--out DIR] [--overlays]]
 *
 * ../shared is the project's shared folder (SHARED_DIR overrides it); the model is not copied into the repo. */
import * as fs from 'fs';
import * as path from 'path';
import {
  ComparisonColumn, ComparisonRow, attribute, comparisonGrid, decodeImage, fitImage, imageToTensor, openModel,
  ortBackend, writePng,
} from '../lib';

const ROOT = path.resolve(__dirname, '../..');
const SHARED = process.env.SHARED_DIR ?? path.resolve(ROOT, '../shared');
const MODEL = path.join(SHARED, 'models/mobilenetv2-12-int8.onnx');
const LABELS = path.join(SHARED, 'models/imagenet-labels.json');
const IMAGES = path.join(SHARED, 'images');

/** torchvision's ImageNet preprocessing: Resize(256) + CenterCrop(224), mean/std normalisation */
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const INPUT = { size: [224, 224] as [number, number], resize: 'center-crop' as const, cropFraction: 0.875, mean: MEAN, std: STD };
/** zBox bounds: pixels 0 and 1 after normalisation, per channel */
const LOW = MEAN.map((m, c) => (0 - m) / STD[c]);
const HIGH = MEAN.map((m, c) => (1 - m) / STD[c]);

const LRP: { composite: string; title: string; options?: Record<string, unknown> }[] = [
  { composite: 'epsilon_plus_flat', title: 'LRP eps+ flat' },
  { composite: 'epsilon_plus', title: 'LRP eps+' },
  { composite: 'epsilon_gamma_box', title: 'LRP eps gamma box', options: { low: LOW, high: HIGH } },
  { composite: 'epsilon_alpha2_beta1', title: 'LRP eps a2b1' },
  { composite: 'epsilon_alpha2_beta1_flat', title: 'LRP eps a2b1 flat' },
];
const BASELINES: { method: string; title: string }[] = [
  { method: 'cam', title: 'CAM' },
  { method: 'gradcam', title: 'Grad-CAM' },
];

function parseArgs(argv: string[]): { images: string[]; out: string; overlays: boolean } {
  const o = { images: ['dog.jpg'], out: path.join(ROOT, 'docs'), overlays: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a.startsWith('--images')) o.images = value().split(',').filter(Boolean);
    else if (a.startsWith('--out')) o.out = path.resolve(value());
    else if (a === '--overlays') o.overlays = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run imagenet-demo -- [--images dog.jpg,eagle.jpg] [--out DIR] [--overlays]');
      process.exit(0);
    } else throw new Error(`unknown argument '${a}' (--images, --out, --overlays)`);
  }
  return o;
}

/** "malamute, malemute, Alaskan malamute" → "malamute" */
const short = (label: string) => label.split(',')[0].trim();

function argmax(a: ArrayLike<number>, from: number, n: number): number {
  let b = from;
  for (let i = from + 1; i < from + n; i++) if (a[i] > a[b]) b = i;
  return b - from;
}

/** ImageNet's dog classes (151–268) and the dog sled (537): a dog's "other object" is the best-ranked class outside
 * them (on dog.jpg the twin ranks malamute 1st, dogsled 3rd and the bicycle-built-for-two 4th). */
const isDog = (k: number) => (k >= 151 && k <= 268) || k === 537;

/** The second row: the top class and the best-ranked class of another kind, each explained with epsilon_plus_flat
 * in the default mode and contrastive, and with epsilon_alpha2_beta1 contrastive. */
async function twoClassRow(explainer: ReturnType<typeof openModel>, x: ReturnType<typeof imageToTensor>, labels: string[]): Promise<ComparisonRow> {
  const logits = (await explainer.predict(x)).data;
  const order = [...logits.keys()].sort((a, b) => logits[b] - logits[a]);
  const a = order[0];
  const b = order.find((k) => k !== a && (isDog(a) ? !isDog(k) : true))!;
  const columns: ComparisonColumn[] = [];
  for (const k of [a, b]) {
    const rank = order.indexOf(k) + 1;
    for (const [composite, mode, title] of [['epsilon_plus_flat', undefined, 'eps+ flat'], ['epsilon_plus_flat', 'contrastive', 'eps+ flat CLRP'], ['epsilon_alpha2_beta1', 'contrastive', 'a2b1 CLRP']] as const) {
      const r = await attribute(explainer, x, { method: composite, target: k, outputRelevance: mode });
      columns.push({ title, relevance: r.relevance, caption: `#${rank} ${short(labels[k])}: ${title}` });
    }
    console.log(`  second row: #${rank} ${short(labels[k])} (logit ${logits[k].toFixed(2)}), default and contrastive`);
  }
  return { caption: `#1 ${short(labels[a])} vs #${order.indexOf(b) + 1} ${short(labels[b])}`, columns, title: 'two classes' };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  for (const f of [MODEL, LABELS, IMAGES]) {
    if (!fs.existsSync(f)) throw new Error(`${f} not found: the ImageNet demo needs the project's shared folder (set SHARED_DIR to its path)`);
  }
  const labels: string[] = JSON.parse(fs.readFileSync(LABELS, 'utf8'));
  const t0 = Date.now();
  const explainer = openModel(MODEL, { threads: 2 });
  try {
    // 1. the int8 model and its float twin on every photo
    const photos = fs.readdirSync(IMAGES).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort();
    const quant = await ortBackend.create(fs.readFileSync(MODEL), { threads: 2 });
    let agree = 0;
    console.log(`top-1 of the int8 model (onnxruntime's int8 kernels: CPU-dependent; spec/e2e/imagenet.spec.ts compares with the exact integer model) and its float twin (onnx-lrp's canonizer), ${path.relative(ROOT, IMAGES)}:`);
    try {
      for (const name of photos) {
        const x = imageToTensor(await decodeImage(path.join(IMAGES, name)), INPUT);
        const q = (await quant.run({ input: x }, ['output'])).get('output')!.data as Float32Array;
        const t = (await explainer.predict(x)).data;
        const kq = argmax(q, 0, q.length), kt = argmax(t, 0, t.length);
        let worst = 0;
        for (let i = 0; i < q.length; i++) worst = Math.max(worst, Math.abs(q[i] - t[i]));
        if (kq === kt) agree++;
        console.log(`  ${name.padEnd(26)} int8 ${`${short(labels[kq])} ${q[kq].toFixed(2)}`.padEnd(28)} twin ${`${short(labels[kt])} ${t[kt].toFixed(2)}`.padEnd(28)} max |dlogit| ${worst.toFixed(2)}${kq === kt ? '' : '  <- differs'}`);
      }
    } finally {
      await quant.release();
    }
    console.log(`  top-1 agreement: ${agree}/${photos.length}\n`);

    // 2. the figure: one row per photo
    fs.mkdirSync(args.out, { recursive: true });
    for (const name of args.images) {
      const file = path.join(IMAGES, name);
      const img = await decodeImage(file);
      const x = imageToTensor(img, INPUT);
      const columns: ComparisonColumn[] = [];
      let caption = '';
      console.log(`${name}:`);
      for (const m of LRP) {
        const t1 = Date.now();
        const r = await attribute(explainer, x, { method: m.composite, options: m.options });
        const c = r.explanation!.conservation;
        caption ||= `${short(labels[r.targets[0]])} (logit ${r.scores[0].toFixed(2)})`;
        columns.push({ title: m.title, relevance: r.relevance, caption: `sum R ${c.inputRelevance[0].toPrecision(2)}` });
        const ms = Date.now() - t1;
        // the same without biases in the rules (not drawn): how much of what is absorbed the biases take
        const z = (await explainer.explain(x, { composite: m.composite, options: { ...m.options, zeroBias: true } })).conservation;
        const pct = (v: number) => `${(100 * v).toFixed(2)}%`.padStart(7);
        console.log(`  ${m.composite.padEnd(26)} ${short(labels[r.targets[0]])} logit ${r.scores[0].toFixed(3)}  input relevance ${c.inputRelevance[0].toPrecision(3).padStart(10)} (absorbed ${pct(c.absorbed[0])}); zeroBias: ${z.inputRelevance[0].toPrecision(3).padStart(8)} (absorbed ${pct(z.absorbed[0])})  ${ms} ms`);
      }
      for (const m of BASELINES) {
        const t1 = Date.now();
        const r = await attribute(explainer, x, { method: m.method });
        const layer = String(r.details?.layer ?? '');
        columns.push({ title: m.title, relevance: r.relevance, caption: `layer ${layer}`, render: { normalization: 'absolute' } });
        console.log(`  ${m.method.padEnd(26)} layer '${layer}' (${Date.now() - t1} ms)`);
      }
      // the figure shows what the model saw: the 224×224 center crop
      const row: ComparisonRow = { image: fitImage(img, INPUT), caption, columns, title: 'top class' };
      const second = await twoClassRow(explainer, x, labels);
      const png = await comparisonGrid([row, { ...second, image: row.image }], { cellSize: 192, fontSize: 12, overlays: args.overlays });
      const out = path.join(args.out, `imagenet-${path.parse(name).name}-grid.png`);
      await writePng(out, png);
      console.log(`  wrote ${path.relative(process.cwd(), out)} (${png.width}x${png.height})`);
    }
  } finally {
    await explainer.release();
  }
  console.log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

main().catch((e) => {
  console.error(`imagenet-demo: ${(e as Error).message}`);
  process.exit(1);
});
