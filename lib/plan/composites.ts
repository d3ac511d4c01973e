/** Composites: named rule maps (RULES.md), as data. A composite says which rule each category of node gets,
 * and which rule the first linear layer gets. */
import { NodeRuleName, RuleParams } from '../rules';

export type NodeRule = NodeRuleName;

export interface RuleChoice {
  rule: NodeRule;
  params?: RuleParams;
}

export interface CompositeOptions {
  epsilon?: number;
  gamma?: number;
  alpha?: number;
  beta?: number;
  low?: number | number[];
  high?: number | number[];
  zeroBias?: boolean;
  /** stabiliser of the norm rule on sums and average pools (default 1e-6) */
  normEpsilon?: number;
  /** beta_smooth: β of the ReLU's smooth gradient sigmoid(β·x) (default 10, as Zennit's `beta_smooth`) */
  betaSmooth?: number;
}

export interface Composite {
  name: string;
  description: string;
  /** gradient-type composites route every node like the gradient; `times input` multiplies at the end */
  mode: 'lrp' | 'gradient' | 'gradient_x_input';
  conv?: (o: CompositeOptions) => RuleChoice;
  dense?: (o: CompositeOptions) => RuleChoice;
  first?: { kinds: ('conv' | 'dense')[]; choice: (o: CompositeOptions) => RuleChoice };
  /** activation rule for gradient-type composites */
  activation?: NodeRule;
  /** its parameters */
  activationParams?: (o: CompositeOptions) => RuleParams;
}

const bias = (o: CompositeOptions) => (o.zeroBias ? { zeroBias: true } : {});
const eps = (o: CompositeOptions, def = 1e-6): RuleChoice => ({ rule: 'epsilon', params: { epsilon: o.epsilon ?? def, ...bias(o) } });
const zPlus = (o: CompositeOptions): RuleChoice => ({ rule: 'zPlus', params: { ...bias(o) } });
const ab = (o: CompositeOptions): RuleChoice => ({ rule: 'alphaBeta', params: { alpha: o.alpha ?? 2, beta: o.beta ?? 1, ...bias(o) } });
const flat = (): RuleChoice => ({ rule: 'flat' });
const box = (o: CompositeOptions): RuleChoice => {
  if (o.low === undefined || o.high === undefined) {
    throw new Error('composite epsilon_gamma_box needs the input bounds low and high (the normalised input range; --low/--high, or from the model metadata)');
  }
  return { rule: 'zBox', params: { low: o.low, high: o.high } };   // zBox has no bias (b − b⁺ − b⁻ = 0)
};

export const COMPOSITES: Readonly<Record<string, Composite>> = {
  epsilon: { name: 'epsilon', description: 'epsilon on every linear layer', mode: 'lrp', conv: (o) => eps(o), dense: (o) => eps(o) },
  epsilon_plus: { name: 'epsilon_plus', description: 'zPlus on convolutions, epsilon on dense layers', mode: 'lrp', conv: zPlus, dense: (o) => eps(o) },
  epsilon_plus_flat: {
    name: 'epsilon_plus_flat', description: 'epsilon_plus, flat on the first linear layer', mode: 'lrp',
    conv: zPlus, dense: (o) => eps(o), first: { kinds: ['conv', 'dense'], choice: flat },
  },
  epsilon_alpha2_beta1: { name: 'epsilon_alpha2_beta1', description: 'alphaBeta(2,1) on convolutions, epsilon on dense layers', mode: 'lrp', conv: ab, dense: (o) => eps(o) },
  epsilon_alpha2_beta1_flat: {
    name: 'epsilon_alpha2_beta1_flat', description: 'epsilon_alpha2_beta1, flat on the first linear layer', mode: 'lrp',
    conv: ab, dense: (o) => eps(o), first: { kinds: ['conv', 'dense'], choice: flat },
  },
  epsilon_gamma_box: {
    name: 'epsilon_gamma_box', description: 'gamma on convolutions, epsilon on dense layers, zBox on the first convolution', mode: 'lrp',
    conv: (o) => ({ rule: 'gamma', params: { gamma: o.gamma ?? 0.25, ...bias(o) } }), dense: (o) => eps(o),
    first: { kinds: ['conv'], choice: box },
  },
  excitation_backprop: {
    name: 'excitation_backprop', description: 'zPlus on every linear layer (excitation backprop, as Zennit\'s composite)', mode: 'lrp',
    conv: zPlus, dense: zPlus,
  },
  sequential_preset_a: {
    name: 'sequential_preset_a', description: 'iNNvestigate preset A: alphaBeta(1,0) on convolutions, epsilon(0.1) on dense layers', mode: 'lrp',
    conv: (o) => ({ rule: 'zPlus', params: { ...bias(o) } }), dense: (o) => eps(o, 0.1),
  },
  sequential_preset_b: {
    name: 'sequential_preset_b', description: 'iNNvestigate preset B: alphaBeta(2,1) on convolutions, epsilon(0.1) on dense layers', mode: 'lrp',
    conv: (o) => ({ rule: 'alphaBeta', params: { alpha: 2, beta: 1, ...bias(o) } }), dense: (o) => eps(o, 0.1),
  },
  gradient: { name: 'gradient', description: 'the gradient of the target output (saliency), through the same engine', mode: 'gradient', activation: 'gradient' },
  gradient_x_input: { name: 'gradient_x_input', description: 'gradient × input', mode: 'gradient_x_input', activation: 'gradient' },
  guided_backprop: { name: 'guided_backprop', description: 'guided backpropagation (ReLU passes positive gradients where the input was positive)', mode: 'gradient', activation: 'guided' },
  deconvnet: { name: 'deconvnet', description: 'deconvnet (ReLU applied to the backward signal)', mode: 'gradient', activation: 'deconvnet' },
  beta_smooth: {
    name: 'beta_smooth', description: 'the gradient with every ReLU\'s derivative replaced by sigmoid(β·x) (Dombrowski et al. 2019; Zennit\'s beta_smooth, β = 10)',
    mode: 'gradient', activation: 'betaSmooth', activationParams: (o) => {
      const b = o.betaSmooth ?? 10;
      if (typeof b !== 'number' || !Number.isFinite(b)) throw new Error(`composite beta_smooth: betaSmooth must be a finite number, got ${JSON.stringify(b)}`);
      return { betaSmooth: b };
    },
  },
};

export const COMPOSITE_NAMES = Object.keys(COMPOSITES);

/** The composite used when none is asked for: by the plan (`buildPlan`), explain, audit, inspect and evaluate
 * (the one place this default is decided; re-exported from lib/methods/run.ts and lib/index.ts). */
export const DEFAULT_COMPOSITE = 'epsilon_plus_flat';

export function getComposite(name: string): Composite {
  const c = COMPOSITES[name];
  if (!c) throw new Error(`unknown composite '${name}'; known composites: ${COMPOSITE_NAMES.join(', ')}`);
  return c;
}
