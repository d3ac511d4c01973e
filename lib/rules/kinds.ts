/** Every rule a plan can give a node, with its kind on each family of op. Linear ops (conv, dense, average
 * pools, sums) run a `LinearRule` from `RULES`; element-wise ops (activations, affine maps) run the identity
 * (`pass`) or a backward function on (R, x, derivative, params); gates share relevance out uniformly or route
 * it like the gradient (a vector-Jacobian product), as max pools and routing ops do. The propagation core
 * dispatches on the built rule's kind and never on its name. Knows nothing of ops beyond these families. */
import { LinearRule, RuleParams } from './linear';

/** The linear rules (`RULES`, in `rules/index.ts`); each also applies to linear ops. */
export type RuleName = 'epsilon' | 'zero' | 'zPlus' | 'alphaBeta' | 'gamma' | 'zBox' | 'flat' | 'wSquare' | 'pass' | 'norm' | 'gradient';

export type NodeRuleName = RuleName | 'uniform' | 'guided' | 'deconvnet' | 'betaSmooth';

/** Relevance at an element-wise op's output → at its input: R, the input x, the op's derivative at x (computed
 * on first call), the rule's parameters. */
export type ElementwiseBackward = (R: Float32Array, x: Float32Array, derivative: () => Float32Array, p: RuleParams) => Float32Array;

export interface ElementwiseRule {
  backward: ElementwiseBackward;
  /** the result is zero wherever the op's derivative is (for a Relu: wherever x ≤ 0) */
  zeroWhereDerivativeZero: boolean;
  /** only for these op types; on any other op the rule routes like the gradient */
  onlyOps?: readonly string[];
}

/** The op families a rule may apply to (the plan maps each op category to one). */
export type OpFamily = 'linear' | 'elementwise' | 'gate' | 'routing';

/** The op categories a rule may be given: the names of ops/op.ts's relevance-carrying `Category` values (rules
 * know nothing else of ops; lib/plan/plan.ts checks at compile time that each is a `Category`). */
export type RuleCategory = 'conv' | 'dense' | 'avgpool' | 'sum' | 'activation' | 'affine' | 'gate' | 'maxpool' | 'routing';

/** The linear categories: every linear rule (`RULES`) applies to them. */
export const LINEAR: readonly RuleCategory[] = ['conv', 'dense', 'avgpool', 'sum'];

export interface NodeRuleDef {
  /** the categories of node the plan may give this rule (a rule map naming it elsewhere is an error) */
  categories: readonly RuleCategory[];
  /** on element-wise ops: the identity, or a backward function */
  elementwise?: 'pass' | ElementwiseRule;
  /** on gates (products of live factors) */
  gate?: 'uniform' | 'vjp';
  /** on max pools and routing ops */
  routing?: 'vjp';
}

const gradientBackward: ElementwiseBackward = (R, _x, d) => { const g = d(); return R.map((v, k) => v * g[k]); };

export const GRADIENT_ELEMENTWISE: ElementwiseRule = { backward: gradientBackward, zeroWhereDerivativeZero: true };

/** The rules beyond the linear ones' use on linear ops (every `RuleName` also applies to linear ops, `RULES`). */
export const NODE_RULES: Readonly<Record<NodeRuleName, NodeRuleDef>> = {
  epsilon: { categories: LINEAR }, zero: { categories: LINEAR }, zPlus: { categories: LINEAR }, alphaBeta: { categories: LINEAR },
  gamma: { categories: LINEAR }, zBox: { categories: LINEAR }, flat: { categories: LINEAR }, wSquare: { categories: LINEAR },
  pass: { categories: [...LINEAR, 'activation', 'affine'], elementwise: 'pass' },
  norm: { categories: LINEAR },
  gradient: { categories: [...LINEAR, 'activation', 'affine', 'gate', 'maxpool', 'routing'], elementwise: GRADIENT_ELEMENTWISE, gate: 'vjp', routing: 'vjp' },
  uniform: { categories: ['gate'], gate: 'uniform' },
  // guided backprop: the gradient, then only positive relevance where the input is positive
  guided: { categories: ['activation'], elementwise: { backward: (R, x, d) => gradientBackward(R, x, d, {}).map((v, k) => (v > 0 && x[k] > 0 ? v : 0)), zeroWhereDerivativeZero: true } },
  // deconvnet: the ReLU applied to the relevance instead of the derivative
  deconvnet: { categories: ['activation'], elementwise: { backward: (R) => R.map((v) => (v > 0 ? v : 0)), zeroWhereDerivativeZero: false } },
  // Zennit's ReLUBetaSmooth: the ReLU's derivative replaced by sigmoid(β·x)
  betaSmooth: {
    categories: ['activation'],
    elementwise: {
      backward: (R, x, _d, p) => { const b = p.betaSmooth ?? 10; return R.map((v, k) => v / (1 + Math.exp(-b * x[k]))); },
      zeroWhereDerivativeZero: false,
      onlyOps: ['Relu'],
    },
  },
};

/** A rule built for one node: what the propagation core runs. */
export type BuiltRule =
  | { kind: 'linear'; name: string; rule: LinearRule; /** input relevance = input × something: zero where the input is */ proportional: boolean }
  | { kind: 'pass'; name: string }
  | { kind: 'elementwise'; name: string; rule: ElementwiseRule; params: RuleParams }
  | { kind: 'vjp'; name: string }
  | { kind: 'uniform'; name: string };

export function isNodeRuleName(n: string): n is NodeRuleName {
  return Object.hasOwn(NODE_RULES, n);
}

/** The rules a node of `category` may be given, in table order (none for a category no rule declares). */
export function rulesFor(category: string): NodeRuleName[] {
  return (Object.keys(NODE_RULES) as NodeRuleName[]).filter((n) => (NODE_RULES[n].categories as readonly string[]).includes(category));
}

/** Builds rule `name` for a node of op `opType` in `family`; `linear` builds a linear rule (checking its
 * parameters; see `createRule`). Throws when the rule has no form for the family. */
export function buildNodeRule(name: string, params: RuleParams, family: OpFamily, opType: string, where: string, linear: (name: string, p: RuleParams) => { rule: LinearRule; proportional: boolean }): BuiltRule {
  const def = isNodeRuleName(name) ? NODE_RULES[name] : undefined;
  const none = () => new Error(`${where}: rule '${name}' does not apply to ${family} ops`);
  if (family === 'linear') return { kind: 'linear', name, ...linear(name, params) };
  if (family === 'elementwise') {
    const e = def?.elementwise;
    if (!e) throw none();
    if (e === 'pass') return { kind: 'pass', name };
    const rule = e.onlyOps && !e.onlyOps.includes(opType) ? GRADIENT_ELEMENTWISE : e;
    return { kind: 'elementwise', name, rule, params };
  }
  const k = family === 'gate' ? def?.gate : def?.routing;
  if (!k) throw none();
  return { kind: k, name };
}
