/** The rule table: names → factories with their parameters. */
import { BuiltRule, OpFamily, RuleName, buildNodeRule } from './kinds';
import { LinearRule, RuleParams, alphaBeta, epsilon, flat, gamma, gradient, norm, pass, wSquare, zBox, zPlus, zero } from './linear';


/** A linear rule of the table. The categories each rule applies to are in `NODE_RULES` (./kinds.ts). */
export interface RuleDef {
  /** the parameters the rule takes */
  params: (keyof RuleParams)[];
  /** the global options (CompositeOptions: --epsilon, --gamma, --low/--high, --zero-bias …) it reads, each with
   * the parameter it fills: a rule-map entry naming the rule gets these (`optionParams`, lib/plan/plan.ts) */
  options?: Readonly<Record<string, keyof RuleParams>>;
  /** it assumes every input value lies within its `low`/`high` bounds (the explainer warns about inputs outside) */
  bounded?: true;
  /** its input relevance is the input times something (zero wherever the input is zero), which lets the
   * onnxruntime engine skip exposing some forward values */
  proportional?: true;
  create: (p: RuleParams) => LinearRule;
}

const ZERO_BIAS = { zeroBias: 'zeroBias' } as const;

/** The linear rules. A new rule is one entry here and one in NODE_RULES (./kinds.ts: its categories). */
export const RULES: Readonly<Record<RuleName, RuleDef>> = {
  epsilon: { params: ['epsilon', 'zeroBias'], options: { epsilon: 'epsilon', ...ZERO_BIAS }, proportional: true, create: (p) => epsilon(p) },
  zero: { params: ['zeroBias'], options: ZERO_BIAS, proportional: true, create: (p) => zero(p) },
  zPlus: { params: ['epsilon', 'zeroBias'], options: ZERO_BIAS, proportional: true, create: (p) => zPlus(p) },
  alphaBeta: { params: ['alpha', 'beta', 'epsilon', 'zeroBias'], options: { alpha: 'alpha', beta: 'beta', ...ZERO_BIAS }, proportional: true, create: (p) => alphaBeta(p) },
  gamma: { params: ['gamma', 'epsilon', 'zeroBias'], options: { gamma: 'gamma', ...ZERO_BIAS }, proportional: true, create: (p) => gamma(p) },
  zBox: { params: ['low', 'high', 'epsilon'], options: { low: 'low', high: 'high' }, bounded: true, create: (p) => zBox(p) },
  flat: { params: ['epsilon'], create: (p) => flat(p) },
  wSquare: { params: ['epsilon', 'zeroBias'], options: ZERO_BIAS, create: (p) => wSquare(p) },
  pass: { params: [], create: () => pass() },
  norm: { params: ['epsilon', 'zeroBias'], options: { normEpsilon: 'epsilon', ...ZERO_BIAS }, proportional: true, create: (p) => norm(p) },
  gradient: { params: [], create: () => gradient() },
};

export const RULE_NAMES = Object.keys(RULES) as RuleName[];

export interface RuleSpec {
  rule: RuleName;
  params?: RuleParams;
}

export function isRuleName(n: string): n is RuleName {
  return Object.hasOwn(RULES, n);
}

/** Builds a rule, checking the name and that every parameter is one the rule takes. */
export function createRule(spec: RuleSpec, where = ''): LinearRule {
  const entry = isRuleName(spec.rule) ? RULES[spec.rule] : undefined;
  const at = where ? ` (${where})` : '';
  if (!entry) throw new Error(`unknown rule '${spec.rule}'${at}; known rules: ${RULE_NAMES.join(', ')}`);
  for (const k of Object.keys(spec.params ?? {})) {
    if (!entry.params.includes(k as keyof RuleParams)) {
      throw new Error(`rule ${spec.rule}${at} takes no parameter '${k}' (it takes: ${entry.params.join(', ') || 'none'})`);
    }
  }
  const rule = entry.create(spec.params ?? {});
  const params = Object.fromEntries(Object.entries(rule.params).filter(([k]) => entry.params.includes(k as keyof RuleParams)));
  return { ...rule, params };
}

/** Builds rule `name` for one node (a linear rule when `family` is 'linear'), once per plan (`plan/built.ts`). */
export function buildRule(name: string, params: RuleParams, family: OpFamily, opType: string, where: string): BuiltRule {
  return buildNodeRule(name, params, family, opType, where, (n, p) => ({
    rule: createRule({ rule: n as RuleName, params: p }, where),
    proportional: isRuleName(n) && RULES[n].proportional === true,
  }));
}

export * from './linear';
export * from './kinds';
