/** The ONNX element type codes. (The element type of each value of a graph is inferred from the ops'
 * definitions: `inferDtypes`, lib/ops/dtypes.ts.) */

/** ONNX TensorProto.DataType codes and their names (the names are the DType strings where one exists). */
export const DATA_TYPE: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string',
  9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128',
  16: 'bfloat16',
};

export const DATA_TYPE_CODE: Record<string, number> = Object.fromEntries(
  Object.entries(DATA_TYPE).map(([k, v]) => [v, Number(k)]),
);
