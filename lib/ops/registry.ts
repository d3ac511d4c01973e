/** The one registry table: every op onnx-lrp knows, from one file per op family. */
import { Graph, Node } from '../ir/graph';
import { Arity, Category, OpDef, OutputDtype, UnsupportedError, arityOf } from './op';
import { QUANTIZED_OPS } from './quantized';
import { loweringSummary } from './lowering';
import { ops as activation } from './activation';
import { ops as arith } from './arith';
import { ops as conv } from './conv';
import { ops as gemm } from './gemm';
import { ops as pool } from './pool';
import { ops as resize } from './resize';
import { ops as routing } from './routing';
import { ops as shape } from './shape';
import { ops as softmax } from './softmax';

export const FAMILIES: Readonly<Record<string, readonly OpDef[]>> = { gemm, conv, pool, activation, arith, routing, resize, softmax, shape };

const TABLE = new Map<string, OpDef>();
for (const defs of Object.values(FAMILIES)) {
  for (const d of defs) TABLE.set(`${d.domain ?? ''}::${d.type}`, d);
}

export function findOp(opType: string, domain = ''): OpDef | undefined {
  return TABLE.get(`${domain === 'ai.onnx' ? '' : domain}::${opType}`);
}

/** Input/output counts and output types of every op known, including the quantized ops the canonizer
 * replaces (lib/ops/quantized.ts). */
export function opFacts(opType: string, domain: string): { arity(opset: number): Arity; outputDtype: OutputDtype } | undefined {
  const d = findOp(opType, domain);
  if (d) return { arity: (opset) => arityOf(d, opset), outputDtype: d.outputDtype };
  const q = QUANTIZED_OPS.find((o) => o.type === opType && o.domains.includes(domain === 'ai.onnx' ? '' : domain));
  return q && { arity: () => q.arity, outputDtype: q.outputDtype };
}

export function opFor(node: Node, graph: Pick<Graph, 'opsets'>): OpDef {
  const d = findOp(node.opType, node.domain);
  if (!d) {
    const dom = node.domain || 'ai.onnx';
    throw new UnsupportedError(`unsupported op ${node.opType} (node '${node.name}', domain ${dom}, opset ${graph.opsets[node.domain] ?? graph.opsets[''] ?? '?'})`);
  }
  return d;
}

export function categoryOf(node: Node, graph: Graph): Category {
  const d = opFor(node, graph);
  return typeof d.category === 'function' ? d.category(node, graph) : d.category;
}

/** Every node the registry cannot handle, with the reason (for `inspect`, before anything runs). */
export function unsupportedNodes(graph: Graph): { node: Node; reason: string }[] {
  const out: { node: Node; reason: string }[] = [];
  for (const n of graph.nodes) {
    try {
      categoryOf(n, graph);
    } catch (e) {
      out.push({ node: n, reason: (e as Error).message });
    }
  }
  return out;
}

export interface SupportedOp {
  type: string;
  domain: string;
  family: string;
  /** the category, or 'depends on inputs' */
  category: string;
  /** every category the op can take, and when ('' for an op with one category) */
  categories: { category: Category; when: string }[];
  note: string;
  /** how the onnxruntime engine runs it, or why it does not */
  engine: string;
}

export function supportedOps(): SupportedOp[] {
  const out: SupportedOp[] = [];
  for (const [family, defs] of Object.entries(FAMILIES)) {
    for (const d of defs) {
      const fixed = typeof d.category === 'function' ? null : d.category;
      out.push({
        type: d.type, domain: d.domain ?? '', family, category: fixed ?? 'depends on inputs',
        categories: fixed ? [{ category: fixed, when: '' }] : [...(d.categories ?? [])], note: d.note ?? '',
        engine: loweringSummary(d.lowering),
      });
    }
  }
  return out;
}
