/** Command-line argument helpers around node's parseArgs: negative numbers as option values, one-line
 * parse errors, and "did you mean" suggestions. */
import { ParseArgsConfig } from 'util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** A value that parses as a number or a comma-separated list of numbers (`-1.5`, `-3,-2.5,1e-3`). */
export function isNumeric(s: string): boolean {
  const parts = s.split(',');
  return parts.every((p) => p.trim() !== '' && Number.isFinite(Number(p)));
}

/** `--low -1.5` → `--low=-1.5` when `--low` takes a value and the next word parses as a number (as Python's
 * argparse accepts it); parseArgs alone refuses a value starting with '-' as ambiguous. Words after `--` are
 * left alone. */
export function joinNegativeValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { out.push(...argv.slice(i)); break; }
    const next = argv[i + 1];
    const long = /^--([^=]+)$/.exec(a)?.[1];
    const short = /^-([A-Za-z])$/.exec(a)?.[1];
    const name = long ?? (short ? Object.keys(options).find((k) => options[k].short === short) : undefined);
    if (name && options[name]?.type === 'string' && next !== undefined && next.startsWith('-') && isNumeric(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

/** Edit distance (Levenshtein), for suggestions. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** Up to `n` candidates closest to `name` (within a distance of about a third of its length). */
export function closest(name: string, candidates: readonly string[], n = 3): string[] {
  const limit = Math.max(2, Math.ceil(name.length / 3));
  return candidates
    .map((c) => ({ c, d: editDistance(name.toLowerCase(), c.toLowerCase()) }))
    .filter((x) => x.d <= limit)
    .sort((a, b) => a.d - b.d)
    .slice(0, n)
    .map((x) => x.c);
}

/** parseArgs' error as one line, naming the option, with a suggestion for an unknown option. */
export function parseErrorMessage(e: Error, options: Options): string {
  const first = e.message.split('\n')[0].replace(/\. To specify a positional argument.*$/, '.');
  const unknown = /^Unknown option '--([^'=]+)'/.exec(first)?.[1];
  if (unknown) {
    const near = closest(unknown, Object.keys(options));
    return `unknown option '--${unknown}'${near.length ? ` (did you mean ${near.map((x) => `--${x}`).join(', ')}?)` : ''}`;
  }
  const ambiguous = /^Option '(-[^']+)' argument is ambiguous/.exec(first)?.[1];
  if (ambiguous) return `option '${ambiguous}' needs a value; a value starting with '-' that is not a number must be written ${ambiguous}=VALUE`;
  const missing = /^Option '(-[^' ]+)[^']*' argument missing/.exec(first)?.[1];
  if (missing) return `option '${missing}' needs a value`;
  return first;
}
