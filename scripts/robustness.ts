/**
 * Robustness over Debian's libonnx-testdata (the ONNX project's own backend test models): every model loads
 * into the IR or fails with a clear, named error, and where onnxruntime runs a model whose ops the IR all
 * supports, the forward-path canonizers leave its outputs unchanged (checked against the `.pb` outputs shipped
 * beside it).
 *
 *   npm run robustness [-- --root DIR] [--json OUT.json] [--list] [--no-outputs] [--no-explain]
 *
 * Also the error classification the fuzz test (scripts/fuzz.ts) uses: what counts as a clear error, and what
 * as a crash of ours (a TypeError/RangeError/… from deep inside, whatever wraps it).
 */
import * as fs from 'fs';
import * as path from 'path';
import { canonize } from '../lib/canonize';
import { Explainer } from '../lib/explain';
import { ortBackend } from '../lib/forward/ort';
import { Graph } from '../lib/ir/graph';
import { loadModelFile } from '../lib/node-io';
import { LoadedModel } from '../lib/onnx/load';
import { onnx } from '../lib/onnx/proto';
import { saveModel } from '../lib/onnx/save';
import { float16ToFloat32, tensorFromProto } from '../lib/onnx/tensor';
import { unsupportedNodes } from '../lib/ops/registry';
import { Tensor } from '../lib/tensor';

export const TESTDATA = process.env.ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data';

// ---- errors: clear or a crash of ours ---------------------------------------------------------------------

/** The error classes onnx-lrp throws on purpose. */
export const NAMED_ERRORS = ['ModelLoadError', 'GraphError', 'UnsupportedError', 'ExplainError'];

const INTERNAL_ERRORS = ['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError', 'EvalError', 'URIError', 'AggregateError'];

/** Messages V8 and Node produce for programming errors (whatever class carries them). */
const INTERNAL_MESSAGE = new RegExp([
  'Cannot read propert', 'Cannot set propert', 'is not a function', 'is not iterable', 'is not a constructor',
  'Invalid (typed )?array length', 'Array buffer allocation failed', 'Maximum call stack', 'Cannot convert .* to a BigInt',
  'Cannot mix BigInt', 'serialize a BigInt', 'out of memory', 'is outside the bounds', 'Invalid string length',
  'Invalid DataView length', 'Invalid atomic access', 'undefined is not', 'null is not', 'of undefined', 'of null',
].join('|'), 'i');

/**
 * Why an error is a crash of ours rather than a clear error: a non-Error thrown, or a TypeError/RangeError/…
 * (or a V8 message such as "Cannot read properties of undefined") anywhere in its `cause` chain. null when the
 * error is clear.
 */
export function crashReason(e: unknown): string | null {
  if (!(e instanceof Error)) return `a non-Error was thrown: ${String(e)}`;
  for (let c: unknown = e, depth = 0; c && depth < 10; c = (c as Error).cause, depth++) {
    if (!(c instanceof Error)) break;
    const ctor = c.constructor?.name ?? c.name;
    if (INTERNAL_ERRORS.includes(ctor) || INTERNAL_ERRORS.includes(c.name)) return `${ctor}: ${c.message}`;
    if (INTERNAL_MESSAGE.test(c.message)) return `${c.name}: ${c.message}`;
  }
  return null;
}

/** A clear error: one of ours by class, or an Error whose message names the file, node, op, tensor, shape,
 * attribute or argument at fault (onnxruntime's messages name the node). */
export function isClearError(e: unknown, source?: string): boolean {
  if (crashReason(e) !== null) return false;
  const err = e as Error;
  if (NAMED_ERRORS.includes(err.name)) return true;
  if (source && err.message.includes(source)) return true;
  return /node '|op |tensor '|input '|output '|attribute '|shape|onnxruntime/i.test(err.message);
}

// ---- the test data ------------------------------------------------------------------------------------

export interface Case {
  /** e.g. node/test_abs */
  id: string;
  dir: string;
  model: string;
}

/** Every model.onnx under ROOT/<group>/<test>/, sorted by id. */
export function listCases(root = TESTDATA): Case[] {
  const out: Case[] = [];
  if (!fs.existsSync(root)) return out;
  for (const group of fs.readdirSync(root).sort()) {
    const g = path.join(root, group);
    if (!fs.statSync(g).isDirectory()) continue;
    for (const test of fs.readdirSync(g).sort()) {
      const model = path.join(g, test, 'model.onnx');
      if (fs.existsSync(model)) out.push({ id: `${group}/${test}`, dir: path.join(g, test), model });
    }
  }
  return out;
}

// ---- load check ---------------------------------------------------------------------------------------

export type LoadStatus = 'supported' | 'unsupported' | 'refused' | 'crash';

export interface LoadResult {
  id: string;
  status: LoadStatus;
  /** the summary row: e.g. 'opset < 7', 'unsupported op', 'subgraph attribute (If/Loop/Scan…)' */
  kind: string;
  /** the op types behind 'unsupported op' / 'subgraph attribute' */
  ops: string[];
  message: string;
  ms: number;
  model?: LoadedModel;
  /** set when canonizing the loaded graph failed (clear error or crash) */
  canonize?: { status: 'refused' | 'crash'; message: string };
}

/** The summary row for a load error. */
export function errorKind(e: Error): string {
  const m = e.message;
  const rules: [RegExp, string][] = [
    [/opset \d+ is not supported/, 'opset < 7'],
    [/imports no default-domain opset/, 'no default-domain opset (e.g. training ops only)'],
    [/sparse initializer/, 'sparse initializer'],
    [/graph (input|output) .* not a dense tensor/, 'graph input/output not a tensor (sequence, optional, map)'],
    [/has element type \d+/, 'unknown element type'],
    [/sparse tensor/, 'sparse tensor attribute'],
    [/external data/, 'external data'],
    [/truncated|not an ONNX/, 'not an ONNX model / truncated'],
    [/complex tensors/, 'complex tensor'],
    [/cycle/, 'cycle'],
    [/which no node, input or initializer provides/, 'dangling input'],
    [/produced twice|declared twice|two nodes are named/, 'duplicate name'],
    [/never produced/, 'output never produced'],
    [/raw_data holds|holds \d+ values|needs \d+/, 'tensor size mismatch'],
    [/declares .* elements|invalid dimensions/, 'invalid or huge dimensions'],
  ];
  for (const [re, kind] of rules) if (re.test(m)) return kind;
  return `${e.name}: ${m.replace(/^[^:]*\.onnx: /, '').replace(/'[^']*'/g, "'…'").slice(0, 80)}`;
}

const SUBGRAPH_OPS = new Set(['If', 'Loop', 'Scan', 'SequenceMap']);

/** Loads one model, lists its unsupported nodes and canonizes it (both without onnxruntime). */
export function checkLoad(c: Case): LoadResult {
  const t0 = Date.now();
  let model: LoadedModel;
  try {
    model = loadModelFile(c.model);
  } catch (e) {
    const crash = crashReason(e);
    const err = e as Error;
    return {
      id: c.id, status: crash ? 'crash' : 'refused', kind: crash ? `crash: ${crash.slice(0, 80)}` : errorKind(err), ops: [],
      message: crash ?? err.message, ms: Date.now() - t0,
    };
  }
  const r: LoadResult = { id: c.id, status: 'supported', kind: 'loaded, every op supported', ops: [], message: '', ms: 0, model };
  try {
    const bad = unsupportedNodes(model.graph);
    if (bad.length) {
      r.status = 'unsupported';
      const subgraph = bad.filter(({ node }) => SUBGRAPH_OPS.has(node.opType) || Object.values(node.attrs).some((a) => typeof a === 'object' && a !== null && 'graph' in a));
      const unknown = bad.filter(({ reason }) => /^unsupported op /.test(reason));
      if (subgraph.length) {
        r.kind = 'loaded; subgraph attribute (If/Loop/Scan…)';
        r.ops = [...new Set(subgraph.map(({ node }) => node.opType))];
      } else if (unknown.length) {
        r.kind = 'loaded; unsupported op';
        r.ops = [...new Set(unknown.map(({ node }) => node.opType))];
      } else {
        // a known op used in a way LRP does not cover: "a live (non-constant) weight", "division by a live tensor", …
        r.kind = `loaded; ${bad[0].reason.replace(/^node '[^']*' \([^)]*\): /, '').replace(/'[^']*'/g, "'…'")}`;
        r.ops = [...new Set(bad.map(({ node }) => node.opType))];
      }
      r.message = bad.map((b) => b.reason).join('; ');
    }
  } catch (e) {
    const crash = crashReason(e);
    r.status = crash ? 'crash' : 'refused';
    r.kind = crash ? `crash in unsupportedNodes: ${crash.slice(0, 80)}` : errorKind(e as Error);
    r.message = crash ?? (e as Error).message;
  }
  // the canonizers must not crash on any loaded graph (they may refuse one, clearly)
  for (const skip of [['strip-softmax'], []]) {
    try {
      canonize(model.graph, { skip });
    } catch (e) {
      const crash = crashReason(e);
      r.canonize = { status: crash ? 'crash' : 'refused', message: crash ?? (e as Error).message };
      if (crash) { r.status = 'crash'; r.kind = `crash in canonize: ${crash.slice(0, 80)}`; }
      break;
    }
  }
  r.ms = Date.now() - t0;
  return r;
}

// ---- output check --------------------------------------------------------------------------------------

/** The canonizers that keep a model's outputs: all but the one that strips a final Softmax on purpose. */
export const FORWARD_SKIP = ['strip-softmax'];

/** as loaded; with every input but the first frozen into an initializer; with every input frozen (the whole
 * model a constant expression, for the constant folder) */
export type OutputMode = 'as-is' | 'frozen' | 'constant';

export interface OutputResult {
  id: string;
  status: 'same' | 'differs' | 'skipped' | 'crash';
  message: string;
  /** largest |canonized − expected| over all outputs */
  maxDiff?: number;
  /** onnxruntime's own result on the original file disagrees with the shipped reference (not ours) */
  ortDiffers?: boolean;
  actions?: string[];
  ms: number;
  mode?: OutputMode;
}

/** Reads a TensorProto file (input_K.pb / output_K.pb). */
export function readTensorPb(file: string): { name: string; tensor: Tensor } {
  const p = onnx.TensorProto.decode(fs.readFileSync(file));
  return { name: p.name ?? '', tensor: tensorFromProto(p) };
}

function dataFiles(dir: string, prefix: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
    .sort((a, b) => Number(a.replace(/\D/g, '')) - Number(b.replace(/\D/g, ''))).map((f) => path.join(dir, f));
}

function numbers(t: Tensor): Float64Array {
  const src = t.data as ArrayLike<number | bigint>;
  const out = new Float64Array(src.length);
  // onnxruntime hands float16 back as its bits
  const half = (t.dtype as string) === 'float16' && src instanceof Uint16Array;
  for (let i = 0; i < src.length; i++) out[i] = half ? float16ToFloat32(src[i] as number) : Number(src[i]);
  return out;
}

/** max |a − b|, or Infinity when shapes, sizes, NaN positions or strings differ; within tolerance when
 * |a − b| ≤ atol + rtol·|b| everywhere (the ONNX backend test's criterion, rtol 1e-3, atol 1e-4). */
export function compareTensors(a: Tensor, b: Tensor, rtol = 1e-3, atol = 1e-4): { ok: boolean; maxDiff: number; why?: string } {
  if (a.data.length !== b.data.length) return { ok: false, maxDiff: Infinity, why: `${a.data.length} vs ${b.data.length} elements` };
  if (a.dims.length === b.dims.length && a.dims.some((d, i) => d !== b.dims[i])) {
    return { ok: false, maxDiff: Infinity, why: `shape [${a.dims}] vs [${b.dims}]` };
  }
  if (a.dtype === 'string' || b.dtype === 'string') {
    const same = (a.data as string[]).every((s, i) => s === (b.data as string[])[i]);
    return { ok: same, maxDiff: same ? 0 : Infinity, why: same ? undefined : 'strings differ' };
  }
  const x = numbers(a);
  const y = numbers(b);
  let max = 0;
  let ok = true;
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i]) || Number.isNaN(y[i])) {
      if (Number.isNaN(x[i]) !== Number.isNaN(y[i])) { ok = false; max = Infinity; }
      continue;
    }
    if (x[i] === y[i]) continue;
    const d = Math.abs(x[i] - y[i]);
    if (!(d <= atol + rtol * Math.abs(y[i]))) ok = false;
    if (d > max || Number.isNaN(d)) max = Number.isNaN(d) ? Infinity : d;
  }
  return { ok, maxDiff: max };
}

/**
 * The model with every graph input but the first turned into an initializer holding its shipped value: the
 * backend tests feed weights as inputs, so this is what gives the canonizers (constant folding, BatchNorm
 * merging, bias folding, pad removal) something to rewrite. A reason string where that makes no model LRP
 * can explain (first input not float, or an op still unsupported).
 */
export function freeze(graph: Graph, feeds: Record<string, Tensor>, all = false): Graph | string {
  if (graph.inputs.length < 2 && !all) return 'one input: nothing to freeze';
  if (!all && !['float32', 'float64'].includes(graph.inputs[0].dtype)) return 'the first input is not float';
  const spec = graph.toSpec();
  for (const i of graph.inputs.slice(all ? 0 : 1)) {
    if (!feeds[i.name] || feeds[i.name].dtype === 'string') return `input '${i.name}' has no numeric shipped value`;
    spec.constants.set(i.name, feeds[i.name]);
  }
  spec.inputs = all ? [] : [graph.inputs[0]];
  let g: Graph;
  try {
    g = new Graph(spec);
  } catch (e) {
    return `frozen graph: ${(e as Error).message}`;
  }
  if (g.nodes.some((n) => Object.values(n.attrs).some((a) => typeof a === 'object' && a !== null && 'graph' in a))) return 'a subgraph attribute (cannot be saved back)';
  if (all) return g; // for the constant folder: LRP support does not matter
  const bad = unsupportedNodes(g);
  return bad.length ? `frozen, still unsupported: ${bad[0].reason.replace(/ \(node .*|^node '[^']*' \([^)]*\): /g, '')}` : g;
}

/** The backend test data stores float16/bfloat16 values of some models as uint16 bits: widened to float32. */
function widenBits(t: Tensor, declared: number): Tensor {
  if ((declared !== 10 && declared !== 16) || t.dtype !== 'uint16') return t;
  const bits = t.data as Uint16Array;
  const out = new Float32Array(bits.length);
  const f = new DataView(new ArrayBuffer(4));
  for (let i = 0; i < bits.length; i++) {
    if (declared === 10) out[i] = float16ToFloat32(bits[i]);
    else { f.setUint32(0, bits[i] << 16, true); out[i] = f.getFloat32(0, true); }
  }
  return { dtype: 'float32', dims: t.dims, data: out };
}

async function runOrt(bytes: Uint8Array, feeds: Record<string, Tensor>, outputs: string[]): Promise<Tensor[]> {
  const s = await ortBackend.create(bytes, { threads: 1 });
  try {
    const m = await s.run(feeds, outputs);
    return outputs.map((o) => m.get(o)!);
  } finally {
    await s.release();
  }
}

const FEEDABLE = new Set(['float32', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool', 'string']);

/**
 * Runs the original file, the loaded graph saved back (saveModel) and the canonized graph (forward-path
 * canonizers) in onnxruntime on the shipped inputs, and compares them with the shipped outputs. 'differs' is a
 * failure of ours: the canonized (or merely re-saved) model disagrees with the reference where onnxruntime's
 * run of the original file agrees with it, or disagrees with that run.
 */
export async function checkOutputs(c: Case, model: LoadedModel, mode: OutputMode = 'as-is'): Promise<OutputResult> {
  const t0 = Date.now();
  const res = (status: OutputResult['status'], message: string, extra: Partial<OutputResult> = {}): OutputResult => ({ id: c.id, status, message, ms: Date.now() - t0, mode, ...extra });
  const set = path.join(c.dir, 'test_data_set_0');
  if (!fs.existsSync(set)) return res('skipped', 'no test_data_set_0');
  let inputs: { name: string; tensor: Tensor }[];
  let expected: { name: string; tensor: Tensor }[];
  try {
    inputs = dataFiles(set, 'input_').map(readTensorPb);
    expected = dataFiles(set, 'output_').map(readTensorPb);
  } catch (e) {
    return res('skipped', `the shipped data is not a plain tensor (${(e as Error).message})`);
  }
  const file = fs.readFileSync(c.model);
  const proto = onnx.ModelProto.decode(file);
  const inits = new Set((proto.graph?.initializer ?? []).map((i) => i.name));
  const fileInputs = (proto.graph?.input ?? []).filter((i) => !inits.has(i.name));
  const fileOutputs = (proto.graph?.output ?? []).map((o) => o.name ?? '');
  if (fileInputs.length !== inputs.length) return res('skipped', `${inputs.length} input files for ${fileInputs.length} graph inputs`);
  if (expected.length !== fileOutputs.length) return res('skipped', `${expected.length} output files for ${fileOutputs.length} graph outputs`);
  const elem = (i: onnx.IValueInfoProto) => i.type?.tensorType?.elemType ?? 0;
  // onnx-lrp loads float16/bfloat16 models as their float32 twins: fed the widened inputs, they are compared
  // with the reference alone (onnxruntime-node is not fed float16 here)
  const narrow = fileInputs.some((i) => elem(i) === 10 || elem(i) === 16);
  const feeds: Record<string, Tensor> = {};
  fileInputs.forEach((vi, k) => { feeds[vi.name ?? ''] = widenBits(inputs[k].tensor, elem(vi)); });
  const fileOutputTypes = (proto.graph?.output ?? []).map(elem);
  const mismatch = fileInputs.find((vi) => {
    const dims = vi.type?.tensorType?.shape?.dim;
    const t = feeds[vi.name ?? ''];
    return dims && (dims.length !== t.dims.length || dims.some((d, i) => d.dimValue != null && !d.dimParam && Number(d.dimValue) !== t.dims[i]));
  });
  if (mismatch) return res('skipped', `the shipped input '${mismatch.name}' does not have the declared shape`);
  expected = expected.map((e, k) => ({ ...e, tensor: widenBits(e.tensor, fileOutputTypes[k]) }));
  if (Object.values(feeds).some((t) => !FEEDABLE.has(t.dtype))) return res('skipped', 'an input type onnxruntime-node cannot be fed');

  let graph = model.graph;
  if (mode === 'frozen' || mode === 'constant') {
    const frozen = freeze(graph, feeds, mode === 'constant');
    if (typeof frozen === 'string') return res('skipped', frozen);
    graph = frozen;
  }
  const graphs: [string, Graph, string[]][] = [['re-saved', graph, []]];
  try {
    const canon = canonize(graph, { skip: FORWARD_SKIP });
    graphs.push(['canonized', canon.graph, canon.actions]);
  } catch (e) {
    const crash = crashReason(e);
    return res(crash ? 'crash' : 'skipped', `canonize: ${crash ?? (e as Error).message}`);
  }
  if (mode === 'constant' && !graphs[1][2].some((a) => /^folded /.test(a))) return res('skipped', 'nothing folded');
  let original: Tensor[] | null = null;
  if (!narrow) {
    try {
      original = await runOrt(file, feeds, fileOutputs);
    } catch (e) {
      return res('skipped', `onnxruntime cannot run the original: ${(e as Error).message.slice(0, 200)}`);
    }
  }
  const ortDiffers = !!original && original.some((t, k) => !compareTensors(t, expected[k].tensor).ok);
  let maxDiff = 0;
  let actions: string[] = [];
  for (const [label, g, acts] of graphs) {
    actions = acts;
    if (g.outputs.length !== fileOutputs.length) return res('differs', `${label}: ${g.outputs.length} outputs instead of ${fileOutputs.length}`, { actions });
    let got: Tensor[];
    try {
      const gFeeds = Object.fromEntries(g.inputs.map((i) => [i.name, feeds[i.name]]).filter(([, t]) => t)) as Record<string, Tensor>;
      got = await runOrt(saveModel(g), gFeeds, g.outputs.map((o) => o.name));
    } catch (e) {
      const crash = crashReason(e);
      return res(crash ? 'crash' : 'differs', `${label} model: ${(crash ?? (e as Error).message).slice(0, 300)}`, { actions });
    }
    for (let k = 0; k < got.length; k++) {
      const vsOrt = original ? compareTensors(got[k], original[k]) : { ok: true, maxDiff: 0, why: undefined };
      const vsRef = compareTensors(got[k], expected[k].tensor);
      if (label === 'canonized') maxDiff = Math.max(maxDiff, vsRef.maxDiff);
      if (!vsOrt.ok || (!ortDiffers && !vsRef.ok)) {
        return res('differs', `${label} model, output ${k} '${fileOutputs[k]}': ${vsOrt.why ?? vsRef.why ?? `max |Δ| ${vsOrt.ok ? vsRef.maxDiff : vsOrt.maxDiff} vs ${vsOrt.ok ? 'the reference' : "onnxruntime's run of the original"}`}`, { actions, ortDiffers });
      }
    }
  }
  return res('same', '', { maxDiff, ortDiffers, actions });
}

// ---- explain check --------------------------------------------------------------------------------------

export interface ExplainResult {
  id: string;
  mode: 'as-is' | 'frozen';
  /** explained (finite relevance) with every composite tried, refused with a clear error, or a failure */
  status: 'explained' | 'refused' | 'crash' | 'unclear' | 'nonfinite' | 'engines-differ' | 'skipped';
  message: string;
  ms: number;
}

function relevanceDiff(a: Float32Array[], b: Float32Array[]): { max: number; scale: number } {
  let max = 0;
  let scale = 0;
  a.forEach((x, k) => { for (let i = 0; i < x.length; i++) { max = Math.max(max, Math.abs(x[i] - b[k][i])); scale = Math.max(scale, Math.abs(b[k][i])); } });
  return { max, scale };
}

/** The composites the explain check runs: the default, the one with zBox bounds, and the gradient. */
export const EXPLAIN_COMPOSITES: [string, Record<string, number>][] = [['epsilon_plus_flat', {}], ['epsilon_gamma_box', { low: -3, high: 3 }], ['gradient', {}]];

/**
 * Explains a model (as loaded, or with every input but the first frozen) on its shipped inputs with a few
 * composites: every run must end in finite relevance or a clear error, whatever the op's shapes and attributes.
 */
export async function checkExplain(c: Case, model: LoadedModel, mode: 'as-is' | 'frozen' = 'as-is'): Promise<ExplainResult> {
  const t0 = Date.now();
  const res = (status: ExplainResult['status'], message: string): ExplainResult => ({ id: c.id, mode, status, message, ms: Date.now() - t0 });
  const set = path.join(c.dir, 'test_data_set_0');
  let inputs: Tensor[];
  try {
    inputs = dataFiles(set, 'input_').map((f) => readTensorPb(f).tensor);
  } catch (e) {
    return res('skipped', `the shipped data is not a plain tensor (${(e as Error).message})`);
  }
  if (inputs.length !== model.graph.inputs.length) return res('skipped', `${inputs.length} input files for ${model.graph.inputs.length} graph inputs`);
  const feeds = Object.fromEntries(model.graph.inputs.map((i, k) => [i.name, inputs[k]]));
  let graph = model.graph;
  if (mode === 'frozen') {
    const frozen = freeze(graph, feeds);
    if (typeof frozen === 'string') return res('skipped', frozen);
    graph = frozen;
  }
  let ex: Explainer | undefined;
  try {
    ex = Explainer.create({ ...model, graph }, ortBackend, { source: c.id, threads: 1 });
    const mine = Object.fromEntries(ex.graph.inputs.map((i) => [i.name, feeds[i.name]]));
    let note = '';
    for (const [composite, options] of EXPLAIN_COMPOSITES) {
      const runs: Float32Array[][] = [];
      for (const engine of ['ort', 'reference'] as const) {
        const r = await ex.explain(mine, { composite, options, engine });
        for (const [name, rel] of r.inputs) {
          const bad = rel.data.findIndex((v) => !Number.isFinite(v));
          if (bad >= 0) return res('nonfinite', `${composite} (${engine} engine): relevance of '${name}'[${bad}] is ${rel.data[bad]}`);
        }
        runs.push([...r.inputs.values()].map((t) => t.data));
      }
      // the two engines (onnxruntime-lowered LRP steps, plain TypeScript kernels) must agree
      const diff = relevanceDiff(runs[0], runs[1]);
      if (diff.max > 1e-4 * Math.max(1, diff.scale)) {
        const again = await ex.explain(mine, { composite, options, engine: 'reference' });
        const self = relevanceDiff(runs[1], [...again.inputs.values()].map((t) => t.data));
        if (self.max > 1e-4 * Math.max(1, self.scale)) { note = 'non-deterministic forward (e.g. training-mode Dropout): engines not compared'; continue; }
        return res('engines-differ', `${composite}: the onnxruntime and reference engines differ by ${diff.max.toExponential(2)} (relevance up to ${diff.scale.toExponential(2)})`);
      }
    }
    return res('explained', note);
  } catch (e) {
    const crash = crashReason(e);
    if (crash) return res('crash', `${crash} ${((e as Error).stack ?? '').split('\n').slice(1, 3).join(' ')}`);
    return res(isClearError(e, c.id) ? 'refused' : 'unclear', `${(e as Error).name}: ${(e as Error).message}`);
  } finally {
    await ex?.release().catch(() => undefined);
  }
}

// ---- summary ---------------------------------------------------------------------------------------------

export interface OutputSummary {
  checked: number;
  same: number;
  differs: OutputResult[];
  crashes: OutputResult[];
  skipped: [string, number][];
  ortDiffers: number;
  /** compared models a canonizer rewrote */
  rewritten: number;
  /** what the canonizers did, counted by kind of action */
  actions: [string, number][];
}

export interface Summary {
  models: number;
  crashes: LoadResult[];
  kinds: [string, number][];
  unsupportedOps: [string, number][];
  canonizeRefused: LoadResult[];
  outputs?: OutputSummary;
  frozen?: OutputSummary;
  constant?: OutputSummary;
  explains?: { mode: 'as-is' | 'frozen'; explained: number; refused: [string, number][]; failures: ExplainResult[]; skipped: number; nondeterministic: number }[];
}

function countBy<T>(xs: T[], key: (x: T) => string): [string, number][] {
  const m = new Map<string, number>();
  for (const x of xs) m.set(key(x), (m.get(key(x)) ?? 0) + 1);
  return [...m].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

function outputSummary(outputs: OutputResult[]): OutputSummary {
  const same = outputs.filter((o) => o.status === 'same');
  return {
    checked: outputs.length,
    same: same.length,
    differs: outputs.filter((o) => o.status === 'differs'),
    crashes: outputs.filter((o) => o.status === 'crash'),
    skipped: countBy(outputs.filter((o) => o.status === 'skipped'), (o) => o.message.replace(/:.*/s, '').replace(/'[^']*'/g, "'…'")),
    ortDiffers: outputs.filter((o) => o.ortDiffers).length,
    rewritten: same.filter((o) => o.actions?.length).length,
    actions: countBy(same.flatMap((o) => (o.actions ?? []).map((a) => ({ a: a.replace(/'[^']*'/g, "'…'").replace(/\d+/g, 'N') }))), (x) => x.a),
  };
}

/** A refusal's summary row: the message without the model, names and numbers. */
function refusalKind(message: string): string {
  return message.replace(/^(\w+Error): [^ ]+: /, '$1: ').replace(/'[^']*'/g, "'…'").replace(/ \(element \d+ is [^)]*\)/, '').replace(/ \(shape [^)]*\)/, '').slice(0, 90);
}

export function summarize(loads: LoadResult[], outputs?: OutputResult[], explains?: ExplainResult[]): Summary {
  const s: Summary = {
    models: loads.length,
    crashes: loads.filter((r) => r.status === 'crash'),
    kinds: countBy(loads, (r) => r.kind),
    unsupportedOps: countBy(loads.filter((r) => r.status === 'unsupported').flatMap((r) => r.ops.map((op) => ({ op }))), (x) => x.op),
    canonizeRefused: loads.filter((r) => r.canonize?.status === 'refused'),
  };
  if (outputs) {
    s.outputs = outputSummary(outputs.filter((o) => (o.mode ?? 'as-is') === 'as-is'));
    const frozen = outputs.filter((o) => o.mode === 'frozen');
    if (frozen.length) s.frozen = outputSummary(frozen);
    const constant = outputs.filter((o) => o.mode === 'constant');
    if (constant.length) s.constant = outputSummary(constant);
  }
  if (explains) {
    s.explains = (['as-is', 'frozen'] as const).map((mode) => {
      const xs = explains.filter((e) => e.mode === mode);
      return {
        mode,
        explained: xs.filter((e) => e.status === 'explained').length,
        refused: countBy(xs.filter((e) => e.status === 'refused'), (e) => refusalKind(e.message)),
        failures: xs.filter((e) => ['crash', 'unclear', 'nonfinite', 'engines-differ'].includes(e.status)),
        nondeterministic: xs.filter((e) => e.status === 'explained' && e.message).length,
        skipped: xs.filter((e) => e.status === 'skipped').length,
      };
    }).filter((e) => e.explained + e.refused.length + e.failures.length > 0);
  }
  return s;
}

function formatOutputs(title: string, o: OutputSummary, lines: string[], skipDetail = true): void {
  const skipped = o.skipped.reduce((a, [, n]) => a + n, 0);
  lines.push('');
  lines.push(`${title}: ${o.same} same (${o.rewritten} of them rewritten by a canonizer), ${o.differs.length} differ, ${o.crashes.length} crashes, ${skipped} skipped`);
  if (skipDetail) for (const [k, n] of o.skipped) lines.push(`  skipped ${n}: ${k}`);
  if (o.actions.length) lines.push(`  canonizer actions: ${o.actions.map(([k, n]) => `${n}× ${k}`).join('; ')}`);
  if (o.ortDiffers) lines.push(`  (onnxruntime's own run of the original file differs from the reference on ${o.ortDiffers}; there the canonized model is compared with onnxruntime's run)`);
  for (const d of [...o.differs, ...o.crashes]) lines.push(`  ${d.status.toUpperCase()} ${d.id}: ${d.message}`);
}

export function formatSummary(s: Summary): string {
  const lines: string[] = [];
  lines.push(`libonnx-testdata: ${s.models} models, ${s.crashes.length} uncaught exceptions`);
  lines.push('');
  lines.push('| outcome | models |');
  lines.push('| --- | ---: |');
  for (const [k, n] of s.kinds) lines.push(`| ${k} | ${n} |`);
  if (s.unsupportedOps.length) {
    lines.push('');
    lines.push(`unsupported ops (models): ${s.unsupportedOps.map(([op, n]) => `${op} ${n}`).join(', ')}`);
  }
  if (s.canonizeRefused.length) {
    lines.push('');
    lines.push(`canonizers refused ${s.canonizeRefused.length} loaded graphs with a clear error (${countBy(s.canonizeRefused, (r) => r.canonize!.message.replace(/'[^']*'/g, "'…'").slice(0, 70)).map(([k, n]) => `${n}× ${k}`).join('; ')})`);
  }
  if (s.outputs) formatOutputs('forward-path canonizers vs the shipped outputs, models whose ops are all supported', s.outputs, lines);
  if (s.frozen) formatOutputs('the same with every input but the first frozen into an initializer (weights as constants)', s.frozen, lines, false);
  if (s.constant) formatOutputs('every input frozen, where the constant folder folds a node (vs the shipped outputs)', s.constant, lines, false);
  for (const e of s.explains ?? []) {
    const refused = e.refused.reduce((a, [, n]) => a + n, 0);
    lines.push('');
    lines.push(`explained on the shipped inputs${e.mode === 'frozen' ? ', every input but the first frozen' : ''} (${EXPLAIN_COMPOSITES.map(([c]) => c).join(', ')}; the onnxruntime and reference engines, which must agree): ${e.explained} with finite relevance, ${refused} refused with a clear error, ${e.failures.length} failures (crash, unclear error, non-finite relevance, engines differ)`);
    if (e.nondeterministic) lines.push(`  (${e.nondeterministic} with a non-deterministic forward, e.g. training-mode Dropout: engines not compared)`);
    lines.push(`  refusals: ${e.refused.map(([k, n]) => `${n}× ${k}`).join('; ')}`);
    for (const f of e.failures) lines.push(`  ${f.status.toUpperCase()} ${f.id}: ${f.message}`);
  }
  for (const c of s.crashes) lines.push(`CRASH ${c.id}: ${c.message}`);
  return lines.join('\n');
}

// ---- main ------------------------------------------------------------------------------------------------

async function main(argv: string[]): Promise<number> {
  const arg = (name: string) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
  const root = arg('--root') ?? TESTDATA;
  const cases = listCases(root);
  if (!cases.length) {
    console.log(`no models under ${root}: install Debian's libonnx-testdata (apt-get install libonnx-testdata) or pass --root DIR`);
    return 1;
  }
  const t0 = Date.now();
  const loads = cases.map(checkLoad);
  const loadMs = Date.now() - t0;
  let outputs: OutputResult[] | undefined;
  if (!argv.includes('--no-outputs')) {
    outputs = [];
    for (const r of loads) {
      if (r.status !== 'supported' || !r.model) continue;
      outputs.push(await checkOutputs(cases.find((c) => c.id === r.id)!, r.model));
    }
    for (const r of loads) {
      if ((r.status !== 'supported' && r.status !== 'unsupported') || !r.model || r.model.graph.inputs.length < 2) continue;
      outputs.push(await checkOutputs(cases.find((c) => c.id === r.id)!, r.model, 'frozen'));
    }
    for (const r of loads) {
      if ((r.status !== 'supported' && r.status !== 'unsupported') || !r.model) continue;
      outputs.push(await checkOutputs(cases.find((c) => c.id === r.id)!, r.model, 'constant'));
    }
  }
  let explains: ExplainResult[] | undefined;
  if (!argv.includes('--no-explain')) {
    explains = [];
    for (const r of loads) {
      if (r.status === 'supported' && r.model) explains.push(await checkExplain(cases.find((c) => c.id === r.id)!, r.model));
    }
    for (const r of loads) {
      if ((r.status === 'supported' || r.status === 'unsupported') && r.model && r.model.graph.inputs.length >= 2) explains.push(await checkExplain(cases.find((c) => c.id === r.id)!, r.model, 'frozen'));
    }
  }
  const s = summarize(loads, outputs, explains);
  console.log(formatSummary(s));
  console.log(`\nloaded and checked ${cases.length} models in ${(loadMs / 1000).toFixed(1)} s; total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (argv.includes('--list')) {
    for (const r of loads) console.log(`${r.id}\t${r.kind}${r.ops.length ? ` (${r.ops.join(', ')})` : ''}\t${r.message}`);
    for (const o of outputs ?? []) console.log(`${o.id}\toutputs ${o.status}\t${o.message}${o.actions?.length ? `\t[${o.actions.join('; ')}]` : ''}`);
  }
  const json = arg('--json');
  if (json) {
    fs.writeFileSync(json, JSON.stringify({
      ...s, crashes: s.crashes.map(({ model: _m, ...r }) => r), canonizeRefused: s.canonizeRefused.map(({ model: _m, ...r }) => r),
      results: loads.map(({ model: _m, ...r }) => r), outputResults: outputs,
    }, null, 1));
  }
  const failed = s.crashes.length + [s.outputs, s.frozen, s.constant].reduce((a, o) => a + (o ? o.differs.length + o.crashes.length : 0), 0)
    + (s.explains ?? []).reduce((a, e) => a + e.failures.length, 0);
  return failed ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 1; });
}
