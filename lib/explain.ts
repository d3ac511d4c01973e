/** The explainer: a loaded, canonized model with its inference session; explains inputs with a composite or
 * a rule map, returning input relevance, optionally every value's relevance, and a conservation report. */
import { canonize, CanonizeOptions } from './canonize';
import { InferenceBackend, InferenceSession } from './forward/backend';
import { OrtExecutor } from './propagate/engine/ort/executor';
import { encodeModel } from './propagate/engine/ort/encode';
import { aliasesFor, reluAliases } from './propagate/engine/ort/exposure';
import { Graph, ValueInfo } from './ir/graph';
import { inferDtypes } from './ops/dtypes';
import { LoadedModel } from './onnx/load';
import { saveModel } from './onnx/save';
import { isFloat } from './ops/op';
import { CompositeOptions } from './plan/composites';
import { PlanOptions, RuleMap, RulePlan, buildPlan, relevanceNodes } from './plan/plan';
import { NodeConservation, propagate } from './propagate/core';
import { Tensor, float32, shapeString } from './tensor';
import { vanishingWarnings } from './warnings';

export type OutputRelevance = 'logit' | 'one';

export interface ExplainOptions {
  composite?: string;
  /** rule parameters: epsilon, gamma, low/high, zeroBias … */
  options?: CompositeOptions;
  ruleMap?: RuleMap;
  /** one class per sample, or one for all; default: the predicted class */
  target?: number | number[];
  /** relevance started at the output, times a one-hot on the target: the target logit ('logit') or 1 ('one').
   * Default: 'logit' for LRP (composites and rule maps), 'one' for the gradient composites (gradient,
   * gradient_x_input, guided_backprop, deconvnet: the plain gradient, as in Captum and Zennit). */
  outputRelevance?: OutputRelevance;
  /** keep the relevance of every value (by value name) */
  keepAll?: boolean;
  /** which graph output to explain (default: the first) */
  output?: string;
  /** who runs the linear layers' LRP steps: 'ort' (default: small onnxruntime graphs per layer, cached) or
   * 'reference' (plain TypeScript kernels) */
  engine?: Engine;
}

export type Engine = 'reference' | 'ort';

export interface ConservationSummary {
  /** per sample */
  outputRelevance: number[];
  inputRelevance: number[];
  /** (output − input) / |output|: the share absorbed by biases and stabilisers (or created by them) */
  absorbed: number[];
  nodes: (NodeConservation & { absorbed: number[] })[];
}

export interface Explanation {
  /** relevance at the (first) model input, shaped like it */
  relevance: Tensor & { data: Float32Array };
  /** relevance of every graph input, by name */
  inputs: Map<string, Tensor & { data: Float32Array }>;
  /** the explained output (logits), as computed by the forward pass */
  output: Tensor & { data: Float32Array };
  predictions: number[];
  targets: number[];
  /** the seeds' values: logit[target] per sample */
  scores: number[];
  /** the output relevance used */
  outputRelevance: OutputRelevance;
  /** true when it is the default of the plan's mode (not asked for) */
  outputRelevanceDefault: boolean;
  plan: RulePlan;
  conservation: ConservationSummary;
  /** every value's relevance when keepAll was set */
  values?: Map<string, Float32Array>;
  /** what the caller should know about this explanation: an input outside the zBox bounds, a map that vanishes
   * (relevance at the input exactly 0, or ≥ 99% absorbed) with the cause and a remedy; empty when none */
  warnings: string[];
  /** with keepAll: the shape of every value in `values` (that of the value in the forward pass) */
  valueDims?: Map<string, number[]>;
}

/** Largest input tensor explained, in elements (64 Mi: a 3×4096×4096 float image needs 192 MiB, and LRP keeps
 * several values of that size per layer). */
export const DEFAULT_MAX_INPUT_ELEMENTS = 64 * 1024 ** 2;

export class ExplainError extends Error {
  override name = 'ExplainError';
}

export class Explainer {
  private session: InferenceSession | null = null;
  /** a second session without the exposed intermediate values: outputs only (predict) */
  private plain: InferenceSession | null = null;
  private exposed: string[] = [];
  private executor: OrtExecutor | null = null;
  /** the forward for the onnxruntime engine: without the linear outputs that only a Relu reads */
  private lean: { session: InferenceSession; exposed: string[]; aliases: Map<string, string> } | null = null;
  private aliasCache?: Map<string, string>;
  /** derived explainers released with this one (e.g. a copy with a symbolic batch) */
  private readonly owned: Explainer[] = [];

  private constructor(
    readonly source: string,
    readonly original: Graph,
    readonly graph: Graph,
    readonly canonizerActions: string[],
    private readonly backend: InferenceBackend,
    private readonly threads: number,
    readonly engine: Engine = 'ort',
    /** largest input tensor explained, in elements */
    readonly maxInputElements = DEFAULT_MAX_INPUT_ELEMENTS,
  ) {}

  static create(model: LoadedModel, backend: InferenceBackend, opts: { source?: string; canonize?: CanonizeOptions | false; threads?: number; engine?: Engine; maxInputElements?: number } = {}): Explainer {
    const c = opts.canonize === false ? { graph: model.graph, actions: [] } : canonize(model.graph, opts.canonize || {});
    if (opts.engine !== undefined && opts.engine !== 'ort' && opts.engine !== 'reference') throw new ExplainError(`engine must be 'ort' or 'reference', got '${opts.engine}'`);
    const max = opts.maxInputElements;
    if (max !== undefined && !(max > 0)) throw new ExplainError(`maxInputElements must be a positive number, got ${max}`);
    return new Explainer(opts.source ?? 'model', model.graph, c.graph, c.actions, backend, opts.threads ?? 0, opts.engine ?? 'ort', max);
  }

  /** Refuses an input of more than maxInputElements elements (symbolic dims count as 1), naming it: called on
   * tensors before running, and by preprocessing on the declared shape before any resize allocates it. */
  checkInputSize(name: string, dims: readonly (number | string | null)[]): void {
    const n = dims.reduce<number>((a, d) => a * (typeof d === 'number' && d > 0 ? d : 1), 1);
    if (n > this.maxInputElements) {
      throw new ExplainError(`${this.source}: input '${name}' has shape ${shapeString(dims.map((d) => d ?? '?'))}, ${n.toLocaleString('en-US')} elements, above the limit of ${this.maxInputElements.toLocaleString('en-US')} (maxInputElements; --max-input-elements)`);
    }
  }

  plan(opts: PlanOptions = {}): RulePlan {
    return buildPlan(this.graph, opts);
  }

  /** Every float value on the relevance path (graph inputs and constants aside). */
  private pathValues(): string[] {
    const names = new Set<string>();
    for (const { node } of relevanceNodes(this.graph)) {
      for (const v of [...node.inputs, ...node.outputs]) {
        if (v && !this.graph.isConstant(v) && !this.graph.inputs.some((i) => i.name === v)) names.add(v);
      }
    }
    return [...names];
  }

  private async createSession(exposed: string[]): Promise<InferenceSession> {
    const dtypes = inferDtypes(this.graph);
    const extra: ValueInfo[] = exposed.map((name) => ({ name, dtype: dtypes.get(name) ?? 'float32', dims: null }));
    return this.backend.create(encodeModel(this.graph, { extraOutputs: extra }), { threads: this.threads, spinning: false });
  }

  /** Values the rules need: every float value on the relevance path. */
  private async ensureSession(): Promise<InferenceSession> {
    if (this.session) return this.session;
    this.exposed = this.pathValues();
    this.session = await this.createSession(this.exposed);
    return this.session;
  }

  /** The forward for an explanation: the lean session when the engine is onnxruntime and the plan allows it. */
  private async forwardFor(feeds: Record<string, Tensor>, plan: RulePlan, engine: Engine): Promise<Map<string, Tensor>> {
    const aliases = (this.aliasCache ??= reluAliases(this.graph)); // the graph is read-only: once
    if (engine !== 'ort' || aliases.size === 0 || !aliasesFor(this.graph, plan, aliases)) return this.forward(feeds);
    for (const [k, v] of Object.entries(feeds)) this.checkInput(k, v);
    if (!this.lean) {
      const exposed = this.pathValues().filter((v) => !aliases.has(v));
      this.lean = { session: await this.createSession(exposed), exposed, aliases };
    }
    const outputs = [...new Set([...this.graph.outputs.map((o) => o.name), ...this.lean.exposed])];
    const values = await this.lean.session.run(feeds, outputs);
    for (const [k, v] of Object.entries(feeds)) values.set(k, v);
    for (const [z, y] of this.lean.aliases) if (values.has(y)) values.set(z, values.get(y)!);
    return values;
  }

  private checkInput(name: string, t: Tensor): void {
    const info = this.graph.inputs.find((i) => i.name === name);
    if (!info) throw new ExplainError(`${this.source}: the model has no input '${name}' (inputs: ${this.graph.inputs.map((i) => i.name).join(', ')})`);
    this.checkInputSize(name, t.dims);
    if (!info.dims) return;
    const bad = info.dims.length !== t.dims.length || info.dims.some((d, i) => typeof d === 'number' && d !== t.dims[i]);
    if (bad) {
      throw new ExplainError(`${this.source}: input '${name}' has shape ${shapeString(t.dims)}, the model expects ${shapeString(info.dims.map((d) => d ?? '?'))}`);
    }
    if (t.dtype !== info.dtype && !(isFloat(t) && info.dtype === 'float32')) {
      throw new ExplainError(`${this.source}: input '${name}' is ${t.dtype}, the model expects ${info.dtype}`);
    }
  }

  /** Runs the forward pass alone: every exposed value, by name (inputs included). */
  async forward(feeds: Record<string, Tensor>): Promise<Map<string, Tensor>> {
    for (const [k, v] of Object.entries(feeds)) this.checkInput(k, v);
    const session = await this.ensureSession();
    const outputs = [...new Set([...this.graph.outputs.map((o) => o.name), ...this.exposed])];
    const values = await session.run(feeds, outputs);
    for (const [k, v] of Object.entries(feeds)) values.set(k, v);
    return values;
  }

  /** Runs the model for its graph outputs only (no intermediate values exposed: much faster than `forward`);
   * returns the named output (default: the first), e.g. the logits of a batch of perturbed inputs. */
  async predict(input: Tensor | Record<string, Tensor>, output?: string): Promise<Tensor & { data: Float32Array }> {
    const feeds = isTensor(input) ? { [this.graph.inputs[0]?.name ?? 'input']: toF32(input) } : input;
    for (const [k, v] of Object.entries(feeds)) this.checkInput(k, v);
    this.plain ??= await this.backend.create(saveModel(this.graph), { threads: this.threads });
    const name = output ?? this.graph.outputs[0].name;
    if (!this.graph.isOutput(name)) throw new ExplainError(`${this.source}: no output '${name}' (outputs: ${this.graph.outputs.map((o) => o.name).join(', ')})`);
    const out = (await this.plain.run(feeds, [name])).get(name)!;
    return float32(out.dims, out.data as Float32Array);
  }

  // ---- intermediate values on request (attention rollout reads the attention Softmax outputs) ----
  private valueSessions = new Map<string, Promise<InferenceSession>>();

  /** Runs the model for the named values (graph outputs or any intermediate value) of the graph as loaded
   * (`which: 'original'`, before canonizers rewrote it: default) or of the canonical graph; one session per
   * list of names, kept until release. */
  async valuesOf(feeds: Record<string, Tensor>, names: readonly string[], which: 'original' | 'canonical' = 'original'): Promise<Map<string, Tensor>> {
    for (const [k, v] of Object.entries(feeds)) this.checkInput(k, v);
    const graph = which === 'original' ? this.original : this.graph;
    const key = `${which}\n${names.join('\n')}`;
    let session = this.valueSessions.get(key);
    if (!session) {
      const dtypes = inferDtypes(graph);
      const extra: ValueInfo[] = names.filter((n) => !graph.isOutput(n)).map((name) => ({ name, dtype: dtypes.get(name) ?? 'float32', dims: null }));
      session = this.backend.create(encodeModel(graph, { extraOutputs: extra }), { threads: this.threads, spinning: false });
      this.valueSessions.set(key, session);
      session.catch(() => this.valueSessions.delete(key));
    }
    return (await session).run(feeds, [...names]);
  }

  /** A new explainer over another graph (used as is: not canonized again) with the same backend and threads,
   * e.g. the model with randomised weights for a sanity check. `owned`: released with this one. */
  derive(graph: Graph, source = `${this.source} (derived)`, opts: { owned?: boolean } = {}): Explainer {
    const e = new Explainer(source, this.original, graph, [], this.backend, this.threads, this.engine, this.maxInputElements);
    if (opts.owned) this.owned.push(e);
    return e;
  }

  /** Explains one input tensor (batch first) or a map of named inputs. */
  async explain(input: Tensor | Record<string, Tensor>, opts: ExplainOptions = {}): Promise<Explanation> {
    if (!this.graph.inputs.length) throw new ExplainError(`${this.source}: the model has no inputs (its outputs are constants): nothing to explain`);
    const feeds = isTensor(input) ? { [this.graph.inputs[0]?.name ?? 'input']: toF32(input) } : input;
    if (isTensor(input) && this.graph.inputs.length !== 1) {
      throw new ExplainError(`${this.source}: the model has ${this.graph.inputs.length} inputs (${this.graph.inputs.map((i) => i.name).join(', ')}); pass them by name`);
    }
    const plan = this.plan({ composite: opts.composite, options: opts.options, ruleMap: opts.ruleMap });
    const engine = opts.engine ?? this.engine;
    if (engine !== 'ort' && engine !== 'reference') throw new ExplainError(`engine must be 'ort' or 'reference', got '${engine}'`);
    if (engine === 'ort') this.executor ??= new OrtExecutor(this.graph, this.backend, { threads: this.threads });
    const values = await this.forwardFor(feeds, plan, engine);
    const outName = opts.output ?? this.graph.outputs[0].name;
    const out = values.get(outName);
    if (!out) throw new ExplainError(`${this.source}: no output '${outName}' (outputs: ${this.graph.outputs.map((o) => o.name).join(', ')})`);
    if (out.dtype !== 'float32' && out.dtype !== 'float64') {
      const floats = this.graph.outputs.filter((o) => o.dtype === 'float32' || o.dtype === 'float64').map((o) => o.name);
      throw new ExplainError(`${this.source}: output '${outName}' is ${out.dtype}, not a float score; LRP explains a float output${floats.length ? ` (float outputs: ${floats.join(', ')}; pick one with the output option)` : ''}`);
    }
    if (out.data.length === 0) throw new ExplainError(`${this.source}: output '${outName}' is empty (shape ${shapeString(out.dims)}): nothing to explain`);
    const logits = float32(out.dims, out.data as Float32Array);
    const notFinite = logits.data.findIndex((v) => !Number.isFinite(v));
    if (notFinite >= 0) {
      throw new ExplainError(`${this.source}: output '${outName}' is not finite (element ${notFinite} is ${logits.data[notFinite]}): nothing to explain; check the weights and the input`);
    }
    const batch = logits.dims[0] ?? 1;
    const classes = logits.data.length / batch;
    const predictions = [...Array(batch).keys()].map((s) => argmax(logits.data.subarray(s * classes, (s + 1) * classes)));
    const targets = resolveTargets(opts.target, predictions, classes);
    const mode = opts.outputRelevance ?? defaultOutputRelevance(plan.mode);
    if (mode !== 'logit' && mode !== 'one') throw new ExplainError(`output relevance must be 'logit' or 'one', got '${mode}'`);
    const seed = new Float32Array(logits.data.length);
    const scores = targets.map((t, s) => logits.data[s * classes + t]);
    targets.forEach((t, s) => { seed[s * classes + t] = mode === 'logit' ? scores[s] : 1; });
    const prop = await propagate(this.graph, plan, values, { value: outName, relevance: seed }, batch, engine === 'ort' ? this.executor! : undefined);
    const inputs = new Map<string, Tensor & { data: Float32Array }>();
    for (const i of this.graph.inputs) {
      const x = values.get(i.name)!;
      let r = prop.relevance.get(i.name) ?? new Float32Array(x.data.length);
      if (plan.mode === 'gradient_x_input') r = r.map((v, k) => v * Number((x.data as Float32Array)[k]));
      inputs.set(i.name, float32(x.dims, r));
    }
    const first = inputs.get(this.graph.inputs[0].name)!;
    if (![...inputs.values()].every((r) => r.data.every(Number.isFinite))) throw nonFiniteRelevance(this.source, this.graph, prop.relevance);
    const seedSums = [...Array(batch).keys()].map((s) => (mode === 'logit' ? scores[s] : 1));
    const inSums = sampleSums(first.data, batch);
    const absorbed = seedSums.map((o, s) => (o === 0 ? 0 : (o - inSums[s]) / Math.abs(o)));
    return {
      relevance: first, inputs, output: logits, predictions, targets, scores, outputRelevance: mode, outputRelevanceDefault: opts.outputRelevance === undefined, plan,
      conservation: {
        outputRelevance: seedSums,
        inputRelevance: inSums,
        absorbed,
        nodes: prop.conservation.map((c) => ({ ...c, absorbed: c.atOutputs.map((v, s) => (v === 0 ? 0 : (v - c.atInputs[s]) / Math.abs(v))) })),
      },
      values: opts.keepAll ? prop.relevance : undefined,
      warnings: [
        ...boundsWarnings(this.graph, plan, feeds),
        ...vanishingWarnings({ plan, relevance: first.data, scores, outputRelevance: seedSums, inputRelevance: inSums, absorbed }),
      ],
      valueDims: opts.keepAll ? new Map([...prop.relevance.keys()].flatMap((k) => (values.has(k) ? [[k, [...values.get(k)!.dims]] as [string, number[]]] : []))) : undefined,
    };
  }

  async release(): Promise<void> {
    await this.session?.release();
    this.session = null;
    await this.executor?.release();
    this.executor = null;
    await this.lean?.session.release();
    this.lean = null;
    await this.plain?.release();
    this.plain = null;
    for (const s of this.valueSessions.values()) await (await s.catch(() => null))?.release();
    this.valueSessions.clear();
    for (const e of this.owned) await e.release();
  }
}

/** The output relevance used when none is asked for: 'logit' for LRP, 'one' (the plain gradient, as in
 * Captum and Zennit) for the gradient modes, whichever name (composite or method) asked for them. */
export function defaultOutputRelevance(mode: RulePlan['mode']): OutputRelevance {
  return mode === 'lrp' ? 'logit' : 'one';
}

/** The error for relevance that overflowed or became NaN (non-finite weights, a stabiliser too small for the
 * values): names the node nearest the output whose relevance is finite at its outputs but not at an input. */
function nonFiniteRelevance(source: string, graph: Graph, relevance: ReadonlyMap<string, Float32Array>): ExplainError {
  const finite = (v: string) => relevance.get(v)?.every(Number.isFinite) ?? true;
  const at = [...graph.nodes].reverse().find((n) => n.outputs.every(finite) && n.inputs.some((i) => i && !finite(i)));
  const where = at ? ` at node '${at.name}' (${at.opType})` : '';
  return new ExplainError(`${source}: relevance is not finite${where} (NaN or ±Inf: non-finite weights or values, or a stabiliser too small for them); try a larger epsilon`);
}

/** A warning per zBox layer reading a model input with values outside its [low, high] bounds: the rule assumes
 * low ≤ x ≤ high, so such a map is unreliable (wrong bounds, or preprocessing other than the bounds imply). */
function boundsWarnings(graph: Graph, plan: RulePlan, feeds: Record<string, Tensor>): string[] {
  const out: string[] = [];
  for (const e of plan.entries) {
    if (e.rule !== 'zBox' || e.params.low === undefined || e.params.high === undefined) continue;
    const node = graph.node(e.node);
    for (const name of (node?.inputs ?? []).map((v) => feedBehind(graph, v))) {
      const x = name === undefined ? undefined : feeds[name];
      if (!x || !isFloat(x)) continue;
      const w = outsideBounds(x, e.params.low, e.params.high);
      if (w) out.push(`input '${name}': ${w.count} of ${x.data.length} values lie outside the zBox bounds of node '${e.node}' (values in [${fmtNum(w.min)}, ${fmtNum(w.max)}], bounds [${fmtBounds(e.params.low)}] to [${fmtBounds(e.params.high)}]); the zBox rule assumes low ≤ x ≤ high, so this map is unreliable: check the preprocessing or --low/--high`);
    }
  }
  return out;
}

/** Ops that move a value without changing it: the bounds of a layer behind them are the model input's. */
const MOVES = new Set(['Flatten', 'Reshape', 'Transpose', 'Identity', 'Squeeze', 'Unsqueeze']);

/** The graph input that `value` is (behind a chain of MOVES ops), if any. */
function feedBehind(graph: Graph, value: string): string | undefined {
  for (let v = value, k = 0; k < 16; k++) {
    if (graph.inputs.some((i) => i.name === v)) return v;
    const p = graph.producer(v);
    if (!p || !MOVES.has(p.opType) || !p.inputs[0]) return undefined;
    v = p.inputs[0];
  }
  return undefined;
}

const fmtNum = (v: number) => Number(v.toPrecision(4)).toString();
const fmtBounds = (b: number | readonly number[]) => (typeof b === 'number' ? [b] : [...b]).map(fmtNum).join(',');

/** Values of x (NCHW-like: channel = axis 1 when the bounds are per channel) below low or above high, beyond a
 * float32 rounding tolerance; null when all are inside. */
function outsideBounds(x: Tensor, low: number | readonly number[], high: number | readonly number[]): { count: number; min: number; max: number } | null {
  const data = x.data as ArrayLike<number>;
  const C = x.dims.length > 1 ? x.dims[1] : 1;
  const inner = x.dims.slice(2).reduce((a, d) => a * d, 1);
  const perChannel = (b: number | readonly number[], pick: (...v: number[]) => number) =>
    Array.from({ length: C }, (_, c) => (typeof b === 'number' ? b : b.length === C ? b[c] : pick(...b)));
  const los = perChannel(low, Math.min), his = perChannel(high, Math.max);
  const tols = los.map((lo, c) => 1e-4 * Math.max(1, Math.abs(his[c] - lo)));
  let count = 0, min = Infinity, max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const c = Math.floor(i / inner) % C, v = data[i];
    if (!(v >= los[c] - tols[c] && v <= his[c] + tols[c])) count++;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return count ? { count, min, max } : null;
}

function isTensor(v: unknown): v is Tensor {
  return !!v && typeof v === 'object' && 'dims' in v && 'data' in v && 'dtype' in v;
}

function toF32(t: Tensor): Tensor {
  if (t.dtype === 'float32') return t;
  if (t.dtype === 'float64' || t.dtype === 'float16') return float32(t.dims, t.data as Float64Array);
  return t;
}

function argmax(a: Float32Array): number {
  let b = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[b]) b = i;
  return b;
}

function sampleSums(r: Float32Array, batch: number): number[] {
  const n = r.length / batch;
  return [...Array(batch).keys()].map((s) => { let v = 0; for (let i = s * n; i < (s + 1) * n; i++) v += r[i]; return v; });
}

function resolveTargets(target: number | number[] | undefined, predictions: number[], classes: number): number[] {
  const batch = predictions.length;
  let t: number[];
  if (target === undefined) t = predictions;
  else if (typeof target === 'number') t = new Array(batch).fill(target);
  else {
    if (target.length !== batch) throw new ExplainError(`${target.length} targets given for a batch of ${batch}`);
    t = target;
  }
  for (const k of t) {
    if (!Number.isInteger(k) || k < 0 || k >= classes) throw new ExplainError(`target ${k} is out of range: the output has ${classes} classes (0–${classes - 1})`);
  }
  return t;
}
