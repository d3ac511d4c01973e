/** The import rules of docs/ARCHITECTURE.md, read from the sources (lib/**, scripts/**, spec/**, examples/**):
 * lib/'s folders and files form no cycle, each folder (or top-level file) of lib/ imports only the layers below
 * it, and onnxruntime-node is imported only by the modules that run it. */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';
import { ROOT } from './helpers/paths';

/** lib/'s units (a folder, or a file at lib/'s top), bottom layer first: a unit may import only units of a lower
 * layer. A new folder or top-level file goes here and into docs/ARCHITECTURE.md. */
const LAYERS: string[][] = [
  ['tensor.ts', 'random.ts', 'safe-read.ts', 'metadata.ts'],
  ['ir', 'kernels', 'forward', 'io'],
  ['ops', 'rules', 'render'],
  ['onnx', 'plan', 'canonize'],
  ['warnings.ts', 'propagate'],
  ['explain'],
  ['methods'],
  ['evaluate', 'node-io.ts'],
  ['audit'],
  ['index.ts'],
];

/** The only files that may import onnxruntime-node: the forward backend (which the onnxruntime engine of
 * propagate/engine/ort runs through) and the scripts and spec that time or check onnxruntime itself. */
const RUNTIME = 'onnxruntime-node';
const RUNTIME_IMPORTERS = ['lib/forward/ort.ts', 'scripts/bench.ts', 'scripts/accuracy.ts', 'spec/e2e/models.spec.ts'];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) { if (e.name !== 'node_modules' && e.name !== 'fixtures') out.push(...sources(rel)); }
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** Module specifiers a file imports (import, export … from, import type, require, import()); comments ignored. */
function specifiers(file: string): string[] {
  const info = ts.preProcessFile(fs.readFileSync(path.join(ROOT, file), 'utf8'), true, true);
  return info.importedFiles.map((f) => f.fileName);
}

/** A relative specifier of `file` as a file (root-relative, '/'-separated), or null when it names no .ts file. */
function resolve(file: string, spec: string): string | null {
  const base = path.posix.join(path.posix.dirname(file), spec);
  for (const c of [`${base}.ts`, `${base}/index.ts`]) if (fs.existsSync(path.join(ROOT, c))) return c;
  return null;
}

/** lib/a/b.ts → 'a'; lib/x.ts → 'x.ts'. */
function unitOf(libFile: string): string {
  return libFile.split('/')[1];
}

interface Edge { from: string; to: string; file: string; target: string }

/** Every import of a lib/ file by a lib/ file. Throws on a relative import that names no file. */
function libEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const file of sources('lib')) {
    for (const spec of specifiers(file)) {
      if (!spec.startsWith('.')) continue;
      const target = resolve(file, spec);
      if (!target) throw new Error(`${file}: import '${spec}' names no .ts file`);
      if (!target.startsWith('lib/')) throw new Error(`${file}: import '${spec}' leaves lib/`);
      const [from, to] = [unitOf(file), unitOf(target)];
      edges.push({ from, to, file, target });
    }
  }
  return edges;
}

/** Every cycle's units, as strongly connected components of more than one unit (Tarjan). */
function cycles(edges: readonly { from: string; to: string }[]): string[][] {
  const next = new Map<string, Set<string>>();
  for (const e of edges) {
    if (!next.has(e.from)) next.set(e.from, new Set());
    if (!next.has(e.to)) next.set(e.to, new Set());
    next.get(e.from)!.add(e.to);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of next.get(v)!) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do { w = stack.pop()!; scc.push(w); } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of next.keys()) if (!index.has(v)) visit(v);
  return out;
}

describe('architecture: import rules (docs/ARCHITECTURE.md)', function () {
  let files: Edge[];
  let edges: Edge[];
  before(function () {
    files = libEdges();
    edges = files.filter((e) => e.from !== e.to);
  });

  it('reads the imports of lib/ (known edges are found)', function () {
    expect(sources('lib').length).to.be.greaterThan(50);
    const has = (from: string, to: string) => edges.some((e) => e.from === from && e.to === to);
    expect(has('ops', 'kernels'), 'ops → kernels').to.equal(true);
    expect(has('propagate', 'plan'), 'propagate → plan').to.equal(true);
    expect(has('index.ts', 'explain'), 'index.ts → explain').to.equal(true);
  });

  it('the cycle finder finds cycles', function () {
    expect(cycles([{ from: 'a', to: 'b' }, { from: 'b', to: 'c' }])).to.deep.equal([]);
    expect(cycles([{ from: 'a', to: 'b' }, { from: 'b', to: 'c' }, { from: 'c', to: 'a' }, { from: 'c', to: 'd' }])).to.deep.equal([['a', 'b', 'c']]);
  });

  it('lib/ has no folder cycles', function () {
    const found = cycles(edges).map((scc) => `${scc.join(' ⇄ ')}:\n${edges.filter((e) => scc.includes(e.from) && scc.includes(e.to)).map((e) => `    ${e.file} → ${e.target}`).join('\n')}`);
    expect(found, `folder cycles:\n  ${found.join('\n  ')}`).to.deep.equal([]);
  });

  it('lib/ has no file cycles', function () {
    const found = cycles(files.map((e) => ({ from: e.file, to: e.target }))).map((scc) => scc.join(' ⇄ '));
    expect(found, `file cycles:\n  ${found.join('\n  ')}`).to.deep.equal([]);
  });

  it('each unit of lib/ is in a layer and imports only lower layers', function () {
    const layer = new Map(LAYERS.flatMap((units, i) => units.map((u) => [u, i] as [string, number])));
    const unknown = [...new Set(sources('lib').map(unitOf))].filter((u) => !layer.has(u));
    expect(unknown, 'units missing from LAYERS (spec/architecture.spec.ts) and docs/ARCHITECTURE.md').to.deep.equal([]);
    const upward = edges.filter((e) => layer.get(e.to)! >= layer.get(e.from)!).map((e) => `${e.file} → ${e.target} (${e.from}: layer ${layer.get(e.from)}, ${e.to}: layer ${layer.get(e.to)})`);
    expect(upward, `imports of the same or a higher layer:\n  ${upward.join('\n  ')}`).to.deep.equal([]);
  });

  it(`only ${RUNTIME_IMPORTERS.join(', ')} import ${RUNTIME}`, function () {
    const importers = ['lib', 'scripts', 'spec', 'examples'].flatMap(sources).filter((f) => specifiers(f).includes(RUNTIME)).sort();
    expect(importers).to.deep.equal([...RUNTIME_IMPORTERS].sort());
  });
});
