/** A tiny hand-built transformer for the token specs: ids [N, T] int64 → embedding (Gather) → `layers` blocks of
 * 2-head self-attention with a residual (x + softmax(QKᵀ)V, no scaling, no layer norm) → the [CLS] position
 * (Gather of position 0) → linear head. Seeded weights; `zeroQK` makes every attention uniform (1/T). Also a
 * float64 reference of its attention matrices, computed here independently of onnxruntime. */
import { Explainer, Graph, Tensor, float32, ortBackend } from '../../lib';
import { Node } from '../../lib/ir/graph';
import { prng } from './onnx';

export const D = 4, HEADS = 2, DH = 2;

export interface TextModel {
  explainer: Explainer;
  graph: Graph;
  E: Float32Array;
  Wq: Float32Array[]; Wk: Float32Array[]; Wv: Float32Array[];
  Wout: Float32Array;
  vocab: number;
  classes: number;
}

const n = (name: string, opType: string, inputs: string[], outputs: string[], attrs: Record<string, unknown> = {}): Node =>
  ({ name, opType, domain: '', inputs, outputs, attrs } as unknown as Node);

const i64 = (v: number[]): Tensor => ({ dtype: 'int64', dims: [v.length], data: BigInt64Array.from(v.map(BigInt)) });

export function textModel(opts: { layers?: number; vocab?: number; T?: number | string; classes?: number; seed?: number; zeroQK?: boolean; batch?: number | string } = {}): TextModel {
  const L = opts.layers ?? 2, V = opts.vocab ?? 10, C = opts.classes ?? 2;
  const rng = prng(opts.seed ?? 3);
  const rand = (k: number, s = 1) => Float32Array.from({ length: k }, () => s * (rng() * 2 - 1));
  const E = rand(V * D), Wout = rand(D * C);
  const Wq: Float32Array[] = [], Wk: Float32Array[] = [], Wv: Float32Array[] = [];
  const consts = new Map<string, Tensor>([['E', float32([V, D], E)], ['Wout', float32([D, C], Wout)], ['split', i64([0, 0, HEADS, DH])], ['merge', i64([0, 0, D])], ['zero', i64([0])]]);
  const nodes: Node[] = [n('embed', 'Gather', ['E', 'ids'], ['x0'])];
  for (let l = 0; l < L; l++) {
    Wq.push(opts.zeroQK ? new Float32Array(D * D) : rand(D * D, 1.5)); Wk.push(opts.zeroQK ? new Float32Array(D * D) : rand(D * D, 1.5)); Wv.push(rand(D * D));
    for (const [k, w] of [['q', Wq[l]], ['k', Wk[l]], ['v', Wv[l]]] as const) consts.set(`W${k}${l}`, float32([D, D], w));
    const x = `x${l}`, p = (s: string) => `${s}${l}`;
    nodes.push(
      n(p('q'), 'MatMul', [x, p('Wq')], [p('Q')]), n(p('k'), 'MatMul', [x, p('Wk')], [p('K')]), n(p('v'), 'MatMul', [x, p('Wv')], [p('V')]),
      n(p('qr'), 'Reshape', [p('Q'), 'split'], [p('Qr')]), n(p('kr'), 'Reshape', [p('K'), 'split'], [p('Kr')]), n(p('vr'), 'Reshape', [p('V'), 'split'], [p('Vr')]),
      n(p('qt'), 'Transpose', [p('Qr')], [p('Qh')], { perm: [0, 2, 1, 3] }), n(p('kt'), 'Transpose', [p('Kr')], [p('Kh')], { perm: [0, 2, 3, 1] }),
      n(p('vt'), 'Transpose', [p('Vr')], [p('Vh')], { perm: [0, 2, 1, 3] }),
      n(p('s'), 'MatMul', [p('Qh'), p('Kh')], [p('S')]), n(p('softmax'), 'Softmax', [p('S')], [p('A')], { axis: -1 }),
      n(p('o'), 'MatMul', [p('A'), p('Vh')], [p('O')]), n(p('ot'), 'Transpose', [p('O')], [p('Ot')], { perm: [0, 2, 1, 3] }),
      n(p('om'), 'Reshape', [p('Ot'), 'merge'], [p('Om')]), n(p('res'), 'Add', [x, p('Om')], [`x${l + 1}`]),
    );
  }
  nodes.push(n('cls', 'Gather', [`x${L}`, 'zero'], ['pooled'], { axis: 1 }), n('sq', 'Reshape', ['pooled', 'flat'], ['h']), n('head', 'MatMul', ['h', 'Wout'], ['logits']));
  consts.set('flat', i64([0, D]));
  const graph = new Graph({
    nodes, constants: consts, opsets: { '': 17 },
    inputs: [{ name: 'ids', dtype: 'int64', dims: [opts.batch ?? 'N', opts.T ?? 'T'] }],
    outputs: [{ name: 'logits', dtype: 'float32', dims: [opts.batch ?? 'N', C] }],
  });
  const explainer = Explainer.create({ graph, irVersion: 8, producer: 'spec', metadata: {} }, ortBackend, { source: 'text-model' });
  return { explainer, graph, E, Wq, Wk, Wv, Wout, vocab: V, classes: C };
}

/** Float64 forward of one sequence: the attention matrices of every layer, [HEADS, T, T] each, and the logits. */
export function referenceAttention(m: TextModel, ids: number[], x0?: number[][]): { attention: Float64Array[]; logits: number[] } {
  const T = x0?.length ?? ids.length;
  let x = x0 ?? ids.map((id) => Array.from(m.E.subarray(id * D, (id + 1) * D), Number));
  const mm = (a: number[][], W: Float32Array) => a.map((r) => [...Array(D).keys()].map((j) => r.reduce((s, v, k) => s + v * W[k * D + j], 0)));
  const attention: Float64Array[] = [];
  for (let l = 0; l < m.Wq.length; l++) {
    const Q = mm(x, m.Wq[l]), K = mm(x, m.Wk[l]), Vv = mm(x, m.Wv[l]);
    const A = new Float64Array(HEADS * T * T);
    const out = x.map((r) => [...r]);
    for (let h = 0; h < HEADS; h++) for (let i = 0; i < T; i++) {
      const s = [...Array(T).keys()].map((j) => Q[i][h * DH] * K[j][h * DH] + Q[i][h * DH + 1] * K[j][h * DH + 1]);
      const mx = Math.max(...s), e = s.map((v) => Math.exp(v - mx)), z = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j < T; j++) {
        A[(h * T + i) * T + j] = e[j] / z;
        for (let d = 0; d < DH; d++) out[i][h * DH + d] += (e[j] / z) * Vv[j][h * DH + d];
      }
    }
    attention.push(A);
    x = out;
  }
  const logits = [...Array(m.classes).keys()].map((c) => x[0].reduce((s, v, k) => s + v * m.Wout[k * m.classes + c], 0));
  return { attention, logits };
}

/** The same blocks over the 2×2 patches of a 1×4×4 image (Reshape, Transpose, Reshape: 4 tokens of 4 pixels, no
 * class token), pooled at patch 0: a tiny ViT. */
export function patchModel(opts: { layers?: number; seed?: number } = {}): TextModel {
  const m = textModel({ layers: opts.layers ?? 2, seed: opts.seed ?? 3 });
  const spec = m.graph.toSpec();
  const i64v = (v: number[]): Tensor => ({ dtype: 'int64', dims: [v.length], data: BigInt64Array.from(v.map(BigInt)) });
  spec.constants.set('grid', i64v([0, 2, 2, 2, 2]));
  spec.constants.set('patches', i64v([0, 4, 4]));
  spec.nodes = [
    n('p1', 'Reshape', ['image', 'grid'], ['g']), n('p2', 'Transpose', ['g'], ['gt'], { perm: [0, 1, 3, 2, 4] }), n('p3', 'Reshape', ['gt', 'patches'], ['x0']),
    ...spec.nodes.filter((x) => x.name !== 'embed'),
  ];
  spec.inputs = [{ name: 'image', dtype: 'float32', dims: ['N', 1, 4, 4] }];
  const graph = new Graph(spec);
  void m.explainer.release();
  return { ...m, graph, explainer: Explainer.create({ graph, irVersion: 8, producer: 'spec', metadata: {} }, ortBackend, { source: 'patch-model' }) };
}

/** The patches of one 4×4 image (row-major pixels) as the tokens patchModel makes: patch (gy, gx), pixels (py, px). */
export function patchTokens(img: ArrayLike<number>): number[][] {
  return [0, 1, 2, 3].map((p) => { const gy = p >> 1, gx = p & 1; return [0, 1, 2, 3].map((q) => img[(2 * gy + (q >> 1)) * 4 + 2 * gx + (q & 1)]); });
}

export const ids = (rows: number[][]): Tensor & { data: BigInt64Array } => ({ dtype: 'int64', dims: [rows.length, rows[0].length], data: BigInt64Array.from(rows.flat().map(BigInt)) });
