/** Node-only: inputs from files (images, .npy) — preprocessing from a model's metadata, loading, and the
 * one-call `explainImage`. Explaining a loaded input with several methods is `explainInput` (lib/methods/run.ts). */
import { Explainer, Explanation, ExplainOptions, OutputRelevance } from '../explain';
import { ImageInputOptions, Region, imageOptionsFromMetadata, imageToTensor, sourceRegion, tensorToImage } from '../io/image';
import { ModelMetadata, defaultBounds, withBounds } from '../metadata';
import { readNpy } from '../node-io';
import { ReadLimits, readFileSafe } from '../safe-read';
import { isImageShaped, sliceSample } from '../render/display';
import { decodeImage } from '../render/jimp';
import { RGBAImage } from '../io/raster';
import { Tensor, float32, toFloat32 } from '../tensor';
import { isImageFile } from './files';
import { TokenInput, encodeTexts, tokenIds } from '../methods/tokens';
import { InputExplanation as MethodsInputExplanation } from '../methods/run';

/** torchvision's ImageNet preprocessing: Resize(256) + CenterCrop(224), RGB in [0,1], mean/std. */
export const IMAGENET_PREPROCESSING: ImageInputOptions = {
  size: [224, 224], resize: 'center-crop', cropFraction: 0.875, channels: 'rgb', layout: 'NCHW',
  valueRange: [0, 1], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
};

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** With no metadata and no value range or normalisation given, an RGB 224×224 model (NCHW) is assumed to take
 * torchvision's ImageNet preprocessing (the usual case for a PyTorch image classifier); callers say so. */
export function assumesImageNet(explainer: Explainer | null, meta?: ModelMetadata, overrides: ImageInputOptions = {}): boolean {
  if (meta?.input) return false;
  if (overrides.valueRange || overrides.mean || overrides.std) return false;
  const d = explainer?.graph.inputs[0]?.dims;
  return !!d && d.length === 4 && d[1] === 3 && d[2] === 224 && d[3] === 224;
}

/** Preprocessing for `explainer`'s first input: the graph's input shape (size, channels, layout), then the
 * metadata JSON's `input` (layout, channels, value range, mean/std, resize), then `overrides`. Without
 * metadata, an RGB 224×224 model gets IMAGENET_PREPROCESSING (see assumesImageNet); `notice` is told. */
export function imageOptionsFor(explainer: Explainer | null, meta?: ModelMetadata, overrides: ImageInputOptions = {}, notice?: (msg: string) => void): ImageInputOptions {
  const o = preprocessingFor(explainer, meta, overrides, notice);
  const input = explainer?.graph.inputs[0];
  if (explainer && input && o.size) {
    // before any image is resized to it: a declared [1,3,20000,20000] would allocate gigabytes
    const C = o.channels === 'grayscale' ? 1 : 3, N = input.dims?.[0] ?? 1;
    explainer.checkInputSize(input.name, o.layout === 'NHWC' ? [N, o.size[0], o.size[1], C] : [N, C, o.size[0], o.size[1]]);
  }
  return o;
}

function preprocessingFor(explainer: Explainer | null, meta: ModelMetadata | undefined, overrides: ImageInputOptions, notice?: (msg: string) => void): ImageInputOptions {
  if (assumesImageNet(explainer, meta, overrides)) {
    notice?.('no metadata JSON beside the model: assuming torchvision ImageNet preprocessing (resize 256, center-crop 224, RGB in [0,1], mean 0.485,0.456,0.406, std 0.229,0.224,0.225); override with --range/--mean/--std/--resize/--crop-fraction');
    return { ...IMAGENET_PREPROCESSING, ...defined(overrides) };
  }
  const graphDims = explainer?.graph.inputs[0]?.dims;
  const shape = meta?.input?.shape ?? (graphDims && graphDims.length === 4 ? [...graphDims] : undefined);
  try {
    return imageOptionsFromMetadata({ ...(meta?.input ?? {}), shape } as Parameters<typeof imageOptionsFromMetadata>[0], overrides);
  } catch (e) {
    // a shape images cannot fill (e.g. 5 channels): keep normalisation, let the model's shape check report it
    return imageOptionsFromMetadata({ ...(meta?.input ?? {}), shape: undefined } as Parameters<typeof imageOptionsFromMetadata>[0], overrides);
  }
}

/** What one sample is shown over: the source image (decoded file, or the input tensor turned back into
 * pixels) and the part of it the model saw. Empty for non-image inputs. */
export interface InputView {
  source?: RGBAImage;
  region?: Region;
}

export interface LoadedInput {
  /** file path, or a name for in-memory images */
  file: string;
  kind: 'image' | 'npy' | 'tokens';
  /** the model input, batch first (kind 'tokens': int64 ids [N, T]) */
  tensor: Tensor & { data: Float32Array | BigInt64Array };
  /** kind 'tokens': per sample, the token strings */
  tokens?: string[][];
  /** kind 'tokens': the padding token (left out of heatmaps, tables and token deletion) and the special tokens
   * (kept out of token deletion), from the tokenizer */
  padToken?: string;
  /** kind 'tokens': the padding token's id (the default replacement of token deletion) */
  padId?: number;
  specialTokens?: string[];
  /** one per sample */
  views: InputView[];
  /** preprocessing used (images), or used to display (.npy) */
  imageOptions: ImageInputOptions;
}

/** Token ids as a loaded input (kind 'tokens'): text tokenised with the model's vocabulary, a list of ids, or an
 * int tensor [T] / [N, T]; checked against the vocabulary and the model's length (TokenError otherwise). */
export function tokenInput(spec: TokenInput, src: { text: string | string[] } | { ids: number[] | Tensor }, file: string): LoadedInput {
  const b = 'text' in src ? encodeTexts(spec, Array.isArray(src.text) ? src.text : [src.text], file) : tokenIds(spec, src.ids, file);
  const s = spec.tokenizer;
  return {
    file, kind: 'tokens', tensor: b.tensor, views: b.tokens.map(() => ({})), imageOptions: {}, tokens: b.tokens,
    ...(s?.pad ? { padToken: s.pad, padId: s.vocab.indexOf(s.pad) } : {}), specialTokens: [s?.cls, s?.sep, s?.pad].filter((t): t is string => !!t),
  };
}

/** Reads an image (PNG/JPEG/BMP, preprocessed with `imageOptions`) or a .npy tensor; files are read within
 * `limits` (size in bytes, image pixels: see lib/safe-read.ts). With `tokens` (the model's token input,
 * `tokenInputOf`): an int64 .npy is token ids, and a .txt file one text. */
export async function loadInput(src: string | { name: string; image: RGBAImage }, imageOptions: ImageInputOptions = {}, limits: ReadLimits = {}, tokens?: TokenInput | null): Promise<LoadedInput> {
  const file = typeof src === 'string' ? src : src.name;
  if (tokens && typeof src === 'string' && /\.txt$/i.test(file)) return tokenInput(tokens, { text: readFileSafe(file, { what: 'text', maxBytes: limits.maxFileSize }).toString('utf8') }, file);
  if (typeof src !== 'string' || isImageFile(file)) {
    const img = typeof src === 'string' ? await decodeImage(src, undefined, limits) : src.image;
    let tensor;
    try {
      tensor = imageToTensor(img, imageOptions);
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}`);
    }
    return { file, kind: 'image', tensor, views: [{ source: img, region: sourceRegion(img, imageOptions) }], imageOptions };
  }
  if (/\.onnx$/i.test(file)) throw new Error(`${file}: an ONNX model given as an input; are MODEL and INPUT swapped? (the model comes first)`);
  if (!/\.npy$/i.test(file)) throw new Error(`${file}: unknown input type (images: .png, .jpg, .jpeg, .bmp; tensors: .npy)`);
  const t = readNpy(file, limits);
  if (tokens && (t.dtype === 'int64' || t.dtype === 'int32')) return tokenInput(tokens, { ids: t }, file);
  if (t.dtype !== 'float32' && t.dtype !== 'float64' && t.dtype !== 'float16') throw new Error(`${file}: ${t.dtype} tensor; inputs must be float32`);
  const tensor = t.dtype === 'float32' ? (t as Tensor & { data: Float32Array }) : float32(t.dims, toFloat32(t));
  const n = tensor.dims[0] ?? 1;
  const views: InputView[] = [];
  for (let s = 0; s < n; s++) {
    let source: RGBAImage | undefined;
    if (isImageShaped(tensor.dims, imageOptions.layout)) {
      try { source = tensorToImage(tensor, { ...imageOptions, index: s }); } catch { source = undefined; }
    }
    views.push(source ? { source } : {});
  }
  return { file, kind: 'npy', tensor, views, imageOptions };
}

/** A loaded input explained with several methods (`explainInput`, lib/methods/run.ts). */
export type InputExplanation = MethodsInputExplanation<LoadedInput>;

export interface ExplainImageOptions extends ExplainOptions {
  /** preprocessing overrides (size, resize, channels, layout, valueRange, mean, std) */
  image?: ImageInputOptions;
  /** the model's metadata JSON (see readMetadata) for its preprocessing */
  metadata?: ModelMetadata;
  /** file size and image pixel limits (lib/safe-read.ts) */
  limits?: ReadLimits;
}

export interface ImageExplanation extends Explanation {
  /** the decoded source image and the part of it the model saw */
  image: RGBAImage;
  region: Region;
  /** the model input made from it */
  input: Tensor & { data: Float32Array };
  imageOptions: ImageInputOptions;
}

/** Explains an image file (or a decoded image) with one composite or rule map; preprocessing comes from the
 * model's input shape, `metadata` and `image` overrides; zBox bounds default to the metadata's. */
export async function explainImage(explainer: Explainer, image: string | RGBAImage, opts: ExplainImageOptions = {}): Promise<ImageExplanation> {
  const imageOptions = imageOptionsFor(explainer, opts.metadata, opts.image);
  const loaded = await loadInput(typeof image === 'string' ? image : { name: '<image>', image }, imageOptions, opts.limits);
  const { image: _i, metadata: _m, limits: _l, ...explainOpts } = opts;
  const options = withBounds(explainOpts.options, defaultBounds(opts.metadata, imageOptions));
  const r = await explainer.explain(loaded.tensor, { ...explainOpts, options });
  return { ...r, image: loaded.views[0].source!, region: loaded.views[0].region!, input: loaded.tensor as Tensor & { data: Float32Array }, imageOptions };
}

/** Sample `s` of an explanation's relevance (batch of 1). */
export function sampleRelevance(e: Explanation, s: number): Tensor & { data: Float32Array } {
  return sliceSample(e.relevance, s);
}
