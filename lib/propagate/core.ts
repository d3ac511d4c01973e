/** The propagation core: walk the IR in reverse, apply each node's planned rule, and add relevance where a
 * value feeds several consumers. Relevance lives in a map keyed by value name; nothing is stored on nodes and
 * activations are never mutated. */
import { Graph, Node } from '../ir/graph';
import { KernelExecutor } from './engine/executor';
import { sampleStrides } from './samples';
import { NodeContext, broadcastMap, f32, liveInputs } from '../ops/op';
import { opFor } from '../ops/registry';
import { builtRule } from '../plan/built';
import { bilinearRelevance, maskOperands, softmaxRelevance, tokenRelevance } from './transformer';
import { PlanEntry, RulePlan } from '../plan/plan';
import { Tensor } from '../tensor';

export interface NodeConservation {
  node: string;
  op: string;
  rule: string;
  /** per sample: relevance entering the node, summed over its outputs */
  atOutputs: number[];
  /** per sample: relevance leaving the node, summed over its live inputs */
  atInputs: number[];
}

export interface Propagation {
  relevance: Map<string, Float32Array>;
  conservation: NodeConservation[];
}

/** Per-sample sums (float64), remembered per array within one propagation (`sums`): most arrays are summed as
 * one node's input relevance and again as their producer's output relevance. Element i is sample
 * ⌊i / stride⌋ mod batch (samples.ts; default: batch-first, stride = size / batch). */
function perSample(r: Float32Array, batch: number, sums: Map<Float32Array, { stride: number; s: number[] }>, stride = r.length / batch): number[] {
  const hit = sums.get(r);
  if (hit && hit.s.length === batch && hit.stride === stride) return hit.s;
  const s = new Array<number>(batch).fill(0);
  for (let start = 0, block = 0; start < r.length; start += stride, block++) {
    let a0 = 0; let a1 = 0; let a2 = 0; let a3 = 0;
    const end = Math.min(start + stride, r.length);
    let i = start;
    for (; i + 3 < end; i += 4) { a0 += r[i]; a1 += r[i + 1]; a2 += r[i + 2]; a3 += r[i + 3]; }
    for (; i < end; i++) a0 += r[i];
    s[block % batch] += (a0 + a1) + (a2 + a3);
  }
  sums.set(r, { stride, s });
  return s;
}

export function contextFor(node: Node, graph: Graph, values: ReadonlyMap<string, Tensor>): NodeContext {
  return {
    node,
    opset: graph.opsets[node.domain] ?? graph.opsets[''],
    value(name) {
      const v = values.get(name) ?? graph.constant(name);
      if (!v) throw new Error(`node '${node.name}' (${node.opType}): no value for input '${name}'`);
      return v;
    },
    has: (name) => values.has(name) || graph.isConstant(name),
    isConstant: (name) => graph.isConstant(name),
  };
}

/** Relevance for each input of `node` (null where none flows), by the kind of its built rule. */
async function nodeRelevance(ctx: NodeContext, graph: Graph, entry: PlanEntry, rOut: (Float32Array | null)[], exec?: KernelExecutor): Promise<(Float32Array | null)[]> {
  const { node } = ctx;
  const op = opFor(node, { opsets: { [node.domain]: ctx.opset } });
  const live = liveInputs(ctx);
  const R = rOut[0];
  const rule = builtRule(entry);
  const out: (Float32Array | null)[] = node.inputs.map(() => null);
  switch (rule.kind) {
    case 'linear': {
      const fast = exec && (await exec.linear(ctx, rule, R!));
      if (fast) return fast;
      const lin = op.linear!(ctx);
      const xs = lin.live.map((i) => f32(ctx.value(node.inputs[i])));
      const x = xs.length === 1 ? xs[0] : concat(xs);
      const z = node.outputs[0] && ctx.has(node.outputs[0]) ? f32(ctx.value(node.outputs[0])) : undefined;
      const rIn = await rule.rule.apply({ kernel: lin.kernel, x, xDims: ctx.value(node.inputs[lin.live[0]]).dims, z }, R!);
      let off = 0;
      lin.live.forEach((i, k) => { out[i] = rIn.subarray(off, off + xs[k].length); off += xs[k].length; });
      return out;
    }
    case 'pass': case 'elementwise': {
      const i = live[0];
      const x = f32(ctx.value(node.inputs[i]));
      let r = rule.kind === 'pass'
        ? R! // arrays are never mutated: share it
        : rule.rule.backward(R!, x, () => op.derivative!(ctx, x, f32(ctx.value(node.outputs[0]))), rule.params);
      if (r.length !== x.length) r = reduceTo(r, ctx.value(node.inputs[i]).dims, ctx.value(node.outputs[0]).dims);
      out[i] = r;
      return out;
    }
    case 'uniform': {
      // each live factor gets an equal share, summed over the dims it was broadcast along
      const y = ctx.value(node.outputs[0]).dims;
      return node.inputs.map((n, i) => (live.includes(i) ? reduceTo(R!.map((v) => v / live.length), ctx.value(n).dims, y) : null));
    }
    case 'vjp':
      return (entry.category === 'maxpool' && exec && (await exec.route(ctx, rOut))) || op.vjp!(ctx, rOut);
    case 'bilinear':
      return bilinearRelevance(ctx, graph, rule, R!, async (g) => (exec && (await exec.vjp(ctx, g))) || op.vjp!(ctx, [g]));
    case 'softmax':
      out[0] = softmaxRelevance(ctx, R!);
      return out;
    case 'stop':
      return out;
    case 'tokens':
      out[1] = tokenRelevance(ctx, R!, rule.dot);
      return out;
  }
}

function addArrays(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let j = 0; j < a.length; j++) out[j] = a[j] + b[j];
  return out;
}

function concat(xs: Float32Array[]): Float32Array {
  const out = new Float32Array(xs.reduce((a, x) => a + x.length, 0));
  let off = 0;
  for (const x of xs) { out.set(x, off); off += x.length; }
  return out;
}

function reduceTo(r: Float32Array, inDims: readonly number[], outDims: readonly number[]): Float32Array {
  const map = broadcastMap(inDims, outDims);
  const out = new Float32Array(inDims.reduce((a, b) => a * b, 1));
  for (let o = 0; o < map.length; o++) out[map[o]] += r[o];
  return out;
}

/** Propagates `seed` (relevance at one output value) back to the graph inputs; `exec` runs what it can
 * (the rest runs on the reference kernels). */
export async function propagate(graph: Graph, plan: RulePlan, values: ReadonlyMap<string, Tensor>, seed: { value: string; relevance: Float32Array }, batch: number, exec?: KernelExecutor): Promise<Propagation> {
  const rel = new Map<string, Float32Array>([[seed.value, seed.relevance]]);
  const byNode = new Map(plan.entries.map((e) => [e.node, e]));
  const conservation: NodeConservation[] = [];
  const sums = new Map<Float32Array, { stride: number; s: number[] }>();
  const strides = sampleStrides(graph, plan, values, batch);
  // values relevance may reach: graph inputs and the outputs of the plan's nodes. An operand computed from
  // constants alone (a CLS token behind an Expand, a mask) is not one: what a rule gives it is dropped there,
  // and the node's own conservation reports it (atOutputs − atInputs), instead of leaking unreported
  const reachable = new Set<string>(graph.inputs.map((i) => i.name));
  for (const e of plan.entries) for (const o of graph.node(e.node)?.outputs ?? []) if (o) reachable.add(o);
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const node = graph.nodes[k];
    const entry = byNode.get(node.name);
    const rOut = node.outputs.map((o) => rel.get(o) ?? null);
    if (!entry || rOut.every((r) => r === null)) continue;
    const ctx = contextFor(node, graph, values);
    const filled = rOut.map((r, i) => r ?? (node.outputs[i] && values.has(node.outputs[i]) ? new Float32Array(values.get(node.outputs[i])!.data.length) : null));
    const rIn = await nodeRelevance(ctx, graph, entry, filled, exec);
    for (const i of maskOperands(graph, node)) rIn[i] = null; // additive attention masks get no relevance
    const atOutputs = new Array<number>(batch).fill(0);
    rOut.forEach((r, i) => { if (r) perSample(r, batch, sums, strides.get(node.outputs[i])).forEach((v, s) => { atOutputs[s] += v; }); });
    const atInputs = new Array<number>(batch).fill(0);
    for (const [i, r] of rIn.entries()) {
      const name = node.inputs[i];
      if (!r || !name || !reachable.has(name)) continue;
      perSample(r, batch, sums, strides.get(name)).forEach((v, s) => { atInputs[s] += v; });
      const acc = rel.get(name);
      // one add at a time: a node may read the same value twice (Add(x, x)), and each add must see the last
      rel.set(name, acc ? (exec ? await exec.add(acc, r) : addArrays(acc, r)) : r);
    }
    conservation.push({ node: node.name, op: node.opType, rule: entry.rule, atOutputs, atInputs });
  }
  conservation.reverse();
  return { relevance: rel, conservation };
}
