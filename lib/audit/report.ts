/** An audit's summary as CSV and as a static HTML page (relative links only: it opens from disk without a
 * server). Pure string building. */

export interface AuditMethodResult {
  composite: string;
  /** Σ relevance at the input */
  relevanceSum: number;
  /** (output − input relevance) / |output relevance|; null for baselines without a rule plan */
  conservationError: number | null;
  /** written files, relative to the audit's output folder */
  files: { heatmap?: string; overlay?: string; relevance?: string };
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
  /** per method title */
  methods: Record<string, AuditMethodResult>;
  /** taken from a previous run's record */
  resumed?: boolean;
}

export interface AuditSummary {
  version: 1;
  model: string;
  folder: string;
  methods: string[];
  options: Record<string, unknown>;
  outputRelevance: string;
  target: number | null;
  started: string;
  finished: string;
  /** false when the audit was stopped early */
  complete: boolean;
  counts: { inputs: number; rows: number; ok: number; failed: number; resumed: number };
  inputs: AuditRow[];
}

function csvField(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function summaryCsv(s: AuditSummary): string {
  const head = ['input', 'sample', 'status', 'error', 'prediction', 'prediction_label', 'score', 'target', 'target_label', 'record', 'input_png', 'grid_png'];
  for (const m of s.methods) head.push(`${m}:relevance_sum`, `${m}:conservation_error`, `${m}:heatmap`, `${m}:overlay`, `${m}:relevance`);
  const lines = [head.map(csvField).join(',')];
  for (const r of s.inputs) {
    const row: unknown[] = [r.input, r.sample, r.status, r.error, r.prediction, r.predictionLabel, r.score, r.target, r.targetLabel, r.record, r.files.input, r.files.grid];
    for (const m of s.methods) {
      const x = r.methods[m];
      row.push(x?.relevanceSum, x?.conservationError, x?.files.heatmap, x?.files.overlay, x?.files.relevance);
    }
    lines.push(row.map(csvField).join(','));
  }
  return lines.join('\n') + '\n';
}

const esc = (s: unknown) => String(s ?? '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** A relative path as a URL (each segment percent-encoded, so '#', '?' and spaces survive). */
export const href = (rel: string) => rel.split('/').map(encodeURIComponent).join('/');
const num = (x: number | undefined, d = 3) => (x === undefined || !Number.isFinite(x) ? '' : Math.abs(x) >= 1000 ? x.toFixed(0) : x.toPrecision(d + 1));

/** index.html: one row per input (name, prediction, score, target, thumbnails of the input and every method's
 * overlay), failures with their reason. Images are linked by relative paths. */
export function indexHtml(s: AuditSummary, opts: { thumbnail?: number } = {}): string {
  const t = opts.thumbnail ?? 112;
  const img = (file: string | undefined, alt: string) =>
    file ? `<a href="${esc(href(file))}"><img src="${esc(href(file))}" alt="${esc(alt)}" style="max-width:${t}px;max-height:${t}px"></a>` : '<span class="none">—</span>';
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
      return `<td class="thumb">${img(file, `${m}: ${name}`)}<div class="cap">Σ ${num(x?.relevanceSum)}${x && x.conservationError !== null ? ` · ${(100 * x.conservationError).toFixed(2)}%` : ''}</div></td>`;
    });
    return `<tr><td class="name">${link}</td><td>${cls(r.prediction, r.predictionLabel)}</td><td class="num">${num(r.score)}</td><td>${cls(r.target, r.targetLabel)}</td>`
      + `<td class="thumb">${img(r.files.input, `input: ${name}`)}</td>${cells.join('')}</tr>`;
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
.k { color: #888; }
tr.error td { background: #fff0f0; }
td.reason { color: #a00; font-family: monospace; white-space: pre-wrap; }
.none { color: #bbb; }
a.grid { font-size: 11px; color: #666; }
</style>
</head>
<body>
<h1>onnx-lrp audit</h1>
<p>Model <code>${esc(s.model)}</code>, folder <code>${esc(s.folder)}</code>; methods ${s.methods.map((m) => `<code>${esc(m)}</code>`).join(', ')};
output relevance <code>${esc(s.outputRelevance)}</code>${s.target !== null ? `; target class ${s.target}` : '; target: the prediction'}.</p>
<p>${c.inputs} inputs: ${c.ok} explained, ${c.failed} failed${c.resumed ? ` (${c.resumed} rows kept from an earlier run)` : ''}${s.complete ? '' : ' — <strong>stopped early</strong>'}. Finished ${esc(s.finished)}.
Thumbnails: the heatmap over the grayscale input (click for the full image); caption: Σ relevance at the input · share absorbed
by biases and stabilisers. The input's name links its JSON record. Also <a href="summary.csv">summary.csv</a>, <a href="summary.json">summary.json</a>.</p>
<table>
<thead><tr><th>input</th><th>prediction</th><th>score</th><th>target</th><th>input</th>${s.methods.map((m) => `<th>${esc(m)}</th>`).join('')}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
</body>
</html>
`;
}
