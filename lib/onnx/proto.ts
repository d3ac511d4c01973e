/** The ONNX protobuf schema (onnx-proto, built on protobufjs) and the few helpers its int64 fields need. */
import { onnx } from 'onnx-proto';

export { onnx };

// int64 fields decode exactly (as Longs) only when onnx-proto's protobufjs 6 finds the `long` package, which it
// require()s from @protobufjs/inquire's folder: package.json depends on `long` so that npm hoists one there.
// spec/onnx/load.spec.ts reads 2^53 + 1 back.

/** An int64 protobuf field (a Long or a number) as a JS number. */
export function int(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && 'low' in v && 'high' in v) {
    const l = v as { low: number; high: number; unsigned?: boolean; toNumber?: () => number };
    if (typeof l.toNumber === 'function') return l.toNumber();
    return l.high * 4294967296 + (l.low >>> 0);
  }
  if (v === undefined || v === null) return 0;
  return Number(v);
}

/** An int64 protobuf field as a BigInt (exact). */
export function bigint(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(v);
  if (v && typeof v === 'object' && 'low' in v && 'high' in v) {
    const l = v as { low: number; high: number; unsigned?: boolean };
    const lo = BigInt(l.low >>> 0);
    const hi = l.unsigned ? BigInt(l.high >>> 0) : BigInt(l.high | 0);
    return (hi << 32n) | lo;
  }
  return 0n;
}
