/** `npm run demo`: explains every shipped model's prediction on every sample with three LRP composites and
 * writes heatmaps (input, heatmap, overlay), a comparison grid per model, and a JSON summary. */
import * as fs from 'fs';
import * as path from 'path';
import {
  ModelMetadata, boundsOf, decodeImage, grid, heatmap, imageOptionsFromMetadata, imageToTensor, openModel, overlay,
  resizeBilinear, tensorToImage, writePng, RGBAImage,
} from '../lib';

const ROOT = path.resolve(__dirname, '../..');
const MODELS = path.join(ROOT, 'models');
const COMPOSITES = ['epsilon_plus_flat', 'epsilon_gamma_box', 'epsilon_alpha2_beta1'];
const SCALE = 4; // 28×28 inputs are drawn at 112×112

interface Sample { file: string; label: number; labelName: string }

async function main() {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const out = path.resolve(args[0] ?? path.join(ROOT, 'out/demo'));
  fs.mkdirSync(out, { recursive: true });
  const samplesFile = path.join(MODELS, 'samples/samples.json');
  if (!fs.existsSync(samplesFile)) throw new Error(`${samplesFile} is missing`);
  const samples: Sample[] = JSON.parse(fs.readFileSync(samplesFile, 'utf8'));
  const metas = fs.readdirSync(MODELS).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(fs.readFileSync(path.join(MODELS, f), 'utf8')) as ModelMetadata)
    .filter((m) => m.file && fs.existsSync(path.join(MODELS, m.file)));
  const summary: Record<string, unknown>[] = [];
  const overview: { image: RGBAImage; caption: string }[][] = [];
  const OVERVIEW_SAMPLE = 9; // ankle boot: one row per model in overview.png (the README's figure)
  const t0 = Date.now();
  for (const meta of metas) {
    const explainer = openModel(path.join(MODELS, meta.file!));
    const imgOpts = imageOptionsFromMetadata(meta);
    const bounds = boundsOf(meta)!;
    const rows: { image: RGBAImage; caption: string }[][] = [];
    for (const s of samples) {
      const img = await decodeImage(path.join(MODELS, 'samples', s.file));
      const x = imageToTensor(img, imgOpts);
      const shown = resizeBilinear(tensorToImage(x, imgOpts), x.dims[3] * SCALE, x.dims[2] * SCALE);
      const row: { image: RGBAImage; caption: string }[] = [{ image: shown, caption: s.labelName }];
      const base = `${meta.name}-${path.parse(s.file).name}`;
      await writePng(path.join(out, `${base}-input.png`), shown);
      for (const composite of COMPOSITES) {
        const r = await explainer.explain(x, { composite, options: { low: bounds.low, high: bounds.high } });
        const heat = resizeBilinear(heatmap(r.relevance, { colormap: 'bwr' }), shown.width, shown.height);
        const over = overlay(shown, heat, 0.6);
        await writePng(path.join(out, `${base}-${composite}-heatmap.png`), heat);
        await writePng(path.join(out, `${base}-${composite}-overlay.png`), over);
        const pred = r.predictions[0];
        row.push({ image: heat, caption: `${meta.labels?.[pred] ?? pred} ${r.scores[0].toFixed(2)}` });
        summary.push({
          model: meta.name, sample: s.file, label: s.label, labelName: s.labelName, prediction: pred, predictionName: meta.labels?.[pred],
          score: r.scores[0], composite, relevanceSum: r.conservation.inputRelevance[0], absorbed: r.conservation.absorbed[0],
          files: [`${base}-input.png`, `${base}-${composite}-heatmap.png`, `${base}-${composite}-overlay.png`],
        });
      }
      rows.push(row);
      if (s.label === OVERVIEW_SAMPLE) overview.push([{ image: shown, caption: `${meta.name}` }, ...row.slice(1)]);
    }
    const g = await grid(rows, { colTitles: ['input', ...COMPOSITES], fontSize: 10 });
    await writePng(path.join(out, `${meta.name}-grid.png`), g);
    await explainer.release();
    console.log(`${meta.name}: ${samples.length} samples × ${COMPOSITES.length} composites`);
  }
  if (overview.length) {
    const g = await grid(overview, { colTitles: ['input (model)', ...COMPOSITES], fontSize: 10 });
    await writePng(path.join(out, 'overview.png'), g);
    if (process.argv.includes('--docs')) await writePng(path.join(ROOT, 'docs/demo-grid.png'), g);
  }
  fs.writeFileSync(path.join(out, 'summary.json'), JSON.stringify(summary, null, 2));
  console.log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s; wrote ${summary.length} explanations to ${out}`);
}

main().catch((e) => {
  console.error(`demo: ${(e as Error).message}`);
  process.exit(1);
});
