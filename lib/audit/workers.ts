/** Node-only: `auditWorkers(opts, { workers: K })` runs an audit as K shards in K processes on this machine
 * (each with its own onnxruntime session and threads), then merges them: the same files as `audit(opts)`. */
import { ChildProcess, fork } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { AuditError, AuditOptions, AuditProgress } from './audit';
import { MergeResult, mergeShards } from './merge';
import type { WorkerReply, WorkerRequest } from './worker';

export interface WorkersOptions {
  /** processes, one shard each (K shards: summary.shard-I-of-K.json) */
  workers: number;
  /** onnxruntime intra-op threads per process (default: the cores divided among the workers, at least 1) */
  threads?: number;
}

/** The progress of all workers as one: sums, and the rate of all together. */
function combine(parts: (AuditProgress | undefined)[], t0: number): AuditProgress {
  const ps = parts.filter((p): p is AuditProgress => !!p);
  const sum = (k: 'total' | 'done' | 'ok' | 'failed' | 'resumed') => ps.reduce((a, p) => a + p[k], 0);
  const p: AuditProgress = {
    total: sum('total'), done: sum('done'), ok: sum('ok'), failed: sum('failed'), resumed: sum('resumed'), elapsedMs: Date.now() - t0,
    rate: ps.reduce((a, q) => a + q.rate, 0), etaMs: null, finished: parts.every((q) => q?.finished),
  };
  const last = ps.reduce<AuditProgress | undefined>((a, q) => (q.current && (!a || q.elapsedMs > a.elapsedMs) ? q : a), undefined);
  if (last) Object.assign(p, { current: last.current, status: last.status, error: last.error });
  p.etaMs = p.finished ? 0 : p.rate > 0 ? (1000 * (p.total - p.done)) / p.rate : null;
  return p;
}

/** Runs `opts` as `workers` shards in as many processes, then `mergeShards`. `opts.explainer` is not used (each
 * process opens the model); notices are passed on once each; `opts.signal` stops every worker after its current
 * input (the merged summary then has complete: false). */
export async function auditWorkers(opts: AuditOptions, w: WorkersOptions, onProgress?: (p: AuditProgress) => void): Promise<MergeResult> {
  const k = w.workers;
  if (!Number.isInteger(k) || k < 1) throw new AuditError(`workers must be an integer ≥ 1, got ${k}`);
  if (opts.shard) throw new AuditError('workers: the audit is split into one shard per worker; give no shard');
  const threads = w.threads ?? Math.max(1, Math.floor(os.availableParallelism() / k));
  const { explainer: _e, signal, notice, ...rest } = opts;
  const plain = JSON.parse(JSON.stringify(rest)) as AuditOptions;
  const t0 = Date.now();
  const parts: (AuditProgress | undefined)[] = new Array(k).fill(undefined);
  const told = new Set<string>();
  const children: ChildProcess[] = [];
  let firstError: Error | undefined, complete = true;
  const abortAll = () => { for (const c of children) if (c.connected) c.send({ type: 'abort' } satisfies WorkerRequest); };
  signal?.addEventListener('abort', abortAll);
  try {
    await Promise.all(Array.from({ length: k }, (_, index) => new Promise<void>((resolve) => {
      const child = fork(path.join(__dirname, 'worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(child);
      let ended = false;
      child.on('message', (m: WorkerReply) => {
        if (m.type === 'progress') { parts[index] = m.progress; if (parts.every(Boolean)) onProgress?.(combine(parts, t0)); } // once every worker has listed its inputs
        else if (m.type === 'notice') { if (!told.has(m.message)) { told.add(m.message); notice?.(m.message); } }
        else if (m.type === 'done') { ended = true; complete &&= m.complete; }
        else if (m.type === 'error') {
          ended = true;
          firstError ??= m.name === 'AuditError' ? new AuditError(m.message) : new Error(m.message);
          abortAll();
        }
      });
      child.on('exit', (code, sig) => {
        if (!ended) {
          firstError ??= new AuditError(`worker of shard ${index} of ${k} stopped (${sig ?? `exit code ${code}`}) before it finished; rerun the same command to continue`);
          abortAll();
        }
        resolve();
      });
      child.send({ type: 'start', opts: { ...plain, shard: { index, count: k } }, threads } satisfies WorkerRequest);
      if (signal?.aborted) child.send({ type: 'abort' } satisfies WorkerRequest);
    })));
  } finally {
    signal?.removeEventListener('abort', abortAll);
  }
  if (firstError) throw firstError;
  return mergeShards(path.resolve(opts.out), { count: k, partial: !complete });
}
