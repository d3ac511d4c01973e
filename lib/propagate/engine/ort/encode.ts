/** ONNX bytes for onnxruntime with the large initializers copied once, straight from their typed arrays.
 * The graph without them goes through lib/onnx/save.ts; the initializers follow as a second `graph` field of
 * the ModelProto, which onnxruntime's protobuf parser merges into the first (repeated fields are concatenated).
 * For onnxruntime only: protobufjs (lib/onnx/load.ts) keeps the last `graph` field instead of merging, so these
 * bytes do not load back into the IR; saveModel's do. saveModel
 * copies every weight twice (TensorProto, then the writer), which for a 500 MB model costs about a second.
 * Browser-safe. */
import { Graph } from '../../../ir/graph';
import { DATA_TYPE_CODE } from '../../../ir/dtypes';
import { SaveOptions, saveModel } from '../../../onnx/save';
import { Tensor, TypedArray } from '../../../tensor';

/** initializers at least this large are appended raw */
const RAW_BYTES = 1 << 16;

function varintLength(n: number): number {
  let len = 1;
  while (n >= 128) { n = Math.floor(n / 128); len++; }
  return len;
}

class Writer {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  varint(n: number): void {
    while (n >= 128) { this.buf[this.pos++] = (n % 128) | 128; n = Math.floor(n / 128); }
    this.buf[this.pos++] = n;
  }
  bytes(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }
}

interface Raw { name: Uint8Array; dims: readonly number[]; type: number; data: Uint8Array }

/** TensorProto: dims (1), data_type (2), name (8), raw_data (9). */
function tensorLength(t: Raw): number {
  let n = 0;
  for (const d of t.dims) n += 1 + varintLength(d);
  n += 1 + varintLength(t.type);
  n += 1 + varintLength(t.name.byteLength) + t.name.byteLength;
  n += 1 + varintLength(t.data.byteLength) + t.data.byteLength;
  return n;
}

function rawOf(name: string, t: Tensor): Raw | null {
  const type = DATA_TYPE_CODE[t.dtype];
  if (t.dtype === 'string' || !type) return null;
  const a = t.data as TypedArray;
  return { name: new TextEncoder().encode(name), dims: t.dims, type, data: new Uint8Array(a.buffer, a.byteOffset, a.byteLength) };
}

export function encodeModel(graph: Graph, opts: SaveOptions = {}): Uint8Array {
  const small = new Map<string, Tensor>();
  const raw: Raw[] = [];
  for (const [name, t] of graph.constants) {
    const r = t.dtype !== 'string' && (t.data as TypedArray).byteLength >= RAW_BYTES ? rawOf(name, t) : null;
    if (r) raw.push(r);
    else small.set(name, t);
  }
  if (raw.length === 0) return saveModel(graph, opts);
  // the members saveModel reads, with the small constants only
  const view = {
    name: graph.name, nodes: graph.nodes, inputs: graph.inputs, outputs: graph.outputs, opsets: graph.opsets,
    constants: small, valueInfo: graph.valueInfo, isOutput: (v: string) => graph.isOutput(v),
  } as unknown as Graph;
  const head = saveModel(view, opts);
  let graphLen = 0;
  const lens = raw.map((r) => tensorLength(r));
  for (const l of lens) graphLen += 1 + varintLength(l) + l;
  const out = new Uint8Array(head.byteLength + 1 + varintLength(graphLen) + graphLen);
  out.set(head, 0);
  const w = new Writer(out);
  w.pos = head.byteLength;
  w.varint((7 << 3) | 2); // ModelProto.graph
  w.varint(graphLen);
  raw.forEach((r, i) => {
    w.varint((5 << 3) | 2); // GraphProto.initializer
    w.varint(lens[i]);
    for (const d of r.dims) { w.varint(1 << 3); w.varint(d); }
    w.varint(2 << 3); w.varint(r.type);
    w.varint((8 << 3) | 2); w.varint(r.name.byteLength); w.bytes(r.name);
    w.varint((9 << 3) | 2); w.varint(r.data.byteLength); w.bytes(r.data);
  });
  if (w.pos !== out.byteLength) throw new Error(`encodeModel: wrote ${w.pos} of ${out.byteLength} bytes`);
  return out;
}
