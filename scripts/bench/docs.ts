/** Writes `npm run bench -- --docs` results into the pages that show them: docs/speed.md between
 * `<!-- bench:start -->` and `<!-- bench:end -->`, and one summary line per composite range into README.md
 * between `<!-- bench-summary:start -->` and `<!-- bench-summary:end -->`. Nothing else writes these parts. */
import * as fs from 'fs';
import * as path from 'path';

function replaceBetween(file: string, name: string, body: string): void {
  const text = fs.readFileSync(file, 'utf8');
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${file}: no '${start}' … '${end}' markers`);
  fs.writeFileSync(file, `${text.slice(0, a + start.length)}\n${body}\n${text.slice(b)}`);
}

export function writeDocs(root: string, r: { machine: string; table: string[]; notes: string[]; profile?: string[]; summary?: string[] }): void {
  const profile = r.profile?.length
    ? ['', 'What stands in the way, measured: onnxruntime\'s profile of each fused explanation (batch 1, one thread, kernel time per run summed by part, in forwards: the part\'s time over the model\'s own nodes\' time in the same graph; scripts/bench/profile.ts). The floors count the forward and the rule products; everything after them is above the floor:', '', ...r.profile.map((n) => `- ${n}`)]
    : [];
  const body = [`Measured on ${r.machine}:`, '', ...r.table, '', ...r.notes.map((n) => `- ${n}`), ...profile].join('\n');
  replaceBetween(path.join(root, 'docs/speed.md'), 'bench', body);
  // README: the ratio ranges per composite, fused engine, over models, batches and threads
  const ranges = new Map<string, number[]>();
  const zennit: number[] = [];
  const models = new Set<string>(), batches = new Set<string>(), threads = new Set<string>();
  for (const row of r.table.slice(2)) {
    const cells = row.split('|').map((c) => c.trim());
    models.add(cells[1]); batches.add(cells[2]); threads.add(cells[3]);
    const m = /\*\*([\d.]+)×\*\*/.exec(cells[5] ?? '');
    if (m) (ranges.get(cells[4]) ?? ranges.set(cells[4], []).get(cells[4])!).push(Number(m[1]));
    const z = /([\d.]+)×/.exec(cells[8] ?? '');
    if (z) zennit.push(Number(z[1]));
  }
  const span = (v: number[]) => (Math.min(...v) === Math.max(...v) ? `${Math.min(...v)}×` : `${Math.min(...v)}–${Math.max(...v)}×`);
  const summary = [...ranges].map(([k, v]) => `${k} ${span(v)}`).join(', ');
  const list = (v: Set<string>) => [...v].join(', ');
  const [cpu, load] = r.machine.split(';');
  const line = `Cost of an explanation in forward passes of the same model (torchvision ${list(models)}; batch ${list(batches)}; threads ${list(threads)}; \`npm run bench\`, [docs/speed.md](docs/speed.md)): ${summary}${zennit.length ? `; Zennit 0.5.1 on the same CPU takes ${span(zennit)} as long` : ''}${r.summary?.length ? `; ${r.summary.join('; ')}` : ''}. Measured on ${cpu},${load}.`;
  replaceBetween(path.join(root, 'README.md'), 'bench-summary', line);
}
