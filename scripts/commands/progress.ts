/** A small progress bar on stderr: `[#####-----] 12/40 3.1/s ETA 9s name` redrawn in place on a terminal;
 * plain lines (one per input, or every few seconds for long runs) when stderr is not a TTY. */

export interface ProgressState {
  done: number;
  total: number;
  rate: number;
  etaMs: number | null;
  current?: string;
  status?: string;
  error?: string;
  finished?: boolean;
}

export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export class ProgressBar {
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly tty = !!stream.isTTY && !process.env.CI,
    /** minimum time between plain lines when not a TTY (errors are always printed) */
    private readonly plainEveryMs = 0,
  ) {}

  line(p: ProgressState): string {
    const pct = p.total ? p.done / p.total : 1;
    const rate = p.rate > 0 ? `${p.rate >= 10 ? p.rate.toFixed(0) : p.rate.toFixed(1)}/s` : '-/s';
    return `${String(p.done).padStart(String(p.total).length)}/${p.total} ${(100 * pct).toFixed(0).padStart(3)}% ${rate} ETA ${p.finished ? '0s' : formatDuration(p.etaMs)}`;
  }

  update(p: ProgressState): void {
    if (this.tty) {
      const now = Date.now();
      if (!p.finished && p.status !== 'error' && now - this.lastDraw < 80 && p.done < p.total) return;
      this.lastDraw = now;
      const cols = this.stream.columns || 80;
      const width = 24, fill = Math.round(width * (p.total ? p.done / p.total : 1));
      if (p.status === 'error' && p.current) this.stream.write(`\r\x1b[K${p.current}: ${p.error ?? 'failed'}\n`);
      let s = `[${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${this.line(p)}`;
      if (p.current && !p.finished) s += ` ${p.current}`;
      this.stream.write(`\r\x1b[K${s.slice(0, cols - 1)}`);
      this.drawn = true;
      if (p.finished) this.done();
      return;
    }
    const now = Date.now();
    if (p.status === 'error' && p.current) {
      this.stream.write(`${this.line(p)} ${p.current}: failed: ${p.error ?? ''}\n`);
      this.lastDraw = now;
      return;
    }
    if (p.finished || p.done === 0 || now - this.lastDraw >= this.plainEveryMs) {
      this.stream.write(`${this.line(p)}${p.current && !p.finished ? ` ${p.current}${p.status && p.status !== 'ok' ? ` (${p.status})` : ''}` : ''}${p.finished ? ' done' : ''}\n`);
      this.lastDraw = now;
    }
  }

  /** End the in-place line. */
  done(): void {
    if (this.tty && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
