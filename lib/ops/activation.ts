/** Elementwise activations (relevance passes; the derivative serves gradient modes) and unmerged
 * BatchNormalization. */
import { toNumbers } from '../tensor';
import { OpDef, NodeContext, ONE_IN_ONE_OUT, SignBehaviour, attrFloat, attrString, f32, fail } from './op';
import { NO_LOWERING_ELEMENTWISE } from './lowering';

type Deriv = (x: number, y: number) => number;

/** What every element-wise op shares unless it says otherwise: one input, one output of the input's type,
 * no onnxruntime lowering (the rule is cheap element-wise work). */
const ELEMENTWISE = { arity: ONE_IN_ONE_OUT, outputDtype: 'input', sign: 'any', lowering: NO_LOWERING_ELEMENTWISE } as const;

function elementwise(type: string, d: (ctx: NodeContext) => Deriv, sign: SignBehaviour = 'any'): OpDef {
  return {
    type, category: 'activation', ...ELEMENTWISE, sign,
    derivative(ctx, x, y) {
      const f = d(ctx);
      const out = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) out[i] = f(x[i], y[i]);
      return out;
    },
  };
}

const SQRT1_2 = Math.SQRT1_2;

/** d/dx x·σ(αx) = σ(αx) + αx·σ(αx)(1 − σ(αx)) */
function swishDerivative(alpha: number): Deriv {
  return (x) => { const s = 1 / (1 + Math.exp(-alpha * x)); return s + alpha * x * s * (1 - s); };
}
/** Abramowitz–Stegun 7.1.26 is not exact enough; use a series/continued-fraction erf accurate to ~1e-12. */
export function erf(x: number): number {
  const s = Math.sign(x);
  const a = Math.abs(x);
  if (a < 2.5) {
    // Taylor series
    let term = a;
    let sum = a;
    const x2 = a * a;
    for (let n = 1; n < 60; n++) {
      term *= -x2 / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    return s * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // continued fraction for erfc
  let f = 0;
  for (let n = 60; n >= 1; n--) f = (n / 2) / (a + f);
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + f);
  return s * (1 - erfc);
}

function clipBounds(ctx: NodeContext): [number, number] {
  const { node } = ctx;
  if (ctx.opset < 11) return [attrFloat(node, 'min', -3.4028234663852886e38), attrFloat(node, 'max', 3.4028234663852886e38)];
  const get = (i: number, def: number) => (node.inputs[i] ? toNumbers(ctx.value(node.inputs[i]))[0] : def);
  return [get(1, -Infinity), get(2, Infinity)];
}

export const ops: OpDef[] = [
  elementwise('Relu', () => (x) => (x > 0 ? 1 : 0), 'nonNegative'),
  elementwise('LeakyRelu', (c) => { const a = attrFloat(c.node, 'alpha', 0.01); return (x) => (x > 0 ? 1 : a); }),
  elementwise('Sigmoid', () => (_, y) => y * (1 - y), 'nonNegative'),
  elementwise('Tanh', () => (_, y) => 1 - y * y),
  elementwise('Elu', (c) => { const a = attrFloat(c.node, 'alpha', 1); return (x, y) => (x > 0 ? 1 : y + a); }),
  elementwise('Selu', (c) => {
    const a = attrFloat(c.node, 'alpha', 1.67326319217681884765625);
    const g = attrFloat(c.node, 'gamma', 1.05070102214813232421875);
    return (x) => (x > 0 ? g : g * a * Math.exp(x));
  }),
  elementwise('Softplus', () => (x) => 1 / (1 + Math.exp(-x)), 'nonNegative'),
  elementwise('HardSigmoid', (c) => {
    const a = attrFloat(c.node, 'alpha', 0.2);
    const b = attrFloat(c.node, 'beta', 0.5);
    return (x) => { const v = a * x + b; return v > 0 && v < 1 ? a : 0; };
  }, 'nonNegative'),
  elementwise('HardSwish', () => (x) => (x < -3 ? 0 : x > 3 ? 1 : (2 * x + 3) / 6)),
  { ...elementwise('Clip', (c) => { const [lo, hi] = clipBounds(c); return (x) => (x > lo && x < hi ? 1 : 0); }), arity: [1, 3, 1, 1] },
  elementwise('Gelu', (c) => {
    if (attrString(c.node, 'approximate', 'none') === 'tanh') {
      const k = Math.sqrt(2 / Math.PI);
      return (x) => {
        const u = k * (x + 0.044715 * x ** 3);
        const t = Math.tanh(u);
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
      };
    }
    return (x) => 0.5 * (1 + erf(x * SQRT1_2)) + x * Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  }),
  { ...elementwise('Identity', () => () => 1, 'keeps'), note: 'removed by remove-identity' },
  {
    ...elementwise('Dropout', () => () => 1, 'keeps'), note: 'inference mode: removed by remove-identity',
    arity: [1, 3, 1, 2], outputDtype: (_node, input, k) => (k === 1 ? 'bool' : input(0)), // output 1: the mask
  },
  // x·σ(αx): ONNX Swish (opset 24) and com.microsoft QuickGelu, which the fuse-activations canonizer makes of
  // PyTorch's SiLU (x * Sigmoid(x)); one activation node, so relevance passes it whole
  { ...elementwise('Swish', (c) => swishDerivative(attrFloat(c.node, 'alpha', 1))), note: 'opset 24' },
  { ...elementwise('QuickGelu', (c) => swishDerivative(attrFloat(c.node, 'alpha', 1.702))), domain: 'com.microsoft', note: "x·σ(αx); fuse-activations makes one of PyTorch's SiLU (x · Sigmoid(x))" },
  elementwise('Mish', () => (x) => {
    // y = x·tanh(softplus(x)); y' = tanh(sp) + x·sech²(sp)·σ(x)
    const sp = x > 20 ? x : Math.log1p(Math.exp(x));
    const t = Math.tanh(sp);
    return t + x * (1 - t * t) / (1 + Math.exp(-x));
  }),
  elementwise('Softsign', () => (x) => 1 / (1 + Math.abs(x)) ** 2),
  elementwise('ThresholdedRelu', (c) => { const a = attrFloat(c.node, 'alpha', 1); return (x) => (x > a ? 1 : 0); }),
  elementwise('Celu', (c) => { const a = attrFloat(c.node, 'alpha', 1); return (x) => (x > 0 ? 1 : Math.exp(x / a)); }),
  {
    type: 'LRN', category: 'activation', note: 'no gradient modes', ...ELEMENTWISE,
    derivative(ctx) { return fail(ctx.node, 'the gradient through LRN is not implemented (LRP passes relevance through it)'); },
  },
  {
    type: 'PRelu', category: 'activation', ...ELEMENTWISE, arity: [2, 2, 1, 1],
    derivative(ctx, x) {
      const slopeT = ctx.value(ctx.node.inputs[1]);
      const xd = ctx.value(ctx.node.inputs[0]).dims;
      const slope = f32(slopeT);
      const map = broadcastIndex(slopeT.dims, xd);
      return x.map((v, i) => (v > 0 ? 1 : slope[map[i]]));
    },
  },
  {
    type: 'BatchNormalization', category: 'affine', note: 'right after Conv/ConvTranspose/Gemm/MatMul: merged into it (merge-batchnorm); inference mode only',
    ...ELEMENTWISE, arity: [5, 5, 1, 5],
    derivative(ctx, x) {
      const { node } = ctx;
      if (node.outputs.length > 1 && node.outputs.slice(1).some((o) => o)) fail(node, 'training-mode BatchNormalization is not supported');
      const dims = ctx.value(node.inputs[0]).dims;
      const scale = f32(ctx.value(node.inputs[1]));
      const variance = f32(ctx.value(node.inputs[4]));
      const eps = attrFloat(node, 'epsilon', 1e-5);
      const C = dims[1] ?? 1;
      const inner = dims.slice(2).reduce((a, b) => a * b, 1);
      // opset 7–8 spatial=0: statistics per element of [C, D1, …] instead of per channel
      if (scale.length === C * inner && inner > 1) return x.map((_, i) => { const k = i % (C * inner); return scale[k] / Math.sqrt(variance[k] + eps); });
      return x.map((_, i) => { const c = Math.floor(i / inner) % C; return scale[c] / Math.sqrt(variance[c] + eps); });
    },
  },
];

import { broadcastMap as broadcastIndex } from './op';
