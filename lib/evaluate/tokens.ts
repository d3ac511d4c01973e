/** Token localisation for inputs whose evidence tokens are known (e.g. the synthetic text task, where the label
 * is decided by known evidence tokens among distractors): the share of the positive relevance on the evidence
 * (relevance mass accuracy, Arras et al. 2022, over tokens) and the share of the k most relevant tokens that are
 * evidence, k the number of evidence tokens (relevance rank accuracy, ibid.). Special tokens and padding (`keep`)
 * are left out of both. Browser-safe. */

export interface TokenLocalization {
  /** per sample: Σ max(R, 0) over evidence / Σ max(R, 0) over all counted tokens (NaN without positive relevance) */
  massAccuracy: number[];
  /** per sample: |top-k ∩ evidence| / k, k = |evidence| */
  rankAccuracy: number[];
}

/** `relevance` [N, T] (flat), `evidence` and `ignore` positions per sample. */
export function tokenLocalization(relevance: ArrayLike<number>, N: number, evidence: readonly (readonly number[])[], ignore: readonly (readonly number[])[] = []): TokenLocalization {
  const T = relevance.length / N;
  if (evidence.length !== N) throw new Error(`token localisation: evidence for ${evidence.length} samples, the input has ${N}`);
  const mass: number[] = [], rank: number[] = [];
  for (let s = 0; s < N; s++) {
    const ev = new Set(evidence[s]), skip = new Set(ignore[s] ?? []);
    for (const t of ev) if (!Number.isInteger(t) || t < 0 || t >= T) throw new Error(`token localisation: evidence position ${t} outside the ${T} tokens of sample ${s}`);
    if (!ev.size) throw new Error(`token localisation: sample ${s} has no evidence position`);
    const pos = [...Array(T).keys()].filter((t) => !skip.has(t));
    let inside = 0, all = 0;
    for (const t of pos) { const r = Math.max(0, relevance[s * T + t]); all += r; if (ev.has(t)) inside += r; }
    mass.push(all > 0 ? inside / all : NaN);
    const top = [...pos].sort((a, b) => relevance[s * T + b] - relevance[s * T + a] || a - b).slice(0, ev.size);
    rank.push(top.filter((t) => ev.has(t)).length / ev.size);
  }
  return { massAccuracy: mass, rankAccuracy: rank };
}
