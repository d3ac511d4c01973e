/** Upsample (opset 7–9) and Resize (opset 10+). Nearest-neighbour resizing only moves values: relevance is
 * routed back like the gradient (category routing). Linear resizing is a linear layer whose weights are the
 * interpolation coefficients (non-negative, one per neighbour, summing to 1): category avgpool, the norm
 * rule by default, as for an average pool. Cubic resizing, tf_crop_and_resize, antialiased downsampling and
 * keep_aspect_ratio_policy other than stretch are not supported (named errors).
 * Coordinates follow the ONNX specification and onnxruntime: `coordinate_transformation_mode` (Resize-11+;
 * Upsample and Resize-10 are asymmetric), `nearest_mode` (Resize-11+; before that onnxruntime floors when
 * upsampling and ceils when downsampling). */
import { Graph, Node } from '../ir/graph';
import { LinearKernel, WeightMod } from '../kernels/kernel';
import { toNumbers } from '../tensor';
import { Category, NodeContext, OpDef, UnsupportedError, attrInt, attrString, strides } from './op';
import { notLowered } from './lowering';

/** The interpolation mode of a node, normalised: 'nearest', 'linear' or another (unsupported) value. */
function modeOf(node: Node): string {
  const m = typeof node.attrs.mode === 'string' ? node.attrs.mode : 'nearest';
  return m === 'bilinear' || m === 'trilinear' ? 'linear' : m;
}

function resizeCategory(node: Node, graph: Graph): Category {
  const mode = modeOf(node);
  if (mode === 'nearest') return 'routing';
  if (mode === 'linear') return 'avgpool';
  const opset = graph.opsets[node.domain] ?? graph.opsets[''];
  throw new UnsupportedError(`node '${node.name}' (${node.opType}, opset ${opset}): mode '${mode}' is not supported (nearest and linear are)`);
}

/** For one axis: for every output coordinate, the input coordinates it reads and their weights. */
interface AxisTerms {
  idx: number[][];
  w: number[][];
}

type Transform = (x: number, lenIn: number, lenOut: number, scale: number) => number;

const TRANSFORMS: Record<string, Transform> = {
  half_pixel: (x, _i, _o, s) => (x + 0.5) / s - 0.5,
  half_pixel_symmetric: (x, li, lo, s) => {
    const adjustment = lo / (s * li);
    const center = li / 2;
    return center * (1 - adjustment) + (x + 0.5) / s - 0.5;
  },
  pytorch_half_pixel: (x, _i, lo, s) => (lo > 1 ? (x + 0.5) / s - 0.5 : 0),
  align_corners: (x, li, lo) => (lo === 1 ? 0 : (x * (li - 1)) / (lo - 1)),
  asymmetric: (x, _i, _o, s) => x / s,
  tf_half_pixel_for_nn: (x, _i, _o, s) => (x + 0.5) / s,
};

type Rounding = (x: number, downsampling: boolean) => number;

const NEAREST: Record<string, Rounding> = {
  round_prefer_floor: (x) => (x === Math.floor(x) + 0.5 ? Math.floor(x) : Math.round(x)),
  round_prefer_ceil: (x) => Math.round(x),
  floor: (x) => Math.floor(x),
  ceil: (x) => Math.ceil(x),
  /** onnxruntime's rule for Upsample and Resize-10 */
  simple: (x, down) => (down ? Math.ceil(x) : Math.trunc(x)),
};

function fail(ctx: NodeContext, msg: string): never {
  throw new UnsupportedError(`node '${ctx.node.name}' (${ctx.node.opType}, opset ${ctx.opset}): ${msg}`);
}

/** Per-axis scales as onnxruntime uses them (float32): from `scales`, else output/input sizes. */
function scalesOf(ctx: NodeContext, xd: readonly number[], yd: readonly number[]): number[] {
  const { node } = ctx;
  let given: number[] | undefined;
  if (node.opType === 'Upsample' && ctx.opset < 9) given = (node.attrs.scales as number[] | undefined) ?? undefined;
  else {
    const i = node.opType === 'Upsample' || ctx.opset < 11 ? 1 : 2;
    if (node.inputs[i]) {
      const v = toNumbers(ctx.value(node.inputs[i]));
      if (v.length) given = v;
    }
  }
  const axes = node.attrs.axes ? (node.attrs.axes as number[]).map((a) => (a < 0 ? a + xd.length : a)) : xd.map((_, i) => i);
  const out = xd.map((n, d) => Math.fround(yd[d] / n));
  if (given) {
    if (given.length !== axes.length) fail(ctx, `${given.length} scales for ${axes.length} axes`);
    axes.forEach((a, k) => { out[a] = Math.fround(given![k]); });
  }
  return out;
}

function axisTerms(ctx: NodeContext, lenIn: number, lenOut: number, scale: number, linear: boolean, transform: Transform, rounding: Rounding): AxisTerms {
  const idx: number[][] = [];
  const w: number[][] = [];
  for (let x = 0; x < lenOut; x++) {
    if (lenIn === lenOut && scale === 1) { idx.push([x]); w.push([1]); continue; }
    const orig = Math.fround(transform(x, lenIn, lenOut, scale));
    if (!linear) {
      const i = Math.min(Math.max(rounding(orig, scale < 1), 0), lenIn - 1);
      idx.push([i]);
      w.push([1]);
      continue;
    }
    const c = Math.min(Math.max(orig, 0), lenIn - 1);
    const i0 = Math.floor(c);
    const i1 = Math.min(i0 + 1, lenIn - 1);
    const t = c - i0;
    if (i1 === i0 || t === 0) { idx.push([i0]); w.push([1]); } else { idx.push([i0, i1]); w.push([1 - t, t]); }
  }
  if (!Number.isFinite(scale) || scale <= 0) fail(ctx, `scale ${scale} must be positive`);
  return { idx, w };
}

/** The full resize as a sparse matrix in row (output) order: CSR offsets, input columns and weights. */
function resizeMatrix(ctx: NodeContext): { offsets: Int32Array; cols: Int32Array; vals: Float32Array; inSize: number } {
  const { node } = ctx;
  const xd = ctx.value(node.inputs[0]).dims;
  const yd = ctx.value(node.outputs[0]).dims;
  const linear = modeOf(node) === 'linear';
  const modern = node.opType === 'Resize' && ctx.opset >= 11;
  const ctm = modern ? attrString(node, 'coordinate_transformation_mode', 'half_pixel') : 'asymmetric';
  if (ctm === 'tf_crop_and_resize') fail(ctx, "coordinate_transformation_mode 'tf_crop_and_resize' is not supported");
  const transform = TRANSFORMS[ctm] ?? fail(ctx, `unknown coordinate_transformation_mode '${ctm}'`);
  const nm = modern ? attrString(node, 'nearest_mode', 'round_prefer_floor') : 'simple';
  const rounding = NEAREST[nm] ?? fail(ctx, `unknown nearest_mode '${nm}'`);
  if (attrString(node, 'keep_aspect_ratio_policy', 'stretch') !== 'stretch') fail(ctx, `keep_aspect_ratio_policy '${attrString(node, 'keep_aspect_ratio_policy', '')}' is not supported (only stretch)`);
  const scales = scalesOf(ctx, xd, yd);
  if (linear && attrInt(node, 'antialias', 0) && scales.some((s) => s < 1)) fail(ctx, 'antialiased downsampling is not supported');
  const axes = xd.map((n, d) => axisTerms(ctx, n, yd[d], scales[d], linear, transform, rounding));
  const xs = strides(xd);
  const outSize = yd.reduce((a, b) => a * b, 1);
  const offsets = new Int32Array(outSize + 1);
  const cols: number[] = [];
  const vals: number[] = [];
  const coord = new Array<number>(yd.length).fill(0);
  for (let o = 0; o < outSize; o++) {
    let rem = o;
    for (let d = yd.length - 1; d >= 0; d--) { coord[d] = rem % yd[d]; rem = Math.floor(rem / yd[d]); }
    // tensor product of the axes' terms
    let terms: [number, number][] = [[0, 1]];
    for (let d = 0; d < yd.length; d++) {
      const ti = axes[d].idx[coord[d]];
      const tw = axes[d].w[coord[d]];
      const next: [number, number][] = [];
      for (const [c, w] of terms) for (let k = 0; k < ti.length; k++) next.push([c + ti[k] * xs[d], w * tw[k]]);
      terms = next;
    }
    for (const [c, w] of terms) { cols.push(c); vals.push(w); }
    offsets[o + 1] = cols.length;
  }
  return { offsets, cols: Int32Array.from(cols), vals: Float32Array.from(vals), inSize: xd.reduce((a, b) => a * b, 1) };
}

/** A sparse linear kernel: z[o] = Σ w'·x over row o's entries. Weight modifiers act on the coefficients. */
function sparseKernel(m: { offsets: Int32Array; cols: Int32Array; vals: Float32Array; inSize: number }): LinearKernel {
  const outSize = m.offsets.length - 1;
  const modified = (wm: WeightMod) => (wm.key === 'id' ? m.vals : m.vals.map(wm.fn));
  return {
    inSize: m.inSize,
    outSize,
    hasBias: false,
    async forward(x: Float32Array, wm: WeightMod) {
      const w = modified(wm);
      const z = new Float32Array(outSize);
      for (let o = 0; o < outSize; o++) {
        let s = 0;
        for (let k = m.offsets[o]; k < m.offsets[o + 1]; k++) s += w[k] * x[m.cols[k]];
        z[o] = s;
      }
      return z;
    },
    async transposed(g: Float32Array, wm: WeightMod) {
      const w = modified(wm);
      const gx = new Float32Array(m.inSize);
      for (let o = 0; o < outSize; o++) {
        for (let k = m.offsets[o]; k < m.offsets[o + 1]; k++) gx[m.cols[k]] += w[k] * g[o];
      }
      return gx;
    },
  };
}

function resizeOp(type: string): OpDef {
  return {
    type,
    category: resizeCategory,
    categories: [
      { category: 'routing', when: "mode 'nearest'" },
      { category: 'avgpool', when: "mode 'linear' (weights: the interpolation coefficients)" },
    ],
    note: 'cubic mode, tf_crop_and_resize and antialiased downsampling are not supported',
    arity: type === 'Resize' ? [1, 4, 1, 1] : [1, 2, 1, 1], outputDtype: 'input',
    // nearest and linear interpolation: non-negative weights; cubic ones can be negative
    sign: (node) => (attrString(node, 'mode', 'nearest') === 'cubic' ? 'any' : 'keeps'),
    lowering: notLowered('no lowering yet (reference kernels)'),
    linear: (ctx) => ({ kernel: sparseKernel(resizeMatrix(ctx)), live: [0] }),
    vjp(ctx, [g]) {
      const m = resizeMatrix(ctx);
      const gx = new Float32Array(m.inSize);
      for (let o = 0; o < g!.length; o++) for (let k = m.offsets[o]; k < m.offsets[o + 1]; k++) gx[m.cols[k]] += m.vals[k] * g![o];
      return [gx, ...ctx.node.inputs.slice(1).map(() => null)];
    },
  };
}

export const ops: OpDef[] = [resizeOp('Upsample'), resizeOp('Resize')];
