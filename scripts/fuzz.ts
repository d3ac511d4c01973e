/**
 * Seeded fuzz test: mutations of the shipped models (models/*.onnx, spec/fixtures/golden/*.onnx) at the byte
 * level (truncation, byte and bit flips, chunks moved, deleted or inserted) and at the protobuf level (decode
 * with onnx-proto, mutate, re-encode: wrong or huge dims, raw_data length mismatches, missing initializers,
 * dangling inputs, cycles, external-data paths leaving the folder, attribute, op type, opset and graph I/O
 * changes, …). Every case must end in a clear error or a valid explanation (finite relevance), never a crash,
 * a hang (> --timeout ms) or running out of memory.
 *
 *   npm run fuzz [-- --count 1000] [--seed 1] [--timeout 10000] [--workers 2] [--json OUT.json] [--verbose]
 *   node dist/scripts/fuzz.js --case 17        # one case, in this process, with its full error
 *
 * Cases run in worker processes (`--max-old-space-size`, and an address-space limit where `ulimit -v` is
 * available), one at a time each, killed and replaced when a case outlives the timeout or the worker dies.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Explainer } from '../lib/explain';
import { ortBackend } from '../lib/forward/ort';
import { loadModelFile } from '../lib/node-io';
import { onnx } from '../lib/onnx/proto';
import { unsupportedNodes } from '../lib/ops/registry';
import { Rng, mulberry32 } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { crashReason, errorKind, isClearError } from './robustness';

const ROOT = path.resolve(__dirname, '../..');
export const SEED_DIRS = [path.join(ROOT, 'models'), path.join(ROOT, 'spec/fixtures/golden')];

// ---- seeded randomness ------------------------------------------------------------------------------------

export type { Rng } from '../lib/random';

/** mulberry32 */
export function prng(seed: number): Rng {
  return mulberry32(seed);
}

function caseRng(seed: number, index: number): Rng {
  return prng(Math.imul(seed ^ 0x9e3779b9, 2654435761) ^ Math.imul(index + 1, 0x85ebca6b));
}

const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[int(rng, xs.length)];

// ---- seeds ------------------------------------------------------------------------------------------------

export interface SeedModel {
  file: string;
  name: string;
  bytes: Uint8Array;
  /** the first input's shape with the batch as 1 */
  inputDims: number[];
}

let seedCache: SeedModel[] | null = null;

/** The shipped models that load and explain unmutated (sorted by path, so a seed picks the same model everywhere). */
export function seedModels(dirs = SEED_DIRS): SeedModel[] {
  if (seedCache) return seedCache;
  const out: SeedModel[] = [];
  for (const dir of dirs) {
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.onnx')).sort()) {
      const file = path.join(dir, f);
      const m = loadModelFile(file);
      const dims = (m.graph.inputs[0]?.dims ?? []).map((d) => (typeof d === 'number' ? d : 1));
      // a plain Uint8Array copy: Buffer#slice would hand the mutations a view of the seed
      out.push({ file, name: path.relative(ROOT, file), bytes: new Uint8Array(fs.readFileSync(file)), inputDims: dims });
    }
  }
  seedCache = out;
  return out;
}

// ---- mutations --------------------------------------------------------------------------------------------

/** Files a case writes beside (or outside) its model: paths relative to the case's model folder. */
export interface Mutated {
  bytes: Uint8Array;
  mutation: string;
  detail: string;
  /** external-data files: written relative to the model folder ('../outside.bin' lands outside it) */
  files: { rel: string; data: Uint8Array }[];
}

type Model = onnx.ModelProto;
interface Ctx { rng: Rng; files: Mutated['files']; dir: string }
type ProtoMutation = (m: Model, c: Ctx) => string | null;

const T = onnx.TensorProto.DataType;
const A = onnx.AttributeProto.AttributeType;

function graphOf(m: Model): onnx.GraphProto {
  if (!m.graph) m.graph = onnx.GraphProto.create({});
  return m.graph as onnx.GraphProto;
}

function nodes(m: Model): onnx.INodeProto[] { return graphOf(m).node ?? []; }
function inits(m: Model): onnx.ITensorProto[] { return graphOf(m).initializer ?? []; }

/** Raw little-endian bytes of a float/int initializer, whatever field holds them. */
function rawBytes(t: onnx.ITensorProto): Uint8Array {
  if (t.rawData && t.rawData.length) return t.rawData;
  if (t.floatData && t.floatData.length) return new Uint8Array(Float32Array.from(t.floatData).buffer);
  if (t.int64Data && t.int64Data.length) return new Uint8Array(BigInt64Array.from(t.int64Data.map((v) => BigInt(String(v)))).buffer);
  return new Uint8Array(0);
}

const HUGE_DIMS: number[][] = [[1e9, 1e9], [2 ** 31], [2 ** 31 - 1], [2 ** 40], [2 ** 62], [1e9], [0], [-1], [2 ** 53 + 2], [65536, 65536], [3, -5]];

const PROTO_MUTATIONS: Record<string, ProtoMutation> = {
  'init-wrong-dims'(m, { rng }) {
    const t = pick(rng, inits(m));
    if (!t) return null;
    const dims = [...(t.dims ?? [])].map(Number);
    const how = int(rng, 5);
    if (how === 0 && dims.length) dims[int(rng, dims.length)] += pick(rng, [-1, 1, 2]);
    else if (how === 1 && dims.length) dims.splice(int(rng, dims.length), 1);
    else if (how === 2) dims.splice(int(rng, dims.length + 1), 0, pick(rng, [1, 2, 3]));
    else if (how === 3) dims.reverse();
    else if (dims.length) dims[int(rng, dims.length)] *= 2;
    t.dims = dims;
    return `'${t.name}' dims [${dims}]`;
  },
  'init-huge-dims'(m, { rng }) {
    const t = pick(rng, inits(m));
    if (!t) return null;
    t.dims = pick(rng, HUGE_DIMS);
    return `'${t.name}' dims [${t.dims}]`;
  },
  'raw-data-length'(m, { rng }) {
    const t = pick(rng, inits(m).filter((x) => x.rawData && x.rawData.length));
    if (!t) return null;
    const len = t.rawData!.length;
    const to = pick(rng, [0, 1, len - 1, len + 1, len - 4, len + 4, Math.floor(len / 2), len * 2]);
    const out = new Uint8Array(Math.max(0, to));
    out.set(t.rawData!.subarray(0, Math.min(len, out.length)));
    t.rawData = out;
    return `'${t.name}' raw_data ${len} → ${out.length} bytes`;
  },
  'init-dtype'(m, { rng }) {
    const t = pick(rng, inits(m));
    if (!t) return null;
    t.dataType = pick(rng, [0, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 21, 99]);
    return `'${t.name}' data_type ${t.dataType}`;
  },
  'init-values'(m, { rng }) {
    const t = pick(rng, inits(m));
    if (!t) return null;
    const raw = new Uint8Array(rawBytes(t));
    if (!raw.length) return null;
    const v = new DataView(raw.buffer);
    if (t.dataType === T.FLOAT) {
      const n = raw.length / 4;
      const special = pick(rng, [NaN, Infinity, -Infinity, 3e38, -3e38, 1e-45, 0]);
      const k = rng() < 0.3 ? n : 1 + int(rng, Math.min(8, n));
      for (let i = 0; i < k; i++) v.setFloat32(4 * (k === n ? i : int(rng, n)), special, true);
      t.rawData = raw; t.floatData = [];
      return `'${t.name}' ${k} of ${n} values = ${special}`;
    }
    if (t.dataType === T.INT64) {
      const n = raw.length / 8;
      const weird = [0n, -1n, -2n, 1000000000000n, 2n ** 62n, -(2n ** 62n), 9223372036854775807n, 3n];
      for (let i = 0; i < n; i++) if (rng() < 0.6) v.setBigInt64(8 * i, pick(rng, weird), true);
      t.rawData = raw; t.int64Data = [];
      return `'${t.name}' int64 values [${Array.from({ length: n }, (_, i) => v.getBigInt64(8 * i, true))}]`;
    }
    return null;
  },
  'drop-initializer'(m, { rng }) {
    const xs = inits(m);
    if (!xs.length) return null;
    const k = int(rng, xs.length);
    const name = xs[k].name;
    graphOf(m).initializer = xs.filter((_, i) => i !== k);
    return `'${name}'`;
  },
  'dangling-input'(m, { rng }) {
    const n = pick(rng, nodes(m).filter((x) => (x.input ?? []).length));
    if (!n) return null;
    const ins = [...n.input!];
    const k = int(rng, ins.length);
    ins[k] = `missing_${int(rng, 1000)}`;
    n.input = ins;
    return `node '${n.name}' input ${k} → '${ins[k]}'`;
  },
  cycle(m, { rng }) {
    const ns = nodes(m);
    if (ns.length < 1) return null;
    const j = int(rng, ns.length);
    const i = rng() < 0.25 ? j : int(rng, j + 1);
    const a = ns[i];
    const b = ns[j];
    if (!(a.input ?? []).length || !(b.output ?? []).length) return null;
    a.input = [b.output![0], ...a.input!.slice(1)];
    return i === j ? `node '${a.name}' reads its own output` : `node '${a.name}' reads '${b.output![0]}' of later node '${b.name}'`;
  },
  'duplicate-output'(m, { rng }) {
    const ns = nodes(m);
    if (ns.length < 2) return null;
    const i = int(rng, ns.length);
    const j = int(rng, ns.length);
    if (i === j) return null;
    ns[j].output = [ns[i].output![0], ...(ns[j].output ?? []).slice(1)];
    return `nodes '${ns[i].name}' and '${ns[j].name}' both produce '${ns[i].output![0]}'`;
  },
  'drop-node'(m, { rng }) {
    const ns = nodes(m);
    if (!ns.length) return null;
    const k = int(rng, ns.length);
    graphOf(m).node = ns.filter((_, i) => i !== k);
    return `'${ns[k].name}' (${ns[k].opType})`;
  },
  'shuffle-nodes'(m, { rng }) {
    const ns = [...nodes(m)];
    for (let i = ns.length - 1; i > 0; i--) { const j = int(rng, i + 1); [ns[i], ns[j]] = [ns[j], ns[i]]; }
    graphOf(m).node = ns;
    return `${ns.length} nodes`;
  },
  'node-names'(m, { rng }) {
    const ns = nodes(m);
    if (ns.length < 2) return null;
    const how = int(rng, 3);
    if (how === 0) { ns[1].name = ns[0].name; return `two nodes named '${ns[0].name}'`; }
    if (how === 1) { for (const n of ns) n.name = ''; return 'every node unnamed'; }
    for (const n of ns) n.name = `${n.opType}_0`;
    return 'names that collide with generated ones';
  },
  'external-data'(m, { rng, files, dir }) {
    const t = pick(rng, inits(m).filter((x) => rawBytes(x).length));
    if (!t) return null;
    const data = rawBytes(t);
    const outside = path.join(path.dirname(dir), 'outside.bin');
    const loc = pick(rng, [
      '../outside.bin', outside, 'sub/../../outside.bin', '../../../../../../etc/passwd', '/etc/passwd', 'link.bin',
      'weights.bin', 'sub/../weights.bin', './weights.bin', 'missing.bin', '', 'sub', '..', '.', 'w\u0000.bin',
      '%2e%2e/outside.bin', 'sub/deeper/../../../outside.bin', '....//outside.bin', 'weights.bin/',
    ]);
    files.push({ rel: 'weights.bin', data }, { rel: '../outside.bin', data });
    const entries: onnx.IStringStringEntryProto[] = [{ key: 'location', value: loc }];
    const extra = int(rng, 6);
    if (extra === 1) entries.push({ key: 'offset', value: pick(rng, ['-8', 'abc', '1e30', '4', String(data.length), '99999999999']) });
    if (extra === 2) entries.push({ key: 'length', value: pick(rng, ['0', '-1', 'x', String(data.length + 4), String(data.length - 4), '1e12']) });
    if (extra === 3) entries.push({ key: 'offset', value: '0' }, { key: 'length', value: String(data.length) });
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.externalData = entries;
    t.rawData = new Uint8Array(0); t.floatData = []; t.int64Data = [];
    return `'${t.name}' at ${entries.map((e) => `${e.key}=${JSON.stringify(e.value)}`).join(' ')}`;
  },
  'attr-value'(m, { rng }) {
    const n = pick(rng, nodes(m).filter((x) => (x.attribute ?? []).length));
    if (!n) return null;
    const a = pick(rng, n.attribute!);
    switch (a.type) {
      case A.INT: a.i = pick(rng, [0, -1, 1e9, 2 ** 40, -(2 ** 31), 7, 2]); return `node '${n.name}' ${a.name}=${a.i}`;
      case A.INTS: {
        const xs = (a.ints ?? []).map(Number);
        const choice = pick(rng, [[], [0], [-1, -1], [1e9, 1e9], [...xs, 1], xs.slice(1), xs.map(() => 0), xs.map((x) => -x), xs.map(() => 2 ** 31)]);
        a.ints = choice;
        return `node '${n.name}' ${a.name}=[${choice}]`;
      }
      case A.FLOAT: a.f = pick(rng, [NaN, Infinity, -1, 0, 1e30, -1e30]); return `node '${n.name}' ${a.name}=${a.f}`;
      case A.STRING: a.s = new TextEncoder().encode(pick(rng, ['', 'NOTSET', 'SAME_UPPER', 'VALID', 'garbage', 'x'.repeat(1000)])); return `node '${n.name}' ${a.name}='${new TextDecoder().decode(a.s).slice(0, 20)}'`;
      case A.TENSOR: if (a.t) { a.t.dims = pick(rng, HUGE_DIMS); return `node '${n.name}' ${a.name} dims [${a.t.dims}]`; } return null;
      default: return null;
    }
  },
  'attr-type'(m, { rng }) {
    const n = pick(rng, nodes(m).filter((x) => (x.attribute ?? []).length));
    if (!n) return null;
    const a = pick(rng, n.attribute!);
    a.type = pick(rng, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 99]) as onnx.AttributeProto.AttributeType;
    return `node '${n.name}' attribute '${a.name}' type ${a.type}`;
  },
  'attr-drop'(m, { rng }) {
    const n = pick(rng, nodes(m).filter((x) => (x.attribute ?? []).length));
    if (!n) return null;
    const k = int(rng, n.attribute!.length);
    const name = n.attribute![k].name;
    n.attribute = n.attribute!.filter((_, i) => i !== k);
    return `node '${n.name}' without '${name}'`;
  },
  'attr-add'(m, { rng }) {
    const n = pick(rng, nodes(m));
    if (!n) return null;
    const a = pick(rng, [
      { name: 'group', type: A.INT, i: pick(rng, [0, -1, 3, 1e6]) }, { name: 'axis', type: A.INT, i: pick(rng, [99, -99, 4]) },
      { name: 'transB', type: A.INT, i: 1 }, { name: 'transA', type: A.INT, i: 1 }, { name: 'perm', type: A.INTS, ints: [0] },
      { name: 'allowzero', type: A.INT, i: 1 }, { name: 'pads', type: A.INTS, ints: [1e9, 0, 0, 0] },
      { name: 'strides', type: A.INTS, ints: [0, 0] }, { name: 'dilations', type: A.INTS, ints: [1e6, 1e6] },
      { name: 'kernel_shape', type: A.INTS, ints: [1e6, 1e6] }, { name: 'auto_pad', type: A.STRING, s: new TextEncoder().encode('SAME_LOWER') },
      { name: 'ceil_mode', type: A.INT, i: 1 }, { name: 'epsilon', type: A.FLOAT, f: -1 }, { name: 'alpha', type: A.FLOAT, f: NaN },
      { name: 'then_branch', type: A.GRAPH, g: { name: 'sub', node: [] } }, { name: 'bogus', type: A.INT, i: 1 },
      { name: 'value', type: A.TENSOR, t: { dataType: T.FLOAT, dims: [1e9] } },
    ] as onnx.IAttributeProto[]);
    n.attribute = [...(n.attribute ?? []).filter((x) => x.name !== a.name), a];
    return `node '${n.name}' (${n.opType}) + ${a.name}`;
  },
  'op-type'(m, { rng }) {
    const n = pick(rng, nodes(m));
    if (!n) return null;
    const before = n.opType;
    n.opType = pick(rng, [
      'Relu', 'Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'Add', 'Sub', 'Mul', 'Div', 'Reshape', 'Flatten', 'Softmax',
      'LogSoftmax', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'BatchNormalization', 'Identity', 'Sigmoid',
      'Concat', 'Transpose', 'Pad', 'Sum', 'Foo', '', 'If', 'LSTM', 'Dropout', 'LRN', 'Clip', 'Split', 'Squeeze',
      'Unsqueeze', 'Gather', 'Slice', 'Tanh', 'LeakyRelu', 'Constant', 'Shape', 'Cast', 'Expand', 'Tile',
    ]);
    return `'${n.name}' ${before} → ${n.opType || "''"}`;
  },
  'op-swap'(m, { rng }) {
    // another op taking the same inputs, so that the node passes the arity check and reaches the canonizers,
    // the op registry and the rules
    const groups = [
      ['Relu', 'Sigmoid', 'Tanh', 'Identity', 'Flatten', 'Softmax', 'LogSoftmax', 'GlobalAveragePool', 'GlobalMaxPool',
        'MaxPool', 'AveragePool', 'LRN', 'Dropout', 'Transpose', 'Cast', 'Shape', 'Size', 'LeakyRelu', 'Elu', 'HardSwish',
        'Softplus', 'Clip', 'Squeeze', 'ReduceMean', 'ReduceSum', 'Floor', 'NonZero', 'ArgMax', 'Split'],
      ['Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'Add', 'Sub', 'Mul', 'Div', 'PRelu', 'Reshape', 'Gather', 'Expand',
        'Tile', 'Concat', 'Sum', 'Equal', 'Unsqueeze', 'Pad', 'Squeeze'],
      ['Conv', 'ConvTranspose', 'Gemm', 'Clip', 'Slice', 'Where', 'Concat', 'Sum', 'Range', 'Pad'],
    ];
    const n = pick(rng, nodes(m).filter((x) => groups.some((g) => g.includes(x.opType ?? ''))));
    if (!n) return null;
    const before = n.opType;
    const g = groups.filter((x) => x.includes(before ?? '') && (x !== groups[0] || (n.input ?? []).length === 1));
    if (!g.length) return null;
    n.opType = pick(rng, pick(rng, g));
    return `'${n.name}' ${before} → ${n.opType}`;
  },
  bloat(m, { rng }) {
    // many extra nodes between the input and the first node: a chain, or a fan of parallel branches summed
    const first = nodes(m)[0];
    if (!first || !(first.input ?? []).length) return null;
    const fan = rng() < 0.3;
    const k = pick(rng, fan ? [100, 300, 1000] : [100, 500, 1000, 2000]);
    const op = pick(rng, ['Relu', 'Identity', 'Dropout']);
    const src = first.input![0];
    const extra: onnx.INodeProto[] = [];
    let prev = src;
    for (let i = 0; i < k; i++) {
      extra.push({ name: `bloat_${i}`, opType: op, input: [fan ? src : prev], output: [`bloat_${i}`] });
      prev = `bloat_${i}`;
    }
    if (fan) extra.push({ name: 'bloat_sum', opType: 'Sum', input: extra.map((n) => n.output![0]), output: ['bloat_sum'] });
    first.input = [fan ? 'bloat_sum' : prev, ...first.input!.slice(1)];
    graphOf(m).node = [...extra, ...nodes(m)];
    return `${k} ${op} nodes${fan ? ' in parallel, summed' : ' in a chain'} before '${first.name}'`;
  },
  domain(m, { rng }) {
    const n = pick(rng, nodes(m));
    if (!n) return null;
    n.domain = pick(rng, ['com.microsoft', 'ai.onnx.ml', 'x.y', 'ai.onnx', 'ai.onnx.preview.training']);
    return `'${n.name}' domain ${n.domain}`;
  },
  opset(m, { rng }) {
    const how = int(rng, 4);
    if (how === 0) { m.opsetImport = []; return 'no opset import'; }
    if (how === 1) { m.opsetImport = [...(m.opsetImport ?? []), { domain: pick(rng, ['com.microsoft', 'x.y', '']), version: pick(rng, [1, 99]) }]; return 'an extra opset import'; }
    const v = pick(rng, [-1, 0, 1, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 99, 1e6]);
    m.opsetImport = (m.opsetImport ?? []).map((o) => (o.domain ? o : { ...o, version: v }));
    return `default opset ${v}`;
  },
  'ir-version'(m, { rng }) {
    m.irVersion = pick(rng, [0, 1, 2, 3, 4, 99, -1]);
    return `ir_version ${m.irVersion}`;
  },
  'graph-io'(m, { rng }) {
    const g = graphOf(m);
    const ins = g.input ?? [];
    const outs = g.output ?? [];
    const how = int(rng, 10);
    if (how === 0) { g.input = []; return 'no graph inputs'; }
    if (how === 1) { g.output = []; return 'no graph outputs'; }
    if (how === 2) { g.input = [...ins, { name: 'extra', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }] } } } }]; return 'an extra input'; }
    if (how === 3 && outs.length) { outs[0].name = 'never_made'; return 'output renamed to a value nobody makes'; }
    if (how === 4 && outs.length && inits(m).length) { outs[0].name = pick(rng, inits(m)).name ?? ''; return `output is initializer '${outs[0].name}'`; }
    if (how === 5 && ins.length) { g.input = [...ins, ins[0]]; return 'an input declared twice'; }
    if (how === 6 && ins.length && ins[0].type?.tensorType) { ins[0].type.tensorType.elemType = pick(rng, [0, 2, 6, 7, 8, 9, 10, 11, 16, 99]); return `input element type ${ins[0].type.tensorType.elemType}`; }
    if (how === 7 && ins.length && ins[0].type?.tensorType) {
      const dims = pick(rng, [[1e9, 1e9, 1e9, 1e9], [0, 1, 28, 28], [1], [1, 1, 1, 1, 1, 1], [2 ** 40], [-3, 1, 28, 28]]);
      ins[0].type.tensorType.shape = { dim: dims.map((d) => ({ dimValue: d })) };
      return `input dims [${dims}]`;
    }
    if (how === 8 && ins.length) { ins[0].type = { sequenceType: { elemType: { tensorType: { elemType: 1 } } } }; return 'input is a sequence'; }
    if (how === 9 && outs.length && outs[0].type?.tensorType) { outs[0].type.tensorType.elemType = pick(rng, [0, 7, 8, 11, 99]); return `output element type ${outs[0].type.tensorType.elemType}`; }
    return null;
  },
  'value-info'(m, { rng }) {
    const g = graphOf(m);
    const n = pick(rng, nodes(m));
    if (!n) return null;
    g.valueInfo = [...(g.valueInfo ?? []), pick(rng, [
      { name: n.output![0], type: { tensorType: { elemType: 99, shape: { dim: [{ dimValue: -5 }] } } } },
      { name: n.output![0], type: { sequenceType: {} } },
      { name: n.output![0], type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 2 ** 62 }, { dimParam: 'x' }] } } } },
    ] as onnx.IValueInfoProto[])];
    return `value_info for '${n.output![0]}'`;
  },
  'sparse-initializer'(m) {
    const g = graphOf(m);
    g.sparseInitializer = [{ values: { name: 'sp', dataType: T.FLOAT, dims: [1], floatData: [1] }, indices: { dataType: T.INT64, dims: [1], int64Data: [0] }, dims: [4] }];
    return "'sp'";
  },
  'constant-node'(m, { rng }) {
    const t = pick(rng, inits(m));
    if (!t) return null;
    // an initializer moved into a Constant node (valid), then possibly broken
    graphOf(m).initializer = inits(m).filter((x) => x !== t);
    const broken = rng() < 0.5;
    const value = { ...t, name: '', dims: broken ? pick(rng, HUGE_DIMS) : t.dims };
    graphOf(m).node = [{ name: `const_${t.name}`, opType: 'Constant', input: [], output: [t.name ?? ''], attribute: [{ name: 'value', type: A.TENSOR, t: value }] }, ...nodes(m)];
    return `'${t.name}' as a Constant node${broken ? ` with dims [${value.dims}]` : ''}`;
  },
};

/** Byte-level mutations: positions are drawn half the time from the file's first and last eighth, where the
 * graph's structure lives (the weights fill the middle). */
const BYTE_MUTATIONS: Record<string, (b: Uint8Array, rng: Rng) => { bytes: Uint8Array; detail: string }> = {
  truncate(b, rng) { const k = int(rng, b.length); return { bytes: b.slice(0, k), detail: `to ${k} of ${b.length} bytes` }; },
  'byte-flips'(b, rng) {
    const out = b.slice();
    const k = 1 + int(rng, 8);
    for (let i = 0; i < k; i++) out[position(b.length, rng)] = int(rng, 256);
    return { bytes: out, detail: `${k} bytes` };
  },
  'bit-flip'(b, rng) { const out = b.slice(); const p = position(b.length, rng); out[p] ^= 1 << int(rng, 8); return { bytes: out, detail: `at ${p}` }; },
  'chunk-copy'(b, rng) {
    const out = b.slice();
    const len = 1 + int(rng, 64);
    const from = position(b.length, rng);
    const to = position(b.length, rng);
    out.set(b.subarray(from, from + len).subarray(0, Math.max(0, b.length - to)), to);
    return { bytes: out, detail: `${len} bytes ${from} → ${to}` };
  },
  'chunk-delete'(b, rng) {
    const at = position(b.length, rng);
    const len = Math.min(1 + int(rng, 64), b.length - at);
    const out = new Uint8Array(b.length - len);
    out.set(b.subarray(0, at));
    out.set(b.subarray(at + len), at);
    return { bytes: out, detail: `${len} bytes at ${at}` };
  },
  'chunk-insert'(b, rng) {
    const at = position(b.length, rng);
    const ins = Uint8Array.from({ length: 1 + int(rng, 16) }, () => int(rng, 256));
    const out = new Uint8Array(b.length + ins.length);
    out.set(b.subarray(0, at)); out.set(ins, at); out.set(b.subarray(at), at + ins.length);
    return { bytes: out, detail: `${ins.length} bytes at ${at}` };
  },
  'zero-run'(b, rng) { const out = b.slice(); const at = position(b.length, rng); const len = 1 + int(rng, 256); out.fill(0, at, at + len); return { bytes: out, detail: `${len} bytes at ${at}` }; },
  'garbage-tail'(b, rng) {
    const tail = Uint8Array.from({ length: 1 + int(rng, 64) }, () => int(rng, 256));
    const out = new Uint8Array(b.length + tail.length); out.set(b); out.set(tail, b.length);
    return { bytes: out, detail: `${tail.length} bytes` };
  },
};

function position(n: number, rng: Rng): number {
  if (n <= 1) return 0;
  const r = rng();
  if (r < 0.25) return int(rng, Math.max(1, Math.floor(n / 8)));
  if (r < 0.5) return n - 1 - int(rng, Math.max(1, Math.floor(n / 8)));
  return int(rng, n);
}

export const MUTATIONS = [...Object.keys(BYTE_MUTATIONS), ...Object.keys(PROTO_MUTATIONS), 'multi'];

/** The mutation of case `index`: a seed model, one mutation (or 2–4 protobuf ones for 'multi'). */
export function mutate(seed: number, index: number, dir: string): Mutated & { seed: SeedModel } {
  const rng = caseRng(seed, index);
  const seeds = seedModels();
  if (!seeds.length) throw new Error(`no seed models under ${SEED_DIRS.join(', ')}`);
  const s = seeds[int(rng, seeds.length)];
  // about a third byte-level, the rest protobuf-level
  for (let attempt = 0; attempt < 20; attempt++) {
    const byteLevel = rng() < 0.33;
    if (byteLevel) {
      const name = pick(rng, Object.keys(BYTE_MUTATIONS));
      const r = BYTE_MUTATIONS[name](s.bytes, rng);
      return { ...r, mutation: name, files: [], seed: s };
    }
    const multi = rng() < 0.12;
    const names = multi ? Array.from({ length: 2 + int(rng, 3) }, () => pick(rng, Object.keys(PROTO_MUTATIONS))) : [pick(rng, Object.keys(PROTO_MUTATIONS))];
    const m = onnx.ModelProto.decode(s.bytes);
    const ctx: Ctx = { rng, files: [], dir };
    const details: string[] = [];
    for (const name of names) {
      const d = PROTO_MUTATIONS[name](m, ctx);
      if (d !== null) details.push(`${name}: ${d}`);
    }
    if (!details.length) continue;
    return { bytes: onnx.ModelProto.encode(m).finish(), mutation: multi ? 'multi' : names[0], detail: details.join('; '), files: ctx.files, seed: s };
  }
  return { bytes: s.bytes, mutation: 'none', detail: 'no mutation applied', files: [], seed: s };
}

// ---- one case ---------------------------------------------------------------------------------------------

export type Outcome = 'explained' | 'clear-error' | 'unclear-error' | 'crash' | 'nonfinite' | 'hang' | 'died';
export const FAILURES: Outcome[] = ['unclear-error', 'crash', 'nonfinite', 'hang', 'died'];

export interface FuzzResult {
  index: number;
  seedModel: string;
  mutation: string;
  detail: string;
  outcome: Outcome;
  /** for errors: the summary row (errorKind); for explanations: the composite */
  kind: string;
  message: string;
  ms: number;
}

const COMPOSITES: [string, Record<string, number>][] = [
  ['epsilon_plus_flat', {}], ['epsilon_gamma_box', { low: -3, high: 3 }], ['epsilon', { epsilon: 1e-6 }], ['gradient', {}],
];

/** The case's folder layout: DIR/model/model.onnx, DIR/model/weights.bin, DIR/model/sub/, DIR/model/link.bin →
 * DIR/outside.bin. */
function writeCase(dir: string, m: Mutated): string {
  const modelDir = path.join(dir, 'model');
  fs.rmSync(modelDir, { recursive: true, force: true });
  fs.mkdirSync(path.join(modelDir, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'outside.bin'), new Uint8Array(16));
  for (const f of m.files) fs.writeFileSync(path.resolve(modelDir, f.rel), f.data);
  try { fs.symlinkSync(path.join(dir, 'outside.bin'), path.join(modelDir, 'link.bin')); } catch { /* no symlinks here */ }
  const file = path.join(modelDir, 'model.onnx');
  fs.writeFileSync(file, m.bytes);
  return file;
}

function inputFor(ex: Explainer, seed: SeedModel, rng: Rng): Tensor {
  const declared = ex.graph.inputs[0]?.dims;
  let dims = (declared ?? seed.inputDims).map((d, i) => (typeof d === 'number' && d > 0 ? d : seed.inputDims[i] ?? 1));
  if (dims.reduce((a, b) => a * b, 1) > 4_000_000 || dims.some((d) => !Number.isSafeInteger(d))) dims = seed.inputDims;
  const n = dims.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: n }, () => rng() * 2 - 1) };
}

/** Runs case `index` in this process: load, canonize, explain; classifies how it ended. */
export async function runCase(seed: number, index: number, dir: string): Promise<FuzzResult> {
  const t0 = Date.now();
  const m = mutate(seed, index, path.join(dir, 'model'));
  const base = { index, seedModel: m.seed.name, mutation: m.mutation, detail: m.detail };
  const file = writeCase(dir, m);
  const rng = caseRng(seed ^ 0x5bd1e995, index);
  const [composite, options] = COMPOSITES[index % COMPOSITES.length];
  let ex: Explainer | undefined;
  try {
    ex = Explainer.create(loadModelFile(file), ortBackend, { source: file, threads: 1 });
    // what `inspect` shows before anything runs: unsupported nodes and the rule plan
    unsupportedNodes(ex.graph);
    ex.plan({ composite, options });
    // both engines: the onnxruntime-lowered LRP steps and the plain TypeScript kernels
    const engine = Math.floor(index / COMPOSITES.length) % 2 ? 'reference' : 'ort';
    const r = await ex.explain(inputFor(ex, m.seed, rng), { composite, options, engine });
    const bad = r.relevance.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) return { ...base, outcome: 'nonfinite', kind: `${composite} (${engine})`, message: `relevance[${bad}] = ${r.relevance.data[bad]}`, ms: Date.now() - t0 };
    return { ...base, outcome: 'explained', kind: `${composite} (${engine})`, message: '', ms: Date.now() - t0 };
  } catch (e) {
    const crash = crashReason(e);
    const err = e as Error;
    const outcome: Outcome = crash ? 'crash' : isClearError(e, file) ? 'clear-error' : 'unclear-error';
    const message = crash ? `${crash}\n${err?.stack ?? ''}` : `${err.name}: ${err.message}`;
    return { ...base, outcome, kind: crash ? 'crash' : errorKind(err), message: message.split(file).join('MODEL'), ms: Date.now() - t0 };
  } finally {
    await ex?.release().catch(() => undefined);
  }
}

// ---- workers ------------------------------------------------------------------------------------------------

export interface FuzzOptions {
  seed?: number;
  /** case indices to run */
  indices: number[];
  /** per case, ms (a worker is killed and replaced after it) */
  timeoutMs?: number;
  workers?: number;
  /** V8 heap limit of a worker, MB */
  heapMb?: number;
  /** address-space limit of a worker, MB (ulimit -v; 0: none) */
  addressSpaceMb?: number;
  onResult?: (r: FuzzResult) => void;
  /** for the harness's own test: make the worker hang on, or run out of memory at, these cases */
  inject?: Record<number, 'hang' | 'oom'>;
}

const WORKER_FLAG = '--fuzz-worker';

/** A worker's private folder, named by its pid so that the parent can remove it after killing the worker. */
function workerDir(pid: number): string {
  return path.join(os.tmpdir(), `onnx-lrp-fuzz-w${pid}`);
}

function startWorker(heapMb: number, addressSpaceMb: number): { child: ChildProcess; stderr: string[] } {
  const node = process.execPath;
  const args = [`--max-old-space-size=${heapMb}`, __filename, WORKER_FLAG];
  const stdio: ('pipe' | 'ignore' | 'ipc')[] = ['ignore', 'ignore', 'pipe', 'ipc'];
  const child = addressSpaceMb > 0 && process.platform === 'linux'
    ? spawn('/bin/sh', ['-c', `ulimit -v ${addressSpaceMb * 1024} 2>/dev/null; exec "$0" "$@"`, node, ...args], { stdio })
    : spawn(node, args, { stdio });
  const stderr: string[] = [];
  child.stderr?.on('data', (d: Buffer) => { stderr.push(d.toString()); if (stderr.length > 50) stderr.shift(); });
  // the shell execs node, so the pid is the worker's
  const pid = child.pid;
  child.on('exit', () => { if (pid) fs.rmSync(workerDir(pid), { recursive: true, force: true }); });
  return { child, stderr };
}

/** Runs the cases in worker processes; resolves with one result per index, in index order. */
export async function runFuzz(opts: FuzzOptions): Promise<FuzzResult[]> {
  const { seed = 1, indices, timeoutMs = 10000, heapMb = 1024, addressSpaceMb = 4096 } = opts;
  const workers = Math.max(1, Math.min(opts.workers ?? 2, indices.length));
  const queue = [...indices];
  const results: FuzzResult[] = [];
  const describe = (index: number) => {
    try {
      const m = mutate(seed, index, path.join(os.tmpdir(), 'onnx-lrp-fuzz-describe', 'model'));
      return { index, seedModel: m.seed.name, mutation: m.mutation, detail: m.detail };
    } catch {
      return { index, seedModel: '?', mutation: '?', detail: '' };
    }
  };
  const record = (r: FuzzResult) => { results.push(r); opts.onResult?.(r); };

  await Promise.all(Array.from({ length: workers }, () => new Promise<void>((resolve) => {
    let w = startWorker(heapMb, addressSpaceMb);
    let current: number | null = null;
    let started = 0;
    let timer: NodeJS.Timeout | null = null;
    let finished = false;

    const next = () => {
      if (timer) clearTimeout(timer);
      const index = queue.shift();
      if (index === undefined) {
        finished = true;
        current = null;
        w.child.send({ exit: true }, () => undefined);
        return;
      }
      current = index;
      started = Date.now();
      timer = setTimeout(() => {
        record({ ...describe(index), outcome: 'hang', kind: 'hang', message: `still running after ${timeoutMs} ms; worker killed`, ms: Date.now() - started });
        current = null;
        replace();
      }, timeoutMs);
      w.child.send({ seed, index, inject: opts.inject?.[index] });
    };
    const attach = () => {
      const self = w;
      self.child.on('message', (r: FuzzResult) => {
        if (w !== self || current === null || r.index !== current) return;
        current = null;
        record(r);
        next();
      });
      self.child.on('exit', (code, signal) => {
        if (w !== self) return; // a worker retired after a timeout
        if (timer) clearTimeout(timer);
        if (finished) { resolve(); return; }
        if (current !== null) {
          const index = current;
          const tail = self.stderr.join('').trim().split('\n').slice(-3).join(' | ');
          record({ ...describe(index), outcome: 'died', kind: 'died', message: `worker exited (${signal ?? `code ${code}`}): ${tail}`.slice(0, 600), ms: Date.now() - started });
        }
        current = null;
        w = startWorker(heapMb, addressSpaceMb);
        attach();
        next();
      });
    };
    const replace = () => {
      const old = w;
      w = startWorker(heapMb, addressSpaceMb);
      if (old.child.pid) try { process.kill(old.child.pid, 'SIGKILL'); } catch { /* gone */ }
      attach();
      next();
    };
    attach();
    next();
  })));
  return results.sort((a, b) => a.index - b.index);
}

/** The worker side: runs cases it is sent, in a private temp folder. */
function worker(): void {
  const dir = workerDir(process.pid);
  fs.mkdirSync(dir, { recursive: true });
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  process.on('exit', cleanup);
  process.on('disconnect', () => process.exit(0));
  process.on('message', async (msg: { seed: number; index: number; exit?: boolean; inject?: 'hang' | 'oom' }) => {
    if (msg.exit) { process.exit(0); }
    if (msg.inject === 'hang') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // blocks until killed, burning no CPU
    if (msg.inject === 'oom') { const hog: number[][] = []; for (;;) hog.push(new Array(1e6).fill(hog.length)); }
    const r = await runCase(msg.seed, msg.index, dir).catch((e) => ({
      index: msg.index, seedModel: '?', mutation: '?', detail: '', outcome: 'crash' as Outcome, kind: 'crash',
      message: `the harness failed: ${(e as Error)?.stack ?? e}`, ms: 0,
    }));
    process.send!(r);
  });
}

// ---- summary ----------------------------------------------------------------------------------------------

export function summarizeFuzz(results: FuzzResult[]): string {
  const count = (key: (r: FuzzResult) => string, xs = results) => {
    const m = new Map<string, number>();
    for (const r of xs) m.set(key(r), (m.get(key(r)) ?? 0) + 1);
    return [...m].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  };
  const lines: string[] = [];
  const fails = results.filter((r) => FAILURES.includes(r.outcome));
  lines.push(`fuzz: ${results.length} cases, ${fails.length} failures (crash, unclear error, non-finite relevance, hang, died)`);
  lines.push('');
  lines.push('| outcome | cases |');
  lines.push('| --- | ---: |');
  for (const [k, n] of count((r) => r.outcome)) lines.push(`| ${k} | ${n} |`);
  lines.push('');
  lines.push('| mutation | cases | explained | clear error | failures |');
  lines.push('| --- | ---: | ---: | ---: | ---: |');
  for (const [k, n] of count((r) => r.mutation)) {
    const xs = results.filter((r) => r.mutation === k);
    lines.push(`| ${k} | ${n} | ${xs.filter((r) => r.outcome === 'explained').length} | ${xs.filter((r) => r.outcome === 'clear-error').length} | ${xs.filter((r) => FAILURES.includes(r.outcome)).length} |`);
  }
  lines.push('');
  lines.push(`clear errors by kind: ${count((r) => r.kind, results.filter((r) => r.outcome === 'clear-error')).map(([k, n]) => `${k} ${n}`).join('; ')}`);
  const slow = [...results].sort((a, b) => b.ms - a.ms)[0];
  if (slow) lines.push(`slowest case: #${slow.index} ${slow.ms} ms (${slow.mutation})`);
  for (const r of fails) lines.push(`FAIL #${r.index} ${r.outcome} [${r.seedModel}; ${r.mutation}: ${r.detail}] ${r.message.split('\n').slice(0, 4).join(' | ')}`);
  return lines.join('\n');
}

// ---- main ---------------------------------------------------------------------------------------------------

async function main(argv: string[]): Promise<number> {
  const arg = (name: string, def: number) => { const i = argv.indexOf(name); return i >= 0 ? Number(argv[i + 1]) : def; };
  const seed = arg('--seed', 1);
  if (argv.includes('--case')) {
    const index = arg('--case', 0);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-fuzz-'));
    try {
      const r = await runCase(seed, index, dir);
      console.log(JSON.stringify(r, null, 1));
      return FAILURES.includes(r.outcome) ? 1 : 0;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const count = arg('--count', 1000);
  const start = arg('--start', 0);
  const t0 = Date.now();
  let done = 0;
  const results = await runFuzz({
    seed, indices: Array.from({ length: count }, (_, i) => start + i), timeoutMs: arg('--timeout', 10000),
    workers: arg('--workers', 2), heapMb: arg('--heap', 1024), addressSpaceMb: arg('--address-space', 4096),
    onResult: (r) => {
      done++;
      if (argv.includes('--verbose') || FAILURES.includes(r.outcome)) console.log(`#${r.index} ${r.outcome} ${r.mutation}: ${r.detail} ${r.message.split('\n')[0].slice(0, 200)}`);
      else if (done % 100 === 0) console.log(`${done}/${count} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    },
  });
  console.log(summarizeFuzz(results));
  console.log(`\nseed ${seed}, ${count} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const jsonAt = argv.indexOf('--json');
  if (jsonAt >= 0) fs.writeFileSync(argv[jsonAt + 1], JSON.stringify(results, null, 1));
  return results.some((r) => FAILURES.includes(r.outcome)) ? 1 : 0;
}

if (require.main === module) {
  if (process.argv.includes(WORKER_FLAG)) worker();
  else main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 1; });
}
