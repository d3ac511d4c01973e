/** Shared CLI plumbing: argument parsing errors, exit codes, number lists. */
import { parseArgs, ParseArgsConfig } from 'util';

/** exit code 2: the command line is wrong; exit code 1: the model, input or run failed. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function runMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (e: Error) => {
      console.error(`onnx-lrp: ${e.message}`);
      if (process.env.ONNX_LRP_DEBUG) console.error(e.stack);
      process.exit(e instanceof UsageError ? 2 : 1);
    },
  );
}

export type Values = Record<string, string | boolean | undefined>;

export function parse(argv: string[], options: ParseArgsConfig['options'], usage: string): { values: Values; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    if (r.values.help) {
      console.log(usage);
      process.exit(0);
    }
    return { values: r.values as Values, positionals: r.positionals };
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${usage}`);
  }
}

export function number(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`${flag} expects a number, got '${v}'`);
  return n;
}

/** A number or a comma-separated list (one per channel). */
export function numbers(v: string | undefined, flag: string): number | number[] | undefined {
  if (v === undefined) return undefined;
  const parts = v.split(',').map((s) => s.trim());
  const ns = parts.map((p) => Number(p));
  if (!parts.length || ns.some((n, i) => !Number.isFinite(n) || parts[i] === '')) throw new UsageError(`${flag} expects a number or a comma-separated list, got '${v}'`);
  return ns.length === 1 ? ns[0] : ns;
}

export function integerList(v: string | undefined, flag: string): number | number[] | undefined {
  const r = numbers(v, flag);
  if (r === undefined) return undefined;
  for (const n of Array.isArray(r) ? r : [r]) if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} expects class indices (integers ≥ 0), got '${v}'`);
  return r;
}
