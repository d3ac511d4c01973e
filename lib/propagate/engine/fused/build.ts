/** Lowers a whole explanation into ONE ONNX graph: the model's forward, the seed (one-hot of the target, chosen
 * in the graph when the caller leaves it to the prediction), every node's rule step in reverse order (the
 * per-layer lowerings and the RuleOps tracing of lib/propagate/engine/ort, unchanged), relevance sums where a
 * value feeds several consumers, and each relevance value's per-sample sum as one small [N, K] output (the
 * conservation report). Built per (model, plan, output, seed mode, input shapes). What it does not cover is
 * answered with a reason, never lowered approximately. Browser-safe. */
import { Graph, Node, ValueInfo } from '../../../ir/graph';
import { inferDtypes } from '../../../ops/dtypes';
import { isLowered, sumTo } from '../../../ops/lowering';
import { NodeContext, liveInputs } from '../../../ops/op';
import { builtRule } from '../../../plan/built';
import { PlanEntry, RulePlan } from '../../../plan/plan';
import { Tensor } from '../../../tensor';
import { GraphBuilder, OPSET, UnsupportedTrace } from '../ort/builder';
import { encodeModel } from '../ort/encode';
import { staticNonNegative } from '../ort/executor';
import { aliasesFor, reluAliases } from '../ort/exposure';
import { WeightStore, lowerLinear, lowerRoute, lowerVjp } from '../ort/lower';
import { maskOperands } from '../../transformer';
import { StepNotLowered, bilinearStep, softmaxStep, tokenStep } from './transformer';
import { SymbolicOps } from '../ort/trace';
import { ShapeError, inferShapes } from './shapes';
import { sampleStrides } from '../../samples';

/** Names of everything the fused graph adds to the model's own (which never start with it). */
const PREFIX = 'lrp/';
export const TARGET_INPUT = `${PREFIX}target`;

export interface FusedRequest {
  /** concrete dims of every graph input */
  inputDims: ReadonlyMap<string, readonly number[]>;
  /** the explained output */
  output: string;
  outputRelevance: 'logit' | 'one';
  /** every relevance value as an output */
  keepAll: boolean;
}

export interface FusedNodeSums {
  node: string; op: string; rule: string;
  /** columns of the sums output added up for the relevance at the node's outputs / inputs */
  outs: number[]; ins: number[];
}

export interface FusedGraph {
  bytes: Uint8Array;
  /** relevance output per model input (absent: no relevance reaches it) */
  relevance: Map<string, string>;
  /** with keepAll: relevance output per value, and the value's dims */
  values: Map<string, string>;
  valueDims: Map<string, number[]>;
  /** the per-sample sums output ([N, K], K columns; null: no node on the relevance path) */
  sums: string | null;
  /** the explained output's dims; the nodes' sums in forward order; every output fetched */
  outputDims: number[];
  nodes: FusedNodeSums[];
  outputs: string[];
}

export class NotCovered extends Error {
  override name = 'NotCovered';
}

/** Constants whose key says all of their data; any other key (a layer's weights) is the node's own. */
const SHARED_KEY = /^(scalar|ints|ones|bounds|depth):|^(zero64|onehot)$/;

/** A GraphBuilder for many layers in one graph: names under PREFIX, weight keys scoped by the current node
 * (the per-layer lowerings key a layer's weights by role and modifier only). */
class FusedBuilder extends GraphBuilder {
  private n = 0;
  scope = '';
  /** the model's own weights by their data: a step on unmodified weights reads the model's initializer, not a copy */
  private readonly own = new Map<unknown, { name: string; dims: string }>();
  constructor(label: string, constants: ReadonlyMap<string, Tensor>) {
    super(label);
    for (const [name, t] of constants) if (t.dtype === 'float32' && t.data.length > 1) this.own.set(t.data, { name, dims: t.dims.join(',') });
  }
  override fresh(prefix = 'v'): string {
    return `${PREFIX}${prefix}${this.n++}`;
  }
  override feed(key: string, t: Tensor): string {
    const own = this.own.get(t.data);
    if (own && own.dims === t.dims.join(',')) return own.name;
    return super.feed(`${this.scope}\u0000${key}`, t);
  }
  override constant(key: string, make: () => Tensor): string {
    return super.constant(SHARED_KEY.test(key) ? key : `${this.scope}\u0000${key}`, make);
  }
}

/** The seed: the output times (or, mode 'one', just) the one-hot of the target; a target < 0 is the argmax. */
function seed(b: GraphBuilder, out: string, dims: readonly number[], mode: 'logit' | 'one'): string {
  const N = dims[0];
  const classes = dims.slice(1).reduce((a, v) => a * v, 1);
  const flat = b.op('Reshape', [out, b.ints([N, classes])]);
  const pred = b.op('ArgMax', [flat], { axis: 1, keepdims: 0 });
  const t = b.op('Where', [b.op('Less', [TARGET_INPUT, b.constant('zero64', () => ({ dtype: 'int64', dims: [], data: BigInt64Array.of(0n) }))]), pred, TARGET_INPUT]);
  const values = b.constant('onehot', () => ({ dtype: 'float32', dims: [2], data: Float32Array.of(0, 1) }));
  const hot = b.op('OneHot', [t, b.constant(`depth:${classes}`, () => ({ dtype: 'int64', dims: [1], data: BigInt64Array.of(BigInt(classes)) })), values], { axis: -1 });
  const s = mode === 'logit' ? b.op('Mul', [hot, flat]) : hot;
  return b.op('Reshape', [s, b.ints([...dims])]);
}

interface Walk {
  graph: Graph;
  b: FusedBuilder;
  shapes: Map<string, number[]>;
  ctxFor(node: Node): NodeContext;
  /** the value a rule reads for a linear node's output (a ReLU's output standing in for it), and whether it is ≥ 0 */
  zOf(name: string): { name: string; positive: boolean };
  nonNegative(name: string): boolean;
  store: WeightStore;
}

const RESHAPES = new Set(['Flatten', 'Reshape', 'Squeeze', 'Unsqueeze', 'Identity', 'Dropout']);

/** An AveragePool whose every window divides by its full size (no pads, or pads counted), as the depthwise
 * Conv with weights 1/size it is, for the per-layer Conv lowering; null for any other node. */
function avgPoolAsConv(ctx: NodeContext): NodeContext | null {
  const { node } = ctx;
  if (node.opType !== 'AveragePool' || node.domain !== '') return null;
  const pads = (node.attrs.pads as number[] | undefined) ?? [];
  const autoPad = (node.attrs.auto_pad as string | undefined) ?? 'NOTSET';
  if ((node.attrs.ceil_mode ?? 0) !== 0 || !['NOTSET', 'VALID'].includes(autoPad)) return null;
  if (pads.some((p) => p !== 0) && node.attrs.count_include_pad !== 1) return null;
  const x = ctx.value(node.inputs[0]);
  const kernel = node.attrs.kernel_shape as number[];
  const size = kernel.reduce((a, v) => a * v, 1);
  const C = x.dims[1];
  const wName = `${PREFIX}avgpool-weight`;
  const weight: Tensor = { dtype: 'float32', dims: [C, 1, ...kernel], data: new Float32Array(C * size).fill(1 / size) };
  const attrs: Node['attrs'] = { ...node.attrs, group: C };
  delete (attrs as Record<string, unknown>).ceil_mode;
  delete (attrs as Record<string, unknown>).count_include_pad;
  const conv: Node = { ...node, opType: 'Conv', inputs: [node.inputs[0], wName], attrs };
  return {
    node: conv, opset: ctx.opset, has: (n) => n === wName || ctx.has(n),
    value: (n) => (n === wName ? weight : ctx.value(n)), isConstant: (n) => n === wName || ctx.isConstant(n),
  };
}

/** Gradient routing (max pools, reshapes, Concat, Transpose, and the ops' vjp lowerings) as graph values. */
function routeStep(w: Walk, ctx: NodeContext, entry: PlanEntry, R: string, where: string): (string | null)[] {
  const { node } = ctx;
  const out: (string | null)[] = node.inputs.map(() => null);
  const live = liveInputs(ctx);
  const same = (a: string, c: string) => w.shapes.get(a)!.join(',') === w.shapes.get(c)!.join(',');
  if (entry.category === 'maxpool') {
    const r = lowerRoute(w.b, ctx, node.inputs[0], R);
    if (!isLowered(r)) throw new NotCovered(`${where}: ${r.none}`);
    out[0] = r;
  } else if (RESHAPES.has(node.opType) && live.length === 1 && live[0] === 0) {
    out[0] = same(node.inputs[0], node.outputs[0]) ? R : w.b.op('Reshape', [R, w.b.ints(w.shapes.get(node.inputs[0])!)]);
  } else if (node.opType === 'Concat' && node.inputs.every(Boolean)) {
    // each input gets its slice of R along the axis (constant inputs' slices are dropped by the caller)
    const dims = node.inputs.map((i) => w.shapes.get(i) ?? w.graph.constant(i)!.dims);
    const axis = (node.attrs.axis as number) < 0 ? (node.attrs.axis as number) + dims[0].length : node.attrs.axis as number;
    const parts = node.inputs.length === 1 ? [R] : w.b.node('Split', [R, w.b.ints(dims.map((d) => d[axis]))], { axis }, node.inputs.length);
    parts.forEach((p, i) => { out[i] = p; });
  } else if (node.opType === 'Transpose' && live.length === 1) {
    const perm = node.attrs.perm as number[] | undefined ?? w.shapes.get(node.inputs[0])!.map((_, i, a) => a.length - 1 - i);
    const inverse = perm.map((_, i) => perm.indexOf(i));
    out[0] = w.b.op('Transpose', [R], { perm: inverse });
  } else {
    const r = lowerVjp(w.b, ctx, R);
    if (!isLowered(r)) throw new NotCovered(`${where}: ${r.none}`);
    return r;
  }
  return out;
}

/** Relevance for each input of `node` as graph values (null where none flows). */
async function nodeStep(w: Walk, node: Node, entry: PlanEntry, R: string): Promise<(string | null)[]> {
  const ctx = w.ctxFor(node);
  w.b.scope = node.name;
  const rule = builtRule(entry);
  const where = `node '${node.name}' (${node.opType}), rule ${entry.rule}`;
  const out: (string | null)[] = node.inputs.map(() => null);
  const live = liveInputs(ctx);
  const same = (a: string, c: string) => w.shapes.get(a)!.join(',') === w.shapes.get(c)!.join(',');
  switch (rule.kind) {
    case 'linear': {
      if (rule.rule.name === 'pass') {
        // the identity: relevance passes to the one live input of the output's shape
        if (live.length !== 1 || !same(node.inputs[live[0]], node.outputs[0])) throw new NotCovered(`${where}: the pass rule on a linear op that changes the shape`);
        out[live[0]] = R;
        return out;
      }
      const low = lowerLinear(avgPoolAsConv(ctx) ?? ctx, w.store);
      if (!isLowered(low)) throw new NotCovered(`${where}: ${low.none}`);
      const xs = low.live.map((i) => node.inputs[i]);
      const z = w.zOf(node.outputs[0]);
      const ops = new SymbolicOps(w.b, low, xs, xs.map((x) => w.shapes.get(x)!), new Set(z.positive ? [z.name] : []));
      const nonNegative = xs.every((x) => w.nonNegative(x));
      let parts: string[];
      try {
        parts = await rule.rule.lrp(ops, { x: xs, z: [z.name], nonNegative }, [R]);
      } catch (e) {
        if (e instanceof UnsupportedTrace) throw new NotCovered(`${where}: ${e.message}`);
        throw e;
      }
      low.live.forEach((i, j) => { out[i] = out[i] ? w.b.op('Add', [out[i]!, parts[j]]) : parts[j]; });
      return out;
    }
    case 'pass': {
      if (!same(node.inputs[live[0]], node.outputs[0])) throw new NotCovered(`${where}: relevance passed to an input of another shape`);
      out[live[0]] = R;
      return out;
    }
    case 'vjp': return routeStep(w, ctx, entry, R, where);
    case 'bilinear': case 'softmax': case 'tokens':
      try {
        if (rule.kind === 'bilinear') return bilinearStep(w.b, ctx, w.graph, rule, R);
        if (rule.kind === 'softmax') out[0] = softmaxStep(w.b, ctx, R);
        else out[1] = tokenStep(w.b, ctx, R, rule.dot);
      } catch (e) {
        if (e instanceof StepNotLowered) throw new NotCovered(`${where}: ${e.message}`);
        throw e;
      }
      return out;
    case 'stop': return out;
    case 'uniform': {
      // each live factor an equal share, summed over the dims it was broadcast along
      const share = w.b.op('Mul', [R, w.b.scalar(1 / live.length)]);
      for (const i of live) out[i] = sumTo(w.b, share, w.shapes.get(node.inputs[i])!, w.shapes.get(node.outputs[0])!);
      return out;
    }
    default: throw new NotCovered(`${where}: ${rule.kind} rules are not lowered`);
  }
}

/** Per-sample sums of relevance values, as columns of one [N, K] output. A value that is a reshape of another,
 * or the sum of relevance from several consumers, is given the columns of its parts (added up in JS) instead
 * of a ReduceSum pass of its own. */
class Sums {
  readonly cols: string[] = [];
  private readonly index = new Map<string, number[]>();
  constructor(private readonly b: GraphBuilder, private readonly N: number) {}
  /** `stride` (samples.ts): element i belongs to sample ⌊i / stride⌋ mod N, for a value whose batch is not
   * its first axis (nn.MultiheadAttention's sequence-first values); absent: batch-first. */
  of(v: string, stride?: number, size?: number): number[] {
    const key = `${v}|${stride ?? ''}`;
    let i = this.index.get(key);
    if (i === undefined) {
      const b = this.b;
      const col = stride === undefined || size === undefined
        ? b.op('ReduceSum', [b.op('Reshape', [v, b.ints([this.N, -1])]), b.ints([1])], { keepdims: 1 })
        : b.op('Reshape', [b.op('ReduceSum', [b.op('Reshape', [v, b.ints([-1, this.N, stride])]), b.ints([0, 2])], { keepdims: 0 }), b.ints([this.N, 1])]);
      this.cols.push(col);
      i = [this.cols.length - 1];
      this.index.set(key, i);
    }
    return i;
  }
  /** `v` (laid out with `stride`) sums per sample to these columns added up */
  alias(v: string, stride: number | undefined, cols: number[]): void {
    const key = `${v}|${stride ?? ''}`;
    if (!this.index.has(key)) this.index.set(key, cols);
  }
}

const INTEGER = new Set(['int64', 'int32', 'bool']);

/** `known`: integer values the input dims decide (shapes, indices): the lowerings read them as constants. */
function walkContext(graph: Graph, plan: RulePlan, shapes: Map<string, number[]>, known: Map<string, number[]>): Omit<Walk, 'b' | 'store'> {
  const dtypes = inferDtypes(graph);
  const decided = (name: string) => known.has(name) && INTEGER.has(dtypes.get(name) ?? '');
  const data = (name: string): Tensor => {
    const dtype = dtypes.get(name)!;
    const v = known.get(name)!;
    const d = dtype === 'int64' ? BigInt64Array.from(v.map(BigInt)) : dtype === 'int32' ? Int32Array.from(v) : Uint8Array.from(v);
    return { dtype, dims: shapes.get(name)!, data: d } as Tensor;
  };
  const aliases = reluAliases(graph);
  const useAliases = aliases.size > 0 && aliasesFor(graph, plan, aliases);
  const signs = new Map<string, boolean | null>();
  const fake = (name: string): Tensor => ({ dtype: dtypes.get(name) ?? 'float32', dims: shapes.get(name)!, data: new Float32Array(0) });
  return {
    graph, shapes,
    ctxFor: (node) => ({
      node,
      opset: graph.opsets[node.domain] ?? graph.opsets[''],
      value: (name) => graph.constant(name) ?? (decided(name) ? data(name) : fake(name)),
      has: (name) => shapes.has(name) || graph.isConstant(name),
      isConstant: (name) => graph.isConstant(name) || decided(name),
    }),
    zOf: (name) => (useAliases && aliases.has(name) ? { name: aliases.get(name)!, positive: true } : { name, positive: false }),
    nonNegative: (name) => staticNonNegative(graph, name, signs) === true,
  };
}

/** Marks `v` as a graph output under a name of its own (an Identity when it is already one or not a node's output). */
function outputOf(b: GraphBuilder, v: string, taken: Set<string>): string {
  const name = taken.has(v) || !v.startsWith(PREFIX) ? b.op('Identity', [v]) : v;
  taken.add(name);
  return name;
}

/** The fused graph, or NotCovered with the first reason it cannot be built. */
export async function buildFused(graph: Graph, plan: RulePlan, req: FusedRequest): Promise<FusedGraph> {
  if (plan.mode !== 'lrp') throw new NotCovered(`the ${plan.mode} mode is not lowered`);
  const opset = graph.opsets[''] ?? 0;
  if (opset < 13) throw new NotCovered(`opset ${opset} < 13`);
  const clash = [...graph.nodes.flatMap((n) => [n.name, ...n.outputs]), ...graph.constants.keys()].find((v) => v.startsWith(PREFIX));
  if (clash) throw new NotCovered(`the model names a value '${clash}'`);
  let shapes: Map<string, number[]>;
  const known = new Map<string, number[]>();
  try {
    shapes = inferShapes(graph, req.inputDims, known);
  } catch (e) {
    if (e instanceof ShapeError) throw new NotCovered(e.message);
    throw e;
  }
  const outDims = shapes.get(req.output)!;
  const N = outDims[0];
  const b = new FusedBuilder('onnx-lrp fused', graph.constants);
  const store = new WeightStore();
  const w: Walk = { ...walkContext(graph, plan, shapes, known), b, store };
  const rel = new Map<string, string>([[req.output, seed(b, req.output, outDims, req.outputRelevance)]]);
  const sums = new Sums(b, N);
  const strides = sampleStrides(graph, plan, new Map([...shapes].map(([k, d]) => [k, { dtype: 'float32', dims: d, data: new Float32Array(0) } as Tensor])), N);
  const sumOf = (r: string, value: string) => sums.of(r, strides.get(value), shapes.get(value)?.reduce((a, v) => a * v, 1));
  // as the core: relevance reaches graph inputs and the plan's nodes' outputs, not operands of constants alone
  const reachable = new Set<string>(graph.inputs.map((i) => i.name));
  for (const e of plan.entries) for (const o of graph.node(e.node)?.outputs ?? []) if (o) reachable.add(o);
  const byNode = new Map(plan.entries.map((e) => [e.node, e]));
  const nodes: FusedNodeSums[] = [];
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const node = graph.nodes[k];
    const entry = byNode.get(node.name);
    const rOut = node.outputs.map((o) => rel.get(o) ?? null);
    if (!entry || rOut.every((r) => r === null)) continue;
    if (rOut.length !== 1) throw new NotCovered(`node '${node.name}' (${node.opType}): relevance at one of several outputs`);
    const rIn = await nodeStep(w, node, entry, rOut[0]!);
    for (const i of maskOperands(graph, node)) rIn[i] = null; // additive attention masks get no relevance
    const ins: number[] = [];
    rIn.forEach((r, i) => {
      const name = node.inputs[i];
      if (!r || !name || !reachable.has(name)) return;
      // a transpose of R, or a reshape between values laid out alike, keeps each sample's sum
      if (node.opType === 'Transpose' || (RESHAPES.has(node.opType) && strides.get(name) === strides.get(node.outputs[0]))) {
        sums.alias(r, strides.get(name), sumOf(rOut[0]!, node.outputs[0]));
      }
      ins.push(...sumOf(r, name));
      const acc = rel.get(name);
      const v = acc ? b.op('Add', [acc, r]) : r;
      if (acc) sums.alias(v, strides.get(name), [...sumOf(acc, name), ...sumOf(r, name)]);
      rel.set(name, v);
    });
    nodes.push({ node: node.name, op: node.opType, rule: entry.rule, outs: sumOf(rOut[0]!, node.outputs[0]), ins });
  }
  nodes.reverse();
  return assemble(graph, b, store, { shapes, rel, sums, nodes, outDims, req });
}

function assemble(graph: Graph, b: GraphBuilder, store: WeightStore, r: { shapes: Map<string, number[]>; rel: Map<string, string>; sums: Sums; nodes: FusedNodeSums[]; outDims: number[]; req: FusedRequest }): FusedGraph {
  const taken = new Set<string>();
  const outputs: string[] = [r.req.output];
  const relevance = new Map<string, string>();
  for (const i of graph.inputs) {
    const v = r.rel.get(i.name);
    if (v) relevance.set(i.name, outputOf(b, v, taken));
  }
  const values = new Map<string, string>();
  if (r.req.keepAll) for (const [name, v] of r.rel) values.set(name, outputOf(b, v, taken));
  const sums = r.sums.cols.length ? b.op('Concat', r.sums.cols, { axis: 1 }) : null;
  outputs.push(...relevance.values(), ...values.values());
  if (sums) outputs.push(sums);
  const parts = b.parts();
  const inputs: ValueInfo[] = [
    ...graph.inputs.map((i) => ({ ...i, dims: r.req.inputDims.get(i.name) ?? i.dims })),
    { name: TARGET_INPUT, dtype: 'int64', dims: [r.outDims[0]] },
  ];
  // weights the per-layer graphs feed at every run become initializers: one session, which may pre-pack them
  const constants = new Map(graph.constants);
  for (const [k, v] of parts.constants) constants.set(k, v);
  for (const i of b.usedInputs()) constants.set(i.name, b.fixedFeeds.get(i.name)!);
  const fusedOutputs: ValueInfo[] = outputs.map((name) => ({ name, dtype: 'float32', dims: null }));
  const fused = new Graph({
    nodes: [...graph.nodes, ...parts.nodes], inputs, outputs: fusedOutputs, constants,
    opsets: { ...graph.opsets, '': Math.max(graph.opsets[''], OPSET) }, name: 'onnx-lrp fused',
  });
  const bytes = encodeModel(fused, { producer: 'onnx-lrp fused' });
  store.endCompile();
  const valueDims = new Map([...values.keys()].map((k) => [k, r.shapes.get(k)!]));
  return { bytes, relevance, values, valueDims, sums, outputDims: r.outDims, nodes: r.nodes, outputs };
}
