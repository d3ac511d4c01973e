/** Ops that compute shapes, indices and constants: they carry no relevance. */
import { Tensor } from '../tensor';
import { ONE_IN_ONE_OUT, OpDef, OutputDtype, TWO_IN_ONE_OUT } from './op';
import { NO_LOWERING_SHAPE } from './lowering';

const shape = (type: string, arity: OpDef['arity'], outputDtype: OutputDtype = 'input'): OpDef => ({
  type, category: 'shape', arity, outputDtype, sign: 'any', lowering: NO_LOWERING_SHAPE,
});

const constantDtype: OutputDtype = (node) => (node.attrs.value as Tensor | undefined)?.dtype ?? 'float32';

export const ops: OpDef[] = [
  shape('Shape', ONE_IN_ONE_OUT, 'int64'), shape('Size', ONE_IN_ONE_OUT, 'int64'),
  shape('Constant', [0, 0, 1, 1], constantDtype), shape('ConstantOfShape', ONE_IN_ONE_OUT, constantDtype),
  shape('Range', [3, 3, 1, 1]),
  ...['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual'].map((t) => shape(t, TWO_IN_ONE_OUT, 'bool')),
  shape('Not', ONE_IN_ONE_OUT, 'bool'), shape('And', TWO_IN_ONE_OUT, 'bool'), shape('Or', TWO_IN_ONE_OUT, 'bool'),
  shape('Where', [3, 3, 1, 1], (_node, input) => input(1)),
  ...['NonZero', 'ArgMax', 'ArgMin'].map((t) => shape(t, ONE_IN_ONE_OUT, 'int64')),
  ...['Floor', 'Ceil', 'Round'].map((t) => shape(t, ONE_IN_ONE_OUT)),
];
