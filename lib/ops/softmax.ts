/** Softmax and LogSoftmax: explained models end in logits, so a final one is stripped by a canonizer. */
import { ONE_IN_ONE_OUT, OpDef } from './op';
import { notLowered } from './lowering';

const STRIPPED = notLowered('stripped before relevance is propagated');

export const ops: OpDef[] = [
  { type: 'Softmax', category: 'softmax', arity: ONE_IN_ONE_OUT, outputDtype: 'input', sign: 'nonNegative', lowering: STRIPPED, note: 'only as the final op: stripped (strip-softmax), the logits are explained' },
  { type: 'LogSoftmax', category: 'softmax', arity: ONE_IN_ONE_OUT, outputDtype: 'input', sign: 'any', lowering: STRIPPED, note: 'as Softmax' },
];
