/** The explainer: a loaded, canonized model with its inference session; explains inputs with a composite or
 * a rule map, returning input relevance, optionally every value's relevance, and a conservation report. */
import { canonize, CanonizeOptions } from '../canonize';
import { InferenceBackend, InferenceSession } from '../forward/backend';
import { OrtExecutor } from '../propagate/engine/ort/executor';
import { encodeModel } from '../propagate/engine/ort/encode';
import { aliasesFor, reluAliases } from '../propagate/engine/ort/exposure';
import { Graph, ValueInfo } from '../ir/graph';
import { inferDtypes } from '../ops/dtypes';
import { LoadedModel } from '../onnx/load';
import { saveModel } from '../onnx/save';
import { isFloat } from '../ops/op';
import { PlanOptions, RulePlan, buildPlan, defaultComposite, relevanceNodes } from '../plan/plan';
import { CompositeChoice } from '../plan/default';
import { Propagation, propagate } from '../propagate/core';
import { FusedEngine, FusedResult } from '../propagate/engine/fused/engine';
import { Tensor, float32, shapeString } from '../tensor';
import { assembleExplanation } from './result';
import { ReferenceNode, recording, referenceNodes } from './engines';
import { assembleBlocks } from './blocks';
import { blockCount, blockOf, negatedHead, stackBlocks, tileFeeds } from './contrast';
import { defaultOutputRelevance, outputSeed, resolveTargets } from './seed';
import { Engine, EngineUse, ExplainError, ExplainOptions, Explanation, OutputRelevance } from './types';

/** Largest input tensor explained, in elements (64 Mi: a 3×4096×4096 float image needs 192 MiB, and LRP keeps
 * several values of that size per layer). */
export const DEFAULT_MAX_INPUT_ELEMENTS = 64 * 1024 ** 2;

export class Explainer {
  private session: InferenceSession | null = null;
  /** a second session without the exposed intermediate values: outputs only (predict) */
  private plain: InferenceSession | null = null;
  private exposed: string[] = [];
  private executor: OrtExecutor | null = null;
  /** the nodes the onnxruntime executor handled (engines.ts) */
  private handled = new Set<string>();
  private fused: FusedEngine | null = null;
  /** the forward for the onnxruntime engine: without the linear outputs that only a Relu reads */
  private lean: { session: InferenceSession; exposed: string[]; aliases: Map<string, string> } | null = null;
  private aliasCache?: Map<string, string>;
  /** the negated dual class's widened head (contrast.ts), made on first use */
  private negated: { graph: Graph; output: string; from: string; explainer?: Explainer } | null = null;
  /** derived explainers released with this one (e.g. a copy with a symbolic batch) */
  private readonly owned: Explainer[] = [];

  private constructor(
    readonly source: string,
    readonly original: Graph,
    readonly graph: Graph,
    readonly canonizerActions: string[],
    private readonly backend: InferenceBackend,
    private readonly threads: number,
    readonly engine: Engine = 'auto',
    /** largest input tensor explained, in elements */
    readonly maxInputElements = DEFAULT_MAX_INPUT_ELEMENTS,
  ) {}

  static create(model: LoadedModel, backend: InferenceBackend, opts: { source?: string; canonize?: CanonizeOptions | false; threads?: number; engine?: Engine; maxInputElements?: number } = {}): Explainer {
    const c = opts.canonize === false ? { graph: model.graph, actions: [] } : canonize(model.graph, opts.canonize || {});
    if (opts.engine !== undefined) checkEngine(opts.engine);
    const max = opts.maxInputElements;
    if (max !== undefined && !(max > 0)) throw new ExplainError(`maxInputElements must be a positive number, got ${max}`);
    return new Explainer(opts.source ?? 'model', model.graph, c.graph, c.actions, backend, opts.threads ?? 0, opts.engine ?? 'auto', max);
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

  /** The nodes of `plan` that ran on the reference kernels (TypeScript) rather than onnxruntime in this
   * explainer's per-layer ('ort') explanations so far, each with the reason (the engine's or the op's). */
  referenceNodes(plan: RulePlan): ReferenceNode[] {
    return referenceNodes(plan, this.handled, this.executor?.referenceReasons() ?? new Map());
  }

  /** The composite this model gets when none is asked for, and why (lib/plan/default.ts). */
  defaultComposite(): CompositeChoice {
    return defaultComposite(this.graph);
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

  /** The explained output as float32 logits; throws when it is missing, not float, empty or not finite. */
  private explainedOutput(values: Map<string, Tensor>, outName: string): Tensor & { data: Float32Array } {
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
    return logits;
  }

  /** The fused engine's run of this explanation, or why it was not used (a string). */
  private async runFused(feeds: Record<string, Tensor>, plan: RulePlan, opts: ExplainOptions, outName: string, mode: 'logit' | 'one'): Promise<FusedResult | string> {
    for (const [k, v] of Object.entries(feeds)) this.checkInput(k, v);
    if (!this.graph.outputs.some((o) => o.name === outName)) throw new ExplainError(`${this.source}: no output '${outName}' (outputs: ${this.graph.outputs.map((o) => o.name).join(', ')})`);
    this.fused ??= new FusedEngine(this.graph, this.backend, { threads: this.threads });
    const inputDims = new Map(Object.entries(feeds).map(([k, v]) => [k, v.dims]));
    const req = { inputDims, output: outName, outputRelevance: mode, keepAll: !!opts.keepAll };
    const f32Feeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toF32(v)]));
    return this.fused.explain(plan, req, f32Feeds, ([batch, ...rest]) => {
      // −1: the predicted class, chosen in the graph
      const classes = rest.reduce((a, v) => a * v, 1);
      return opts.target === undefined ? new Array<number>(batch).fill(-1) : resolveTargets(opts.target, new Array<number>(batch).fill(0), classes);
    });
  }

  /** Explains one input tensor (batch first) or a map of named inputs (output relevance modes: ExplainOptions,
   * contrast.ts). */
  async explain(input: Tensor | Record<string, Tensor>, opts: ExplainOptions = {}): Promise<Explanation> {
    if (!this.graph.inputs.length) throw new ExplainError(`${this.source}: the model has no inputs (its outputs are constants): nothing to explain`);
    const feeds = isTensor(input) ? { [this.graph.inputs[0]?.name ?? 'input']: toF32(input) } : input;
    if (isTensor(input) && this.graph.inputs.length !== 1) {
      throw new ExplainError(`${this.source}: the model has ${this.graph.inputs.length} inputs (${this.graph.inputs.map((i) => i.name).join(', ')}); pass them by name`);
    }
    const outName = opts.output ?? this.graph.outputs[0].name;
    if (opts.outputRelevance === 'contrastive' && opts.dual === 'negated') {
      if (!this.graph.isOutput(outName)) throw new ExplainError(`${this.source}: no output '${outName}' (outputs: ${this.graph.outputs.map((o) => o.name).join(', ')})`);
      if (this.negated?.from !== outName) this.negated = { ...negatedHead(this.graph, outName), from: outName };
      const head = (this.negated.explainer ??= this.derive(this.negated.graph, this.source, { owned: true }));
      return head.run(feeds, opts, this.negated.output, true);
    }
    return this.run(feeds, opts, outName, false);
  }

  /** The forward and backward pass of `explain`. `head`: this graph is the negated dual class's widened head
   * (contrast.ts), whose explained output has twice the model's classes. Seeds of several row blocks (CLRP,
   * several contrasts) run as one batch of the tiled input. */
  private async run(feeds: Record<string, Tensor>, opts: ExplainOptions, outName: string, head: boolean): Promise<Explanation> {
    const plan = this.plan({ composite: opts.composite, options: opts.options, ruleMap: opts.ruleMap });
    const requested = opts.engine ?? this.engine;
    checkEngine(requested);
    const blockMode = opts.outputRelevance === 'contrastive' ? 'contrastive' : opts.contrast !== undefined ? 'contrast' : 'plain';
    const k = blockCount({ mode: blockMode, contrast: typeof opts.contrast === 'number' ? [opts.contrast] : opts.contrast });
    const a0 = { source: this.source, graph: this.graph, plan, feeds, askedOutputRelevance: opts.outputRelevance !== undefined, keepAll: opts.keepAll };
    let note: string | undefined;
    if (requested === 'auto' || requested === 'fused') {
      const seedMode = opts.outputRelevance ?? defaultOutputRelevance(plan.mode);
      if (head || k > 1 || blockMode !== 'plain' || (seedMode !== 'logit' && seedMode !== 'one')) {
        note = `fused engine not used: it seeds only the 'logit' and 'one' output relevance, not '${opts.contrast !== undefined ? 'contrast' : seedMode}'`;
      } else {
        const f = await this.runFused(feeds, plan, opts, outName, seedMode);
        if (typeof f !== 'string') {
          const finite = [...f.relevance.values()].every((r) => r.every(Number.isFinite));
          // not finite: the per-layer engine names the node where it happens
          if (finite || !f.output.data.every(Number.isFinite)) {
            const logits = this.explainedOutput(new Map([[outName, f.output]]), outName);
            const values = new Map<string, Tensor>([...Object.entries(feeds), [outName, logits]]);
            const width = logits.data.length / (logits.dims[0] ?? 1);
            const seed = outputSeed(logits, plan, opts.target, opts.outputRelevance, { dual: opts.dual, clip: opts.clip, width });
            const prop = { relevance: f.values ?? f.relevance, conservation: f.conservation, valueDims: f.valueDims };
            return assembleExplanation({ ...a0, values, logits, seed, prop, engine: { used: 'fused' } });
          }
          note = 'relevance not finite in the fused engine: rerun per layer to find the node';
        } else note = `fused engine not used: ${f}`;
      }
    }
    const engine = requested === 'reference' ? 'reference' : 'ort';
    if (engine === 'ort' && !this.executor) ({ executor: this.executor, handled: this.handled } = recording(new OrtExecutor(this.graph, this.backend, { threads: this.threads })));
    const used: EngineUse = note ? { used: engine, note } : { used: engine };
    // a model with a fixed batch cannot take the tiled input: one forward pass, then one backward pass per block
    const fixed = k > 1 && this.graph.inputs.some((i) => typeof i.dims?.[0] === 'number');
    let values = await this.forwardFor(fixed ? feeds : tileFeeds(feeds, k), plan, engine);
    const out = this.explainedOutput(values, outName);
    const rows = (out.dims[0] ?? 1) / (fixed ? 1 : k);
    const width = out.data.length / (out.dims[0] ?? 1);
    const logits = k === 1 && !head ? out : firstBlock(out, rows, width, head ? width / 2 : width);
    const seed = outputSeed(logits, plan, opts.target, opts.outputRelevance, { contrast: opts.contrast, dual: opts.dual, clip: opts.clip, width });
    const executor = engine === 'ort' ? this.executor! : undefined;
    let prop: Propagation;
    if (fixed) {
      const props = [];
      for (let b = 0; b < k; b++) props.push(await propagate(this.graph, plan, values, { value: outName, relevance: blockOf(seed.relevance, b, k) }, rows, executor));
      ({ values, prop } = stackBlocks(values, props, rows));
    } else {
      prop = await propagate(this.graph, plan, values, { value: outName, relevance: seed.relevance }, rows * k, executor);
    }
    const a = { ...a0, values, logits, seed, prop, engine: used };
    if (k > 1) return assembleBlocks(a, k);
    const e = assembleExplanation(a);
    return seed.contrast ? { ...e, contrast: seed.contrast[0] } : e;
  }

  async release(): Promise<void> {
    await this.session?.release();
    this.session = null;
    await this.executor?.release();
    this.executor = null;
    await this.fused?.release();
    this.fused = null;
    await this.lean?.session.release();
    this.lean = null;
    await this.plain?.release();
    this.plain = null;
    for (const s of this.valueSessions.values()) await (await s.catch(() => null))?.release();
    this.valueSessions.clear();
    for (const e of this.owned) await e.release();
  }
}

const ENGINES: readonly Engine[] = ['auto', 'fused', 'ort', 'reference'];

function checkEngine(engine: unknown): asserts engine is Engine {
  if (!ENGINES.includes(engine as Engine)) throw new ExplainError(`engine must be ${ENGINES.map((e) => `'${e}'`).join(', ')}, got '${engine}'`);
}

/** The first row block's first `classes` columns of a [k·rows, width] output: the model's own logits. */
function firstBlock(out: Tensor & { data: Float32Array }, rows: number, width: number, classes: number): Tensor & { data: Float32Array } {
  const logits = new Float32Array(rows * classes);
  for (let s = 0; s < rows; s++) logits.set(out.data.subarray(s * width, s * width + classes), s * classes);
  return float32([rows, classes], logits);
}

function isTensor(v: unknown): v is Tensor {
  return !!v && typeof v === 'object' && 'dims' in v && 'data' in v && 'dtype' in v;
}

function toF32(t: Tensor): Tensor {
  if (t.dtype === 'float32') return t;
  if (t.dtype === 'float64' || t.dtype === 'float16') return float32(t.dims, t.data as Float64Array);
  return t;
}
