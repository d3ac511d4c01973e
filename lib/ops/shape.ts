/** Ops that compute shapes, indices and constants: they carry no relevance. (Where and Trilu, which select
 * values of live tensors too, are in ./routing.ts.) */
import { OpDef } from './op';

const shape = (type: string): OpDef => ({ type, category: 'shape' });

export const ops: OpDef[] = [
  'Shape', 'Size', 'Constant', 'ConstantOfShape', 'Range', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual',
  'Not', 'And', 'Or', 'NonZero', 'ArgMax', 'ArgMin', 'Floor', 'Ceil', 'Round',
].map(shape);
