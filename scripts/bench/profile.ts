/** Where the fused engine's time goes: onnxruntime's profiler on the one session of an explanation, kernel
 * time per run summed by what the node does. The model's own nodes are the forward; the nodes the fused graph
 * adds (named `lrp/…`) split into the rules' products (convolutions, Gemm, MatMul: the floors count these),
 * the element-wise passes (stabilised quotient, products with the input, residual sums), the conservation
 * sums (ReduceSum), max-pool routing, and onnxruntime's layout reorders. Each is given in forwards (its time
 * over the forward nodes' time), so a row reads as "ratio = 1 (forward) + products + element-wise + …". */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { InferenceBackend, InferenceSession } from '../../lib/forward/backend';
import type { Tensor } from '../../lib/tensor';

type Lib = typeof import('../../lib');

/** What this module uses of onnxruntime-node (passed in by scripts/bench.ts, the one script importing it). */
interface OrtSession {
  run(feeds: Record<string, unknown>, outputs: string[]): Promise<Record<string, { type: string; dims: readonly number[]; data: unknown }>>;
  release(): Promise<void>;
  endProfiling(): void;
}
export interface Ort {
  InferenceSession: { create(model: Uint8Array, opts: object): Promise<OrtSession> };
  Tensor: new (type: string, data: unknown, dims: number[]) => unknown;
}

const PRODUCTS = new Set(['Conv', 'FusedConv', 'ConvTranspose', 'Gemm', 'FusedGemm', 'MatMul', 'FusedMatMul', 'QLinearConv']);
const ROUTING = new Set(['MaxPool', 'MaxUnpool', 'ScatterElements', 'ConstantOfShape']);

export interface Profile {
  /** kernel milliseconds per run */
  ms: Record<'forward' | 'products' | 'elementwise' | 'sums' | 'routing' | 'reorders', number>;
  /** element-wise kernel milliseconds per run, by op */
  elementwise: Record<string, number>;
  runs: number;
}

/** A backend whose sessions run onnxruntime's profiler (one at a time: the fused engine makes one). */
function profilingBackend(ort: Ort, dir: string, threads: number): { backend: InferenceBackend; end: () => string | null } {
  let last: OrtSession | null = null;
  const backend: InferenceBackend = {
    async create(model) {
      const s = await ort.InferenceSession.create(model, {
        intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: 3,
        enableProfiling: true, profileFilePrefix: path.join(dir, 'fused'),
      });
      last = s;
      const session: InferenceSession = {
        async run(feeds, outputs) {
          const f: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(feeds)) f[k] = new ort.Tensor(v.dtype, v.data, [...v.dims]);
          const r = await s.run(f, outputs);
          return new Map(outputs.map((o) => [o, { dtype: r[o].type, dims: [...r[o].dims], data: r[o].data } as unknown as Tensor]));
        },
        release: () => s.release(),
      };
      return session;
    },
  };
  return {
    backend,
    end: () => {
      last?.endProfiling();
      const f = fs.readdirSync(dir).filter((n) => n.startsWith('fused') && n.endsWith('.json'));
      return f.length ? path.join(dir, f[f.length - 1]) : null;
    },
  };
}

/** Profiles `rounds` explanations (after one unprofiled-in-the-sums warm-up) of `composite` on the fused engine. */
export async function profileFused(lib: Lib, ort: Ort, file: string, x: Tensor, composite: string, options: object, threads: number, rounds: number): Promise<Profile | string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-profile-'));
  try {
    const { backend, end } = profilingBackend(ort, dir, threads);
    const e = lib.Explainer.create(lib.loadModelFile(file), backend, { source: file, threads, engine: 'fused' });
    const first = await e.explain(x, { composite, options });
    if (first.engine.used !== 'fused') return `not on the fused engine (${first.engine.note ?? first.engine.used})`;
    for (let r = 0; r < rounds; r++) await e.explain(x, { composite, options });
    const json = end();
    await e.release();
    if (!json) return 'onnxruntime wrote no profile';
    return summarise(JSON.parse(fs.readFileSync(json, 'utf8')), rounds + 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

interface Event { cat: string; name: string; dur: number; args?: { op_name?: string } }

function summarise(events: Event[], runs: number): Profile {
  const ms = { forward: 0, products: 0, elementwise: 0, sums: 0, routing: 0, reorders: 0 };
  const elementwise: Record<string, number> = {};
  // the first run (warm-up: buffers sized, weights packed) is left out
  const starts = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').map((e) => (e as Event & { ts: number }).ts).sort((a, b) => a - b);
  const from = starts.length > 1 ? starts[1] : 0;
  const counted = Math.max(1, starts.length > 1 ? starts.length - 1 : runs);
  for (const e of events as (Event & { ts: number })[]) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < from) continue;
    const op = e.args?.op_name ?? '?';
    const t = e.dur / 1000 / counted;
    if (op.startsWith('Reorder')) ms.reorders += t;
    else if (!e.name.startsWith('lrp/')) ms.forward += t;
    else if (PRODUCTS.has(op)) ms.products += t;
    else if (ROUTING.has(op)) ms.routing += t;
    else if (op === 'ReduceSum') ms.sums += t;
    else { ms.elementwise += t; elementwise[op] = (elementwise[op] ?? 0) + t; }
  }
  return { ms, elementwise, runs: counted };
}

/** One line: the run in forwards, by part. */
export function profileLine(p: Profile): string {
  const f = p.ms.forward || 1;
  const x = (v: number) => `${(v / f).toFixed(2)}`;
  const total = Object.values(p.ms).reduce((a, v) => a + v, 0);
  const ew = Object.entries(p.elementwise).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, v]) => `${k} ${x(v)}`).join(', ');
  return `kernel time ${x(total)} forwards = forward 1.00 + rule products ${x(p.ms.products)} + element-wise ${x(p.ms.elementwise)} (${ew}) + conservation sums ${x(p.ms.sums)} + max-pool routing ${x(p.ms.routing)} + layout reorders ${x(p.ms.reorders)}`;
}
