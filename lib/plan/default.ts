/** The composite a graph gets when none is asked for (no composite, no rule map naming one): decided here, from
 * the categories of the nodes on the relevance path, with the reason the user is shown.
 * - a transformer (attention MatMuls, layer norms or softmaxes inside the graph) with at most one convolution
 *   (its patch embedding): `attnlrp`;
 * - a hybrid (such nodes and more than one convolution: a CNN backbone under a transformer): the CNN default
 *   (`DEFAULT_COMPOSITE`): its convolution rules suit the backbone, and the transformer layers get AttnLRP's
 *   rules with a sign-aware stabiliser (the categories a CNN composite leaves out, plan.ts `DEFAULTS`);
 * - everything else (CNNs, MLPs): `DEFAULT_COMPOSITE`. */
import { Category } from '../ops/op';
import { DEFAULT_COMPOSITE } from './composites';

export const TRANSFORMER_COMPOSITE = 'attnlrp';

/** Node categories that make a graph a transformer. */
export const TRANSFORMER_CATEGORIES: readonly Category[] = ['attention', 'layernorm', 'softmax'];

export interface CompositeChoice {
  composite: string;
  /** why, in one line ("default for a transformer: 12 attention, 25 layernorm, 12 softmax nodes, 1 convolution") */
  reason: string;
}

/** The default composite for a graph whose relevance-path nodes have these categories. */
export function chooseComposite(categories: readonly Category[]): CompositeChoice {
  const count = (c: Category) => categories.filter((x) => x === c).length;
  const found = TRANSFORMER_CATEGORIES.map((c) => [c, count(c)] as const).filter(([, n]) => n > 0);
  const convs = count('conv');
  const conv = `${convs} convolution${convs === 1 ? '' : 's'}`;
  if (!found.length) {
    return { composite: DEFAULT_COMPOSITE, reason: `default for a graph without attention, layer norm or softmax nodes (${conv})` };
  }
  const nodes = found.map(([c, n]) => `${n} ${c}`).join(', ');
  if (convs > 1) {
    return { composite: DEFAULT_COMPOSITE, reason: `default for a hybrid (${nodes} nodes and ${conv}): the CNN composite on the convolutions, AttnLRP's rules (sign-aware stabiliser) on the transformer layers` };
  }
  return { composite: TRANSFORMER_COMPOSITE, reason: `default for a transformer (${nodes} nodes, ${conv})` };
}
