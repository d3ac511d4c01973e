/** IR → ONNX bytes, for onnxruntime. */
import { Graph, Node, ValueInfo, AttrValue } from '../ir/graph';
import { Tensor } from '../tensor';
import { DATA_TYPE_CODE } from '../ir/dtypes';
import { onnx } from './proto';
import { tensorToProto } from './tensor';

function valueInfoProto(v: ValueInfo): onnx.ValueInfoProto {
  const shape = v.dims === null ? undefined : {
    dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : d ? { dimParam: d } : {})),
  };
  return onnx.ValueInfoProto.create({
    name: v.name,
    type: { tensorType: { elemType: DATA_TYPE_CODE[v.dtype] ?? 1, shape } },
  });
}

function isTensor(v: AttrValue): v is Tensor {
  return typeof v === 'object' && v !== null && 'dims' in v && 'data' in v;
}

function attributeProto(name: string, v: AttrValue, type?: number): onnx.AttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (type === T.FLOAT && typeof v === 'number') return onnx.AttributeProto.create({ name, type, f: v });
  if (type === T.INT && typeof v === 'number') return onnx.AttributeProto.create({ name, type, i: v });
  if (type === T.FLOATS && Array.isArray(v)) return onnx.AttributeProto.create({ name, type, floats: v as number[] });
  if (type === T.INTS && Array.isArray(v)) return onnx.AttributeProto.create({ name, type, ints: v as number[] });
  if (typeof v === 'number') {
    return Number.isInteger(v) && !FLOAT_ATTRS.has(name)
      ? onnx.AttributeProto.create({ name, type: T.INT, i: v })
      : onnx.AttributeProto.create({ name, type: T.FLOAT, f: v });
  }
  if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(v) });
  if (Array.isArray(v)) {
    if (v.length && typeof v[0] === 'string') {
      return onnx.AttributeProto.create({ name, type: T.STRINGS, strings: (v as string[]).map((s) => new TextEncoder().encode(s)) });
    }
    const nums = v as number[];
    return FLOAT_ATTRS.has(name) || nums.some((x) => !Number.isInteger(x))
      ? onnx.AttributeProto.create({ name, type: T.FLOATS, floats: nums })
      : onnx.AttributeProto.create({ name, type: T.INTS, ints: nums });
  }
  if (isTensor(v)) return onnx.AttributeProto.create({ name, type: T.TENSOR, t: tensorToProto('', v) });
  throw new Error(`attribute '${name}': graph attributes cannot be written back`);
}

/** Attributes whose ONNX type is float even when the value happens to be an integer. */
const FLOAT_ATTRS = new Set([
  'alpha', 'beta', 'gamma', 'epsilon', 'momentum', 'bias', 'lambd', 'max', 'min', 'ratio', 'scale', 'value_float',
  'value_floats', 'spatial_scale', 'threshold', 'k',
]);

export interface SaveOptions {
  /** Extra graph outputs (intermediate values to expose). */
  extraOutputs?: ValueInfo[];
  producer?: string;
}

/** IR nodes that ONNX spells as several: a MatMul with a bias (from the MatMul + Add canonizer). */
function lower(n: Node): Node[] {
  if (n.opType === 'MatMul' && n.domain === '' && n.inputs.length === 3 && n.inputs[2]) {
    const mid = `${n.outputs[0]}__matmul`;
    return [
      { ...n, inputs: n.inputs.slice(0, 2), outputs: [mid] },
      { name: `${n.name}__bias`, opType: 'Add', domain: '', inputs: [mid, n.inputs[2]], outputs: [...n.outputs], attrs: {} },
    ];
  }
  return [n];
}

export function saveModel(graph: Graph, opts: SaveOptions = {}): Uint8Array {
  const outputs = [...graph.outputs, ...(opts.extraOutputs ?? []).filter((o) => !graph.isOutput(o.name))];
  const g = onnx.GraphProto.create({
    name: graph.name,
    node: graph.nodes.flatMap((n) => lower(n).map((m) => onnx.NodeProto.create({
      name: m.name, opType: m.opType, domain: m.domain, input: [...m.inputs], output: [...m.outputs],
      attribute: Object.entries(m.attrs).map(([k, v]) => {
        try {
          return attributeProto(k, v, m.attrTypes?.[k]);
        } catch (e) {
          throw new Error(`node '${m.name}' (${m.opType}): ${(e as Error).message}`);
        }
      }),
    }))),
    initializer: [...graph.constants].map(([name, t]) => tensorToProto(name, t)),
    input: graph.inputs.map(valueInfoProto),
    output: outputs.map(valueInfoProto),
  });
  const maxOpset = graph.opsets[''] ?? 13;
  const model = onnx.ModelProto.create({
    irVersion: irVersionFor(maxOpset),
    producerName: opts.producer ?? 'onnx-lrp',
    opsetImport: Object.entries(graph.opsets).map(([domain, version]) => ({ domain, version })),
    graph: g,
  });
  return onnx.ModelProto.encode(model).finish();
}

function irVersionFor(opset: number): number {
  if (opset <= 8) return 3;
  if (opset <= 9) return 4;
  if (opset <= 10) return 5;
  if (opset <= 12) return 7;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  return 9;
}
