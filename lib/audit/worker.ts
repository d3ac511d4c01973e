/** Node-only: one process of `auditWorkers` (workers.ts), forked with IPC. It receives `{ type: 'start', opts,
 * threads }` (AuditOptions as JSON, with `shard`), runs `audit` with its own onnxruntime session, and sends
 * progress, notices and the end ('done' or 'error'); `{ type: 'abort' }` or SIGINT stops it after the current input. */
import { openModel } from '../node-io';
import { AuditOptions, audit } from './audit';

export type WorkerRequest = { type: 'start'; opts: AuditOptions; threads?: number } | { type: 'abort' };
export type WorkerReply =
  | { type: 'progress'; progress: import('./audit').AuditProgress }
  | { type: 'notice'; message: string }
  | { type: 'done'; complete: boolean }
  | { type: 'error'; name: string; message: string };

const ac = new AbortController();
const send = (m: WorkerReply) => new Promise<void>((resolve) => (process.connected ? process.send!(m, () => resolve()) : resolve()));

async function run(opts: AuditOptions, threads?: number): Promise<void> {
  try {
    const limits = opts.limits ?? {};
    const explainer = openModel(opts.model, { canonize: opts.canonize, threads, maxFileSize: limits.maxFileSize, maxInputElements: limits.maxInputElements });
    try {
      const r = await audit({ ...opts, explainer, signal: ac.signal, notice: (message) => void send({ type: 'notice', message }) }, (progress) => void send({ type: 'progress', progress }));
      await send({ type: 'done', complete: r.complete });
    } finally {
      await explainer.release();
    }
  } catch (e) {
    await send({ type: 'error', name: (e as Error).name, message: (e as Error).message });
    process.exitCode = 1;
  }
  if (process.connected) process.disconnect();
}

if (require.main === module && process.send) {
  process.on('SIGINT', () => ac.abort()); // Ctrl-C reaches the whole process group: stop after the current input
  process.on('disconnect', () => ac.abort()); // the parent is gone: stop too (what is finished is kept)
  process.on('message', (m: WorkerRequest) => {
    if (m.type === 'abort') ac.abort();
    else if (m.type === 'start') void run(m.opts, m.threads);
  });
}
