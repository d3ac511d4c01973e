/** Node-only: sharded audits. A shard I of N explains the inputs whose relative path hashes to I (stable across
 * machines, reruns and listing order), writes only those inputs' files and `summary.shard-I-of-N.json`; `merge`
 * (merge.ts) puts the shard summaries together. The shard index may come from the scheduler's environment:
 * `JOB_COMPLETION_INDEX` (Kubernetes Indexed Jobs) or `SLURM_ARRAY_TASK_ID` (Slurm job arrays). */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { AuditSummary } from './report';

export interface Shard {
  /** 0 ≤ index < count */
  index: number;
  count: number;
}

/** A shard's summary: the usual summary of its own inputs, with what `merge` checks. */
export interface ShardSummary extends AuditSummary {
  shard: Shard & {
    /** hash of the audit's settings (methods, preprocessing, rendering, target …; not the model's path) */
    settingsKey: string;
    /** sha256 of the model file */
    modelHash: string;
    /** the settings hashed into `settingsKey`, so a merge can name what differs */
    settings: Record<string, unknown>;
    /** every input the shard listed in the folder (all shards'): how many, and a hash of their paths */
    listing: { count: number; hash: string };
    /** the inputs of this shard, in audit order */
    inputs: string[];
  };
}

/** A bad `--shard` or a missing or out-of-range scheduler index: a usage error. */
export class ShardError extends Error {
  override name = 'ShardError';
}

/** The environment variables `auto/N` reads, in this order. */
export const SHARD_ENV = ['JOB_COMPLETION_INDEX', 'SLURM_ARRAY_TASK_ID'] as const;

/** The shard of an input: sha256 of its '/'-separated path relative to the audited folder, modulo `count`. */
export function shardOf(rel: string, count: number): number {
  return createHash('sha256').update(rel).digest().readUInt32BE(0) % count;
}

export function shardName(s: Shard): string {
  return `summary.shard-${s.index}-of-${s.count}.json`;
}

export const SHARD_FILE = /^summary\.shard-(\d+)-of-(\d+)\.json$/;

function integer(text: string, what: string, min: number): number {
  if (!/^\d+$/.test(text.trim())) throw new ShardError(`${what} must be an integer ≥ ${min}, got '${text}'`);
  const n = Number(text.trim());
  if (n < min || !Number.isSafeInteger(n)) throw new ShardError(`${what} must be an integer ≥ ${min}, got '${text}'`);
  return n;
}

/** Checks a shard given as numbers (library callers). */
export function checkShard(s: Shard): Shard {
  if (!Number.isInteger(s.count) || s.count < 1) throw new ShardError(`shard count must be an integer ≥ 1, got ${s.count}`);
  if (!Number.isInteger(s.index) || s.index < 0 || s.index >= s.count) throw new ShardError(`shard index must be an integer in 0–${s.count - 1}, got ${s.index}`);
  return { index: s.index, count: s.count };
}

/** `I/N` or `auto/N` (I from JOB_COMPLETION_INDEX, else SLURM_ARRAY_TASK_ID, 0-based). */
export function parseShard(spec: string, env: NodeJS.ProcessEnv = process.env): Shard {
  const m = /^([^/]+)\/([^/]+)$/.exec(spec);
  if (!m) throw new ShardError(`--shard expects I/N (0 ≤ I < N) or auto/N, got '${spec}'`);
  const count = integer(m[2], `--shard ${spec}: N`, 1);
  if (m[1] !== 'auto') {
    const index = integer(m[1], `--shard ${spec}: I`, 0);
    if (index >= count) throw new ShardError(`--shard ${spec}: I must be below N (shards are numbered 0–${count - 1})`);
    return { index, count };
  }
  const name = SHARD_ENV.find((k) => env[k] !== undefined && env[k] !== '');
  if (!name) throw new ShardError(`--shard auto/${count}: neither ${SHARD_ENV.join(' (Kubernetes Indexed Job) nor ')} (Slurm job array) is set; give the shard as --shard I/${count}`);
  const value = env[name]!;
  if (!/^\d+$/.test(value) || Number(value) >= count) {
    throw new ShardError(`--shard auto/${count}: ${name}=${value} is not a shard index in 0–${count - 1}${name === 'SLURM_ARRAY_TASK_ID' ? ` (run the array as --array=0-${count - 1})` : ` (set the Job's completions to ${count})`}`);
  }
  return { index: Number(value), count };
}

/** sha256 of a file (streamed), hex. */
export async function fileHash(file: string): Promise<string> {
  const h = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    fs.createReadStream(file).on('data', (d) => h.update(d)).on('end', resolve).on('error', reject);
  });
  return h.digest('hex');
}

export function listingOf(rels: string[]): { count: number; hash: string } {
  return { count: rels.length, hash: createHash('sha256').update(rels.join('\n')).digest('hex').slice(0, 20) };
}

/** The settings an audit's records are made with, without the model's path and file date (the model is
 * compared by its hash): what shards must share. */
export function shardSettings(settings: Record<string, unknown>): { settings: Record<string, unknown>; settingsKey: string } {
  const { model: _m, modelStat: _s, ...rest } = settings;
  return { settings: rest, settingsKey: createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 20) };
}

/** The shard summaries in `out`, by shard count: { N → { I → file } }. */
export function shardFiles(out: string): Map<number, Map<number, string>> {
  const found = new Map<number, Map<number, string>>();
  for (const f of fs.readdirSync(out)) {
    const m = SHARD_FILE.exec(f);
    if (!m) continue;
    const [i, n] = [Number(m[1]), Number(m[2])];
    if (i >= n) continue;
    if (!found.has(n)) found.set(n, new Map());
    found.get(n)!.set(i, path.join(out, f));
  }
  return found;
}
