/** Class-discriminative output relevance (issue 15): the seed rows of contrastive LRP (CLRP, Gu, Yang & Tresp
 * 2018), of the softmax gradient (SGLRP, Iwana, Kuroki & Uchida 2019) and of contrasts "the target and not K".
 *
 * The rule plan does not change, only the start of the backward pass. A mode that needs several backward passes
 * (CLRP: the target and its dual class; several contrasts) stacks them as row blocks of one batch: the input is
 * tiled block-major (row b·N + s is sample s of block b), the forward and the backward pass run once, and the
 * input maps of the blocks are combined afterwards (`combineBlocks`). */
import { Graph, GraphSpec, Node } from '../ir/graph';
import { Propagation } from '../propagate/core';
import { Tensor, TypedArray, float32 } from '../tensor';
import { DualClass, ExplainError } from './types';

export type { DualClass };

/** CLRP's two constructions of the "dual virtual class" that explains everything but the target:
 * - `others` (the paper's first, CLRP1; the default): the other classes, i.e. the output layer's weights
 *   without the target's row, the target score S_t spread uniformly over them: seed S_t/(C−1) on every i ≠ t.
 *   Needs nothing of the graph.
 * - `negated` (the paper's second, CLRP2): a virtual output neuron with the target's weights (and bias) negated,
 *   explained with the same score S_t. Needs an explained output made by a dense layer (Gemm or MatMul with a
 *   constant weight), which is widened to 2C outputs [W; −W] for it; with the epsilon rule on that layer the dual
 *   equals the target's map (a·(−w)/(−z) = a·w/z) and the contrastive map vanishes: it is meant for rules that
 *   see the weights' signs (zPlus, alpha-beta, gamma). */
export const DUAL_CLASSES: readonly DualClass[] = ['others', 'negated'];
export const DEFAULT_DUAL: DualClass = 'others';

/** What the seed rows are made of, per sample. */
export interface SeedRequest {
  /** the target score used as the scale: the target logit ('logit') or 1 ('one') */
  scale: 'logit' | 'one';
  mode: 'plain' | 'softmax' | 'contrastive' | 'contrast';
  dual?: DualClass;
  contrast?: number[];
}

/** How many row blocks a request needs: 2 for CLRP (target, dual), one per contrast class, else 1. */
export function blockCount(r: Pick<SeedRequest, 'mode' | 'contrast'>): number {
  if (r.mode === 'contrastive') return 2;
  if (r.mode === 'contrast') return r.contrast!.length;
  return 1;
}

/** The seed blocks ([batch × width] each, width = classes, or 2·classes for the `negated` head whose second half is
 * the negated neurons) and each block's sum and L1 norm per sample (the norm is the scale of the absorbed share: a
 * seed of mixed signs, e.g. the softmax gradient, sums to about 0). `logits` [batch × classes] are the model's own. */
export function seedBlocks(logits: Float32Array, classes: number, targets: number[], r: SeedRequest, width = classes): { blocks: Float32Array[]; sums: number[][]; norms: number[][] } {
  const batch = targets.length;
  const z = (s: number, k: number) => logits[s * classes + k];
  const scale = (s: number, k: number) => (r.scale === 'logit' ? z(s, k) : 1);
  const block = (fill: (s: number, put: (k: number, v: number) => void) => void) => {
    const b = new Float32Array(batch * width);
    const norms: number[] = [];
    const sums = targets.map((_, s) => {
      let sum = 0, norm = 0;
      fill(s, (k, v) => { b[s * width + k] += v; sum += v; norm += Math.abs(v); });
      norms.push(norm);
      return sum;
    });
    return { b, sums, norms };
  };
  let parts: { b: Float32Array; sums: number[]; norms: number[] }[];
  if (r.mode === 'softmax') {
    parts = [block((s, put) => {
      const p = softmax(logits.subarray(s * classes, (s + 1) * classes));
      const t = targets[s];
      for (let k = 0; k < classes; k++) put(k, k === t ? p[t] * (1 - p[t]) : -p[t] * p[k]);
    })];
  } else if (r.mode === 'contrastive') {
    const target = block((s, put) => put(targets[s], scale(s, targets[s])));
    const dual = r.dual === 'negated'
      ? block((s, put) => put(classes + targets[s], scale(s, targets[s])))
      : block((s, put) => { for (let k = 0; k < classes; k++) if (k !== targets[s]) put(k, scale(s, targets[s]) / (classes - 1)); });
    parts = [target, dual];
  } else if (r.mode === 'contrast') {
    parts = r.contrast!.map((K) => block((s, put) => { put(targets[s], scale(s, targets[s])); put(K, -scale(s, K)); }));
  } else {
    parts = [block((s, put) => put(targets[s], scale(s, targets[s])))];
  }
  return { blocks: parts.map((p) => p.b), sums: parts.map((p) => p.sums), norms: parts.map((p) => p.norms) };
}

/** Softmax in float64 (max subtracted). */
export function softmax(z: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < z.length; i++) m = Math.max(m, z[i]);
  const e = Float64Array.from(z, (v) => Math.exp(v - m));
  const sum = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / sum);
}

/** The contrast classes: integers in range, no repeats. */
export function checkContrast(contrast: number | number[], classes: number): number[] {
  const ks = typeof contrast === 'number' ? [contrast] : contrast;
  if (!ks.length) throw new ExplainError('contrast: give at least one class');
  for (const k of ks) {
    if (!Number.isInteger(k) || k < 0 || k >= classes) throw new ExplainError(`contrast class ${k} is out of range: the output has ${classes} classes (0–${classes - 1})`);
  }
  if (new Set(ks).size !== ks.length) throw new ExplainError(`contrast classes repeat: ${ks.join(', ')}`);
  return ks;
}

/** Every feed repeated `k` times along the batch axis (block-major). */
export function tileFeeds(feeds: Record<string, Tensor>, k: number): Record<string, Tensor> {
  if (k === 1) return feeds;
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) {
    if (!t.dims.length) throw new ExplainError(`input '${name}' is a scalar: contrastive and contrast seeds tile the batch axis`);
    const data = t.data as Float32Array;
    const tiled = new Float32Array(data.length * k);
    for (let b = 0; b < k; b++) tiled.set(data, b * data.length);
    out[name] = float32([t.dims[0] * k, ...t.dims.slice(1)], tiled);
  }
  return out;
}

/** Block `b` of `k` of a batch-major array (its rows b·N … (b+1)·N − 1). */
export function blockOf<T extends Float32Array | number[]>(a: T, b: number, k: number): T {
  const n = a.length / k;
  return (a instanceof Float32Array ? a.subarray(b * n, (b + 1) * n) : a.slice(b * n, (b + 1) * n)) as T;
}

/** The k block propagations of a model with a fixed batch as if they were one batched propagation: relevance and
 * conservation sums stacked block-major, and the forward values (one block's) tiled to match. */
export function stackBlocks(values: Map<string, Tensor>, props: Propagation[], rows: number): { values: Map<string, Tensor>; prop: Propagation } {
  const k = props.length;
  const tiled = new Map<string, Tensor>();
  for (const [name, t] of values) {
    if (t.dims[0] !== rows || Array.isArray(t.data)) { tiled.set(name, t); continue; }
    const d = t.data as TypedArray;
    const data = new (d.constructor as new (n: number) => TypedArray)(d.length * k);
    for (let b = 0; b < k; b++) (data as Float32Array).set(d as Float32Array, b * d.length);
    tiled.set(name, { dtype: t.dtype, dims: [rows * k, ...t.dims.slice(1)], data });
  }
  const relevance = new Map<string, Float32Array>();
  for (const name of props[0].relevance.keys()) {
    const parts = props.map((p) => p.relevance.get(name)!);
    const r = new Float32Array(parts[0].length * k);
    parts.forEach((p, b) => r.set(p, b * p.length));
    relevance.set(name, r);
  }
  const conservation = props[0].conservation.map((c, i) => ({
    ...c, atOutputs: props.flatMap((p) => p.conservation[i].atOutputs), atInputs: props.flatMap((p) => p.conservation[i].atInputs),
  }));
  return { values: tiled, prop: { relevance, conservation } };
}

/** The graph with its explained output's dense layer widened to [W; −W] (bias [c; −c]): the `negated` dual class.
 * The widened value is the graph's only output; its first `classes` columns are the model's logits. */
export function negatedHead(graph: Graph, output: string): { graph: Graph; output: string } {
  const node = graph.producer(output);
  const fail = (why: string) => new ExplainError(`the negated dual class (CLRP2) widens the dense layer that makes output '${output}', but ${why}; use the 'others' dual class`);
  if (!node || (node.opType !== 'Gemm' && node.opType !== 'MatMul')) throw fail(`it is made by ${node ? `node '${node.name}' (${node.opType})` : 'no node'}`);
  const w = graph.constant(node.inputs[1]);
  if (!w || w.dims.length !== 2 || w.dtype !== 'float32') throw fail(`node '${node.name}' has no constant 2-D float weight`);
  if (node.attrs.transA) throw fail(`node '${node.name}' has transA`);
  if (graph.consumers(output).length) throw fail(`other nodes read it (${graph.consumers(output).map((n) => n.name).join(', ')})`);
  const transB = node.opType === 'Gemm' && Number(node.attrs.transB ?? 0) === 1;
  const spec: GraphSpec = graph.toSpec();
  const wide = `${output}__negated_dual`;
  const wName = `${node.inputs[1]}__negated_dual`;
  spec.constants.set(wName, transB ? stackRows(w) : stackColumns(w));
  const inputs = [node.inputs[0], wName];
  const c = node.inputs[2] ? graph.constant(node.inputs[2]) : undefined;
  if (node.inputs[2]) {
    if (!c || c.dtype !== 'float32') throw fail(`node '${node.name}' has a bias that is not a float constant`);
    const M = transB ? w.dims[0] : w.dims[1];
    const cv = c.data as Float32Array;
    const full = Float32Array.from({ length: M }, (_, m) => (cv.length === 1 ? cv[0] : cv[m]));
    if (cv.length !== 1 && cv.length !== M) throw fail(`node '${node.name}' has a bias of shape [${c.dims.join(', ')}]`);
    spec.constants.set(`${node.inputs[2]}__negated_dual`, float32([2 * M], [...full, ...full.map((v) => -v)]));
    inputs.push(`${node.inputs[2]}__negated_dual`);
  }
  const next: Node = { ...node, inputs, outputs: [wide] };
  spec.nodes = spec.nodes.map((n) => (n.name === node.name ? next : n));
  spec.outputs = [{ name: wide, dtype: 'float32', dims: null }];
  return { graph: new Graph(spec), output: wide };
}

/** [M, K] → [2M, K]: the rows, then the rows negated. */
function stackRows(w: Tensor): Tensor {
  const d = w.data as Float32Array;
  return float32([2 * w.dims[0], w.dims[1]], [...d, ...d.map((v) => -v)]);
}

/** [K, M] → [K, 2M]: per row, the row then the row negated. */
function stackColumns(w: Tensor): Tensor {
  const [K, M] = w.dims, d = w.data as Float32Array;
  const out = new Float32Array(K * 2 * M);
  for (let k = 0; k < K; k++) {
    for (let m = 0; m < M; m++) { out[k * 2 * M + m] = d[k * M + m]; out[k * 2 * M + M + m] = -d[k * M + m]; }
  }
  return float32([K, 2 * M], out);
}
