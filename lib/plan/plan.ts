/** The rule plan: node → rule with parameters, as data. Built from a composite and an optional user rule map
 * (by op type, by category, by node-name glob, for the first layer; first match wins). */
import { Graph, Node } from '../ir/graph';
import { Category } from '../ops/op';
import { categoryOf } from '../ops/registry';
import { NODE_RULES, RULES, RuleCategory, RuleName, RuleParams, createRule, isNodeRuleName, isRuleName, rulesFor } from '../rules';
import { Composite, CompositeOptions, NodeRule, RuleChoice, getComposite } from './composites';
import { CompositeChoice, chooseComposite } from './default';
import { familyOf } from './family';

export interface PlanEntry {
  node: string;
  op: string;
  category: Category;
  rule: NodeRule;
  params: RuleParams;
  first?: boolean;
  /** where the choice came from: 'composite', 'default', or 'rule-map #k' */
  source: string;
}

export interface RulePlan {
  composite: string;
  /** set when no composite was asked for (neither `composite` nor the rule map's): why the graph got this one
   * (`defaultComposite`) */
  compositeReason?: string;
  mode: 'lrp' | 'gradient' | 'gradient_x_input';
  options: CompositeOptions;
  entries: PlanEntry[];
}

/** A user rule map (the JSON format the README documents). */
export interface RuleMap {
  composite?: string;
  options?: CompositeOptions;
  rules?: RuleMapEntry[];
}

export interface RuleMapEntry {
  op?: string;
  category?: Category;
  name?: string;
  first?: boolean;
  rule: NodeRule;
  params?: RuleParams;
}

export interface PlanOptions {
  composite?: string;
  options?: CompositeOptions;
  ruleMap?: RuleMap;
}

/** The rule table's category names are op categories (a compile-time check: rules cannot import ops). */
const RULE_CATEGORIES_ARE_CATEGORIES: RuleCategory extends Category ? true : never = true;
void RULE_CATEGORIES_ARE_CATEGORIES;

const DEFAULTS: Record<Category, RuleChoice | null> = {
  conv: null, dense: null,
  avgpool: { rule: 'norm' }, sum: { rule: 'norm' },
  activation: { rule: 'pass' }, affine: { rule: 'pass' }, gate: { rule: 'uniform' },
  maxpool: { rule: 'gradient' }, routing: { rule: 'gradient' }, shape: null,
  // transformers under a CNN composite: AttnLRP's rules with the composite's signed stabiliser
  softmax: { rule: 'softmaxTaylor' }, layernorm: { rule: 'epsilon' }, attention: { rule: 'bilinear' }, embedding: { rule: 'tokenSum' },
};

/** The parameters the global options (`options`: --epsilon, --gamma, --low/--high, --zero-bias …) give a
 * rule-map entry's rule, as the composites give them; which option fills which parameter is the rule's own
 * declaration (RULES[rule].options): `epsilon` is the epsilon rule's ε (the other rules' stabilisers keep their
 * default unless the entry sets them, as Zennit's `epsilon` and `stabilizer` differ), `normEpsilon` is norm's ε,
 * `gamma`, `alpha`/`beta` and `low`/`high` go to gamma, alphaBeta and zBox, and `zeroBias` (when set) to every
 * rule with a bias term. The entry's own `params` win over these. */
export function optionParams(rule: RuleName, o: CompositeOptions): RuleParams {
  const p: Record<string, unknown> = {};
  for (const [option, param] of Object.entries(RULES[rule].options ?? {})) {
    const v = (o as Record<string, unknown>)[option];
    if (v !== undefined && v !== false) p[param] = v;
  }
  return p as RuleParams;
}

/** A composite's choice with only the parameters its rule declares (e.g. no zeroBias for flat or zBox, which
 * have no bias term): a global option a rule does not take is not an error there. */
function declaredOnly(choice: RuleChoice | null): RuleChoice | null {
  if (!choice?.params || !isRuleName(choice.rule)) return choice;
  const declared = RULES[choice.rule].params as readonly string[];
  return { ...choice, params: Object.fromEntries(Object.entries(choice.params).filter(([k]) => declared.includes(k))) as RuleParams };
}

export function globToRegExp(glob: string): RegExp {
  const esc = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${esc}$`);
}

/** The rule a composite gives a node of a category when no rule map entry matches and the node is not the
 * composite's first layer; `source` is 'composite' for the composite's own conv/dense choice (and gradient
 * modes), 'default' for the shared base (RULES.md's non-parametric layers). */
export function categoryRule(category: Category, composite: Composite | string, options: CompositeOptions = {}): { choice: RuleChoice | null; source: string } {
  const c = typeof composite === 'string' ? getComposite(composite) : composite;
  if (c.mode !== 'lrp') {
    // gradient × input on token ids: the gradient times the embedding, summed per token
    if (category === 'embedding' && c.mode === 'gradient_x_input') return { choice: { rule: 'tokenDot' }, source: 'composite' };
    if (category !== 'activation' || !c.activation) return { choice: { rule: 'gradient' }, source: 'composite' };
    return { choice: { rule: c.activation, ...(c.activationParams ? { params: c.activationParams(options) } : {}) }, source: 'composite' };
  }
  if (category === 'conv' && c.conv) return { choice: c.conv(options), source: 'composite' };
  if (category === 'dense' && c.dense) return { choice: c.dense(options), source: 'composite' };
  // the composite's own rule for the whole category (entries by op type are for buildPlan)
  const own = c.rules?.(options).find((r) => r.category === category && !r.op);
  if (own) return { choice: { rule: own.rule, ...(own.params ? { params: own.params } : {}) }, source: 'composite' };
  let choice = DEFAULTS[category];
  if (choice?.rule === 'norm' && options.normEpsilon !== undefined) choice = { rule: 'norm', params: { epsilon: options.normEpsilon } };
  return { choice, source: 'default' };
}

/** Nodes that carry relevance: reachable from a graph input without passing through a shape computation. */
export function relevanceNodes(graph: Graph): { node: Node; category: Category }[] {
  const live = new Set(graph.inputs.map((i) => i.name));
  const out: { node: Node; category: Category }[] = [];
  for (const node of graph.nodes) {
    if (!node.inputs.some((i) => live.has(i))) continue;
    const category = categoryOf(node, graph);
    if (category === 'shape') continue;
    out.push({ node, category });
    for (const o of node.outputs) if (o) live.add(o);
  }
  return out;
}

/** The composite `graph` gets when none is asked for, and why (lib/plan/default.ts decides). */
export function defaultComposite(graph: Graph): CompositeChoice {
  return chooseComposite(relevanceNodes(graph).map((n) => n.category));
}

export function buildPlan(graph: Graph, opts: PlanOptions = {}): RulePlan {
  const asked = opts.ruleMap?.composite ?? opts.composite;
  const byDefault = asked === undefined ? defaultComposite(graph) : undefined;
  const name = asked ?? byDefault!.composite;
  const composite = getComposite(name);
  const options: CompositeOptions = { ...(opts.ruleMap?.options ?? {}), ...(opts.options ?? {}) };
  const userRules = (opts.ruleMap?.rules ?? []).map((r, k) => ({ ...r, k, re: r.name ? globToRegExp(r.name) : null }));
  // the composite's own rules by op or category (the transformer composites), after the user's
  const compositeRules = composite.mode === 'lrp' ? (composite.rules?.(options) ?? []).map((r) => ({ ...r, k: -1, re: null, name: undefined, first: false })) : [];
  const nodes = relevanceNodes(graph);
  const linear = nodes.filter((n) => n.category === 'conv' || n.category === 'dense');
  const firstFor = (kinds: string[]) => linear.find((n) => kinds.includes(n.category))?.node.name;
  const compositeFirst = composite.first ? firstFor(composite.first.kinds) : undefined;
  const anyFirst = firstFor(['conv', 'dense']);

  const entries: PlanEntry[] = nodes.map(({ node, category }) => {
    if (category === 'softmax' && node.opType !== 'Softmax') {
      throw new Error(`node '${node.name}' (${node.opType}): a ${node.opType} inside the graph is not supported (only a final one, which is stripped)`);
    }
    const isFirst = node.name === anyFirst;
    let choice: RuleChoice | null = null;
    let source = 'composite';
    for (const r of [...userRules, ...compositeRules]) {
      if (r.op && r.op !== node.opType) continue;
      if (r.category && r.category !== category) continue;
      if (r.re && !r.re.test(node.name)) continue;
      if (r.first && !isFirst) continue;
      choice = { rule: r.rule, params: isRuleName(r.rule) ? { ...optionParams(r.rule, options), ...(r.params ?? {}) } : r.params };
      source = r.k < 0 ? 'composite' : `rule-map #${r.k}`;
      break;
    }
    if (!choice) {
      if (composite.mode === 'lrp' && composite.first && node.name === compositeFirst) {
        choice = declaredOnly(composite.first.choice(options));
      } else {
        ({ choice, source } = categoryRule(category, composite, options));
        choice = declaredOnly(choice);
      }
    }
    if (!choice) throw new Error(`node '${node.name}' (${node.opType}): no rule for category ${category}`);
    const allowed = rulesFor(category);
    if (!(allowed as string[]).includes(choice.rule)) {
      throw new Error(`node '${node.name}' (${node.opType}, ${category}): rule '${choice.rule}' does not apply; use one of ${allowed.join(', ')}`);
    }
    if (category === 'affine' && choice.rule === 'epsilon' && !['Add', 'Sub'].includes(node.opType)) {
      throw new Error(`node '${node.name}' (${node.opType}, affine): rule 'epsilon' applies to an Add or Sub of a constant only; use pass or gradient`);
    }
    let params: RuleParams = choice.params ?? {};
    if (isRuleName(choice.rule) && familyOf(category, choice.rule) === 'linear') {
      params = createRule({ rule: choice.rule, params }, `node '${node.name}'`).params as RuleParams;
    }
    return { node: node.name, op: node.opType, category, rule: choice.rule, params, ...(isFirst ? { first: true } : {}), source };
  });
  return { composite: name, ...(byDefault ? { compositeReason: byDefault.reason } : {}), mode: composite.mode, options, entries };
}

/** Checks a parsed rule-map JSON value and returns it typed; errors name the offending entry. */
export function parseRuleMap(value: unknown, source = 'rule map'): RuleMap {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${source}: expected a JSON object with "rules"`);
  const v = value as Record<string, unknown>;
  for (const k of Object.keys(v)) if (!['composite', 'options', 'rules'].includes(k)) throw new Error(`${source}: unknown key '${k}' (allowed: composite, options, rules)`);
  if (v.composite !== undefined) getComposite(String(v.composite));
  const rules = v.rules ?? [];
  if (!Array.isArray(rules)) throw new Error(`${source}: "rules" must be a list`);
  rules.forEach((r, k) => {
    if (!r || typeof r !== 'object') throw new Error(`${source}: rules[${k}] must be an object`);
    const e = r as Record<string, unknown>;
    for (const key of Object.keys(e)) {
      if (!['op', 'category', 'name', 'first', 'rule', 'params'].includes(key)) throw new Error(`${source}: rules[${k}] has unknown key '${key}'`);
    }
    if (typeof e.rule !== 'string') throw new Error(`${source}: rules[${k}] needs "rule"`);
    if (!isNodeRuleName(e.rule)) {
      throw new Error(`${source}: rules[${k}]: unknown rule '${e.rule}'; known rules: ${Object.keys(NODE_RULES).join(', ')}`);
    }
    if (isRuleName(e.rule)) createRule({ rule: e.rule, params: (e.params ?? {}) as RuleParams }, `${source}: rules[${k}]`);
  });
  return v as RuleMap;
}
