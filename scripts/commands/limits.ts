/** --max-file-size, --max-pixels, --max-input-elements: the read limits of explain, audit and evaluate. */
import { UsageError, Values } from './common';

export const LIMIT_FLAGS = {
  'max-file-size': { type: 'string' }, 'max-pixels': { type: 'string' }, 'max-input-elements': { type: 'string' },
} as const;

export const LIMIT_USAGE = `limits (hostile or huge files are refused with a message, never read unbounded):
  --max-file-size N      largest model, input or JSON file read, in bytes; K/M/G suffixes are binary
                         (default 2G; JSON files at most 256M); only regular files are read
  --max-pixels N         largest image decoded, width × height from its header; K/M/G suffixes are decimal
                         (default 100M)
  --max-input-elements N largest model input tensor (default 64Mi = 67108864: e.g. [1,3,4729,4729])`;

/** A positive count with an optional K/M/G/T suffix (×1024ⁿ when `binary`, else ×1000ⁿ; 'Ki', 'Mi' … are binary). */
export function parseCount(v: string | undefined, flag: string, binary: boolean): number | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(i)?b?)?\s*$/i.exec(v);
  if (!m) throw new UsageError(`${flag} expects a positive number, optionally with a K, M or G suffix, got '${v}'`);
  const power = m[2] ? 'kmgt'.indexOf(m[2].toLowerCase()) + 1 : 0;
  const n = Math.round(Number(m[1]) * (binary || m[3] ? 1024 : 1000) ** power);
  if (!(n >= 1)) throw new UsageError(`${flag} expects a positive number, got '${v}'`);
  return n;
}

export interface Limits {
  maxFileSize?: number;
  maxPixels?: number;
  maxInputElements?: number;
}

export function parseLimits(v: Values): Limits {
  return {
    maxFileSize: parseCount(v['max-file-size'] as string | undefined, '--max-file-size', true),
    maxPixels: parseCount(v['max-pixels'] as string | undefined, '--max-pixels', false),
    maxInputElements: parseCount(v['max-input-elements'] as string | undefined, '--max-input-elements', false),
  };
}

