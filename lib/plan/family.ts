/** Which family of rule forms a node takes, from its category and the rule given to it. */
import { Category, LINEAR_CATEGORIES } from '../ops/op';
import { OpFamily, isRuleName } from '../rules';

const FAMILY: Partial<Record<Category, OpFamily>> = {
  activation: 'elementwise', affine: 'elementwise', gate: 'gate', maxpool: 'routing', routing: 'routing',
  attention: 'bilinear', softmax: 'softmax', embedding: 'embedding',
};

/** A layer norm is linear (σ held constant) except under the gradient (its true vector-Jacobian product); an
 * Add of a constant is elementwise except under a linear rule other than pass/gradient (epsilon: the constant
 * is the bias and takes its share). */
export function familyOf(category: Category, rule?: string): OpFamily | undefined {
  if (category === 'layernorm') return rule === 'gradient' ? 'routing' : 'linear';
  if (category === 'affine' && rule !== undefined && isRuleName(rule) && rule !== 'pass' && rule !== 'gradient') return 'linear';
  return (LINEAR_CATEGORIES as readonly Category[]).includes(category) ? 'linear' : FAMILY[category];
}
