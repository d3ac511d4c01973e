/** `onnx-lrp audit MODEL FOLDER --out DIR`: explain every input in a folder, with a progress bar; writes
 * per-input heatmaps and records, summary.csv, summary.json and index.html. Calls `audit()` from the library. */
import * as path from 'path';
import { AuditError, audit, readMetadata } from '../../lib';
import {
  IMAGE_FLAGS, IMAGE_USAGE, METHOD_FLAGS, METHOD_USAGE, RENDER_FLAGS, RENDER_USAGE, UsageError, parse, parseImageFlags, parseLabels, parseMethods,
  parseOutputRelevance, parseRenderFlags, singleTarget,
} from './common';
import { ProgressBar, formatDuration } from './progress';

const USAGE = `usage: onnx-lrp audit MODEL FOLDER --out DIR [options]

Explains every input under FOLDER (recursively: .png, .jpg, .jpeg, .bmp, .npy) and writes, under DIR, per
input (mirroring FOLDER's sub-folders) heatmap and overlay PNGs, .npy relevance and a JSON record, and
summary.csv, summary.json and index.html (thumbnails side by side; opens from disk). A progress bar on stderr
shows count, rate and time left. Resumable: a rerun skips inputs already explained with the same settings.
Inputs that cannot be explained (undecodable image, wrong size, …) are recorded with the reason.

options:
  --out DIR              output folder (required; not FOLDER itself)
${METHOD_USAGE}
  --force                explain every input again, ignoring earlier results in DIR
  --quiet                no progress bar

${IMAGE_USAGE}

${RENDER_USAGE}

exit codes: 0 every input explained, 1 some inputs failed or the model/run failed, 2 usage error,
130 interrupted (Ctrl-C stops after the current input; the summary is written).`;

export async function auditCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parse(argv, {
    ...METHOD_FLAGS, ...IMAGE_FLAGS, ...RENDER_FLAGS, out: { type: 'string' }, force: { type: 'boolean' }, quiet: { type: 'boolean' },
  }, USAGE);
  const [model, folder, ...rest] = positionals;
  if (!model || !folder) throw new UsageError(`missing ${model ? 'FOLDER' : 'MODEL and FOLDER'}\n\n${USAGE}`);
  if (rest.length) throw new UsageError(`unexpected arguments: ${rest.join(' ')}`);
  const out = v.out as string | undefined;
  if (!out) throw new UsageError(`missing --out DIR\n\n${USAGE}`);
  if (path.resolve(out) === path.resolve(folder)) throw new UsageError('--out must not be the input folder');
  const meta = readMetadata(model, v.metadata as string | undefined);
  const { methods, options } = parseMethods(v, meta);
  const bar = v.quiet ? null : new ProgressBar(process.stderr, undefined, 2000);
  const ac = new AbortController();
  const onSigint = () => {
    if (ac.signal.aborted) process.exit(130);
    process.stderr.write('\ninterrupted: finishing the current input and writing the summary (Ctrl-C again to quit now)\n');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  const t0 = Date.now();
  let result;
  try {
    result = await audit({
      model, folder, out, methods, options, target: singleTarget(v), outputRelevance: parseOutputRelevance(v), metadata: meta,
      notice: (msg: string) => console.error(`onnx-lrp: ${msg}`),
      labels: parseLabels(v, meta), image: parseImageFlags(v), render: parseRenderFlags(v), grid: v['no-grid'] ? false : undefined,
      npy: !v['no-npy'], force: !!v.force, signal: ac.signal,
    }, (p) => bar?.update(p));
  } catch (e) {
    bar?.done();
    if (e instanceof AuditError && /output folder must not be|no composite|titles must differ/.test(e.message)) throw new UsageError(e.message);
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
  const c = result.counts;
  if (!v.quiet) {
    console.log(`${c.inputs} inputs in ${formatDuration(Date.now() - t0)}: ${c.ok} explained, ${c.failed} failed${c.resumed ? `, ${c.resumed} kept from an earlier run` : ''}`);
    for (const r of result.inputs.filter((x) => x.status !== 'ok')) console.log(`  failed: ${r.input}: ${r.error}`);
    console.log(`report: ${result.files.html}\nsummary: ${result.files.csv}, ${result.files.json}`);
  }
  if (!result.complete) {
    console.error('onnx-lrp: audit interrupted; rerun the same command to continue');
    process.exit(130);
  }
  if (c.failed) throw new Error(`${c.failed} of ${c.inputs} inputs could not be explained (reasons in ${path.join(out, 'summary.csv')})`);
}
