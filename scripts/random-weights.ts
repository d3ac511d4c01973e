/** Seeded random weights for graphs whose weights were stripped: the ONNX project's "light" test graphs
 * (`../shared/models/onnx-light/`) replace every large initializer with a `ConstantOfShape` fill of 0.02.
 * `fillRandomWeights` rewrites the IR: each `ConstantOfShape` with a constant shape becomes an initializer
 * with seeded values of a scale that suits what reads it (found by following the value through reshaping
 * ops to its first real consumer):
 * - Conv/ConvTranspose/Gemm/MatMul weights: uniform, variance ∝ 1/fan-in (He-style), then scaled so that the
 *   layer's output has unit second moment (see `fillRandomWeights`);
 * - biases (Conv/Gemm input 2, Add of a constant): small, N(0, 0.01²);
 * - BatchNormalization: scale U(0.8, 1.2), bias N(0, 0.01²), mean N(0, 0.05²), variance U(0.8, 1.2) times
 *   the estimated second moment of its input;
 * - Mul by a constant (a Caffe "Scale" layer): U(0.8, 1.2); PRelu slopes 0.25;
 * - anything else (or a non-float fill): the fill value itself.
 * Node-free and browser-safe; used by spec/e2e/architectures.spec.ts and scripts/architectures.ts. */
import { Graph, Node } from '../lib/ir/graph';
import { foldConstants } from '../lib/canonize/constants';
import { mulberry32 } from '../lib/random';
import { Tensor, float32, toNumbers } from '../lib/tensor';

/** mulberry32: a small deterministic PRNG returning numbers in [0, 1). */
export function prng(seed: number): () => number {
  return mulberry32(seed);
}

/** Standard normal samples (Box–Muller) from a uniform PRNG. */
export function normals(rng: () => number, n: number, std = 1, mean = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - rng();
    const v = rng();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = mean + std * r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

function uniforms(rng: () => number, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rng();
  return out;
}

/** Ops a weight passes through unchanged in value before reaching the node that uses it. */
const RESHAPING = new Set(['Unsqueeze', 'Squeeze', 'Reshape', 'Flatten', 'Identity', 'Cast', 'Transpose', 'Expand']);

export interface Role {
  /** the consumer that gives the value its meaning (null: none found) */
  node: Node | null;
  /** which of its inputs the value is */
  input: number;
}

/** The first consumer of `value` that is not a reshaping op, and the input position it reads it at. */
export function roleOf(graph: Graph, value: string): Role {
  let v = value;
  for (let depth = 0; depth < 8; depth++) {
    const cs = graph.consumers(v);
    if (!cs.length) return { node: null, input: -1 };
    const c = cs[0];
    const input = c.inputs.indexOf(v);
    if (RESHAPING.has(c.opType) && input === 0 && c.outputs.length === 1) { v = c.outputs[0]; continue; }
    return { node: c, input };
  }
  return { node: null, input: -1 };
}

export type WeightKind = 'weight' | 'bias' | 'bn-scale' | 'bn-bias' | 'bn-mean' | 'bn-var' | 'scale' | 'slope' | 'fill';

export function kindOf(role: Role): WeightKind {
  const { node, input } = role;
  if (!node) return 'fill';
  switch (node.opType) {
    case 'Conv': case 'ConvTranspose': case 'Gemm': case 'MatMul':
      return input === 1 ? 'weight' : input === 2 ? 'bias' : 'fill';
    case 'BatchNormalization':
      return (['fill', 'bn-scale', 'bn-bias', 'bn-mean', 'bn-var'] as const)[input] ?? 'fill';
    case 'Mul': return 'scale';
    case 'Add': case 'Sub': case 'Sum': return 'bias';
    case 'PRelu': return input === 1 ? 'slope' : 'fill';
    default: return 'fill';
  }
}

/** Inputs summed into one output of a weight's consumer (fan-in), from the weight's shape. */
export function fanIn(node: Node, dims: readonly number[]): number {
  const prod = (a: readonly number[]) => a.reduce((x, y) => x * y, 1);
  switch (node.opType) {
    case 'Conv': return prod(dims.slice(1));
    case 'ConvTranspose': return dims[0] * prod(dims.slice(2)) / ((node.attrs.group as number | undefined) ?? 1);
    case 'Gemm': return dims.length === 2 ? (node.attrs.transB === 1 ? dims[1] : dims[0]) : prod(dims);
    default: return dims[0] ?? 1; // MatMul [K, M]
  }
}

export interface FilledWeight {
  name: string;
  dims: number[];
  kind: WeightKind;
  consumer: string;
}

export interface FillResult {
  graph: Graph;
  filled: FilledWeight[];
  /** the symbolic estimate of E[x²] for every value on the live path */
  moments: Map<string, number>;
}

const meanSquare = (a: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * a[i]; return a.length ? s / a.length : 0; };
const mean = (a: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]; return a.length ? s / a.length : 0; };

export interface FillOptions {
  seed?: number;
  /** E[x²] of the input the model will see (default 1) */
  inputMoment?: number;
  /** per node name: measured E[y²] / estimated E[y²] from a previous forward run (see `calibrateWeights`) */
  corrections?: ReadonlyMap<string, number>;
  /** per value: element count, from a previous run (weights Concat inputs; unweighted without) */
  sizes?: ReadonlyMap<string, number>;
}

/** E[x²] of a node's output from its inputs' second moments and its constants: the symbolic rule
 * (inputs treated as zero-mean and independent; Relu halves, sums add, BatchNorm per channel …). */
export function momentRule(node: Node, moment: (name: string) => number, constOf: (name: string) => Float32Array | null, size?: (name: string) => number | undefined): number {
  const [x, w, b] = node.inputs;
  const qx = moment(x);
  switch (node.opType) {
    case 'Conv': case 'ConvTranspose': case 'Gemm': case 'MatMul': {
      const wt = w ? constOf(w) : null;
      if (!wt) return qx * moment(w);
      return wt.length * meanSquare(wt) / Math.max(1, outputsOf(node, wt.length)) * qx + (b ? moment(b) : 0);
    }
    case 'BatchNormalization': {
      const [s, bb, m, v] = node.inputs.slice(1, 5).map(constOf);
      if (!s || !bb || !m || !v) return qx;
      const eps = (node.attrs.epsilon as number | undefined) ?? 1e-5;
      let acc = 0;
      for (let c = 0; c < s.length; c++) {
        const inv = 1 / Math.sqrt(v[c] + eps);
        acc += s[c] * s[c] * (qx + m[c] * m[c]) * inv * inv + bb[c] * bb[c] - 2 * s[c] * m[c] * bb[c] * inv;
      }
      return acc / s.length;
    }
    case 'Relu': return qx / 2;
    case 'LeakyRelu': { const a = (node.attrs.alpha as number | undefined) ?? 0.01; return qx * (1 + a * a) / 2; }
    case 'PRelu': return qx * (1 + moment(w)) / 2;
    case 'Mul': return node.inputs.reduce((p, i) => p * moment(i), 1);
    case 'Div': { const c = constOf(w); return qx * (c ? mean(c.map((v) => 1 / (v * v))) : 1); }
    case 'Add': case 'Sub': case 'Sum': return node.inputs.reduce((acc, i) => acc + moment(i), 0);
    case 'Concat': {
      const n = node.inputs.map((i) => size?.(i));
      if (n.some((k) => !k)) return mean(node.inputs.map(moment));
      return node.inputs.reduce((acc, i, k) => acc + moment(i) * n[k]!, 0) / n.reduce((a, k) => a! + k!, 0)!;
    }
    case 'LRN': return qx * Math.pow((node.attrs.bias as number | undefined) ?? 1, -2 * ((node.attrs.beta as number | undefined) ?? 0.75));
    default: return qx;
  }
}

/** Output channels of a linear node whose weight has `n` elements (to turn Σ w² into fan-in · E[w²]). */
function outputsOf(node: Node, n: number): number {
  const d = (node.attrs.__dims as number[] | undefined);
  return d ? d[0] : n;
}

/**
 * Replaces every ConstantOfShape with a constant shape by a seeded random initializer. Weights are drawn
 * He-style (uniform, variance ∝ 1/fan-in, as PyTorch's default init) and then scaled so that each linear
 * layer's output has unit second moment (or, before a BatchNorm whose statistics the file kept, the moment
 * that BatchNorm expects: `targetMoment`), using a forward estimate of E[x²] for every value (`momentRule`, optionally corrected per node by
 * a measured run: `calibrateWeights`): an LSUV-like initialisation. A filled BatchNorm variance is set to the
 * estimated second moment of its input (times U(0.8, 1.2)), so it normalises as a trained one would.
 * Activations therefore neither vanish nor explode with depth (residual sums grow additively). The random
 * draws depend only on the seed and the file order, never on the calibration.
 */
export function fillRandomWeights(graph: Graph, opts: FillOptions | number = {}): FillResult {
  const o: FillOptions = typeof opts === 'number' ? { seed: opts } : opts;
  const rng = prng(o.seed ?? 1);
  const spec = graph.toSpec();
  const filled: FilledWeight[] = [];
  const values = new Map<string, Tensor>();
  const removed = new Set<Node>();
  // 1. draw every fill at unit scale, in file order
  for (const node of graph.nodes) {
    if (node.opType !== 'ConstantOfShape' || node.domain !== '' || !node.inputs[0] || !graph.isConstant(node.inputs[0])) continue;
    const dims = toNumbers(graph.constant(node.inputs[0])!);
    if (dims.some((d) => !Number.isInteger(d) || d < 0)) continue;
    const n = dims.reduce((a, b) => a * b, 1);
    const fill = node.attrs.value as Tensor | undefined;
    const out = node.outputs[0];
    const role = roleOf(graph, out);
    const kind = fill && fill.dtype !== 'float32' ? 'fill' : kindOf(role);
    let t: Tensor;
    switch (kind) {
      case 'weight': { const a = Math.sqrt(3 / Math.max(1, fanIn(role.node!, dims))); t = { dtype: 'float32', dims, data: uniforms(rng, n, -a, a) }; break; }
      case 'bias': case 'bn-bias': t = float32(dims, normals(rng, n, 0.01)); break;
      case 'bn-mean': t = float32(dims, normals(rng, n, 0.05)); break;
      case 'bn-scale': case 'bn-var': case 'scale': t = float32(dims, uniforms(rng, n, 0.8, 1.2)); break;
      case 'slope': t = float32(dims, new Float32Array(n).fill(0.25)); break;
      default: {
        if (!fill) { t = float32(dims); break; }
        const C = (fill.data as unknown as { constructor: new (k: number) => ArrayLike<unknown> & { fill(v: unknown): unknown } }).constructor;
        const data = new C(n);
        data.fill((fill.data as ArrayLike<unknown>)[0]);
        t = { dtype: fill.dtype, dims, data: data as unknown as Tensor['data'] };
      }
    }
    values.set(out, t);
    removed.add(node);
    filled.push({ name: out, dims, kind, consumer: role.node ? `${role.node.opType} '${role.node.name}'` : '-' });
  }
  for (const [k, t] of values) spec.constants.set(k, t);
  spec.nodes = spec.nodes.filter((m) => !removed.has(m));
  // weights reached through Reshape/Unsqueeze … become plain constants, so that their consumers see them
  const unfolded = new Graph(spec);
  const g = foldConstants(unfolded).graph;
  const derived = new Set(values.keys());
  for (const node of unfolded.nodes) {
    if (RESHAPING.has(node.opType) && derived.has(node.inputs[0]) && g.isConstant(node.outputs[0])) derived.add(node.outputs[0]);
  }
  // 2. forward estimate of E[x²] per value; rescale filled weights and variances on the way
  const consts = new Map(g.constants);
  const q = new Map<string, number>();
  for (const i of g.inputs) q.set(i.name, o.inputMoment ?? 1);
  const constOf = (name: string): Float32Array | null => {
    const t = name ? consts.get(name) : undefined;
    if (!t || t.dtype === 'string') return null;
    return t.dtype === 'float32' ? (t.data as Float32Array) : Float32Array.from(toNumbers(t));
  };
  const moment = (name: string): number => {
    if (!name) return 0;
    const c = constOf(name);
    return c ? meanSquare(c) : q.get(name) ?? 1;
  };
  const size = (name: string) => o.sizes?.get(name);
  const scale = (name: string, factor: number) => {
    const t = consts.get(name)!;
    const data = new Float32Array(t.data as Float32Array);
    for (let i = 0; i < data.length; i++) data[i] *= factor;
    consts.set(name, { dtype: 'float32', dims: t.dims, data });
  };
  for (const node of g.nodes) {
    const corr = o.corrections?.get(node.name) ?? 1;
    const rule = withDims(node, (name) => consts.get(name));
    const [, w, b] = node.inputs;
    if (['Conv', 'ConvTranspose', 'Gemm', 'MatMul'].includes(node.opType) && w && derived.has(w)) {
      const wOnly = momentRule(rule, moment, constOf, size) - (b ? moment(b) : 0);
      if (wOnly > 0) scale(w, Math.sqrt(targetMoment(g, node, derived, constOf) / (wOnly * corr)));
    }
    const v = node.inputs[4];
    if (node.opType === 'BatchNormalization' && v && derived.has(v)) {
      scale(v, moment(node.inputs[0]) * corr / Math.max(mean(constOf(v)!), 1e-12));
    }
    const qy = momentRule(rule, moment, constOf, size) * corr;
    for (const out of node.outputs) if (out) q.set(out, qy);
  }
  return { graph: new Graph({ ...g.toSpec(), constants: consts }), filled, moments: q };
}

/** The second moment a filled linear layer's output should have: 1, or, when a BatchNormalization with
 * real (kept, not filled) statistics reads it, what that BatchNorm was trained on (mean over channels of
 * var + mean²), so that it normalises as it did in training instead of shrinking the signal below its bias. */
function targetMoment(g: Graph, node: Node, derived: ReadonlySet<string>, constOf: (name: string) => Float32Array | null): number {
  const readers = g.consumers(node.outputs[0]);
  const bn = readers.length === 1 && readers[0].opType === 'BatchNormalization' ? readers[0] : null;
  if (!bn || derived.has(bn.inputs[4]) || derived.has(bn.inputs[3])) return 1;
  const mean = constOf(bn.inputs[3]);
  const variance = constOf(bn.inputs[4]);
  if (!mean || !variance || mean.length !== variance.length || !variance.length) return 1;
  let acc = 0;
  for (let c = 0; c < variance.length; c++) acc += variance[c] + mean[c] * mean[c];
  const t = acc / variance.length;
  return Number.isFinite(t) && t > 0 ? t : 1;
}

/** The node with its weight's output-channel count attached, for `momentRule`'s fan-in. */
function withDims(node: Node, get: (name: string) => Tensor | undefined): Node {
  if (!['Conv', 'ConvTranspose', 'Gemm', 'MatMul'].includes(node.opType) || !node.inputs[1]) return node;
  const w = get(node.inputs[1]);
  if (!w) return node;
  const n = w.dims.reduce((a, b) => a * b, 1);
  return { ...node, attrs: { ...node.attrs, __dims: [n / fanIn(node, w.dims)] } };
}

/** Measured E[x²] and element count of every float value of a graph for one input (the caller runs
 * onnxruntime). */
export type MomentProbe = (graph: Graph) => Promise<Map<string, { moment: number; size: number }>>;

/**
 * `fillRandomWeights`, then `passes` rounds of: run the filled graph, compare each node's measured output
 * moment with what `momentRule` predicts from the measured input moments, and refill (same seed, same draws)
 * with those ratios as per-node corrections. Ratios of scale-free ops (Relu, MaxPool, sums of correlated
 * branches) carry over from one run to the next, so two rounds bring every linear layer's output near unit
 * second moment.
 */
export async function calibrateWeights(graph: Graph, probe: MomentProbe, opts: FillOptions & { passes?: number } = {}): Promise<FillResult & { measured: Map<string, number> }> {
  let corrections = new Map<string, number>(opts.corrections ?? []);
  let sizes: Map<string, number> | undefined;
  let r = fillRandomWeights(graph, { ...opts, corrections });
  let probed = await probe(r.graph);
  for (let pass = 0; pass < (opts.passes ?? 2); pass++) {
    const g = r.graph;
    const constOf = (name: string): Float32Array | null => {
      const t = name ? g.constant(name) : undefined;
      if (!t || t.dtype === 'string') return null;
      return t.dtype === 'float32' ? (t.data as Float32Array) : Float32Array.from(toNumbers(t));
    };
    const moment = (name: string) => { if (!name) return 0; const c = constOf(name); return c ? meanSquare(c) : probed.get(name)?.moment ?? NaN; };
    sizes = new Map([...probed].map(([k, v]) => [k, v.size]));
    const next = new Map(corrections);
    for (const node of g.nodes) {
      const out = probed.get(node.outputs[0])?.moment;
      if (out === undefined) continue;
      const predicted = momentRule(withDims(node, (n) => g.constant(n)), moment, constOf, (n) => sizes!.get(n));
      if (!(predicted > 0) || !Number.isFinite(predicted) || !(out > 0)) continue;
      next.set(node.name, out / predicted);
    }
    corrections = next;
    r = fillRandomWeights(graph, { ...opts, corrections, sizes });
    probed = await probe(r.graph);
  }
  return { ...r, measured: new Map([...probed].map(([k, v]) => [k, v.moment])) };
}

/** A seeded input: normal values clipped to ±`clip` (inside the zBox bounds the specs use). */
export function randomInput(dims: number[], seed = 7, clip = 2.5): Tensor & { data: Float32Array } {
  const x = normals(prng(seed), dims.reduce((a, b) => a * b, 1));
  for (let i = 0; i < x.length; i++) x[i] = Math.max(-clip, Math.min(clip, x[i]));
  return float32(dims, x);
}
