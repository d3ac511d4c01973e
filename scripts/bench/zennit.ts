/** The bench's link to Zennit 0.5.1 (scripts/bench/zennit_server.py), used only when ZENNIT_SRC names Zennit's
 * `src` folder: a Python process on Debian's torch that the timing child asks for one attribution at a time,
 * alternating with onnx-lrp. Never needed: without ZENNIT_SRC the bench says so and runs without it. */
import { ChildProcessWithoutNullStreams, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const SERVER = path.resolve(__dirname, '../../../scripts/bench/zennit_server.py');

/** The Zennit source folder, or why there is none. */
export function zennitSource(): { src: string } | { skipped: string } {
  const src = process.env.ZENNIT_SRC;
  if (!src) return { skipped: 'ZENNIT_SRC not set (e.g. ZENNIT_SRC=/work/scratch/zennit/src): no Zennit column' };
  if (!fs.existsSync(path.join(src, 'zennit', 'composites.py'))) return { skipped: `ZENNIT_SRC=${src} has no zennit/composites.py` };
  return { src };
}

export interface ZennitAnswer { ms: number; logits: number[]; sum: number }

export class ZennitServer {
  private buffer = '';
  private readonly waiting: ((line: string) => void)[] = [];
  private stderr = '';

  private constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (d: string) => {
      this.buffer += d;
      let nl;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        this.waiting.shift()?.(line);
      }
    });
    proc.stderr.on('data', (d) => { this.stderr = (this.stderr + String(d)).slice(-4000); });
  }

  static start(src: string): ZennitServer {
    return new ZennitServer(spawn('/usr/bin/python3', [SERVER], { env: { ...process.env, ZENNIT_SRC: src } }));
  }

  private request(cmd: object): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`Zennit server exited (${code}): ${this.stderr.trim()}`));
      this.proc.once('exit', onExit);
      this.waiting.push((line) => {
        this.proc.off('exit', onExit);
        const r = JSON.parse(line) as Record<string, unknown>;
        if (r.error) reject(new Error(`Zennit server: ${r.error}`));
        else resolve(r);
      });
      this.proc.stdin.write(`${JSON.stringify(cmd)}\n`);
    });
  }

  async load(model: string, threads: number, low: number[], high: number[]): Promise<void> {
    await this.request({ op: 'load', model, threads, low, high });
  }

  /** One attribution of `x` ([batch, 3, 224, 224]); the time is Zennit's own, without the file transfer. */
  async explain(composite: string, x: Float32Array, batch: number): Promise<ZennitAnswer> {
    const file = path.join(os.tmpdir(), `onnx-lrp-bench-${process.pid}-${batch}.f32`);
    if (!fs.existsSync(file)) fs.writeFileSync(file, Buffer.from(x.buffer, x.byteOffset, x.byteLength));
    return (await this.request({ op: 'explain', composite, input: file, batch })) as unknown as ZennitAnswer;
  }

  close(): void {
    this.proc.stdin.end();
    for (const f of fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(`onnx-lrp-bench-${process.pid}-`))) fs.rmSync(path.join(os.tmpdir(), f), { force: true });
  }
}
