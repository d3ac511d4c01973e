/** Shared CLI plumbing: argument parsing errors, exit codes, number lists, and the option groups (methods,
 * image preprocessing, heatmaps) that explain and audit share. */
import * as fs from 'fs';
import { parseArgs, ParseArgsConfig } from 'util';
import {
  COLORMAPS, COMPOSITE_NAMES, IMAGENET_PREPROCESSING, METHOD_NAMES, CompositeOptions, ImageInputOptions, Method, ModelMetadata, RenderOptions, boundsOf, methodsFor, parseRuleMap, readLabels,
} from '../../lib';

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

// ---- option groups shared by explain and audit --------------------------------------------------------


type Options = NonNullable<ParseArgsConfig['options']>;

export const METHOD_FLAGS: Options = {
  composite: { type: 'string' }, method: { type: 'string' }, epsilon: { type: 'string' }, gamma: { type: 'string' }, low: { type: 'string' }, high: { type: 'string' },
  'zero-bias': { type: 'boolean' }, 'rule-map': { type: 'string' }, target: { type: 'string' }, 'output-relevance': { type: 'string' },
  metadata: { type: 'string' }, labels: { type: 'string' },
};

/** Names as comma-separated lines of at most `width` characters, continuation lines indented. */
function wrapNames(names: readonly string[], indent = 25, width = 110): string {
  const lines: string[] = [];
  let line = '';
  for (const [i, n] of names.entries()) {
    const w = n + (i < names.length - 1 ? ',' : '');
    if (line && indent + line.length + 1 + w.length > width) { lines.push(line); line = w; } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

export const METHOD_USAGE = `  --composite A[,B…]     ${wrapNames(COMPOSITE_NAMES)}
                         (default epsilon_plus_flat); several: one column each in a comparison grid
  --method M[,N…]        baseline attribution methods as more columns (also accepted in --composite):
                         ${wrapNames(METHOD_NAMES)}
  --epsilon E            epsilon of the epsilon rule (dense layers, or all layers for 'epsilon'); other rules'
                         stabilisers keep 1e-6
  --gamma G              gamma of the gamma rule
  --low L --high H       zBox bounds of the normalised input: a number or one per channel (comma-separated);
                         default: from the model's metadata JSON
  --zero-bias            drop the bias term of every rule that has one (flat and zBox have none)
  --rule-map FILE.json   a user rule map (see README); with --composite it is one more column; an entry's own
                         params win, --epsilon/--gamma/--low/--high/--zero-bias fill the ones it leaves open
  --target K             class to explain; default: the prediction
  --output-relevance M   logit (the target logit times a one-hot; default for LRP) or one (the one-hot; default
                         for gradient, gradient_x_input, guided_backprop, deconvnet however named)
  --metadata FILE        model metadata JSON (default: MODEL with .json)
  --labels FILE.json     class names: ["name", …] or {"0": "name", …} (default: the metadata's)`;

export const IMAGE_FLAGS: Options = {
  size: { type: 'string' }, resize: { type: 'string' }, channels: { type: 'string' }, layout: { type: 'string' },
  range: { type: 'string' }, mean: { type: 'string' }, std: { type: 'string' }, 'crop-fraction': { type: 'string' },
  preprocess: { type: 'string' },
};

export const IMAGE_USAGE = `image preprocessing (default: the model's input shape and metadata JSON):
  --size H[,W]           model input size in pixels (e.g. 28 or 224,224)
  --resize M             stretch, center-crop or none (an image of another size is an error)
  --channels C           rgb or grayscale
  --layout L             NCHW or NHWC
  --range LO,HI          pixel values 0..255 map to [LO, HI] (e.g. 0,1)
  --mean M[,…] --std S[,…]  normalisation after --range, one value or one per channel
  --crop-fraction F      with center-crop: resize the shorter side to size/F first (0.875: Resize(256)+CenterCrop(224))
  --preprocess imagenet  torchvision's ImageNet preprocessing (the default for an RGB 224×224 model without metadata)
  --low/--high default to the bounds this preprocessing implies (the normalised [0,1] range)`;

export const RENDER_FLAGS: Options = {
  cmap: { type: 'string' }, overlay: { type: 'string' }, percentile: { type: 'string' }, normalization: { type: 'string' },
  reduce: { type: 'string' }, 'display-size': { type: 'string' }, 'no-npy': { type: 'boolean' }, 'no-grid': { type: 'boolean' },
};

export const RENDER_USAGE = `heatmaps:
  --cmap NAME            ${COLORMAPS.join(', ')} (default bwr; hot with --normalization absolute)
  --overlay OPACITY      heatmap opacity over the grayscale input in overlays, 0..1 (default 0.6)
  --percentile P         |relevance| percentile mapped to the colormap's ends, (0,100] (default 99.5)
  --normalization N      symmetric (sign kept, 0 is the centre colour) or absolute
  --reduce R             channel reduction: sum (default), abs-sum, max-abs
  --display-size N       longer side of written images (default: the input's, at least 224, at most 1024)
  --no-npy               do not write .npy relevance files
  --no-grid              no comparison grid (written by default with several composites)`;

function oneOf<T extends string>(v: string | undefined, flag: string, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, got '${v}'`);
  return v as T;
}

export function readRuleMapFile(f: string): ReturnType<typeof parseRuleMap> {
  let text: string;
  try { text = fs.readFileSync(f, 'utf8'); } catch { throw new Error(`${f}: cannot read the rule map`); }
  let json: unknown;
  try { json = JSON.parse(text); } catch (e) { throw new Error(`${f}: not valid JSON (${(e as Error).message})`); }
  return parseRuleMap(json, f);
}

/** Composites (validated), rule parameters (bounds default from the metadata), rule map → methods. */
export function parseMethods(v: Values, meta: ModelMetadata | undefined): { methods: Method[]; options: CompositeOptions } {
  const list = (x: unknown) => String(x ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const given = list(v.composite);
  const names = given.filter((c) => COMPOSITE_NAMES.includes(c));
  const attributions = [...given.filter((c) => !COMPOSITE_NAMES.includes(c)), ...list(v.method)];
  for (const c of attributions) {
    if (!METHOD_NAMES.includes(c)) {
      throw new UsageError(`unknown composite or method '${c}'; known composites: ${COMPOSITE_NAMES.join(', ')}; methods: ${METHOD_NAMES.join(', ')}`);
    }
  }
  if (new Set([...names, ...attributions]).size !== names.length + attributions.length) throw new UsageError(`a composite or method is listed twice: ${[...given, ...list(v.method)].join(',')}`);
  const bounds = boundsOf(meta);
  const options: CompositeOptions = {
    epsilon: number(v.epsilon as string | undefined, '--epsilon'),
    gamma: number(v.gamma as string | undefined, '--gamma'),
    low: numbers(v.low as string | undefined, '--low') ?? bounds?.low,
    high: numbers(v.high as string | undefined, '--high') ?? bounds?.high,
    zeroBias: v['zero-bias'] ? true : undefined,
  };
  const ruleMapFile = v['rule-map'] as string | undefined;
  const ruleMap = ruleMapFile ? { map: readRuleMapFile(ruleMapFile), title: ruleMapFile.replace(/^.*[\\/]/, '').replace(/\.json$/i, '') } : undefined;
  const composites = names.length || ruleMap || attributions.length ? names : ['epsilon_plus_flat'];
  return { methods: methodsFor(composites, options, ruleMap, attributions), options };
}

/** --output-relevance, or undefined: each method's default (logit for LRP, one for the gradient family). */
export function parseOutputRelevance(v: Values): 'logit' | 'one' | undefined {
  return oneOf(v['output-relevance'] as string | undefined, '--output-relevance', ['logit', 'one'] as const);
}

export function parseLabels(v: Values, meta: ModelMetadata | undefined): string[] | undefined {
  return v.labels ? readLabels(v.labels as string) : meta?.labels;
}

export function parseImageFlags(v: Values): ImageInputOptions {
  const preset = oneOf(v.preprocess as string | undefined, '--preprocess', ['imagenet'] as const);
  const o: ImageInputOptions = preset === 'imagenet' ? { ...IMAGENET_PREPROCESSING } : {};
  const cf = number(v['crop-fraction'] as string | undefined, '--crop-fraction');
  if (cf !== undefined && !(cf > 0 && cf <= 1)) throw new UsageError(`--crop-fraction expects a number in (0,1], got '${v['crop-fraction']}'`);
  if (cf !== undefined) o.cropFraction = cf;
  if (v.size !== undefined) {
    const parts = String(v.size).split(/[,x]/).map((s) => Number(s.trim()));
    if (!(parts.length === 1 || parts.length === 2) || parts.some((n) => !Number.isInteger(n) || n < 1)) throw new UsageError(`--size expects H or H,W in pixels, got '${v.size}'`);
    o.size = [parts[0], parts[1] ?? parts[0]];
  }
  o.resize = oneOf(v.resize as string | undefined, '--resize', ['stretch', 'center-crop', 'none'] as const) ?? o.resize;
  o.channels = oneOf(v.channels as string | undefined, '--channels', ['rgb', 'grayscale'] as const) ?? o.channels;
  o.layout = oneOf(v.layout as string | undefined, '--layout', ['NCHW', 'NHWC'] as const) ?? o.layout;
  if (v.range !== undefined) {
    const r = numbers(v.range as string, '--range');
    if (!Array.isArray(r) || r.length !== 2 || r[0] === r[1]) throw new UsageError(`--range expects LO,HI (two different numbers), got '${v.range}'`);
    o.valueRange = [r[0], r[1]];
  }
  const list = (x: number | number[] | undefined) => (x === undefined ? undefined : Array.isArray(x) ? x : [x]);
  o.mean = list(numbers(v.mean as string | undefined, '--mean')) ?? o.mean;
  o.std = list(numbers(v.std as string | undefined, '--std')) ?? o.std;
  if (o.std?.some((s) => s === 0)) throw new UsageError('--std must not be 0');
  return o;
}

export function parseRenderFlags(v: Values): RenderOptions {
  const r: RenderOptions = {};
  if (v.cmap !== undefined) r.colormap = oneOf(v.cmap as string, '--cmap', COLORMAPS);
  const op = number(v.overlay as string | undefined, '--overlay');
  if (op !== undefined && !(op >= 0 && op <= 1)) throw new UsageError(`--overlay expects an opacity in [0,1], got '${v.overlay}'`);
  r.opacity = op;
  const p = number(v.percentile as string | undefined, '--percentile');
  if (p !== undefined && !(p > 0 && p <= 100)) throw new UsageError(`--percentile expects a number in (0,100], got '${v.percentile}'`);
  r.percentile = p;
  r.normalization = oneOf(v.normalization as string | undefined, '--normalization', ['symmetric', 'absolute'] as const);
  r.reduce = oneOf(v.reduce as string | undefined, '--reduce', ['sum', 'abs-sum', 'max-abs'] as const);
  const ds = number(v['display-size'] as string | undefined, '--display-size');
  if (ds !== undefined && !(Number.isInteger(ds) && ds >= 8 && ds <= 8192)) throw new UsageError(`--display-size expects whole pixels in 8..8192, got '${v['display-size']}'`);
  r.displaySize = ds;
  return r;
}

/** The single class index of --target, or undefined. */
export function singleTarget(v: Values): number | undefined {
  const t = integerList(v.target as string | undefined, '--target');
  if (Array.isArray(t)) throw new UsageError('--target takes one class here');
  return t;
}
