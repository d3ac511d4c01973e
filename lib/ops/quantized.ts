/** Ops of quantized models. The quantized canonizer (lib/canonize/quantized.ts) replaces each by the float op
 * it quantizes before the rule plan sees the graph, so they have no category and no math: only the facts the
 * loader and the dtype inference read before that. */
import { Arity, OutputDtype } from './op';

export interface QuantizedOpDef {
  readonly type: string;
  /** '' and com.microsoft (both spell QuantizeLinear/DequantizeLinear) */
  readonly domains: readonly string[];
  readonly arity: Arity;
  readonly outputDtype: OutputDtype;
}

/** A quantized output: its zero point's type (input `zp`), else uint8. */
const quantizedOut = (zp: number): OutputDtype => (_node, input) => input(zp) ?? 'uint8';

export const QUANTIZED_OPS: readonly QuantizedOpDef[] = [
  { type: 'QuantizeLinear', domains: ['', 'com.microsoft'], arity: [2, 3, 1, 1], outputDtype: quantizedOut(2) },
  { type: 'DequantizeLinear', domains: ['', 'com.microsoft'], arity: [2, 3, 1, 1], outputDtype: 'float32' },
  { type: 'QLinearConv', domains: [''], arity: [8, 9, 1, 1], outputDtype: quantizedOut(7) },
  { type: 'QLinearMatMul', domains: [''], arity: [8, 8, 1, 1], outputDtype: quantizedOut(7) },
];
