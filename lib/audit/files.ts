/** Node-only: atomic file writes, finding inputs in a folder, label files. */
import { AsyncLocalStorage } from 'async_hooks';
import { promises as fsp } from 'fs';
import * as fs from 'fs';
import * as path from 'path';
import { readJsonSafe } from '../safe-read';

/** Extensions read as inputs: images (decoded with jimp) and .npy tensors. */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.bmp'] as const;
export const INPUT_EXTENSIONS = [...IMAGE_EXTENSIONS, '.npy'] as const;

export function isImageFile(file: string): boolean {
  return (IMAGE_EXTENSIONS as readonly string[]).includes(path.extname(file).toLowerCase());
}

/** Writing an output failed (the output folder is at fault, not an input). */
export class FileWriteError extends Error {
  override name = 'FileWriteError';
}

let counter = 0;
/** The writer's tag in temporary names (a shard's, e.g. 's2of4'), for the writes made inside `withWriterTag`. */
const writerTag = new AsyncLocalStorage<string>();

/** Runs `f` with its atomic writes' temporaries named `.NAME.tmp-TAG-PID-N`, so `removeStaleTemporaries(dir,
 * { tag })` removes those (of a killed run of the same writer) and no other writer's. */
export function withWriterTag<T>(tag: string, f: () => Promise<T>): Promise<T> {
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(tag)) throw new Error(`writer tag '${tag}': letters and digits, starting with a letter`);
  return writerTag.run(tag, f);
}

function tmpName(file: string): string {
  const tag = writerTag.getStore();
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${tag ? `${tag}-` : ''}${process.pid}-${counter++}`);
}

/** Removes temporary files a killed writer left under `dir` (recursively): `.NAME.tmp-PID-N` of other processes
 * (untagged writers), or with `tag`, `.NAME.tmp-TAG-PID-N` only (another tag is another writer's, maybe still running). */
export async function removeStaleTemporaries(dir: string, opts: { tag?: string } = {}): Promise<number> {
  let n = 0;
  const re = opts.tag ? new RegExp(`^\\..+\\.tmp-${opts.tag}-(\\d+)-\\d+$`) : /^\..+\.tmp-(\d+)-\d+$/;
  async function walk(d: string): Promise<void> {
    let entries: fs.Dirent[];
    try { entries = await fsp.readdir(d, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      const abs = path.join(d, e.name);
      if (e.isDirectory()) await walk(abs);
      else {
        const m = re.exec(e.name);
        if (m && Number(m[1]) !== process.pid) { await fsp.rm(abs, { force: true }); n++; }
      }
    }
  }
  await walk(dir);
  return n;
}

/** Write `file` atomically: a temporary file in the same folder, then a rename over the target, so a reader
 * (or a killed run) sees either the old file or the complete new one. Creates the folder. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = tmpName(file);
  try {
    await fsp.mkdir(path.dirname(path.resolve(file)), { recursive: true });
    await fsp.writeFile(tmp, data);
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw new FileWriteError(`${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** File an audit leaves in its output folder; folders holding it are not searched for inputs. */
export const AUDIT_MARKER = '.onnx-lrp-audit';

/** Every input file under `folder` (recursively), as sorted '/'-separated paths relative to it. Hidden files
 * and folders (a leading '.'), the folders in `exclude` and earlier audits' output folders are skipped. Links,
 * FIFOs and devices with an input's extension are listed too (links to folders are not followed): reading
 * refuses what is not a regular file (lib/safe-read.ts), so an audit records them as failed inputs, with the reason. */
export async function listInputs(folder: string, opts: { extensions?: readonly string[]; exclude?: string[] } = {}): Promise<string[]> {
  const exts = (opts.extensions ?? INPUT_EXTENSIONS).map((e) => e.toLowerCase());
  const exclude = new Set((opts.exclude ?? []).map((e) => path.resolve(e)));
  const out: string[] = [];
  async function walk(dir: string, rel: string): Promise<void> {
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (e) {
      throw new Error(`${dir}: cannot read the folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const abs = path.join(dir, e.name), r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!exclude.has(path.resolve(abs)) && !fs.existsSync(path.join(abs, AUDIT_MARKER))) await walk(abs, r);
      } else if (exts.includes(path.extname(e.name).toLowerCase())) {
        out.push(r);
      }
    }
  }
  await walk(folder, '');
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Class names from a JSON file: an array of names, or an object mapping indices to names. */
export function readLabels(file: string): string[] {
  let json = readJsonSafe(file, { what: 'labels file' });
  if (json && typeof json === 'object' && !Array.isArray(json) && Array.isArray((json as { labels?: unknown }).labels)) json = (json as { labels: unknown }).labels;
  if (Array.isArray(json)) {
    if (!json.every((x) => typeof x === 'string')) throw new Error(`${file}: labels must be strings`);
    return json as string[];
  }
  if (json && typeof json === 'object') {
    const out: string[] = [];
    for (const [k, v] of Object.entries(json)) {
      if (!/^\d+$/.test(k) || typeof v !== 'string') throw new Error(`${file}: expected {"0": "name", …}, got key '${k}'`);
      out[Number(k)] = v;
    }
    return out;
  }
  throw new Error(`${file}: expected an array of class names or an object {"index": "name"}`);
}
