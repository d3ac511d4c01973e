/** `--target`: class indices or class names, matched against the model's labels. */
import { UsageError } from './errors';
import { closest } from './args';

const norm = (s: string) => s.toLowerCase().replace(/[_\s]+/g, ' ').trim();

/** The class a name stands for: a label equal to it (case, spaces and underscores aside), else a label one of
 * whose comma-separated synonyms equals it ("malamute, malemute, Alaskan malamute"), else the only label
 * containing it. Ambiguous and unknown names are usage errors listing the candidates. */
export function classByName(name: string, labels: readonly string[], flag = '--target'): number {
  const n = norm(name);
  const exact = labels.flatMap((l, k) => (norm(l) === n ? [k] : []));
  if (exact.length === 1) return exact[0];
  const synonym = labels.flatMap((l, k) => (l.split(',').some((s) => norm(s) === n) ? [k] : []));
  if (synonym.length === 1) return synonym[0];
  const within = exact.length ? exact : synonym.length ? synonym : labels.flatMap((l, k) => (norm(l).includes(n) ? [k] : []));
  if (within.length === 1) return within[0];
  const show = (ks: number[]) => ks.slice(0, 8).map((k) => `${k} (${labels[k]})`).join(', ') + (ks.length > 8 ? `, … ${ks.length - 8} more` : '');
  if (within.length > 1) throw new UsageError(`${flag} '${name}' is ambiguous: it matches ${show(within)}; give the index or a full name`);
  const names = labels.flatMap((l) => [l, ...l.split(',').map((s) => s.trim())]);
  const near = [...new Set(closest(name, names, 5))];
  const ks = near.map((s) => labels.findIndex((l) => l === s || l.split(',').some((x) => x.trim() === s)));
  throw new UsageError(`${flag} '${name}' is not a class of this model${ks.length ? `; close matches: ${show([...new Set(ks)])}` : ` (${labels.length} classes; see the labels)`}`);
}

/** Class indices (integers ≥ 0) or names, comma-separated; names need `labels`. One value or a list. */
export function parseTargets(v: string | undefined, labels: readonly string[] | undefined, flag = '--target'): number | number[] | undefined {
  if (v === undefined) return undefined;
  const parts = v.split(',').map((s) => s.trim());
  if (!parts.length || parts.some((p) => p === '')) throw new UsageError(`${flag} expects class indices or names, comma-separated, got '${v}'`);
  // a single name may itself contain commas ("malamute, malemute"): try the whole value as a label first
  if (labels && parts.length > 1 && !parts.every((p) => /^-?\d+$/.test(p))) {
    const whole = labels.findIndex((l) => norm(l) === norm(v));
    if (whole >= 0) return whole;
  }
  const ks = parts.map((p) => {
    if (/^[-+]?\d+(\.\d*)?(e[-+]?\d+)?$/i.test(p)) {
      const k = Number(p);
      if (!Number.isInteger(k) || k < 0) throw new UsageError(`${flag} expects class indices (integers ≥ 0) or class names, got '${p}'`);
      return k;
    }
    if (!labels?.length) throw new UsageError(`${flag} '${p}' is a class name, but the model has no labels (give --labels FILE.json or a metadata JSON with "labels")`);
    return classByName(p, labels, flag);
  });
  return ks.length === 1 ? ks[0] : ks;
}
