/** The layer IR: a read-only, checked graph of ONNX nodes in topological order. */
import { DType, Tensor } from '../tensor';

export type Dim = number | string | null;
export type AttrValue = number | string | number[] | string[] | Tensor | { graph: true };
export type Attrs = Readonly<Record<string, AttrValue>>;

export interface ValueInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: readonly Dim[] | null; // null: rank unknown
}

export interface Node {
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[]; // '' marks an omitted optional input
  readonly outputs: readonly string[];
  readonly attrs: Attrs;
  /** ONNX attribute type codes as read from the file, so that writing back keeps int/float apart. */
  readonly attrTypes?: Readonly<Record<string, number>>;
}

export interface GraphSpec {
  nodes: Node[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  constants: Map<string, Tensor>;
  opsets: Record<string, number>;
  valueInfo?: Map<string, ValueInfo>;
  name?: string;
}

export class GraphError extends Error {
  override name = 'GraphError';
}

export class Graph {
  readonly nodes: readonly Node[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly constants: ReadonlyMap<string, Tensor>;
  readonly opsets: Readonly<Record<string, number>>;
  readonly valueInfo: ReadonlyMap<string, ValueInfo>;
  readonly name: string;
  private readonly producers = new Map<string, Node>();
  private readonly consumerLists = new Map<string, Node[]>();

  /** Checks the spec (unique names, every input resolves, no cycles) and sorts the nodes topologically. */
  constructor(spec: GraphSpec) {
    this.name = spec.name ?? 'graph';
    this.inputs = Object.freeze(spec.inputs.filter((i) => !spec.constants.has(i.name)));
    this.outputs = Object.freeze([...spec.outputs]);
    this.constants = spec.constants;
    this.opsets = Object.freeze({ ...spec.opsets });
    this.valueInfo = spec.valueInfo ?? new Map();
    const names = new Set<string>();
    for (const n of spec.nodes) {
      if (names.has(n.name)) throw new GraphError(`two nodes are named '${n.name}'`);
      names.add(n.name);
    }
    const defined = new Set<string>();
    for (const i of this.inputs) {
      if (defined.has(i.name)) throw new GraphError(`graph input '${i.name}' is declared twice`);
      defined.add(i.name);
    }
    for (const c of spec.constants.keys()) defined.add(c);
    for (const n of spec.nodes) {
      for (const o of n.outputs) {
        if (o === '') continue;
        if (this.producers.has(o) || defined.has(o)) {
          throw new GraphError(`value '${o}' is produced twice (node '${n.name}' (${n.opType}))`);
        }
        this.producers.set(o, n);
      }
    }
    for (const n of spec.nodes) {
      for (const i of n.inputs) {
        if (i === '') continue;
        if (!defined.has(i) && !this.producers.has(i)) {
          throw new GraphError(`node '${n.name}' (${n.opType}) reads '${i}', which no node, input or initializer provides (missing initializer?)`);
        }
        const list = this.consumerLists.get(i) ?? [];
        if (!list.includes(n)) list.push(n);
        this.consumerLists.set(i, list);
      }
    }
    for (const o of this.outputs) {
      if (!defined.has(o.name) && !this.producers.has(o.name)) throw new GraphError(`graph output '${o.name}' is never produced`);
    }
    this.nodes = Object.freeze(topologicalOrder(spec.nodes, this.producers));
    Object.freeze(this);
  }

  producer(value: string): Node | undefined {
    return this.producers.get(value);
  }

  consumers(value: string): readonly Node[] {
    return this.consumerLists.get(value) ?? [];
  }

  isConstant(value: string): boolean {
    return this.constants.has(value);
  }

  constant(value: string): Tensor | undefined {
    return this.constants.get(value);
  }

  node(name: string): Node | undefined {
    return this.nodes.find((n) => n.name === name);
  }

  isOutput(value: string): boolean {
    return this.outputs.some((o) => o.name === value);
  }

  /** A copy of the spec, for canonizers that build a new graph. */
  toSpec(): GraphSpec {
    return {
      nodes: [...this.nodes], inputs: [...this.inputs], outputs: [...this.outputs],
      constants: new Map(this.constants), opsets: { ...this.opsets }, valueInfo: new Map(this.valueInfo), name: this.name,
    };
  }
}

function topologicalOrder(nodes: readonly Node[], producers: Map<string, Node>): Node[] {
  const pos = new Map(nodes.map((n, i) => [n, i]));
  const indeg = new Int32Array(nodes.length);
  const next: number[][] = nodes.map(() => []);
  nodes.forEach((n, k) => {
    const deps = new Set<number>();
    for (const i of n.inputs) {
      const p = producers.get(i);
      if (p === n) throw new GraphError(`node '${n.name}' (${n.opType}) reads its own output '${i}': the graph has a cycle`);
      if (p) deps.add(pos.get(p)!);
    }
    indeg[k] = deps.size;
    for (const d of deps) next[d].push(k);
  });
  // Kahn's algorithm, stable in file order: a binary min-heap of ready positions (O((n + e) log n), so that
  // wide graphs of many thousand nodes sort in milliseconds)
  const heap: number[] = [];
  const push = (v: number) => {
    let i = heap.push(v) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heap[p] <= v) break;
      heap[i] = heap[p]; i = p;
    }
    heap[i] = v;
  };
  const pop = (): number => {
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= heap.length) break;
        const c = l + 1 < heap.length && heap[l + 1] < heap[l] ? l + 1 : l;
        if (heap[c] >= last) break;
        heap[i] = heap[c]; i = c;
      }
      heap[i] = last;
    }
    return top;
  };
  indeg.forEach((d, k) => { if (d === 0) push(k); });
  const order: Node[] = [];
  const placed = new Uint8Array(nodes.length);
  while (heap.length) {
    const k = pop();
    order.push(nodes[k]);
    placed[k] = 1;
    for (const m of next[k]) if (--indeg[m] === 0) push(m);
  }
  if (order.length !== nodes.length) {
    const stuck = nodes.filter((_, k) => !placed[k]).slice(0, 5).map((n) => `'${n.name}' (${n.opType})`);
    throw new GraphError(`the graph has a cycle through ${stuck.join(', ')}`);
  }
  return order;
}
