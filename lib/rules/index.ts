/** The rule table: names → factories with their parameters. */
import { LinearRule, RuleParams, alphaBeta, epsilon, flat, gamma, gradient, norm, pass, wSquare, zBox, zPlus, zero } from './linear';

export type RuleName = 'epsilon' | 'zero' | 'zPlus' | 'alphaBeta' | 'gamma' | 'zBox' | 'flat' | 'wSquare' | 'pass' | 'norm' | 'gradient';

export const RULES: Readonly<Record<RuleName, { params: (keyof RuleParams)[]; create: (p: RuleParams) => LinearRule }>> = {
  epsilon: { params: ['epsilon', 'zeroBias'], create: (p) => epsilon(p) },
  zero: { params: ['zeroBias'], create: (p) => zero(p) },
  zPlus: { params: ['epsilon', 'zeroBias'], create: (p) => zPlus(p) },
  alphaBeta: { params: ['alpha', 'beta', 'epsilon', 'zeroBias'], create: (p) => alphaBeta(p) },
  gamma: { params: ['gamma', 'epsilon', 'zeroBias'], create: (p) => gamma(p) },
  zBox: { params: ['low', 'high', 'epsilon'], create: (p) => zBox(p) },
  flat: { params: ['epsilon'], create: (p) => flat(p) },
  wSquare: { params: ['epsilon', 'zeroBias'], create: (p) => wSquare(p) },
  pass: { params: [], create: () => pass() },
  norm: { params: ['epsilon', 'zeroBias'], create: (p) => norm(p) },
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

export * from './linear';
