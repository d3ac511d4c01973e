/** Element types of every value, inferred forward from inputs and constants (enough to declare the outputs
 * the forward pass exposes, and to tell relevance-carrying float values from shapes and indices). */
import { DType, Tensor } from '../tensor';
import { Graph } from './graph';

/** ONNX TensorProto.DataType codes and their names (the names are the DType strings where one exists). */
export const DATA_TYPE: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string',
  9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128',
  16: 'bfloat16',
};

export const DATA_TYPE_CODE: Record<string, number> = Object.fromEntries(
  Object.entries(DATA_TYPE).map(([k, v]) => [v, Number(k)]),
);

const INT64_OUT = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin']);
const BOOL_OUT = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);

export function inferDtypes(graph: Graph): Map<string, DType> {
  const t = new Map<string, DType>();
  for (const i of graph.inputs) t.set(i.name, i.dtype);
  for (const [k, c] of graph.constants) t.set(k, c.dtype);
  for (const n of graph.nodes) {
    let d: DType | undefined;
    if (INT64_OUT.has(n.opType)) d = 'int64';
    else if (BOOL_OUT.has(n.opType)) d = 'bool';
    else if (n.opType === 'Cast') d = DATA_TYPE[n.attrs.to as number] as DType;
    else if (n.opType === 'Constant' || n.opType === 'ConstantOfShape') d = (n.attrs.value as Tensor | undefined)?.dtype ?? 'float32';
    else if (n.opType === 'Where') d = t.get(n.inputs[1]);
    else if (n.opType.startsWith('Dequantize')) d = 'float32';
    else d = t.get(n.inputs.find((i) => i) ?? '');
    if (d === 'float16') d = 'float32';
    n.outputs.forEach((o, k) => {
      if (!o) return;
      if (n.opType === 'Dropout' && k === 1) t.set(o, 'bool');
      else if (n.opType === 'MaxPool' && k === 1) t.set(o, 'int64');
      else t.set(o, d ?? 'float32');
    });
  }
  return t;
}
