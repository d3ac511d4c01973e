/** ONNX bytes → IR. Browser-safe: files are read by the caller (see lib/node/files.ts). */
import { Graph, GraphError, GraphSpec, Node, ValueInfo, Dim, AttrValue } from '../ir/graph';
import { DType, Tensor } from '../tensor';
import { arityError } from './arity';
import { DATA_TYPE } from '../ir/dtypes';
import { int, onnx } from './proto';
import type { ExternalReader } from './external';
import { tensorFromProto } from './tensor';

export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}

/** onnxruntime 1.30 has no kernels below opset 7 for the default domain. */
export const MIN_OPSET = 7;

export interface LoadOptions {
  /** A name for error messages (usually the file path). */
  source?: string;
  readExternal?: ExternalReader;
}

export interface LoadedModel {
  graph: Graph;
  irVersion: number;
  producer: string;
  metadata: Record<string, string>;
}

/** The protobuf decode with its errors named after `source`. Not exported: the public declarations keep
 * onnx-proto's types out (see external.ts). */
function decodeModel(bytes: Uint8Array, source = 'model'): onnx.ModelProto {
  if (!bytes || bytes.byteLength === 0) throw new ModelLoadError(`${source}: the file is empty, not an ONNX model`);
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    const msg = (e as Error).message;
    const truncated = /index out of range|premature|truncated/i.test(msg);
    throw new ModelLoadError(`${source}: ${truncated ? 'truncated or not an ONNX file' : 'not an ONNX file'} (protobuf: ${msg})`);
  }
  if (!model.graph || ((model.graph.node ?? []).length === 0 && (model.graph.output ?? []).length === 0)) {
    throw new ModelLoadError(`${source}: not an ONNX model (no graph found)`);
  }
  return model;
}

export function loadModel(bytes: Uint8Array, opts: LoadOptions = {}): LoadedModel {
  const source = opts.source ?? 'model';
  const model = decodeModel(bytes, source);
  const opsets: Record<string, number> = {};
  for (const o of model.opsetImport ?? []) opsets[o.domain === 'ai.onnx' ? '' : o.domain ?? ''] = int(o.version);
  if (!('' in opsets)) {
    if (int(model.irVersion) < 3) opsets[''] = 1;
    else throw new ModelLoadError(`${source}: the model imports no default-domain opset`);
  }
  if (opsets[''] < MIN_OPSET) {
    throw new ModelLoadError(`${source}: opset ${opsets['']} is not supported (onnxruntime has no kernels below opset ${MIN_OPSET}); convert the model with onnx.version_converter`);
  }
  try {
    const graph = new Graph(graphSpec(model.graph!, opsets, opts));
    return {
      graph,
      irVersion: int(model.irVersion),
      producer: `${model.producerName ?? ''} ${model.producerVersion ?? ''}`.trim(),
      metadata: Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? ''])),
    };
  } catch (e) {
    throw wrapError(e, source);
  }
}

const INTERNAL = [TypeError, RangeError, ReferenceError, SyntaxError, EvalError, URIError];

/** Every load error becomes a ModelLoadError naming the source, with the original as its `cause`. An error
 * that is a bug of ours (TypeError, RangeError, …) says so rather than passing for a property of the file. */
function wrapError(e: unknown, source: string): ModelLoadError {
  if (!(e instanceof Error)) return new ModelLoadError(`${source}: internal error while loading (${String(e)}); please report it`);
  if (e instanceof ModelLoadError && e.message.startsWith(`${source}: `)) return e;
  if (INTERNAL.some((K) => e instanceof K)) {
    return new ModelLoadError(`${source}: internal error while loading (${e.name}: ${e.message}); please report it`, { cause: e });
  }
  return new ModelLoadError(`${source}: ${e.message}`, { cause: e });
}

/** The tensor type of a graph input/output or value_info entry. float16 and bfloat16 are widened to float32,
 * as their initializers are (the model is loaded as its float32 twin). `where` names it in errors. */
function valueInfo(v: onnx.IValueInfoProto, where: string): ValueInfo {
  const name = v.name ?? '';
  const type = v.type;
  if (type && !type.tensorType && (type.sequenceType || type.mapType || type.optionalType || type.sparseTensorType)) {
    const kind = type.sequenceType ? 'a sequence' : type.mapType ? 'a map' : type.optionalType ? 'an optional' : 'a sparse tensor';
    throw new ModelLoadError(`${where} '${name}' is ${kind}, not a dense tensor: not supported`);
  }
  const tt = type?.tensorType;
  const code = tt?.elemType ?? 0;
  let dtype = DATA_TYPE[code || 1] as DType | 'bfloat16' | undefined;
  if (!dtype) throw new ModelLoadError(`${where} '${name}' has element type ${code}, which onnx-lrp does not know`);
  if (dtype === 'float16' || dtype === 'bfloat16') dtype = 'float32';
  let dims: Dim[] | null = null;
  if (tt?.shape) {
    dims = (tt.shape.dim ?? []).map((d) => {
      if (d.dimValue !== undefined && d.dimValue !== null && (d as { value?: string }).value !== 'dimParam') {
        const n = int(d.dimValue);
        if (d.dimParam) return d.dimParam;
        return n > 0 && Number.isSafeInteger(n) ? n : d.dimParam || null;
      }
      return d.dimParam || null;
    });
  }
  return { name, dtype, dims };
}

function attribute(a: onnx.IAttributeProto, where: string, readExternal?: ExternalReader): AttrValue {
  const T = onnx.AttributeProto.AttributeType;
  const what = `${where}: attribute '${a.name ?? ''}'`;
  const tensor = (t: onnx.ITensorProto | null | undefined): Tensor => {
    if (!t) throw new ModelLoadError(`${what} is a tensor attribute without a tensor`);
    try {
      return tensorFromProto(t, readExternal);
    } catch (e) {
      throw new ModelLoadError(`${what}: ${(e as Error).message}`, { cause: e });
    }
  };
  switch (a.type) {
    case T.FLOAT: return a.f ?? 0;
    case T.INT: return int(a.i);
    case T.STRING: return new TextDecoder().decode(a.s ?? new Uint8Array());
    case T.TENSOR: return tensor(a.t);
    case T.FLOATS: return [...(a.floats ?? [])];
    case T.INTS: return (a.ints ?? []).map(int);
    case T.STRINGS: return (a.strings ?? []).map((s) => new TextDecoder().decode(s));
    case T.GRAPH: case T.GRAPHS: return { graph: true };
    case T.SPARSE_TENSOR: case T.SPARSE_TENSORS: throw new ModelLoadError(`${what} is a sparse tensor: not supported`);
    case T.TENSORS: throw new ModelLoadError(`${what} is a list of tensors: not supported`);
    case T.TYPE_PROTO: case T.TYPE_PROTOS: throw new ModelLoadError(`${what} is a type: not supported`);
    case undefined: case null: case T.UNDEFINED:
      // old files without a type field
      if (a.ints && a.ints.length) return a.ints.map(int);
      if (a.floats && a.floats.length) return [...a.floats];
      if (a.t) return tensor(a.t);
      if (a.s && a.s.length) return new TextDecoder().decode(a.s);
      if (a.i !== undefined && a.i !== null && int(a.i) !== 0) return int(a.i);
      return a.f ?? 0;
    default:
      throw new ModelLoadError(`${what} has type ${a.type}, which onnx-lrp does not know`);
  }
}

/** TensorProto.DataType codes of float16 and bfloat16, and of float32 that replaces them. */
const NARROW_FLOATS = new Set([10, 16]);

/** Attributes naming an element type, rewritten float16/bfloat16 → float32 with the rest of the model. */
const DTYPE_ATTRS: Record<string, string> = {
  Cast: 'to', EyeLike: 'dtype', RandomNormal: 'dtype', RandomUniform: 'dtype', RandomNormalLike: 'dtype',
  RandomUniformLike: 'dtype', Bernoulli: 'dtype',
};

function graphSpec(g: onnx.IGraphProto, opsets: Record<string, number>, opts: LoadOptions): GraphSpec {
  const constants = new Map<string, Tensor>();
  for (const init of g.initializer ?? []) {
    if (!init.name) throw new ModelLoadError('an initializer has no name');
    if (constants.has(init.name)) throw new GraphError(`initializer '${init.name}' is declared twice`);
    constants.set(init.name, tensorFromProto(init, opts.readExternal));
  }
  for (const s of g.sparseInitializer ?? []) {
    throw new ModelLoadError(`sparse initializer '${s.values?.name ?? ''}' is not supported`);
  }
  const nodes: Node[] = [];
  const used = new Set<string>();
  (g.node ?? []).forEach((n, i) => {
    if (!n.opType) throw new ModelLoadError(`node ${i}${n.name ? ` '${n.name}'` : ''} has no op type`);
    let name = n.name || `${n.opType}_${i}`;
    while (used.has(name)) name = `${name}_${i}`;
    used.add(name);
    const domain = n.domain === 'ai.onnx' ? '' : n.domain ?? '';
    const attrs: Record<string, AttrValue> = {};
    const attrTypes: Record<string, number> = {};
    for (const a of n.attribute ?? []) {
      attrs[a.name ?? ''] = attribute(a, `node '${name}' (${n.opType})`, opts.readExternal);
      if (a.type) attrTypes[a.name ?? ''] = a.type;
    }
    const dtypeAttr = domain === '' ? DTYPE_ATTRS[n.opType] : undefined;
    if (dtypeAttr && NARROW_FLOATS.has(attrs[dtypeAttr] as number)) attrs[dtypeAttr] = 1;
    const node = { name, opType: n.opType, domain, inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])], attrs, attrTypes };
    const arity = arityError(node, opsets[''] ?? 0);
    if (arity) throw new ModelLoadError(arity);
    nodes.push(node);
  });
  const inputs = (g.input ?? []).filter((v) => !constants.has(v.name ?? '')).map((v) => valueInfo(v, 'graph input'));
  const outputs = (g.output ?? []).map((v) => valueInfo(v, 'graph output'));
  if (!outputs.length) throw new ModelLoadError('the graph declares no outputs');
  const vi = new Map<string, ValueInfo>();
  for (const v of g.valueInfo ?? []) {
    // value_info is only a hint: entries onnx-lrp cannot represent (sequences, unknown types) are left out
    try {
      vi.set(v.name ?? '', valueInfo(v, 'value_info'));
    } catch (e) {
      if (!(e instanceof ModelLoadError)) throw e;
    }
  }
  for (const v of [...inputs, ...outputs]) vi.set(v.name, v);
  return { nodes, inputs, outputs, constants, opsets, valueInfo: vi, name: g.name ?? 'graph' };
}
