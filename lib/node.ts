/** Node-only edge: reading models and tensors from files. External data is read only from inside the
 * model's own folder. */
import * as fs from 'fs';
import * as path from 'path';
import { Explainer } from './explain';
import { ortBackend } from './forward/ort';
import { CanonizeOptions } from './canonize';
import { LoadedModel, ModelLoadError, loadModel } from './onnx/load';
import { parseNpy, encodeNpy } from './io/npy';
import { Tensor } from './tensor';

export function loadModelFile(file: string): LoadedModel {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new ModelLoadError(`${file}: cannot read the model file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const dir = path.resolve(path.dirname(file));
  return loadModel(bytes, {
    source: file,
    readExternal(location, offset, length) {
      const target = path.resolve(dir, location);
      const rel = path.relative(dir, target);
      if (path.isAbsolute(location) || rel.startsWith('..') || path.isAbsolute(rel)) {
        throw new ModelLoadError(`${file}: external data location '${location}' leaves the model's folder; refused`);
      }
      let data: Buffer;
      try {
        const real = fs.realpathSync(target);
        const realRel = path.relative(fs.realpathSync(dir), real);
        if (realRel.startsWith('..') || path.isAbsolute(realRel)) {
          throw new ModelLoadError(`${file}: external data '${location}' is a link that leaves the model's folder; refused`);
        }
        data = fs.readFileSync(real);
      } catch (e) {
        if (e instanceof ModelLoadError) throw e;
        throw new ModelLoadError(`${file}: external data file '${location}' cannot be read`);
      }
      const end = length === undefined ? data.length : offset + length;
      if (offset < 0 || end > data.length) throw new ModelLoadError(`${file}: external data '${location}' is shorter than offset ${offset} + length ${length}`);
      return new Uint8Array(data.buffer, data.byteOffset + offset, end - offset);
    },
  });
}

export interface OpenOptions {
  canonize?: CanonizeOptions | false;
  threads?: number;
}

/** Loads, canonizes and prepares a model file for explaining (onnxruntime-node). */
export function openModel(file: string, opts: OpenOptions = {}): Explainer {
  return Explainer.create(loadModelFile(file), ortBackend, { source: file, ...opts });
}

export function readNpy(file: string): Tensor {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseNpy(bytes, file);
}

export function writeNpy(file: string, t: Tensor): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, encodeNpy(t));
  fs.renameSync(tmp, file);
}

/** The metadata JSON beside a model (`model.onnx` → `model.json`), if present. */
export function readMetadata(modelFile: string, explicit?: string): import('./metadata').ModelMetadata | undefined {
  const file = explicit ?? modelFile.replace(/\.onnx$/i, '') + '.json';
  if (!fs.existsSync(file)) {
    if (explicit) throw new Error(`${explicit}: metadata file not found`);
    return undefined;
  }
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
}
