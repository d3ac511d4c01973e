/** An audit's summary as CSV and as a static HTML page (relative links only: it opens from disk without a
 * server). Pure string building. */
import type { Order } from '../evaluate/perturbation';
import type { EvaluationSettings } from './evaluate-input';
import type { ClassSensitivity } from '../evaluate/class-sensitivity';
import { textHeatmapHtml } from '../render/text';

export interface AuditMethodResult {
  composite: string;
  /** Σ relevance at the input */
  relevanceSum: number;
  /** (output − input relevance) / |output relevance|; null for baselines without a rule plan */
  conservationError: number | null;
  /** written files, relative to the audit's output folder */
  files: { heatmap?: string; overlay?: string; relevance?: string };
  /** with evaluation: AOPC of this sample's map per perturbation order */
  aopc?: Partial<Record<Order, number>>;
  /** with evaluation and a ground truth: relevance mass accuracy (null: no positive relevance) */
  massAccuracy?: number | null;
  /** with evaluation and a ground truth: pointing game, 1 hit / 0 miss */
  pointingHit?: number;
  /** with evaluation and boxes for two or more classes: lib/evaluate/class-sensitivity.ts */
  classSensitivity?: ClassSensitivity;
  /** the map vanishes (exactly 0, or for LRP ≥ 99% absorbed): why, and the remedy */
  warnings?: string[];
  /** token inputs: relevance per token (in the order of the row's `tokens`) */
  tokenRelevance?: number[];
}

/** Means over an audit's evaluated rows, per method. */
export interface EvaluationMeans {
  /** mean AOPC per order over the rows evaluated */
  aopc: Partial<Record<Order, number>>;
  /** rows evaluated */
  rows: number;
  /** rows with a ground truth, their mean relevance mass accuracy (rows without positive relevance left out)
   * and pointing-game accuracy; null without any */
  localized: number;
  massAccuracy: number | null;
  /** rows with boxes for two or more classes: mean mass and pointing on each class's own box when it is explained,
   * and the mean rank correlation between the classes' maps (near 1: the map ignores the class) */
  classSensitivity?: { rows: number; massOnOwn: number | null; pointingOnOwn: number; rankCorrelation: number | null };
  pointingAccuracy: number | null;
}

export interface AuditEvaluation {
  settings: EvaluationSettings;
  /** per method title */
  methods: Record<string, EvaluationMeans>;
}

export interface AuditRow {
  /** input path relative to the audited folder */
  input: string;
  /** sample index within a batched .npy (absent for images) */
  sample?: number;
  status: 'ok' | 'error';
  /** why the input could not be explained */
  error?: string;
  prediction?: number;
  predictionLabel?: string;
  score?: number;
  target?: number;
  targetLabel?: string;
  /** the per-input JSON record, relative to the output folder */
  record?: string;
  files: { input?: string; grid?: string };
  /** token inputs: the token strings, and the padding token (not drawn) */
  tokens?: string[];
  padToken?: string;
  /** per method title */
  methods: Record<string, AuditMethodResult>;
  /** taken from a previous run's record */
  resumed?: boolean;
  /** with evaluation: the input's ground-truth sidecar (NAME.mask.npy / NAME.box.json), relative to the audited folder */
  groundTruth?: string;
}

export interface AuditSummary {
  version: 1;
  model: string;
  folder: string;
  methods: string[];
  options: Record<string, unknown>;
  /** no composite was asked for: why the model got the one it ran (lib/plan/default.ts) */
  compositeReason?: string;
  /** as asked for, or 'default' (each method its own: 'logit' for LRP, 'one' for the gradient family) */
  outputRelevance: string;
  /** contrastive: the dual class and clipping asked for; contrast classes (each method's maps are titled `<method> vs K`) */
  dual?: string;
  clip?: boolean;
  contrast?: number[];
  target: number | null;
  started: string;
  finished: string;
  /** false when the audit was stopped early */
  complete: boolean;
  counts: { inputs: number; rows: number; ok: number; failed: number; resumed: number };
  /** `audit --evaluate`: the perturbation settings and the means per method */
  evaluation?: AuditEvaluation;
  inputs: AuditRow[];
}

const meanOf = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);

/** Mean AOPC (per order), mass accuracy and pointing accuracy per method over the rows that have them. */
export function evaluationMeans(inputs: AuditRow[], methods: string[], orders: Order[]): Record<string, EvaluationMeans> {
  return Object.fromEntries(methods.map((m) => {
    const xs = inputs.filter((r) => r.status === 'ok' && r.methods[m]?.aopc).map((r) => r.methods[m]);
    const loc = xs.filter((x) => x.pointingHit !== undefined);
    const mass = loc.map((x) => x.massAccuracy).filter((v): v is number => typeof v === 'number');
    const aopc: Partial<Record<Order, number>> = {};
    for (const o of orders) {
      const v = xs.map((x) => x.aopc![o]).filter((a): a is number => typeof a === 'number');
      if (v.length) aopc[o] = meanOf(v);
    }
    const cs = xs.map((x) => x.classSensitivity).filter((c): c is ClassSensitivity => !!c);
    const own = cs.flatMap((c) => c.massOnOwn).filter((v): v is number => v !== null);
    const rank = cs.map((c) => c.rankCorrelation).filter((v): v is number => v !== null);
    return [m, {
      aopc, rows: xs.length, localized: loc.length,
      massAccuracy: mass.length ? meanOf(mass) : null, pointingAccuracy: loc.length ? meanOf(loc.map((x) => x.pointingHit!)) : null,
      ...(cs.length ? { classSensitivity: { rows: cs.length, massOnOwn: own.length ? meanOf(own) : null, pointingOnOwn: meanOf(cs.flatMap((c) => c.pointingOnOwn)), rankCorrelation: rank.length ? meanOf(rank) : null } } : {}),
    }];
  }));
}

/** A CSV cell. Text starting with =, +, -, @ (or a tab / carriage return) is prefixed with ' so a spreadsheet
 * shows it as text instead of running it as a formula (CSV injection through a file name or label); numbers stay numbers. */
export function csvField(v: unknown): string {
  if (v === undefined || v === null) return '';
  let s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : String(v);
  if (typeof v !== 'number' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function summaryCsv(s: AuditSummary): string {
  const head = ['input', 'sample', 'status', 'error', 'prediction', 'prediction_label', 'score', 'target', 'target_label', 'record', 'input_png', 'grid_png'];
  for (const m of s.methods) head.push(`${m}:relevance_sum`, `${m}:conservation_error`, `${m}:heatmap`, `${m}:overlay`, `${m}:relevance`);
  // evaluation columns come last, so the columns above keep their places with and without --evaluate
  const orders = s.evaluation?.settings.orders ?? [];
  const loc = !!s.evaluation && s.inputs.some((r) => r.groundTruth !== undefined);
  if (s.evaluation) {
    if (loc) head.push('ground_truth');
    for (const m of s.methods) {
      head.push(...orders.map((o) => `${m}:aopc_${o}`));
      if (loc) head.push(`${m}:mass_accuracy`, `${m}:pointing`);
    }
  }
  const lines = [head.map(csvField).join(',')];
  for (const r of s.inputs) {
    const row: unknown[] = [r.input, r.sample, r.status, r.error, r.prediction, r.predictionLabel, r.score, r.target, r.targetLabel, r.record, r.files.input, r.files.grid];
    for (const m of s.methods) {
      const x = r.methods[m];
      row.push(x?.relevanceSum, x?.conservationError, x?.files.heatmap, x?.files.overlay, x?.files.relevance);
    }
    if (s.evaluation) {
      if (loc) row.push(r.groundTruth);
      for (const m of s.methods) {
        const x = r.methods[m];
        row.push(...orders.map((o) => x?.aopc?.[o]));
        if (loc) row.push(x?.massAccuracy, x?.pointingHit);
      }
    }
    lines.push(row.map(csvField).join(','));
  }
  return lines.join('\n') + '\n';
}

const esc = (s: unknown) => String(s ?? '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** A relative path as a URL (each segment percent-encoded, so '#', '?' and spaces survive). */
export const href = (rel: string) => rel.split('/').map(encodeURIComponent).join('/');
const num = (x: number | undefined, d = 3) => (x === undefined || !Number.isFinite(x) ? '' : Math.abs(x) >= 1000 ? x.toFixed(0) : x.toPrecision(d + 1));

const ORDER_TEXT: Record<Order, string> = { morf: 'morf: most relevant first', lerf: 'lerf: least relevant first', random: 'random' };

function replacementText(r: unknown): string {
  return typeof r === 'string' ? r : Array.isArray(r) ? r.map((v) => num(v as number)).join(', ') : num(r as number);
}

/** The faithfulness section of index.html: mean AOPC per method and order (and localisation, with ground truth). */
function evaluationTable(s: AuditSummary): string {
  const ev = s.evaluation!;
  const st = ev.settings;
  const loc = Object.values(ev.methods).some((m) => m.localized > 0);
  const rows = s.methods.map((m) => {
    const x = ev.methods[m];
    const cells = st.orders.map((o) => `<td class="num">${num(x?.aopc[o])}</td>`);
    if (loc) cells.push(`<td class="num">${x?.massAccuracy === null || x?.massAccuracy === undefined ? '' : num(x.massAccuracy, 2)}</td>`, `<td class="num">${x?.pointingAccuracy === null || x?.pointingAccuracy === undefined ? '' : num(x.pointingAccuracy, 2)}</td>`, `<td class="num">${x?.localized ?? 0}</td>`);
    return `<tr><td><code>${esc(m)}</code></td>${cells.join('')}<td class="num">${x?.rows ?? 0}</td></tr>`;
  });
  return `<h2>Faithfulness</h2>
<p>Region perturbation (Samek et al. 2017): ${st.patch}×${st.patch} regions replaced (${esc(replacementText(st.replacement))}) ${st.perStep === 1 ? 'one' : st.perStep} per step${st.steps !== null ? `, ${st.steps} in total` : ''}, in each order
(${st.orders.map((o) => ORDER_TEXT[o]).join('; ')}; ties broken with seed ${st.seed}); AOPC = mean drop of the target ${esc(st.score)} over the steps, averaged over the rows.
Higher morf AOPC: a more faithful map.${loc ? ` With a ground truth (NAME.mask.npy / NAME.box.json beside the input): relevance mass accuracy (share of the positive relevance inside) and the pointing game (is the maximum inside${st.tolerance ? `, within ${st.tolerance} px` : ''}).` : ''}</p>
<table class="eval">
<thead><tr><th>method</th>${st.orders.map((o) => `<th>AOPC ${esc(o)}</th>`).join('')}${loc ? '<th>mass accuracy</th><th>pointing</th><th>with ground truth</th>' : ''}<th>rows</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
<h2>Inputs</h2>
`;
}

/** index.html: one row per input (name, prediction, score, target, thumbnails of the input and every method's
 * overlay), failures with their reason. Images are linked by relative paths. */
export function indexHtml(s: AuditSummary, opts: { thumbnail?: number } = {}): string {
  const t = opts.thumbnail ?? 112;
  const img = (file: string | undefined, alt: string) =>
    file ? `<a href="${esc(href(file))}"><img src="${esc(href(file))}" alt="${esc(alt)}" style="max-width:${t}px;max-height:${t}px"></a>` : '<span class="none">—</span>';
  const ev = s.evaluation;
  const orders = ev?.settings.orders ?? [];
  const loc = !!ev && Object.values(ev.methods).some((m) => m.localized > 0);
  const evalCap = (x: AuditMethodResult | undefined) => {
    if (!ev || !x?.aopc) return '';
    const parts = orders.map((o) => `${o} ${num(x.aopc![o])}`);
    if (x.pointingHit !== undefined) parts.push(`mass ${x.massAccuracy === null || x.massAccuracy === undefined ? 'n/a' : num(x.massAccuracy, 2)}`, x.pointingHit ? 'hit' : 'miss');
    return `<div class="cap aopc">AOPC ${parts.join(' · ')}</div>`;
  };
  const rows = s.inputs.map((r) => {
    const name = `${r.input}${r.sample !== undefined ? ` #${r.sample}` : ''}`;
    const link = (r.record ? `<a href="${esc(href(r.record))}">${esc(name)}</a>` : esc(name))
      + (r.files.grid ? ` <a class="grid" href="${esc(href(r.files.grid))}">grid</a>` : '');
    if (r.status !== 'ok') {
      return `<tr class="error"><td class="name">${link}</td><td colspan="${3 + 1 + s.methods.length}" class="reason">${esc(r.error)}</td></tr>`;
    }
    const cls = (k?: number, l?: string) => (k === undefined ? '' : `${esc(l ?? '')} <span class="k">(${k})</span>`);
    const cells = s.methods.map((m) => {
      const x = r.methods[m];
      const file = x?.files.overlay ?? x?.files.heatmap;
      const shown = r.tokens && x?.tokenRelevance ? `<div class="text">${textHeatmapHtml(r.tokens, x.tokenRelevance, { hide: r.padToken ? [r.padToken] : [] })}</div>` : img(file, `${m}: ${name}`);
      return `<td class="thumb">${shown}<div class="cap">Σ ${num(x?.relevanceSum)}${x && x.conservationError !== null ? ` · ${(100 * x.conservationError).toFixed(2)}%` : ''}</div>${evalCap(x)}</td>`;
    });
    return `<tr><td class="name">${link}</td><td>${cls(r.prediction, r.predictionLabel)}</td><td class="num">${num(r.score)}</td><td>${cls(r.target, r.targetLabel)}</td>`
      + `<td class="thumb">${r.tokens ? `<div class="text">${esc(r.tokens.filter((x) => x !== r.padToken).join(' '))}</div>` : img(r.files.input, `input: ${name}`)}</td>${cells.join('')}</tr>`;
  });
  const c = s.counts;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>onnx-lrp audit: ${esc(s.model)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
th, td { padding: 4px 8px; border-bottom: 1px solid #ddd; vertical-align: middle; text-align: left; }
th { position: sticky; top: 0; background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.thumb { text-align: center; }
td.thumb img { image-rendering: auto; display: block; margin: auto; }
.cap { font-size: 11px; color: #555; }
.text { max-width: 360px; text-align: left; font-size: 13px; }
.k { color: #888; }
tr.error td { background: #fff0f0; }
td.reason { color: #a00; font-family: monospace; white-space: pre-wrap; }
.none { color: #bbb; }
a.grid { font-size: 11px; color: #666; }
table.eval { margin-bottom: 1.5em; }
.cap.aopc { color: #246; }
</style>
</head>
<body>
<h1>onnx-lrp audit</h1>
<p>Model <code>${esc(s.model)}</code>, folder <code>${esc(s.folder)}</code>; methods ${s.methods.map((m) => `<code>${esc(m)}</code>`).join(', ')};
output relevance <code>${esc(s.outputRelevance === 'default' ? 'default (logit for LRP, one for gradients)' : s.outputRelevance)}</code>${s.dual ? ` (dual class ${esc(s.dual)})` : ''}${s.clip === false ? ' (unclipped)' : ''}${s.contrast?.length ? `; contrast classes ${s.contrast.join(', ')}` : ''}${s.target !== null ? `; target class ${s.target}` : '; target: the prediction'}.</p>
<p>${c.inputs} inputs: ${c.ok} explained, ${c.failed} failed${c.resumed ? ` (${c.resumed} rows kept from an earlier run)` : ''}${s.complete ? '' : ' — <strong>stopped early</strong>'}. Finished ${esc(s.finished)}.
Thumbnails: the heatmap over the grayscale input (click for the full image); caption: Σ relevance at the input · share absorbed
by biases and stabilisers${ev ? `; with evaluation, a second line: the map's AOPC per order${loc ? ' (and mass accuracy, pointing hit or miss)' : ''}` : ''}. The input's name links its JSON record. Also <a href="summary.csv">summary.csv</a>, <a href="summary.json">summary.json</a>.</p>
${ev ? evaluationTable(s) : ''}<table>
<thead><tr><th>input</th><th>prediction</th><th>score</th><th>target</th><th>input</th>${s.methods.map((m) => `<th>${esc(m)}</th>`).join('')}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
</body>
</html>
`;
}
