/** A small ONNX graph under construction (one layer's LRP step), written out through the project's IR and
 * lib/onnx/save.ts. The batch dimension is symbolic ('N'), so one graph serves every batch size. */
import { Dim, Graph, Node, ValueInfo } from '../../../ir/graph';
import { encodeModel } from './encode';
import { Tensor } from '../../../tensor';

export const OPSET = 17;

/** Thrown while tracing when a rule asks for something the onnxruntime executor does not lower. */
export class UnsupportedTrace extends Error {
  override name = 'UnsupportedTrace';
}

type AttrValue = Node['attrs'][string];

export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly constants = new Map<string, Tensor>();
  private readonly keyed = new Map<string, string>();
  /** values fed at every run (weights too large to copy into the graph), by input name */
  readonly fixedFeeds = new Map<string, Tensor>();
  private count = 0;

  constructor(readonly label: string) {}

  fresh(prefix = 'v'): string {
    return `${prefix}${this.count++}`;
  }

  input(name: string, dims: readonly Dim[], dtype: ValueInfo['dtype'] = 'float32'): string {
    this.inputs.push({ name, dtype, dims });
    return name;
  }

  /** A weight fed at every run (no copy into the graph). */
  feed(key: string, t: Tensor): string {
    const hit = this.keyed.get(key);
    if (hit) return hit;
    const name = this.fresh('feed');
    this.inputs.push({ name, dtype: t.dtype, dims: t.dims });
    this.fixedFeeds.set(name, t);
    this.keyed.set(key, name);
    return name;
  }

  /** An initializer; `key` shares one initializer between calls that would make the same data. */
  constant(key: string, make: () => Tensor): string {
    const hit = this.keyed.get(key);
    if (hit) return hit;
    const name = this.fresh('c');
    this.constants.set(name, make());
    this.keyed.set(key, name);
    return name;
  }

  scalar(v: number): string {
    return this.constant(`scalar:${Math.fround(v)}`, () => ({ dtype: 'float32', dims: [], data: Float32Array.of(v) }));
  }

  ints(v: readonly number[]): string {
    return this.constant(`ints:${v.join(',')}`, () => ({ dtype: 'int64', dims: [v.length], data: BigInt64Array.from(v.map(BigInt)) }));
  }

  node(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, outputs = 1): string[] {
    const outs = Array.from({ length: outputs }, () => this.fresh());
    this.nodes.push({ name: this.fresh('n'), opType, domain: '', inputs: [...inputs], outputs: outs, attrs });
    return outs;
  }

  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}): string {
    return this.node(opType, inputs, attrs)[0];
  }

  /** Marks a value as a graph output (through an Identity when it is an input, a constant or already out). */
  output(value: string): string {
    const produced = this.nodes.some((n) => n.outputs.includes(value));
    const name = produced && !this.outputs.some((o) => o.name === value) ? value : this.op('Identity', [value]);
    this.outputs.push({ name, dtype: 'float32', dims: null });
    return name;
  }

  /** Inputs some node reads (a rule need not read x or z). */
  usedInputs(): ValueInfo[] {
    const read = new Set(this.nodes.flatMap((n) => n.inputs));
    return this.inputs.filter((i) => read.has(i.name));
  }

  /** The nodes and initializers built so far, for a caller that assembles them into a larger graph (the fused
   * engine, lib/propagate/engine/fused). */
  parts(): { nodes: readonly Node[]; constants: ReadonlyMap<string, Tensor> } {
    return { nodes: this.nodes, constants: this.constants };
  }

  bytes(): Uint8Array {
    const graph = new Graph({
      nodes: this.nodes, inputs: this.usedInputs(), outputs: this.outputs, constants: this.constants,
      opsets: { '': OPSET }, name: this.label,
    });
    return encodeModel(graph, { producer: 'onnx-lrp kernels' });
  }
}
