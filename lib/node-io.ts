/** The Node.js edge (not the IR's Node): reading models, tensors and metadata from files. External data is read
 * only from inside the model's own folder. */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { Engine, Explainer } from './explain';
import { ortBackend } from './forward/ort';
import { CanonizeOptions } from './canonize';
import { LoadedModel, ModelLoadError, loadModel } from './onnx/load';
import { parseNpy, encodeNpy } from './io/npy';
import { Tensor, float32 } from './tensor';
import { parseIdx } from './io/idx';
import { ModelMetadata } from './metadata';
import { ReadLimits, readFileSafe, readJsonSafe } from './safe-read';

/** What a file that is not an ONNX model looks like, from its first bytes: a hint when MODEL and INPUT are swapped. */
function looksLike(bytes: Uint8Array): string | undefined {
  const b = (i: number) => bytes[i];
  if (b(0) === 0x89 && b(1) === 0x50 && b(2) === 0x4e && b(3) === 0x47) return 'a PNG image';
  if (b(0) === 0xff && b(1) === 0xd8 && b(2) === 0xff) return 'a JPEG image';
  if (b(0) === 0x42 && b(1) === 0x4d) return 'a BMP image';
  if (b(0) === 0x93 && String.fromCharCode(...bytes.subarray(1, 6)) === 'NUMPY') return 'a .npy tensor';
  return undefined;
}

export function loadModelFile(file: string, limits: ReadLimits = {}): LoadedModel {
  let bytes: Uint8Array;
  try {
    bytes = readFileSafe(file, { what: 'model', maxBytes: limits.maxFileSize });
  } catch (e) {
    throw new ModelLoadError((e as Error).message);
  }
  const kind = looksLike(bytes);
  if (kind) throw new ModelLoadError(`${file}: this is ${kind}, not an ONNX model; are MODEL and INPUT swapped? (the model comes first)`);
  const dir = path.resolve(path.dirname(file));
  return loadModel(bytes, {
    source: file,
    readExternal(location, offset, length, expected) {
      const target = path.resolve(dir, location);
      const rel = path.relative(dir, target);
      if (path.isAbsolute(location) || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
        throw new ModelLoadError(`${file}: external data location '${location}' leaves the model's folder; refused`);
      }
      let fd: number;
      try {
        const real = fs.realpathSync(target);
        const realRel = path.relative(fs.realpathSync(dir), real);
        if (realRel === '..' || realRel.startsWith(`..${path.sep}`) || path.isAbsolute(realRel)) {
          throw new ModelLoadError(`${file}: external data '${location}' is a link that leaves the model's folder; refused`);
        }
        fd = fs.openSync(real, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0)); // a FIFO must not block
      } catch (e) {
        if (e instanceof ModelLoadError) throw e;
        throw new ModelLoadError(`${file}: external data file '${location}' cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      try {
        // only the tensor's byte range is read, after checking that the file holds it
        const st = fs.fstatSync(fd);
        if (!st.isFile()) throw new ModelLoadError(`${file}: external data '${location}' is not a regular file`);
        const end = length === undefined ? st.size : offset + length;
        if (offset < 0 || end > st.size || end < offset) {
          throw new ModelLoadError(`${file}: external data '${location}' is shorter than offset ${offset} + length ${length} (it holds ${st.size} bytes)`);
        }
        if (expected !== undefined && end - offset !== expected) {
          throw new ModelLoadError(`${file}: external data '${location}' holds ${end - offset} bytes from offset ${offset}, the tensor needs ${expected}`);
        }
        const out = new Uint8Array(end - offset);
        let got = 0;
        while (got < out.length) {
          const k = fs.readSync(fd, out, got, out.length - got, offset + got);
          if (k <= 0) throw new ModelLoadError(`${file}: external data '${location}' ended early`);
          got += k;
        }
        return out;
      } finally {
        fs.closeSync(fd);
      }
    },
  });
}

export interface OpenOptions {
  canonize?: CanonizeOptions | false;
  threads?: number;
  /** 'auto' (default): the fused engine where it covers the plan, else 'ort'; 'fused': the whole explanation as
   * one onnxruntime graph; 'ort': LRP steps lowered to onnxruntime per layer; 'reference': the plain TypeScript
   * kernels (see ExplainOptions.engine) */
  engine?: Engine;
  /** largest model file read, in bytes (default 2 GiB) */
  maxFileSize?: number;
  /** largest input tensor explained, in elements (default 64 Mi) */
  maxInputElements?: number;
}

/** Loads, canonizes and prepares a model file for explaining (onnxruntime-node). */
export function openModel(file: string, opts: OpenOptions = {}): Explainer {
  const { maxFileSize, ...rest } = opts;
  return Explainer.create(loadModelFile(file, { maxFileSize }), ortBackend, { source: file, ...rest });
}

/** A .npy tensor file (a regular file of at most `limits.maxFileSize` bytes, default 2 GiB). */
export function readNpy(file: string, limits: ReadLimits = {}): Tensor {
  return parseNpy(readFileSafe(file, { what: 'tensor', maxBytes: limits.maxFileSize }), file);
}

export function writeNpy(file: string, t: Tensor): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, encodeNpy(t));
  fs.renameSync(tmp, file);
}

/** The metadata JSON beside a model (`model.onnx` → `model.json`), if present. */
export function readMetadata(modelFile: string, explicit?: string, limits: ReadLimits = {}): import('./metadata').ModelMetadata | undefined {
  const file = explicit ?? modelFile.replace(/\.onnx$/i, '') + '.json';
  if (!fs.existsSync(file)) {
    if (explicit) throw new Error(`${explicit}: metadata file not found`);
    return undefined;
  }
  const meta = readJsonSafe(file, { what: 'metadata JSON', maxBytes: limits.maxFileSize }) as import('./metadata').ModelMetadata;
  if (meta && typeof meta.text?.vocab === 'string') meta.text = { ...meta.text, vocab: readVocab(path.resolve(path.dirname(file), meta.text.vocab), limits) };
  return meta;
}

/** A vocabulary file: one token per line (UTF-8; a final newline and \r are dropped), the line number its id. */
export function readVocab(file: string, limits: ReadLimits = {}): string[] {
  let text: string;
  try {
    text = readFileSafe(file, { what: 'vocabulary', maxBytes: limits.maxFileSize }).toString('utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read the vocabulary named by the metadata's text.vocab (${(e as Error).message})`);
  }
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export interface Dataset {
  x: Tensor & { data: Float32Array };
  /** labels when a label file was found beside the images */
  labels?: number[];
}

/** Reads an IDX image file (gzipped or not): images [count, H, W] from `offset`, scaled to the value range and
 * normalised with the metadata's mean / std, as [count, 1, H, W]. Labels are read from the matching
 * *-labels-idx1-ubyte(.gz) beside it when present. */
export function loadIdxImages(file: string, meta: ModelMetadata | undefined, count: number, offset = 0): Dataset {
  const read = (f: string) => {
    const raw = readFileSafe(f, { what: 'IDX file' });
    return parseIdx(new Uint8Array(raw[0] === 0x1f && raw[1] === 0x8b ? zlib.gunzipSync(raw) : raw), path.basename(f));
  };
  let idx;
  try { idx = read(file); } catch (e) { throw new Error(`${file}: ${(e as Error).message}`); }
  if (idx.dims.length !== 3) throw new Error(`${file}: expected images [N, H, W], got shape [${idx.dims.join('x')}]`);
  const [total, H, W] = idx.dims;
  if (offset + count > total) throw new Error(`${file}: ${total} images, cannot take ${count} from ${offset}`);
  const [lo, hi] = meta?.input?.valueRange ?? [0, 1];
  const mean = meta?.input?.mean?.[0] ?? 0, std = meta?.input?.std?.[0] ?? 1;
  const px = idx.data.subarray(offset * H * W, (offset + count) * H * W);
  const x = float32([count, 1, H, W], Float32Array.from(px, (v) => ((v / 255) * (hi - lo) + lo - mean) / std));
  const labelFile = file.replace('images-idx3', 'labels-idx1');
  let labels: number[] | undefined;
  if (labelFile !== file && fs.existsSync(labelFile)) labels = Array.from(read(labelFile).data.subarray(offset, offset + count));
  return { x, labels };
}
