/** Node-only: `mergeShards(out)` puts the shard summaries of a sharded audit (`audit({ shard })`,
 * summary.shard-I-of-N.json) together into summary.json, summary.csv and index.html, the files a single run
 * over the same inputs with the same settings writes (timings and resumed rows aside). It refuses shards made
 * with other settings or another model, or over another listing of the folder, and reports missing shards and
 * inputs (an error, or with `partial`, a summary with `complete: false`). */
import * as fs from 'fs';
import * as path from 'path';
import { readJsonSafe } from '../safe-read';
import { writeFileAtomic } from './files';
import { AuditRow, AuditSummary, indexHtml, summaryCsv } from './report';
import { ShardSummary, shardFiles, shardName } from './shard';
import { summaryOf } from './summary';

export class MergeError extends Error {
  override name = 'MergeError';
}

export interface MergeOptions {
  /** the shard count N to merge (default: the only one whose summaries are in the folder) */
  count?: number;
  /** write the summaries from the shards and inputs there are (complete: false) instead of failing */
  partial?: boolean;
}

export interface MergeResult extends AuditSummary {
  files: { json: string; csv: string; html: string };
  shards: { count: number; merged: number[]; missing: number[] };
  /** inputs of the listing without a result: those of missing shards (counted) and of incomplete ones (named) */
  missing: { inputs: number; named: string[] };
}

const list = (xs: (string | number)[], max = 5) => xs.slice(0, max).join(', ') + (xs.length > max ? ` and ${xs.length - max} more` : '');

function readShard(file: string, index: number, count: number): ShardSummary {
  let s: ShardSummary;
  try {
    s = readJsonSafe(file, { what: 'shard summary' }) as ShardSummary;
  } catch (e) {
    throw new MergeError((e as Error).message);
  }
  const sh = s?.shard;
  if (!sh || sh.index !== index || sh.count !== count || typeof sh.settingsKey !== 'string' || typeof sh.modelHash !== 'string' || !Array.isArray(sh.inputs) || !Array.isArray(s.inputs) || !sh.listing) {
    throw new MergeError(`${file}: not a shard summary of shard ${index} of ${count} (written by 'onnx-lrp audit --shard ${index}/${count}')`);
  }
  return s;
}

function chooseCount(out: string, found: Map<number, Map<number, string>>, count?: number): number {
  const splits = [...found.keys()].sort((a, b) => a - b);
  if (!splits.length) throw new MergeError(`${out}: no shard summaries (summary.shard-I-of-N.json) in it; run 'onnx-lrp audit MODEL FOLDER --out ${out} --shard I/N' for every I first`);
  if (count !== undefined) {
    if (!found.has(count)) throw new MergeError(`${out}: no shard summaries of ${count} shards (found ${splits.map((n) => `*-of-${n}`).join(', ')})`);
    return count;
  }
  if (splits.length > 1) throw new MergeError(`${out}: holds shard summaries of ${splits.length} splits (${splits.map((n) => `*-of-${n}`).join(', ')}); say which with --shards N`);
  return splits[0];
}

/** Shards made with other settings, another model or over another listing than the first: a one-line reason. */
function checkAlike(shards: ShardSummary[]): void {
  const [a, ...rest] = shards;
  const name = (s: ShardSummary) => `shard ${s.shard.index} of ${s.shard.count} (${shardName(s.shard)})`;
  for (const b of rest) {
    if (b.shard.modelHash !== a.shard.modelHash) {
      throw new MergeError(`${name(b)} was made with another model than shard ${a.shard.index}: sha256 ${b.shard.modelHash.slice(0, 12)}… (${b.model}) vs ${a.shard.modelHash.slice(0, 12)}… (${a.model}); rerun it with the same model, then merge`);
    }
    if (b.shard.settingsKey !== a.shard.settingsKey) {
      const keys = [...new Set([...Object.keys(a.shard.settings ?? {}), ...Object.keys(b.shard.settings ?? {})])];
      const differ = keys.filter((k) => JSON.stringify(a.shard.settings?.[k]) !== JSON.stringify(b.shard.settings?.[k]));
      throw new MergeError(`${name(b)} was made with other settings than shard ${a.shard.index} (settings key ${b.shard.settingsKey} vs ${a.shard.settingsKey}; differing: ${differ.join(', ') || 'unknown'}); rerun it with the same options, then merge`);
    }
    if (b.shard.listing.hash !== a.shard.listing.hash) {
      throw new MergeError(`${name(b)} listed other inputs than shard ${a.shard.index} (${b.shard.listing.count} vs ${a.shard.listing.count} inputs): the input folder changed while the shards ran; rerun every shard (finished inputs are kept), then merge`);
    }
  }
}

/** Merges the shard summaries in `out` into summary.json, summary.csv and index.html. */
export async function mergeShards(out: string, opts: MergeOptions = {}): Promise<MergeResult> {
  let st: fs.Stats;
  try {
    st = fs.statSync(out);
  } catch {
    throw new MergeError(`${out}: output folder not found`);
  }
  if (!st.isDirectory()) throw new MergeError(`${out}: not a folder`);
  const found = shardFiles(out);
  const count = chooseCount(out, found, opts.count);
  const files = found.get(count)!;
  const shards = [...files.keys()].sort((a, b) => a - b).map((i) => readShard(files.get(i)!, i, count));
  checkAlike(shards);
  const missingShards = Array.from({ length: count }, (_, i) => i).filter((i) => !files.has(i));
  const rowsOf = new Map<string, AuditRow[]>();
  for (const s of shards) for (const r of s.inputs) rowsOf.set(r.input, [...(rowsOf.get(r.input) ?? []), r]);
  const named = shards.flatMap((s) => s.shard.inputs.filter((r) => !rowsOf.has(r)));
  const missingInputs = shards[0].shard.listing.count - rowsOf.size;
  const problems: string[] = [];
  if (missingShards.length) {
    const lost = missingInputs - named.length;
    problems.push(`missing shard${missingShards.length > 1 ? 's' : ''} ${list(missingShards)} of ${count} (no ${list(missingShards.map((i) => shardName({ index: i, count })), 2)}; ${lost} of ${shards[0].shard.listing.count} inputs)`);
  }
  for (const s of shards) {
    const left = s.shard.inputs.filter((r) => !rowsOf.has(r));
    if (left.length) problems.push(`shard ${s.shard.index} of ${count} is unfinished: ${left.length} of its ${s.shard.inputs.length} inputs have no result (${list(left, 3)})`);
  }
  if (problems.length && !opts.partial) throw new MergeError(`${out}: ${problems.join('; ')}; run those shards (they resume), then merge again, or merge with --partial`);
  const rowsByInput = [...rowsOf.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, rows]) => rows);
  const first = shards[0];
  const times = { started: shards.map((s) => s.started).sort()[0], finished: shards.map((s) => s.finished).sort().at(-1)! };
  const summary = summaryOf({
    model: first.model, folder: first.folder, methods: first.methods, options: first.options, compositeReason: first.compositeReason, outputRelevance: first.outputRelevance,
    dual: first.dual, clip: first.clip, contrast: first.contrast, target: first.target,
    evaluation: first.evaluation?.settings,
  }, rowsByInput, times, !problems.length && shards.every((s) => s.complete));
  const result = { json: path.join(out, 'summary.json'), csv: path.join(out, 'summary.csv'), html: path.join(out, 'index.html') };
  await writeFileAtomic(result.json, JSON.stringify(summary, null, 2));
  await writeFileAtomic(result.csv, summaryCsv(summary));
  await writeFileAtomic(result.html, indexHtml(summary));
  return { ...summary, files: result, shards: { count, merged: shards.map((s) => s.shard.index), missing: missingShards }, missing: { inputs: missingInputs, named } };
}
