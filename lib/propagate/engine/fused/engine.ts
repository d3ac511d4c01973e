/** The fused engine: one onnxruntime session per (plan, explained output, seed mode, input shapes) runs the
 * whole explanation, forward included (./build), so onnxruntime keeps its fusions and memory planning, its
 * threads may spin, and no JS runs between layers. Sessions are cached; a plan the engine does not cover is
 * answered with the reason (cached too), and the caller uses another engine. Browser-safe: sessions come from
 * an InferenceBackend. */
import { Graph } from '../../../ir/graph';
import { InferenceBackend, InferenceSession } from '../../../forward/backend';
import { RulePlan } from '../../../plan/plan';
import { Tensor } from '../../../tensor';
import type { NodeConservation } from '../../core';
import { FusedGraph, FusedRequest, NotCovered, TARGET_INPUT, buildFused } from './build';

export { NotCovered } from './build';

interface Compiled { graph: FusedGraph; session: InferenceSession; running: number; bytes: number }

/** Sessions kept per explainer, least recently used released first: at most MAX_SESSIONS, and beyond the two most
 * recent only while their graphs (each session holds a copy of the model's weights and the modified ones) total
 * at most SESSION_BYTES, so that a few composites alternating on a small model are not recompiled every call,
 * while a VGG16 keeps two. */
export const MAX_SESSIONS = 8;
export const KEPT_SESSIONS = 2;
export const SESSION_BYTES = 1 << 30;

export interface FusedResult {
  output: Tensor & { data: Float32Array };
  /** relevance per model input (absent: none reached it) */
  relevance: Map<string, Float32Array>;
  /** with keepAll: every value's relevance */
  values?: Map<string, Float32Array>;
  /** with keepAll: the dims of every value in `values` */
  valueDims?: Map<string, number[]>;
  conservation: NodeConservation[];
}

export class FusedEngine {
  readonly name = 'fused';
  private readonly cache = new Map<string, Promise<Compiled | string>>();

  constructor(private readonly graph: Graph, private readonly backend: InferenceBackend, private readonly opts: { threads?: number; sessionBytes?: number } = {}) {}

  /** The compiled explanation, or why the engine does not cover it. */
  private prepare(plan: RulePlan, req: FusedRequest): Promise<Compiled | string> {
    const key = JSON.stringify([
      plan.entries.map((e) => [e.node, e.rule, e.params]), req.output, req.outputRelevance, req.keepAll,
      [...req.inputDims].map(([k, d]) => `${k}:${d.join('x')}`),
    ]);
    let c = this.cache.get(key);
    if (c) {
      this.cache.delete(key); // most recently used last
      this.cache.set(key, c);
    } else {
      c = (async () => {
        let graph: FusedGraph;
        let session: InferenceSession;
        try {
          graph = await buildFused(this.graph, plan, req);
          session = await this.backend.create(graph.bytes, { threads: this.opts.threads ?? 0 });
        } catch (e) {
          // a graph the lowerings or onnxruntime refuse: the per-layer engine runs it, and says why not this one
          return e instanceof NotCovered ? e.message : `the fused graph could not be built or loaded (${(e as Error).message})`;
        }
        const bytes = graph.bytes.length;
        graph.bytes = new Uint8Array(0); // the session holds its own copy
        return { graph, session, running: 0, bytes };
      })();
      this.cache.set(key, c);
      c.catch(() => this.cache.delete(key));
      void this.evict();
    }
    return c;
  }

  /** Releases the least recently used idle sessions beyond MAX_SESSIONS or SESSION_BYTES (reasons cost nothing
   * to keep). */
  private async evict(): Promise<void> {
    const entries = [...this.cache];
    let sessions = 0, bytes = 0;
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, p] = entries[i];
      const c = await p.catch(() => null);
      if (!c || typeof c === 'string') continue;
      bytes += c.bytes;
      const over = ++sessions > MAX_SESSIONS || (sessions > KEPT_SESSIONS && bytes > (this.opts.sessionBytes ?? SESSION_BYTES));
      // decided now, on the current order: a call may have used this entry since the loop began
      const recent = [...this.cache.keys()].slice(-KEPT_SESSIONS);
      if (over && c.running === 0 && this.cache.get(key) === p && !recent.includes(key)) {
        this.cache.delete(key);
        await c.session.release();
      }
    }
  }

  /** Runs the explanation, or says why the engine does not cover it. `target(outputDims)`: per sample, −1 for
   * the predicted class. */
  async explain(plan: RulePlan, req: FusedRequest, feeds: Record<string, Tensor>, target: (outputDims: readonly number[]) => number[]): Promise<FusedResult | string> {
    const c = await this.prepare(plan, req);
    if (typeof c === 'string') return c;
    c.running++; // not released while in use (evict)
    try {
      return await this.run(c, feeds, target(c.graph.outputDims));
    } finally {
      c.running--;
    }
  }

  private async run(c: Compiled, feeds: Record<string, Tensor>, target: number[]): Promise<FusedResult> {
    const g = c.graph;
    const f: Record<string, Tensor> = { ...feeds, [TARGET_INPUT]: { dtype: 'int64', dims: [target.length], data: BigInt64Array.from(target.map(BigInt)) } };
    const res = await c.session.run(f, g.outputs);
    const get = (name: string) => res.get(name)!.data as Float32Array;
    const out = res.get(g.outputs[0])!;
    const relevance = new Map([...g.relevance].map(([k, v]) => [k, get(v)]));
    const values = g.values.size ? new Map([...g.values].map(([k, v]) => [k, get(v)])) : undefined;
    const N = g.outputDims[0];
    const sums = g.sums ? get(g.sums) : new Float32Array(0);
    const K = sums.length / N;
    const add = (cols: number[]) => Array.from({ length: N }, (_, s) => cols.reduce((a, i) => a + sums[s * K + i], 0));
    const conservation = g.nodes.map((n) => ({ node: n.node, op: n.op, rule: n.rule, atOutputs: add(n.outs), atInputs: add(n.ins) }));
    const valueDims = values ? new Map([...g.values.keys()].map((k) => [k, g.valueDims.get(k)!])) : undefined;
    return { output: { dtype: 'float32', dims: [...out.dims], data: out.data as Float32Array }, relevance, values, valueDims, conservation };
  }

  async release(): Promise<void> {
    const all = [...this.cache.values()];
    this.cache.clear();
    for (const c of all) {
      const k = await c.catch(() => null);
      if (k && typeof k !== 'string') await k.session.release();
    }
  }
}
