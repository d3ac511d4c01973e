/** `npm run demo`: explains every shipped Fashion-MNIST image model's prediction (the CNNs, the MLP and the ViT) on
 * every sample with three LRP composites, and the shipped text transformer on sample sentences with AttnLRP; writes
 * heatmaps (input, heatmap, overlay), a comparison grid per model, text heatmaps, and a JSON summary. */
import * as fs from 'fs';
import * as path from 'path';
import {
  ModelMetadata, boundsOf, decodeImage, encodeTexts, grid, heatmap, imageOptionsFromMetadata, imageToTensor, openModel, overlay,
  resizeBilinear, tensorToImage, textHeatmapPng, textMetadataOf, tokenInputOf, tokenRelevance, writePng, RGBAImage,
} from '../lib';

const ROOT = path.resolve(__dirname, '../..');
const MODELS = path.join(ROOT, 'models');
const COMPOSITES = ['epsilon_plus_flat', 'epsilon_gamma_box', 'epsilon_alpha2_beta1', 'attnlrp'];
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
  // the single-item 28×28 image models (the two-item model has its own scenes: npm run two-item)
  const imageModels = metas.filter((m) => !textMetadataOf(m) && m.input?.shape?.[2] === 28 && m.input?.shape?.[3] === 28);
  const textModels = metas.filter((m) => textMetadataOf(m) && !(m.name ?? '').endsWith('-op13'));
  const summary: Record<string, unknown>[] = [];
  const overview: { image: RGBAImage; caption: string }[][] = [];
  const OVERVIEW_SAMPLE = 9; // ankle boot: one row per model in overview.png (the README's figure)
  const t0 = Date.now();
  for (const meta of imageModels) {
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
      if (s.label === OVERVIEW_SAMPLE && !(meta.name ?? '').endsWith('-op13')) overview.push([{ image: shown, caption: `${meta.name}` }, ...row.slice(1)]);
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
  for (const meta of textModels) summary.push(...await textDemo(meta, out));
  fs.writeFileSync(path.join(out, 'summary.json'), JSON.stringify(summary, null, 2));
  console.log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s; wrote ${summary.length} explanations to ${out}`);
}

/** The text model on the first sample sentences: AttnLRP relevance per token, printed and drawn. */
async function textDemo(meta: ModelMetadata, out: string): Promise<Record<string, unknown>[]> {
  const file = path.join(MODELS, 'samples', `${meta.name}.txt`);
  if (!fs.existsSync(file)) return [];
  const texts = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).slice(0, 4);
  const explainer = openModel(path.join(MODELS, meta.file!));
  const spec = tokenInputOf(explainer, meta)!;
  const batch = encodeTexts(spec, texts);
  const r = await explainer.explain(batch.tensor, { composite: 'attnlrp' });
  const rows: { image: RGBAImage; caption: string }[][] = [];
  const summary: Record<string, unknown>[] = [];
  for (let k = 0; k < texts.length; k++) {
    const rel = tokenRelevance(r.relevance, k);
    const keep = batch.mask[k].map((m, t) => (m ? t : -1)).filter((t) => t >= 0);
    const tokens = keep.map((t) => batch.tokens[k][t]);
    const values = keep.map((t) => rel[t]);
    const pred = r.predictions[k];
    const label = meta.labels?.[pred] ?? String(pred);
    const top = keep.map((t, i) => [tokens[i], values[i]] as const).sort((a, b) => b[1] - a[1]).slice(0, 3);
    console.log(`${meta.name}: "${texts[k]}" → ${label}; most relevant: ${top.map(([w, v]) => `${w} ${v.toFixed(2)}`).join(', ')}`);
    const img = await textHeatmapPng(tokens, values, { width: 520 });
    await writePng(path.join(out, `${meta.name}-${k}-attnlrp.png`), img);
    rows.push([{ image: img, caption: `${label} ${r.scores[k].toFixed(2)}` }]);
    summary.push({ model: meta.name, text: texts[k], prediction: pred, predictionName: label, score: r.scores[k], composite: 'attnlrp', tokens, relevance: values });
  }
  const g = await grid(rows, { colTitles: ['attnlrp (relevance per token)'], fontSize: 10 });
  await writePng(path.join(out, `${meta.name}-grid.png`), g);
  if (process.argv.includes('--docs')) await writePng(path.join(ROOT, 'docs/demo-text.png'), g);
  await explainer.release();
  return summary;
}

main().catch((e) => {
  console.error(`demo: ${(e as Error).message}`);
  process.exit(1);
});
