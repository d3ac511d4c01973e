/** Class activation maps: CAM (Zhou et al. 2016) for models ending in global average pooling → linear head,
 * found in the canonized graph automatically, and Grad-CAM (Selvaraju et al. 2017) at any node producing a
 * 4-D activation, with the gradient from the project's own backward pass (keepAll). Both maps are upsampled
 * bilinearly (half-pixel centres) to the input's height and width and broadcast over its channels, so that
 * they are shaped like the input. Browser-safe. */
import { Explainer } from '../explain';
import { Graph, Node } from '../ir/graph';
import { categoryOf } from '../ops/registry';
import { Tensor, float32, toNumbers } from '../tensor';
import { RowProgress, chunkRows, chunks, rowRunner } from './batch';
import { F32Tensor, broadcastChannels, predictRows, resolveTargets, spatialDims, toF32Tensor, upsampleBilinear } from './util';

export class CamError extends Error {
  override name = 'CamError';
}

export interface CamHead {
  /** the GlobalAveragePool / ReduceMean node */
  pool: Node;
  /** its input: the feature maps A [N, K, h, w] */
  feature: string;
  /** the Gemm / MatMul producing the output */
  head: Node;
  /** class weights W [classes, K] (alpha of a Gemm included) and bias [classes] (zeros when absent) */
  weights: Float32Array;
  bias: Float32Array;
  classes: number;
  channels: number;
}

const PASS_THROUGH = new Set(['Flatten', 'Reshape', 'Squeeze']);

function spatialMean(graph: Graph, n: Node): boolean {
  if (n.opType === 'GlobalAveragePool') return true;
  if (n.opType !== 'ReduceMean') return false;
  let axes: number[] | undefined;
  if (Array.isArray(n.attrs.axes)) axes = n.attrs.axes as number[];
  else if (n.inputs[1] && graph.isConstant(n.inputs[1])) axes = toNumbers(graph.constant(n.inputs[1])!);
  if (!axes) return false;
  const set = [...new Set(axes.map((a) => (a < 0 ? a + 4 : a)))].sort();
  return set.length === 2 && set[0] === 2 && set[1] === 3;
}

function f32Of(t: Tensor): Float32Array {
  return t.dtype === 'float32' ? (t.data as Float32Array) : Float32Array.from(toNumbers(t));
}

/** Finds GlobalAveragePool (or ReduceMean over H, W) → Flatten/Reshape/Squeeze … → Gemm/MatMul with constant
 * weights producing `output` (default: the first graph output). Throws a CamError naming the model otherwise. */
export function findCamHead(graph: Graph, source = 'model', output?: string): CamHead {
  const out = output ?? graph.outputs[0]?.name;
  const reasons: string[] = [];
  for (const pool of graph.nodes) {
    if (!spatialMean(graph, pool)) continue;
    let v = pool.outputs[0];
    let head: Node | undefined;
    for (;;) {
      const cs = graph.consumers(v);
      if (cs.length !== 1) { reasons.push(`'${pool.name}' (${pool.opType}) output feeds ${cs.length} nodes`); break; }
      const c = cs[0];
      if (PASS_THROUGH.has(c.opType)) { v = c.outputs[0]; continue; }
      if ((c.opType === 'Gemm' || c.opType === 'MatMul') && c.inputs[0] === v && graph.isConstant(c.inputs[1])) head = c;
      else reasons.push(`'${pool.name}' (${pool.opType}) leads to '${c.name}' (${c.opType}), not a Gemm/MatMul with constant weights`);
      break;
    }
    if (!head) continue;
    if (head.outputs[0] !== out) { reasons.push(`the head '${head.name}' (${head.opType}) produces '${head.outputs[0]}', not the output '${out}'`); continue; }
    const B = graph.constant(head.inputs[1])!;
    if (B.dims.length !== 2) { reasons.push(`'${head.name}' has weights of rank ${B.dims.length}`); continue; }
    const b = f32Of(B);
    let transB = false, alpha = 1, beta = 1;
    if (head.opType === 'Gemm') {
      if (head.attrs.transA) { reasons.push(`'${head.name}' (Gemm) has transA`); continue; }
      transB = !!head.attrs.transB;
      alpha = typeof head.attrs.alpha === 'number' ? head.attrs.alpha : 1;
      beta = typeof head.attrs.beta === 'number' ? head.attrs.beta : 1;
    }
    const [K, classes] = transB ? [B.dims[1], B.dims[0]] : [B.dims[0], B.dims[1]];
    const weights = new Float32Array(classes * K);
    for (let c = 0; c < classes; c++) for (let k = 0; k < K; k++) weights[c * K + k] = alpha * (transB ? b[c * K + k] : b[k * classes + c]);
    const bias = new Float32Array(classes);
    const cName = head.inputs[2];
    if (cName) {
      const C = graph.constant(cName);
      if (!C) { reasons.push(`'${head.name}' has a live bias input`); continue; }
      const cv = f32Of(C);
      for (let c = 0; c < classes; c++) bias[c] = beta * (cv.length === 1 ? cv[0] : cv[c]);
    }
    return { pool, feature: pool.inputs[0], head, weights, bias, classes, channels: K };
  }
  throw new CamError(`${source}: no CAM head found: CAM needs GlobalAveragePool (or ReduceMean over H and W) → Flatten/Reshape/Squeeze → `
    + `Gemm/MatMul with constant weights producing the output${reasons.length ? ` (${reasons.join('; ')})` : ' (the model has no global average pooling)'}; `
    + 'use Grad-CAM (method gradcam) instead');
}

export interface CamResult {
  relevance: F32Tensor;
  /** the maps at the feature resolution [N, h, w] */
  lowRes: Float32Array;
  size: [number, number];
  /** the value the maps were computed at */
  layer: string;
  targets: number[];
}

/** CAM: M_t(y, x) = Σ_k W[t, k] A_k(y, x) at the input of the global average pooling (signed, no ReLU). The
 * spatial mean of M_t plus the head's bias is the target logit. */
export async function cam(explainer: Explainer, input: Tensor, opts: { target?: number | number[]; targets?: number[]; output?: string } = {}): Promise<CamResult> {
  const x = toF32Tensor(input);
  const { N, C, H, W } = spatialDims(x, 'CAM');
  const head = findCamHead(explainer.graph, explainer.source, opts.output);
  const values = await explainer.forward({ [explainer.graph.inputs[0].name]: x });
  const A = values.get(head.feature);
  if (!A || A.dims.length !== 4) throw new CamError(`${explainer.source}: CAM feature '${head.feature}' is not a 4-D activation (shape [${A?.dims.join('x') ?? '?'}])`);
  const a = f32Of(A);
  const [, K, h, w] = A.dims;
  if (K !== head.channels) throw new CamError(`${explainer.source}: CAM feature '${head.feature}' has ${K} channels, the head '${head.head.name}' expects ${head.channels}`);
  const outName = opts.output ?? explainer.graph.outputs[0].name;
  const logits = values.get(outName)!;
  const targets = opts.targets ?? resolveTargets(float32(logits.dims, f32Of(logits)), opts.target).targets;
  const low = new Float32Array(N * h * w);
  for (let n = 0; n < N; n++) {
    const t = targets[n];
    for (let k = 0; k < K; k++) {
      const wk = head.weights[t * K + k];
      const src = (n * K + k) * h * w, dst = n * h * w;
      for (let i = 0; i < h * w; i++) low[dst + i] += wk * a[src + i];
    }
  }
  const up = new Float32Array(N * H * W);
  for (let n = 0; n < N; n++) up.set(upsampleBilinear(low.subarray(n * h * w, (n + 1) * h * w), h, w, H, W), n * H * W);
  return { relevance: broadcastChannels(up, N, C, H, W), lowRes: low, size: [h, w], layer: head.feature, targets };
}

/** The value Grad-CAM uses by default: the output of the last Conv, followed forward through a chain of
 * single-consumer, shape-preserving activations and residual sums (so the activation after the last
 * convolution, or a residual block's output). `dims` gives the shapes of the values (from a forward pass). */
export function defaultGradCamLayer(graph: Graph, dims: (value: string) => readonly number[] | undefined, source = 'model'): string {
  const convs = graph.nodes.filter((n) => n.opType === 'Conv');
  if (!convs.length) throw new CamError(`${source}: Grad-CAM needs a 4-D activation and the model has no Conv node; name one with the layer option`);
  let v = convs[convs.length - 1].outputs[0];
  for (;;) {
    const cs = graph.consumers(v);
    if (cs.length !== 1) break;
    const c = cs[0], cat = categoryOf(c, graph);
    if (!['activation', 'sum', 'affine'].includes(cat)) break;
    const a = dims(v), b = dims(c.outputs[0]);
    if (!a || !b || a.length !== b.length || a.some((d, i) => d !== b[i])) break;
    v = c.outputs[0];
  }
  return v;
}

/** Resolves a Grad-CAM layer given by node name (its first output) or value name. */
export function resolveLayer(graph: Graph, layer: string, source = 'model'): string {
  const node = graph.node(layer);
  if (node) return node.outputs[0];
  if (graph.producer(layer)) return layer;
  const convs = graph.nodes.filter((n) => n.opType === 'Conv').map((n) => n.name);
  throw new CamError(`${source}: no node or value named '${layer}' in the (canonized) graph${convs.length ? `; Conv nodes: ${convs.join(', ')}` : ''}`);
}

/** Grad-CAM: ReLU(Σ_k α_k A_k) with α_k the spatial mean of d logit_target / d A_k, at `layer` (a node or value
 * name; default: see defaultGradCamLayer). */
export async function gradCam(explainer: Explainer, input: Tensor, opts: { target?: number | number[]; targets?: number[]; layer?: string; batchSize?: number; onProgress?: RowProgress } = {}): Promise<CamResult> {
  const x = toF32Tensor(input);
  const { N, C, H, W } = spatialDims(x, 'Grad-CAM');
  const bs = Math.max(1, opts.batchSize ?? 64);
  let layer: string | undefined = opts.layer === undefined ? undefined : resolveLayer(explainer.graph, opts.layer, explainer.source);
  const targets = opts.targets ?? resolveTargets(await predictRows(explainer, x, bs), opts.target).targets;
  const runner = await rowRunner(explainer, x);
  const ex = runner.explainer;
  const up = new Float32Array(N * H * W);
  let low: Float32Array | undefined;
  let size: [number, number] = [0, 0];
  opts.onProgress?.(0, N);
  for (const [s0, s1] of chunks(N, bs, runner)) {
    const chunk = chunkRows(x, s0, s1, runner);
    const values = await ex.forward({ [ex.graph.inputs[0].name]: chunk });
    layer ??= defaultGradCamLayer(ex.graph, (v) => values.get(v)?.dims, explainer.source);
    const A = values.get(layer);
    if (!A) throw new CamError(`${explainer.source}: value '${layer}' is not on the relevance path (no activation computed for it)`);
    if (A.dims.length !== 4) throw new CamError(`${explainer.source}: Grad-CAM needs a 4-D activation [N, K, h, w]; '${layer}' has shape [${A.dims.join('x')}]`);
    const t = targets.slice(s0, s1);
    while (t.length < chunk.dims[0]) t.push(t[t.length - 1]);
    const e = await ex.explain(chunk, { composite: 'gradient', outputRelevance: 'one', keepAll: true, target: t });
    const a = f32Of(A);
    const g = e.values!.get(layer) ?? new Float32Array(a.length);
    const [, K, h, w] = A.dims;
    size = [h, w];
    low ??= new Float32Array(N * h * w);
    for (let n = 0; n < s1 - s0; n++) {
      const m = new Float32Array(h * w);
      for (let k = 0; k < K; k++) {
        const off = (n * K + k) * h * w;
        let alpha = 0;
        for (let i = 0; i < h * w; i++) alpha += g[off + i];
        alpha /= h * w;
        for (let i = 0; i < h * w; i++) m[i] += alpha * a[off + i];
      }
      for (let i = 0; i < h * w; i++) m[i] = Math.max(0, m[i]);
      low.set(m, (s0 + n) * h * w);
      up.set(upsampleBilinear(m, h, w, H, W), (s0 + n) * H * W);
    }
    opts.onProgress?.(s1, N);
  }
  return { relevance: broadcastChannels(up, N, C, H, W), lowRes: low ?? new Float32Array(0), size, layer: layer!, targets };
}
