/** `onnx-lrp inspect MODEL [--composite NAME]`: IR summary, unsupported ops (before any run), canonizer
 * actions, the rule plan, and the engines (one explanation of a synthetic input: inspect-engines.ts). */
import { COMPOSITE_NAMES, CompositeOptions, buildPlan, defaultBounds, defaultComposite, canonize, loadModelFile, openModel, readMetadata, unsupportedNodes } from '../../lib';
import { UsageError, parse } from './common';
import { EngineReport, engineLines, engineReport, probeInputs } from './inspect-engines';

const USAGE = `usage: onnx-lrp inspect MODEL [--composite NAME] [--json] [--no-engines]

Shows the model's inputs and outputs, an op histogram, every node onnx-lrp cannot handle, what the
canonizers rewrote (alike actions, such as removed Identity nodes, on one line; --json lists each), the
rule plan (node → rule) for a composite (default: the model's own, attnlrp for a transformer, else
epsilon_plus_flat; the reason is printed), and the engines: the one --engine auto picks for that plan and
every node that runs on the reference kernels (TypeScript) rather than onnxruntime, with the reason (found
by explaining one synthetic input; --no-engines skips it).`;

/** Canonizer actions that differ only in the names they quote are printed as one line above this many. */
const GROUP = 3;

/** Actions alike but for the one name they quote ("removed Identity 'a'", "removed Identity 'b'", …) become one
 * line: "removed Identity ×16: 'a', 'b', 'c', … (13 more)"; the others (those naming two nodes, such as a merge)
 * are kept as they are, in order. */
export function summariseActions(actions: string[]): string[] {
  const groups = new Map<string, string[]>();
  for (const a of actions) {
    const key = a.replace(/'[^']*'/g, "'…'");
    groups.set(key, [...(groups.get(key) ?? []), a]);
  }
  const out: string[] = [];
  for (const [key, list] of groups) {
    if (list.length <= GROUP || key.split("'…'").length !== 2) { out.push(...list); continue; } // one quoted name only
    const names = list.map((a) => /'[^']*'/.exec(a)?.[0] ?? '');
    const head = key.slice(0, key.indexOf("'…'")).trimEnd();
    const tail = key.slice(key.indexOf("'…'") + 3).replace(/'…'/g, '…');
    out.push(`${head}${tail} ×${list.length}: ${names.slice(0, 3).join(', ')}, … (${list.length - 3} more)`);
  }
  return out;
}

const dims = (d: readonly unknown[] | null) => (d ? `[${d.map((x) => x ?? '?').join(', ')}]` : '[?]');

export async function inspectCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parse(argv, { composite: { type: 'string' }, json: { type: 'boolean' }, 'no-engines': { type: 'boolean' } }, USAGE);
  const [file] = positionals;
  if (!file) throw new UsageError('missing MODEL');
  let composite = v.composite as string | undefined;
  if (composite !== undefined && !COMPOSITE_NAMES.includes(composite)) throw new UsageError(`unknown composite '${composite}'; known composites: ${COMPOSITE_NAMES.join(', ')}`);
  let compositeReason: string | undefined;
  const model = loadModelFile(file);
  let unsupported = unsupportedNodes(model.graph);
  const hist = new Map<string, number>();
  for (const n of model.graph.nodes) hist.set(n.opType, (hist.get(n.opType) ?? 0) + 1);
  let canon: ReturnType<typeof canonize> | null = null;
  let planError: string | null = null;
  let plan = null;
  try {
    canon = canonize(model.graph);
    unsupported = unsupportedNodes(canon.graph); // judged after constant folding (weights behind a Reshape become constants)
    if (composite === undefined) ({ composite, reason: compositeReason } = defaultComposite(canon.graph));
    const b = defaultBounds(readMetadata(file));
    const options: CompositeOptions = b ? { low: b.low, high: b.high } : { low: -1e9, high: 1e9 };
    if (!b && composite === 'epsilon_gamma_box') planError = 'no bounds in metadata: pass --low/--high when explaining (the plan below uses placeholders)';
    if (!unsupported.length) plan = buildPlan(canon.graph, { composite, options });
  } catch (e) {
    planError = (e as Error).message;
  }
  let engines: EngineReport | { skipped: string } | null = null;
  if (plan && !v['no-engines']) engines = await probeEngines(file, plan);
  const g = model.graph;
  if (v.json) {
    console.log(JSON.stringify({
      file, irVersion: model.irVersion, producer: model.producer, opsets: g.opsets,
      inputs: g.inputs, outputs: g.outputs, nodes: g.nodes.length, initializers: g.constants.size,
      ops: Object.fromEntries(hist), unsupported: unsupported.map((u) => ({ node: u.node.name, op: u.node.opType, domain: u.node.domain, reason: u.reason })),
      canonizer: canon?.actions ?? [], composite: composite ?? null, ...(compositeReason ? { compositeReason } : {}), plan: plan?.entries ?? null, planError, engines,
    }, null, 2));
  } else {
    console.log(`${file}`);
    console.log(`  producer ${model.producer || '?'}, IR version ${model.irVersion}, opsets ${Object.entries(g.opsets).map(([d, n]) => `${d || 'ai.onnx'}:${n}`).join(' ')}`);
    console.log(`  ${g.nodes.length} nodes, ${g.constants.size} initializers`);
    for (const i of g.inputs) console.log(`  input  ${i.name} ${i.dtype} ${dims(i.dims)}`);
    for (const o of g.outputs) console.log(`  output ${o.name} ${o.dtype} ${dims(o.dims)}`);
    console.log(`\nops: ${[...hist].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}×${n}`).join(', ')}`);
    console.log(`\nunsupported: ${unsupported.length ? '' : 'none'}`);
    for (const u of unsupported) console.log(`  ${u.reason}`);
    if (canon) {
      console.log(`\ncanonizers: ${canon.actions.length ? '' : 'nothing to rewrite'}`);
      for (const a of summariseActions(canon.actions)) console.log(`  ${a}`);
    }
    if (plan) {
      console.log(`\nrule plan (${composite}${compositeReason ? `: ${compositeReason}` : ''}):`);
      const w = Math.max(...plan.entries.map((e) => e.node.length), 4);
      for (const e of plan.entries) {
        const p = Object.entries(e.params).filter(([, x]) => x !== false && x !== undefined).map(([k, x]) => `${k}=${JSON.stringify(x)}`).join(' ');
        console.log(`  ${e.node.padEnd(w)}  ${e.op.padEnd(18)} ${e.category.padEnd(10)} ${e.rule}${p ? ` (${p})` : ''}${e.first ? '  [first layer]' : ''}`);
      }
    }
    if (planError) console.log(`\nplan: ${planError}`);
    if (engines && 'skipped' in engines) console.log(`\nengines: not probed (${engines.skipped})`);
    else if (engines && plan) for (const [k, line] of engineLines(engines, plan.entries.length).entries()) console.log(k ? line : `\n${line}`);
  }
  if (unsupported.length) throw new Error(`${file}: ${unsupported.length} node(s) cannot be explained (listed above)`);
}

/** The engine report, or why there is none (symbolic input dims, an input type with no synthetic value, a run
 * that failed: inspect still shows everything else). */
async function probeEngines(file: string, plan: NonNullable<ReturnType<typeof buildPlan>>): Promise<EngineReport | { skipped: string }> {
  const explainer = openModel(file);
  try {
    const feeds = probeInputs(explainer.graph.inputs);
    if (typeof feeds === 'string') return { skipped: feeds };
    return await engineReport(explainer, plan, feeds);
  } catch (e) {
    return { skipped: `the synthetic explanation failed: ${(e as Error).message}` };
  } finally {
    await explainer.release();
  }
}
