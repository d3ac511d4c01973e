/** The onnxruntime executor: each linear node's LRP step (the rule's modified forwards, stabilised quotient,
 * transposed products and products with the input) becomes one small ONNX graph, built by running the rule's
 * body against symbolic values (./trace), compiled once per node, rule, parameters and input shape (the batch
 * dimension is symbolic), and reused across calls. MaxPool routing and attention MatMuls' vector-Jacobian
 * products run there too. Everything else stays with the reference. Browser-safe: sessions come from an
 * InferenceBackend. */
import { Graph } from '../../../ir/graph';
import { InferenceBackend, InferenceSession } from '../../../forward/backend';
import { isLowered } from '../../../ops/lowering';
import { NodeContext, signOf } from '../../../ops/op';
import { findOp } from '../../../ops/registry';
import { Tensor } from '../../../tensor';
import { BuiltLinearRule, KernelExecutor } from '../executor';
import { GraphBuilder, UnsupportedTrace } from './builder';
import { WeightStore, lowerLinear, lowerRoute, lowerVjp } from './lower';
import { SymbolicOps } from './trace';

interface Compiled {
  session: InferenceSession;
  /** graph inputs in use, by role */
  inputs: Set<string>;
  fixed: Map<string, Tensor>;
  outputs: string[];
}

export interface OrtExecutorOptions {
  threads?: number;
}

function hasNegative(x: Float32Array): boolean {
  for (let i = 0; i < x.length; i++) if (x[i] < 0) return true;
  return false;
}

const BATCH = 'N';

/** true: the value is ≥ 0 by construction (its op's sign behaviour: a ReLU's output, or a sign-keeping op of
 * such values); null: unknown from the graph alone. `memo` caches answers per value. */
export function staticNonNegative(graph: Graph, name: string, memo: Map<string, boolean | null>): boolean | null {
  if (memo.has(name)) return memo.get(name)!;
  memo.set(name, null); // cycles cannot occur, but be safe
  const p = graph.producer(name);
  const op = p && findOp(p.opType, p.domain);
  const sign = p && op ? signOf(op, p) : 'any';
  let r: boolean | null = null;
  if (sign === 'nonNegative') r = true;
  else if (sign === 'keeps' || sign === 'keepsAll') {
    const live = (sign === 'keepsAll' ? p!.inputs : p!.inputs.slice(0, 1)).filter((i) => i && !graph.isConstant(i));
    r = live.length > 0 && live.every((i) => staticNonNegative(graph, i, memo) === true) ? true : null;
  }
  memo.set(name, r);
  return r;
}

export class OrtExecutor implements KernelExecutor {
  readonly name = 'ort';
  private readonly compiled = new Map<string, Promise<Compiled | null>>();
  private readonly store = new WeightStore();
  private readonly signs = new Map<string, boolean | null>();
  private readonly reasons = new Map<string, string>();
  /** vjp graphs: which inputs get no value (one graph output per other input) */
  private readonly vjpNulls = new Map<string, boolean[]>();
  /** why a compile key has no graph */
  private readonly declined = new Map<string, string>();

  constructor(private readonly graph: Graph, private readonly backend: InferenceBackend, private readonly opts: OrtExecutorOptions = {}) {}

  /** true: the value is ≥ 0 by construction; null: unknown from the graph alone. */
  private staticNonNegative(name: string): boolean | null {
    return staticNonNegative(this.graph, name, this.signs);
  }

  private nonNegative(name: string, t: Tensor): boolean {
    return this.staticNonNegative(name) === true || !hasNegative(t.data as Float32Array);
  }

  /** `arena`: keep freed memory for the next run. Off for one sample at a time (every session's arena would
   * hold its peak: +0.6× the forward's memory on ResNet50), on for batches, where fresh pages for every
   * output cost 18-31% of the time. */
  private compile(key: string, build: (b: GraphBuilder) => Promise<string[] | null>, layout = false, arena = false): Promise<Compiled | null> {
    key = `${key}|${arena ? 'arena' : ''}`;
    let c = this.compiled.get(key);
    if (!c) {
      c = (async () => {
        const b = new GraphBuilder(key);
        let outs: string[] | null;
        try {
          outs = await build(b);
        } catch (e) {
          if (e instanceof UnsupportedTrace) return null;
          throw e;
        }
        if (!outs) return null;
        const outputs = outs.map((o) => b.output(o));
        const bytes = b.bytes();
        this.store.endCompile();
        const session = await this.backend.create(bytes, { threads: this.opts.threads ?? 0, spinning: false, arena, layout });
        return { session, inputs: new Set(b.usedInputs().map((i) => i.name)), fixed: b.fixedFeeds, outputs };
      })();
      this.compiled.set(key, c);
    }
    return c;
  }

  /** Runs a compiled kernel. (Preallocated outputs would not help: onnxruntime-node copies them once more.) */
  private async run(k: Compiled, feeds: Record<string, Tensor>): Promise<Float32Array[]> {
    const f: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) if (k.inputs.has(name)) f[name] = t;
    for (const [name, t] of k.fixed) f[name] = t;
    const res = await k.session.run(f, k.outputs);
    return k.outputs.map((o) => res.get(o)!.data as Float32Array);
  }

  /** z is the Relu's output standing in for the node's own output (the lean forward): z ≥ 0. */
  private aliased(ctx: NodeContext, z: string): boolean {
    const cons = this.graph.consumers(z);
    if (cons.length !== 1 || cons[0].opType !== 'Relu') return false;
    const y = cons[0].outputs[0];
    return ctx.has(y) && ctx.value(y) === ctx.value(z);
  }

  /** Nodes handed back to the reference kernels, each with the reason. */
  referenceReasons(): ReadonlyMap<string, string> {
    return this.reasons;
  }

  private decline(ctx: NodeContext, reason: string): null {
    this.reasons.set(ctx.node.name, `${ctx.node.opType}: ${reason}`);
    return null;
  }

  async linear(ctx: NodeContext, built: BuiltLinearRule, R: Float32Array): Promise<(Float32Array | null)[] | null> {
    const { rule } = built;
    if (rule.name === 'pass') return this.decline(ctx, 'rule pass is the identity: nothing to run');
    const { node } = ctx;
    const low = lowerLinear(ctx, this.store);
    if (!isLowered(low)) return this.decline(ctx, low.none);
    if (!node.outputs[0] || !ctx.has(node.outputs[0])) return this.decline(ctx, 'its output is not kept');
    const xs = low.live.map((i) => ctx.value(node.inputs[i]));
    const z = ctx.value(node.outputs[0]);
    if (xs.some((t) => t.dtype !== 'float32') || z.dtype !== 'float32' || z.data.length !== R.length) return this.decline(ctx, 'not float32');
    const nonNegative = low.live.every((i, k) => this.nonNegative(node.inputs[i], xs[k]));
    const zPositive = this.aliased(ctx, node.outputs[0]);
    const key = [node.name, rule.name, JSON.stringify(rule.params), nonNegative, zPositive, xs.map((t) => t.dims.slice(1).join('x')).join(',')].join('|');
    const k = await this.compile(key, async (b) => {
      const xNames = xs.map((t, i) => b.input(`x${i}`, [BATCH, ...t.dims.slice(1)]));
      const zName = b.input('z', [BATCH, ...z.dims.slice(1)]);
      const rName = b.input('R', [BATCH, ...z.dims.slice(1)]);
      const ops = new SymbolicOps(b, low, xNames, xs.map((t) => t.dims), new Set(zPositive ? [zName] : []));
      return rule.lrp(ops, { x: xNames, z: [zName], nonNegative }, [rName]);
    }, low.layout ?? false, z.dims[0] > 1);
    if (!k) return this.decline(ctx, `rule ${rule.name} asks for a step the onnxruntime engine does not trace`);
    const feeds: Record<string, Tensor> = { z, R: { dtype: 'float32', dims: z.dims, data: R } };
    xs.forEach((t, i) => { feeds[`x${i}`] = t; });
    const res = await this.run(k, feeds);
    const out: (Float32Array | null)[] = node.inputs.map(() => null);
    low.live.forEach((i, j) => {
      out[i] = out[i] ? addArrays(out[i]!, res[j]) : res[j];
    });
    return out;
  }

  async route(ctx: NodeContext, R: (Float32Array | null)[]): Promise<(Float32Array | null)[] | null> {
    const { node } = ctx;
    if (!R[0] || !ctx.has(node.outputs[0])) return this.decline(ctx, 'no relevance or no output value');
    const x = ctx.value(node.inputs[0]);
    const y = ctx.value(node.outputs[0]);
    if (x.dtype !== 'float32' || y.data.length !== R[0].length) return this.decline(ctx, 'not float32');
    const key = [node.name, 'route', x.dims.slice(1).join('x')].join('|');
    const k = await this.compile(key, async (b) => {
      const xn = b.input('x', [BATCH, ...x.dims.slice(1)]);
      const rn = b.input('R', [BATCH, ...y.dims.slice(1)]);
      const out = lowerRoute(b, ctx, xn, rn);
      if (isLowered(out)) return [out];
      this.declined.set(key, out.none);
      return null;
    }, false, x.dims[0] > 1);
    if (!k) return this.decline(ctx, this.declined.get(key) ?? 'not lowered');
    const [r] = await this.run(k, { x, R: { dtype: 'float32', dims: y.dims, data: R[0] } });
    return node.inputs.map((_, i) => (i === 0 ? r : null));
  }

  /** The op's vjp lowering in a graph of its own per node and input dims (every input and the output fed). */
  async vjp(ctx: NodeContext, g: Float32Array): Promise<(Float32Array | null)[] | null> {
    const { node } = ctx;
    const names = [...node.inputs, node.outputs[0]].filter((n, i, a) => n && a.indexOf(n) === i);
    if (names.some((n) => !ctx.has(n))) return this.decline(ctx, 'a value it reads is not kept');
    const y = ctx.value(node.outputs[0]);
    const key = [node.name, 'vjp', names.map((n) => ctx.value(n).dims.join('x')).join(',')].join('|');
    const k = await this.compile(key, async (b) => {
      for (const n of names) b.input(n, ctx.value(n).dims, ctx.value(n).dtype);
      const out = lowerVjp(b, ctx, b.input('g', y.dims));
      if (!isLowered(out)) { this.declined.set(key, out.none); return null; }
      this.vjpNulls.set(key, out.map((v) => v === null));
      return out.filter((v): v is string => v !== null);
    }, false, y.dims[0] > 1);
    if (!k) return this.decline(ctx, this.declined.get(key) ?? 'not lowered');
    const nulls = this.vjpNulls.get(key)!;
    const feeds: Record<string, Tensor> = { g: { dtype: 'float32', dims: y.dims, data: g } };
    for (const n of names) feeds[n] = ctx.value(n);
    const res = await this.run(k, feeds);
    let j = 0;
    return node.inputs.map((_, i) => (nulls[i] ? null : res[j++]));
  }

  async add(a: Float32Array, b: Float32Array): Promise<Float32Array> {
    const k = await this.compile('add', async (g) => [g.op('Add', [g.input('a', ['L']), g.input('b', ['L'])])], false, true);
    const [r] = await this.run(k!, { a: { dtype: 'float32', dims: [a.length], data: a }, b: { dtype: 'float32', dims: [b.length], data: b } });
    return r;
  }

  async release(): Promise<void> {
    const all = [...this.compiled.values()];
    this.compiled.clear();
    this.store.clear();
    for (const c of all) {
      const k = await c.catch(() => null);
      await k?.session.release();
    }
  }
}

function addArrays(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}
