/** Shared CLI plumbing: argument parsing errors, exit codes, number lists, and the option groups (methods and
 * their parameters, image preprocessing, heatmaps) that explain, audit and evaluate share. */
import { parseArgs, ParseArgsConfig } from 'util';
import {
  AttributeOptions, COLORMAPS, COMPOSITE_NAMES, Explainer, IMAGENET_PREPROCESSING, METHODS, METHOD_NAMES, CompositeOptions, ImageInputOptions, Method, ModelMetadata, RenderOptions,
  defaultBounds, methodsFor, parseRuleMap, withBounds, readJsonSafe, readLabels, DUAL_CLASSES, DualClass, OutputRelevance,
  notOnTokens, padTokenId, textMetadataOf, tokenizerSettings,
} from '../../lib';
import { closest, joinNegativeValues, parseErrorMessage } from './args';
import { UsageError } from './errors';
import { parseTargets } from './target';

export { UsageError, closest };

let command = '';
/** The command a usage error's hint points to (`see onnx-lrp COMMAND --help`). */
export function setCommand(name: string): void {
  command = name;
}

/** Runs a command: an error prints one line (a usage error also a hint to --help) and sets the exit code. */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (e: Error) => {
      console.error(`onnx-lrp: ${e.message}`);
      if (e instanceof UsageError) console.error(`see onnx-lrp ${command ? `${command} ` : ''}--help`);
      if (process.env.ONNX_LRP_DEBUG) console.error(e.stack);
      process.exit(e instanceof UsageError ? 2 : 1);
    },
  );
}

export type Values = Record<string, string | boolean | undefined>;

/** parseArgs, strict, with `-h/--help` (prints `usage`, exit 0); a number after an option is its value even
 * when negative (`--low -1.5`); a parse error is a one-line UsageError. */
export function parse(argv: string[], options: ParseArgsConfig['options'], usage: string): { values: Values; positionals: string[] } {
  const all = { ...options, help: { type: 'boolean', short: 'h' } } as NonNullable<ParseArgsConfig['options']>;
  let r;
  try {
    r = parseArgs({ args: joinNegativeValues(argv, all), options: all, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(parseErrorMessage(e as Error, all));
  }
  if (r.values.help) {
    console.log(usage);
    process.exit(0);
  }
  return { values: r.values as Values, positionals: r.positionals };
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
  composite: { type: 'string' }, method: { type: 'string' }, methods: { type: 'string' }, epsilon: { type: 'string' }, gamma: { type: 'string' },
  low: { type: 'string' }, high: { type: 'string' }, 'zero-bias': { type: 'boolean' }, 'rule-map': { type: 'string' }, target: { type: 'string' },
  'output-relevance': { type: 'string' }, dual: { type: 'string' }, 'no-clip': { type: 'boolean' }, contrast: { type: 'string' }, metadata: { type: 'string' }, labels: { type: 'string' }, 'no-canonize': { type: 'boolean' },
  'sg-samples': { type: 'string' }, 'sg-noise': { type: 'string' }, 'ig-steps': { type: 'string' }, 'ig-baseline': { type: 'string' },
  'occlusion-patch': { type: 'string' }, 'occlusion-stride': { type: 'string' }, 'occlusion-fill': { type: 'string' }, layer: { type: 'string' },
  seed: { type: 'string' }, 'beta-smooth': { type: 'string' }, engine: { type: 'string' },
};

export const METHOD_PARAM_USAGE = `method parameters (the same names in explain, audit and evaluate):
  --sg-samples N         smoothgrad: noisy copies (default 16)      --sg-noise S  σ / input range (default 0.15)
  --ig-steps N           integrated_gradients: steps (default 32)   --ig-baseline V  baseline value (default 0);
                         token models (embedding space): a token id, pad (default, with a pad token) or zeros
  --occlusion-patch P    occlusion: patch (default 4)   --occlusion-stride S (default: the patch)
  --occlusion-fill V     occlusion: fill value, one or one per channel (default 0)
  --layer NAME           gradcam: node or value (default: after the last Conv)
  --seed S               seeds smoothgrad's noise and random maps (default 0)`;

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
  --method M[,N…]        more columns: baseline attribution methods or composites (alias --methods):
                         ${wrapNames(METHOD_NAMES)}
  --epsilon E            epsilon of the epsilon rule (≥ 0; dense layers, or all layers for 'epsilon'); other
                         rules' stabilisers keep 1e-6
  --gamma G              gamma of the gamma rule (≥ 0)
  --low L --high H       zBox bounds of the normalised input (low < high): a number or one per channel
                         (comma-separated; negative values as --low -1.5 or --low=-1.5); default: from the
                         model's metadata JSON
  --zero-bias            drop the bias term of every rule that has one (flat and zBox have none)
  --beta-smooth B        beta_smooth: β of the ReLUs' smooth gradient sigmoid(β·x) (default 10)
  --rule-map FILE.json   a user rule map (see docs/rules.md); with --composite it is one more column; an entry's own
                         params win, --epsilon/--gamma/--low/--high/--zero-bias fill the ones it leaves open
  --target K             class to explain, by index or by name (matched against the labels, e.g. malamute);
                         default: the prediction
  --output-relevance M   logit (the target logit times a one-hot; default for LRP), one (the one-hot; default
                         for gradient, gradient_x_input, guided_backprop, deconvnet however named),
                         contrastive (CLRP: the target's map minus its dual class's, clipped at 0) or softmax
                         (SGLRP: starts from d p_target / d logits); see docs/class-discriminative.md
  --dual D               contrastive: the dual class, others (default: the other classes, CLRP1) or negated
                         (the target's output weights negated, CLRP2)
  --no-clip              contrastive: keep the signed difference (the paper clips it at 0)
  --contrast K[,L…]      "why the target and not K": seed target − K (scaled as the default mode), one map per
                         class K (by index or name), titled 'METHOD vs K'
  --no-canonize          skip the canonizers that merge layers (BatchNorm, per-channel scale and bias into the
                         layer before; residual Adds as explicit Sums), as Zennit without canonizers
  --metadata FILE        model metadata JSON (default: MODEL with .json)
  --labels FILE.json     class names: ["name", …] or {"0": "name", …} (default: the metadata's)
  --engine E             auto (default: fused where it covers the plan, else ort), fused (the whole explanation as
                         one onnxruntime graph; falls back to ort, saying why), ort (one graph per layer) or
                         reference (TypeScript kernels); the results agree to 1e-5 (docs/speed.md)`;

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
  return parseRuleMap(readJsonSafe(f, { what: 'rule map' }), f);
}

/** The canonizers --no-canonize skips: those that merge layers or change what the rules see, as Zennit's
 * canonizers do (the structural ones stay: constant folding, dequantising, Identity removal, Pad merging,
 * re-fusing activations an exporter split, and stripping the final Softmax). */
export const RULE_CANONIZERS = ['merge-batchnorm', 'fold-scale', 'fold-bias-add', 'explicit-sums'];

const ENGINE_NAMES = ['auto', 'fused', 'ort', 'reference'] as const;

/** openModel's engine option for --engine. */
export function engineOption(v: Values): (typeof ENGINE_NAMES)[number] | undefined {
  const e = v.engine as string | undefined;
  if (e === undefined) return undefined;
  if (!(ENGINE_NAMES as readonly string[]).includes(e)) throw new UsageError(`--engine must be one of ${ENGINE_NAMES.join(', ')}, got '${e}'`);
  return e as (typeof ENGINE_NAMES)[number];
}

/** openModel's canonize option for --no-canonize. */
export function canonizeOption(v: Values): { skip: string[] } | undefined {
  return v['no-canonize'] ? { skip: RULE_CANONIZERS } : undefined;
}

const asList = (x: number | number[]) => (Array.isArray(x) ? x : [x]);

/** Rule parameters (validated: ε ≥ 0, γ ≥ 0, low < high per channel); zBox bounds default to the metadata's. */
export function parseRuleOptions(v: Values, meta: ModelMetadata | undefined): CompositeOptions {
  const nonNegative = (flag: string): number | undefined => {
    const n = number(v[flag] as string | undefined, `--${flag}`);
    if (n !== undefined && n < 0) throw new UsageError(`--${flag} must be ≥ 0, got '${v[flag]}'`);
    return n;
  };
  const { low, high } = withBounds({ low: numbers(v.low as string | undefined, '--low'), high: numbers(v.high as string | undefined, '--high') }, defaultBounds(meta))!;
  if ((v.low !== undefined || v.high !== undefined) && low !== undefined && high !== undefined) {
    const l = asList(low), h = asList(high);
    const from = (flag: 'low' | 'high') => (v[flag] !== undefined ? `--${flag}` : `the metadata's ${flag}`);
    if (l.length > 1 && h.length > 1 && l.length !== h.length) throw new UsageError(`${from('low')} has ${l.length} values, ${from('high')} has ${h.length}: give one per channel in both`);
    const n = Math.max(l.length, h.length);
    for (let c = 0; c < n; c++) {
      const lo = l[l.length > 1 ? c : 0], hi = h[h.length > 1 ? c : 0];
      if (!(lo < hi)) throw new UsageError(`${from('low')} must be below ${from('high')}${n > 1 ? ` in every channel (channel ${c}: ${lo} ≥ ${hi})` : ` (${lo} ≥ ${hi})`}`);
    }
  }
  const betaSmooth = number(v['beta-smooth'] as string | undefined, '--beta-smooth');
  return { epsilon: nonNegative('epsilon'), gamma: nonNegative('gamma'), low, high, zeroBias: v['zero-bias'] ? true : undefined, ...(betaSmooth !== undefined ? { betaSmooth } : {}) };
}

/** --low/--high given as lists must have one value per channel of the model's input (axis 1). */
export function checkBoundChannels(v: Values, explainer: Explainer): void {
  const input = explainer.graph.inputs[0];
  const C = input?.dims && input.dims.length > 1 ? input.dims[1] : undefined;
  if (typeof C !== 'number') return;
  for (const flag of ['low', 'high']) {
    const x = numbers(v[flag] as string | undefined, `--${flag}`);
    if (Array.isArray(x) && x.length !== C) {
      throw new UsageError(`--${flag} has ${x.length} values; the model's input '${input.name}' [${input.dims!.map((d) => d ?? '?').join('x')}] has ${C} channels: give one value or ${C}`);
    }
  }
}

/** Method parameter flags → the AttributeOptions key they set. */
const PARAM_FLAGS: Record<string, keyof AttributeOptions> = {
  'sg-samples': 'samples', 'sg-noise': 'noise', 'ig-steps': 'steps', 'ig-baseline': 'baseline', 'occlusion-patch': 'patch',
  'occlusion-stride': 'stride', 'occlusion-fill': 'fill', layer: 'layer', seed: 'seed',
};

/** The method parameters given (validated), as AttributeOptions. */
export function parseMethodParams(v: Values, meta?: ModelMetadata): Omit<AttributeOptions, 'method' | 'target'> {
  const int = (flag: string, min: number): number | undefined => {
    const n = number(v[flag] as string | undefined, `--${flag}`);
    if (n !== undefined && (!Number.isInteger(n) || n < min)) throw new UsageError(`--${flag} expects an integer ≥ ${min}, got '${v[flag]}'`);
    return n;
  };
  const noise = number(v['sg-noise'] as string | undefined, '--sg-noise');
  if (noise !== undefined && noise < 0) throw new UsageError(`--sg-noise must be ≥ 0, got '${v['sg-noise']}'`);
  const o: Omit<AttributeOptions, 'method' | 'target'> = {
    samples: int('sg-samples', 1), noise, steps: int('ig-steps', 1), ...igBaseline(v, meta),
    patch: int('occlusion-patch', 1), stride: int('occlusion-stride', 1), fill: numbers(v['occlusion-fill'] as string | undefined, '--occlusion-fill'),
    layer: v.layer as string | undefined, seed: int('seed', 0),
  };
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined));
}

/** --ig-baseline: a number (image models: the value; token models: a token id), `zeros`, or `pad` (token
 * models: the padding token's id; the default when the metadata's vocabulary has one, else zeros). */
function igBaseline(v: Values, meta: ModelMetadata | undefined): { baseline?: number } {
  const raw = (v['ig-baseline'] as string | undefined)?.trim();
  const text = textMetadataOf(meta);
  let pad: number | undefined;
  try {
    pad = text ? padTokenId({ tokenizer: tokenizerSettings(text) }) : undefined;
  } catch { /* bad text metadata: reported when the input is tokenised */ }
  if (raw === undefined || raw === 'pad') {
    if (raw === 'pad' && pad === undefined) throw new UsageError(`--ig-baseline pad needs a token model whose metadata names a pad token${text ? '' : ' (no text section in the metadata)'}`);
    return pad === undefined ? {} : { baseline: pad };
  }
  if (raw === 'zeros') return {};
  const n = number(raw, '--ig-baseline');
  if (text && !Number.isInteger(n)) throw new UsageError(`--ig-baseline on a token model is a token id, pad or zeros, got '${raw}'`);
  return { baseline: n };
}

/** A model that takes token ids refuses methods that do not apply to them (usage error: exit 2). */
export function checkTokenMethods(methods: readonly Method[], explainer: Explainer): void {
  if (!explainer.graph.inputs.some((i) => i.dtype === 'int64' || i.dtype === 'int32')) return;
  for (const m of methods) {
    const why = m.attribution ? notOnTokens(m.attribution) : undefined;
    if (why) throw new UsageError(`${explainer.source}: ${why}`);
  }
}

/** A method parameter given for none of the methods run is a usage error (it would be ignored silently). */
export function checkMethodParams(v: Values, attributions: readonly string[]): void {
  for (const [flag, key] of Object.entries(PARAM_FLAGS)) {
    if (v[flag] === undefined || flag === 'seed') continue;
    const users = METHOD_NAMES.filter((m) => METHODS[m].params.includes(key));
    if (!attributions.some((a) => users.includes(a))) throw new UsageError(`--${flag} is a parameter of ${users.join(', ')}, which ${users.length > 1 ? 'are' : 'is'} not among the methods: add --method ${users[0]}`);
  }
}

/** The listed names of --composite, --method and --methods, in order. */
export function listedMethods(v: Values): { composites: string[]; methods: string[] } {
  const list = (x: unknown) => String(x ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return { composites: list(v.composite), methods: [...list(v.method), ...list(v.methods)] };
}

function unknownMethod(c: string): UsageError {
  const near = closest(c, [...COMPOSITE_NAMES, ...METHOD_NAMES]);
  return new UsageError(`unknown composite or method '${c}'${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}; known composites: ${COMPOSITE_NAMES.join(', ')}; methods: ${METHOD_NAMES.join(', ')}`);
}

/** Composites (validated), rule parameters (bounds default from the metadata), method parameters, rule map
 * → methods. --composite takes composites (and methods); --method/--methods take methods (and composites).
 * None given: `methods` is empty and `byDefault` true: the model's default composite (`defaultMethod`, once it is
 * open) runs. */
export function parseMethods(v: Values, meta: ModelMetadata | undefined): { methods: Method[]; options: CompositeOptions; byDefault: boolean } {
  const { composites: given, methods: listed } = listedMethods(v);
  for (const c of [...given, ...listed]) if (!COMPOSITE_NAMES.includes(c) && !METHOD_NAMES.includes(c)) throw unknownMethod(c);
  const names = [...given.filter((c) => COMPOSITE_NAMES.includes(c)), ...listed.filter((c) => !METHOD_NAMES.includes(c))];
  const attributions = [...given.filter((c) => !COMPOSITE_NAMES.includes(c)), ...listed.filter((c) => METHOD_NAMES.includes(c))];
  if (new Set([...names, ...attributions]).size !== names.length + attributions.length) throw new UsageError(`a composite or method is listed twice: ${[...given, ...listed].join(',')}`);
  const options = parseRuleOptions(v, meta);
  checkMethodParams(v, attributions);
  const params = parseMethodParams(v, meta);
  const ruleMapFile = v['rule-map'] as string | undefined;
  const ruleMap = ruleMapFile ? { map: readRuleMapFile(ruleMapFile), title: ruleMapFile.replace(/^.*[\\/]/, '').replace(/\.json$/i, '') } : undefined;
  const byDefault = !(names.length || ruleMap || attributions.length);
  return { methods: methodsFor(names, options, ruleMap, attributions, params), options, byDefault };
}

/** --output-relevance, or undefined: each method's default (logit for LRP, one for the gradient family). */
export function parseOutputRelevance(v: Values): OutputRelevance | undefined {
  return oneOf(v['output-relevance'] as string | undefined, '--output-relevance', ['logit', 'one', 'contrastive', 'softmax'] as const);
}

/** --output-relevance with --dual, --no-clip and --contrast (lib/explain/contrast.ts), checked together. */
export function parseSeedFlags(v: Values, labels: readonly string[] | undefined): { outputRelevance?: OutputRelevance; dual?: DualClass; clip?: boolean; contrast?: number[] } {
  const outputRelevance = parseOutputRelevance(v);
  const dual = oneOf(v.dual as string | undefined, '--dual', DUAL_CLASSES);
  const clip = v['no-clip'] ? false : undefined;
  if ((dual !== undefined || clip !== undefined) && outputRelevance !== 'contrastive') throw new UsageError(`${dual !== undefined ? '--dual' : '--no-clip'} needs --output-relevance contrastive`);
  const c = parseTargets(v.contrast as string | undefined, labels, '--contrast');
  const contrast = c === undefined ? undefined : typeof c === 'number' ? [c] : c;
  if (contrast && (outputRelevance === 'contrastive' || outputRelevance === 'softmax')) throw new UsageError(`--contrast starts from target − K with the logit or one output relevance, not ${outputRelevance}`);
  return { outputRelevance, dual, clip, contrast };
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

/** --target: class indices or names (matched against `labels`); one, or one per sample. */
export function parseTarget(v: Values, labels: readonly string[] | undefined): number | number[] | undefined {
  return parseTargets(v.target as string | undefined, labels);
}

/** The single class of --target (index or name), or undefined. */
export function singleTarget(v: Values, labels?: readonly string[]): number | undefined {
  const t = parseTarget(v, labels);
  if (Array.isArray(t)) throw new UsageError('--target takes one class here');
  return t;
}
