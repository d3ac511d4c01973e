/** Each plan entry's rule, built once: the propagation core and the onnxruntime engine read the built rule's
 * kind and properties, never its name. Cached per entry object (rebuilt if the entry's rule or parameters
 * were replaced). */
import { Category, LINEAR_CATEGORIES } from '../ops/op';
import { BuiltRule, OpFamily, buildRule } from '../rules';
import { PlanEntry } from './plan';

const FAMILY: Partial<Record<Category, OpFamily>> = {
  activation: 'elementwise', affine: 'elementwise', gate: 'gate', maxpool: 'routing', routing: 'routing',
};

export function familyOf(category: Category): OpFamily | undefined {
  return (LINEAR_CATEGORIES as readonly Category[]).includes(category) ? 'linear' : FAMILY[category];
}

const cache = new WeakMap<PlanEntry, { rule: string; params: unknown; built: BuiltRule }>();

/** The built rule of a plan entry (built on first use, then reused by every explanation with this plan). */
export function builtRule(entry: PlanEntry): BuiltRule {
  const hit = cache.get(entry);
  if (hit && hit.rule === entry.rule && hit.params === entry.params) return hit.built;
  const family = familyOf(entry.category);
  if (!family) throw new Error(`node '${entry.node}' (${entry.op}): no relevance treatment for category ${entry.category}`);
  const built = buildRule(entry.rule, entry.params, family, entry.op, `node '${entry.node}'`);
  cache.set(entry, { rule: entry.rule, params: entry.params, built });
  return built;
}
