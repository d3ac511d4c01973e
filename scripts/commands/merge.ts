/** `onnx-lrp merge DIR`: the shard summaries of a sharded audit (`audit --shard I/N`) into summary.json,
 * summary.csv and index.html. Calls `mergeShards()` from the library. */
import * as path from 'path';
import { mergeShards } from '../../lib';
import { UsageError, number, parse } from './common';

const USAGE = `usage: onnx-lrp merge DIR [options]

Merges the shard summaries DIR/summary.shard-I-of-N.json of 'onnx-lrp audit … --out DIR --shard I/N' into
DIR/summary.json, summary.csv and index.html: the files one 'onnx-lrp audit' over the same inputs with the
same settings writes (timings and the count of resumed rows aside). Refuses shards made with other settings,
another model (sha256 of the file) or over another listing of the input folder; names missing shards and
unfinished ones (a killed shard: rerun it, it resumes). See docs/scaling.md.

options:
  --shards N             the split to merge when DIR holds summaries of several (…-of-N.json)
  --partial              merge what is there (summary.json has complete: false) instead of failing on
                         missing shards or inputs
  --quiet                print nothing but errors

exit codes: 0 merged, every input explained; 1 some inputs failed, or shards are missing, unfinished or made
with other settings or models (nothing written); 2 usage error.`;

export async function mergeCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parse(argv, { shards: { type: 'string' }, partial: { type: 'boolean' }, quiet: { type: 'boolean' } }, USAGE);
  const [dir, ...rest] = positionals;
  if (!dir) throw new UsageError('missing DIR (the audit\'s --out folder)');
  if (rest.length) throw new UsageError(`unexpected arguments: ${rest.join(' ')}`);
  const count = number(v.shards as string | undefined, '--shards');
  if (count !== undefined && (!Number.isInteger(count) || count < 1)) throw new UsageError(`--shards expects an integer ≥ 1, got '${v.shards}'`);
  const r = await mergeShards(dir, { count, partial: !!v.partial });
  const c = r.counts;
  if (!v.quiet) {
    console.log(`merged ${r.shards.merged.length} of ${r.shards.count} shards: ${c.inputs} inputs, ${c.ok} rows explained, ${c.failed} failed${c.resumed ? ` (${c.resumed} kept from earlier runs)` : ''}`);
    if (r.missing.inputs) console.log(`incomplete: ${r.missing.inputs} inputs have no result${r.shards.missing.length ? ` (missing shards ${r.shards.missing.join(', ')})` : ''}${r.missing.named.length ? `; unfinished: ${r.missing.named.slice(0, 5).join(', ')}${r.missing.named.length > 5 ? ' …' : ''}` : ''}`);
    for (const x of r.inputs.filter((x) => x.status !== 'ok')) console.log(`  failed: ${x.error?.startsWith(`${x.input}: `) ? x.error : `${x.input}: ${x.error}`}`);
    console.log(`report: ${r.files.html}\nsummary: ${r.files.csv}, ${r.files.json}`);
  }
  if (c.failed) throw new Error(`${c.failed} of ${c.inputs} inputs could not be explained (reasons in ${path.join(dir, 'summary.csv')})`);
}
