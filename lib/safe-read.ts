/** Node-only: the one way onnx-lrp reads a file it is given (models, .npy tensors, images, JSON). Only regular
 * files are read (checked with fstat on the opened descriptor, so after links are resolved), the descriptor is
 * opened non-blocking (a FIFO never blocks), and the size is checked against a limit before any allocation. */
import * as fs from 'fs';

export interface ReadLimits {
  /** largest file read, in bytes (models, .npy, images, JSON). Default DEFAULT_LIMITS.maxFileSize (2 GiB) */
  maxFileSize?: number;
  /** largest image decoded, in pixels (width × height, read from the header first). Default 100 M */
  maxPixels?: number;
}

export const DEFAULT_LIMITS: Required<ReadLimits> = {
  // ONNX models are protobufs, which cannot exceed 2 GiB (larger weights live in external data files)
  maxFileSize: 2 * 1024 ** 3,
  maxPixels: 100_000_000,
};

/** JSON files are read as one string: V8 strings hold at most ~512 M characters, so JSON stays below this. */
export const MAX_JSON_SIZE = 256 * 1024 ** 2;

/** A file that cannot be read, is not a regular file, or is above the size limit. */
export class FileReadError extends Error {
  override name = 'FileReadError';
}

/** Bytes for messages: exact below 10 KiB, else in KiB/MiB/GiB with one decimal when not whole. */
export function formatBytes(n: number): string {
  if (n < 10 * 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0, v = n / 1024;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

export interface ReadOptions {
  /** what the file is, for messages: 'model', 'image', 'tensor', 'metadata JSON' … */
  what?: string;
  /** size limit in bytes (default DEFAULT_LIMITS.maxFileSize) */
  maxBytes?: number;
}

/** Checks a limit given by a caller: a positive number (Infinity allowed). */
export function checkLimit(v: number | undefined, name: string): void {
  if (v !== undefined && !(typeof v === 'number' && v > 0)) throw new RangeError(`${name} must be a positive number, got ${String(v)}`);
}

/** The whole content of a regular file, at most `maxBytes` long; anything else is a FileReadError naming `file`. */
export function readFileSafe(file: string, opts: ReadOptions = {}): Buffer {
  const what = opts.what ?? 'file';
  const max = opts.maxBytes ?? DEFAULT_LIMITS.maxFileSize;
  checkLimit(max, 'maxFileSize');
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO without a writer returns at once instead of waiting (a regular file ignores it)
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'not found' : code === 'ELOOP' ? 'a loop of symbolic links' : code === 'EISDIR' ? 'a folder, not a file' : code === 'ENXIO' ? 'a socket or a device, not a regular file' : code ?? (e as Error).message;
    throw new FileReadError(`${file}: cannot read the ${what} (${why})`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new FileReadError(`${file}: ${kindOf(st)}, not a regular file; only regular files are read`);
    if (st.size > max) {
      throw new FileReadError(`${file}: the ${what} is ${formatBytes(st.size)}, above the limit of ${formatBytes(max)} (raise it with --max-file-size, or the maxFileSize option)`);
    }
    const out = Buffer.allocUnsafe(st.size);
    let got = 0;
    while (got < out.length) {
      const k = fs.readSync(fd, out, got, out.length - got, got);
      if (k <= 0) throw new FileReadError(`${file}: the ${what} shrank while it was read`);
      got += k;
    }
    return out;
  } catch (e) {
    if (e instanceof FileReadError) throw e;
    throw new FileReadError(`${file}: cannot read the ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    fs.closeSync(fd);
  }
}

/** A JSON file (at most min(maxBytes, MAX_JSON_SIZE) bytes), parsed; errors name the file. */
export function readJsonSafe(file: string, opts: ReadOptions = {}): unknown {
  const what = opts.what ?? 'JSON file';
  const text = readFileSafe(file, { what, maxBytes: Math.min(opts.maxBytes ?? MAX_JSON_SIZE, MAX_JSON_SIZE) }).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FileReadError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}
