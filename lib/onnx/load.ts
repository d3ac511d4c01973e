/** ONNX bytes → IR. Browser-safe: files are read by the caller (see lib/node/files.ts). */
import { Graph, GraphError, GraphSpec, Node, ValueInfo, Dim, AttrValue } from '../ir/graph';
import { DType, Tensor } from '../tensor';
import { DATA_TYPE, int, onnx } from './proto';
import { ExternalReader, tensorFromProto } from './tensor';

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

export function decodeModel(bytes: Uint8Array, source = 'model'): onnx.ModelProto {
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
    if (e instanceof GraphError || e instanceof ModelLoadError) throw new ModelLoadError(`${source}: ${(e as Error).message}`);
    throw new ModelLoadError(`${source}: ${(e as Error).message}`);
  }
}

function valueInfo(v: onnx.IValueInfoProto): ValueInfo {
  const tt = v.type?.tensorType;
  const dtype = (DATA_TYPE[tt?.elemType ?? 1] ?? 'float32') as DType;
  let dims: Dim[] | null = null;
  if (tt?.shape) {
    dims = (tt.shape.dim ?? []).map((d) => {
      if (d.dimValue !== undefined && d.dimValue !== null && (d as { value?: string }).value !== 'dimParam') {
        const n = int(d.dimValue);
        if (d.dimParam) return d.dimParam;
        return n > 0 ? n : d.dimParam || null;
      }
      return d.dimParam || null;
    });
  }
  return { name: v.name ?? '', dtype: dtype === 'float16' ? 'float32' : dtype, dims };
}

function attribute(a: onnx.IAttributeProto, readExternal?: ExternalReader): AttrValue {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case T.FLOAT: return a.f ?? 0;
    case T.INT: return int(a.i);
    case T.STRING: return new TextDecoder().decode(a.s ?? new Uint8Array());
    case T.TENSOR: return tensorFromProto(a.t!, readExternal);
    case T.FLOATS: return [...(a.floats ?? [])];
    case T.INTS: return (a.ints ?? []).map(int);
    case T.STRINGS: return (a.strings ?? []).map((s) => new TextDecoder().decode(s));
    case T.GRAPH: case T.GRAPHS: return { graph: true };
    default:
      // old files without a type field
      if (a.ints && a.ints.length) return a.ints.map(int);
      if (a.floats && a.floats.length) return [...a.floats];
      if (a.t) return tensorFromProto(a.t, readExternal);
      if (a.s && a.s.length) return new TextDecoder().decode(a.s);
      if (a.i !== undefined && a.i !== null && int(a.i) !== 0) return int(a.i);
      return a.f ?? 0;
  }
}

function graphSpec(g: onnx.IGraphProto, opsets: Record<string, number>, opts: LoadOptions): GraphSpec {
  const constants = new Map<string, Tensor>();
  for (const init of g.initializer ?? []) {
    if (!init.name) throw new ModelLoadError('an initializer has no name');
    constants.set(init.name, tensorFromProto(init, opts.readExternal));
  }
  for (const s of g.sparseInitializer ?? []) {
    throw new ModelLoadError(`sparse initializer '${s.values?.name ?? ''}' is not supported`);
  }
  const nodes: Node[] = [];
  const used = new Set<string>();
  (g.node ?? []).forEach((n, i) => {
    let name = n.name || `${n.opType}_${i}`;
    while (used.has(name)) name = `${name}_${i}`;
    used.add(name);
    const attrs: Record<string, AttrValue> = {};
    const attrTypes: Record<string, number> = {};
    for (const a of n.attribute ?? []) {
      attrs[a.name ?? ''] = attribute(a, opts.readExternal);
      if (a.type) attrTypes[a.name ?? ''] = a.type;
    }
    nodes.push({
      name, opType: n.opType ?? '', domain: n.domain === 'ai.onnx' ? '' : n.domain ?? '',
      inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])], attrs, attrTypes,
    });
  });
  const inputs = (g.input ?? []).map(valueInfo).filter((v) => !constants.has(v.name));
  const outputs = (g.output ?? []).map(valueInfo);
  const vi = new Map<string, ValueInfo>();
  for (const v of g.valueInfo ?? []) vi.set(v.name ?? '', valueInfo(v));
  for (const v of [...inputs, ...outputs]) vi.set(v.name, v);
  return { nodes, inputs, outputs, constants, opsets, valueInfo: vi, name: g.name ?? 'graph' };
}
