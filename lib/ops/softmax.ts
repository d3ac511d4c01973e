/** Softmax and LogSoftmax: explained models end in logits, so a final one is stripped by a canonizer. */
import { OpDef } from './op';

export const ops: OpDef[] = [
  { type: 'Softmax', category: 'softmax', note: 'only as the final op: stripped (strip-softmax), the logits are explained' },
  { type: 'LogSoftmax', category: 'softmax', note: 'as Softmax' },
];
