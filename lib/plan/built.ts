/** Each plan entry's rule, built once: the propagation core and the onnxruntime engine read the built rule's
 * kind and properties, never its name. Cached per entry object (rebuilt if the entry's rule or parameters
 * were replaced). */
import { BuiltRule, buildRule } from '../rules';
import { familyOf } from './family';
import { PlanEntry } from './plan';

export { familyOf };

const cache = new WeakMap<PlanEntry, { rule: string; params: unknown; built: BuiltRule }>();

/** The built rule of a plan entry (built on first use, then reused by every explanation with this plan). */
export function builtRule(entry: PlanEntry): BuiltRule {
  const hit = cache.get(entry);
  if (hit && hit.rule === entry.rule && hit.params === entry.params) return hit.built;
  const family = familyOf(entry.category, entry.rule);
  if (!family) throw new Error(`node '${entry.node}' (${entry.op}): no relevance treatment for category ${entry.category}`);
  const built = buildRule(entry.rule, entry.params, family, entry.op, `node '${entry.node}'`);
  cache.set(entry, { rule: entry.rule, params: entry.params, built });
  return built;
}
