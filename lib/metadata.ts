/** Model metadata (the JSON shipped beside a model): labels, input layout and normalisation, zBox bounds. */
export interface ModelMetadata {
  name?: string;
  file?: string;
  description?: string;
  dataset?: string;
  labels?: string[];
  input?: {
    name?: string;
    shape?: (number | null | string)[];
    layout?: 'NCHW' | 'NHWC';
    channels?: 'rgb' | 'grayscale';
    valueRange?: [number, number];
    mean?: number[];
    std?: number[];
  };
  output?: { name?: string };
  bounds?: { low: number | number[]; high: number | number[] };
  accuracy?: { test: number; split?: string; measuredBy?: string };
  training?: Record<string, unknown>;
  opset?: number;
  /** text models: how text becomes token ids (see TextMetadata, docs/library.md#text-models) */
  text?: TextMetadata;
  /** the same, in the form scripts/train_text.py writes (special tokens by id); read through textMetadataOf */
  tokenizer?: TokenizerMetadata;
}

/** The `tokenizer` section scripts/train_text.py writes: the vocabulary inline, special tokens by id. */
export interface TokenizerMetadata {
  kind: 'word' | 'wordpiece';
  vocabulary: string[];
  lowercase?: boolean;
  /** 'whitespace': words are split on whitespace only; 'bert' (default): punctuation split too */
  split?: 'whitespace' | 'bert';
  maxLength?: number;
  /** token strings or ids */
  cls?: number | string | null;
  sep?: number | string | null;
  pad?: number | string | null;
  unk?: number | string | null;
  /** a token prepended (its string), e.g. '[CLS]' */
  prepend?: string;
  padding?: 'right' | 'none';
  /** 'right': cut at the end; absent: a text too long is an error */
  truncation?: 'right';
}

/** The model's text section: `text` as given, or the `tokenizer` section turned into one. */
export function textMetadataOf(meta: ModelMetadata | undefined): TextMetadata | undefined {
  if (meta?.text) return meta.text;
  const t = meta?.tokenizer;
  if (!t) return undefined;
  const v = t.vocabulary;
  const tok = (x: number | string | null | undefined) => (typeof x === 'number' ? v?.[x] ?? `#${x}` : x);
  return {
    vocab: v, tokenizer: t.kind, lowercase: t.lowercase, split: t.split, maxLength: t.maxLength,
    cls: t.prepend ?? tok(t.cls) ?? null, sep: tok(t.sep) ?? null, pad: tok(t.pad), unk: tok(t.unk),
    padding: t.padding === 'none' ? 'none' : 'max', truncation: t.truncation === 'right' ? 'truncate' : 'error',
    input: meta?.input?.name,
  };
}

/** The `text` section of a text model's metadata JSON: its vocabulary and how text is tokenised. The token of
 * id k is `vocab[k]`. Special tokens are named by their string and must be in the vocabulary. */
export interface TextMetadata {
  /** the vocabulary, in id order: the tokens, or a file (one token per line, UTF-8) relative to the JSON */
  vocab: string[] | string;
  /** 'word': whitespace and punctuation split, each word a token; 'wordpiece': each word split greedily into the
   * longest vocabulary pieces, continuation pieces prefixed with `continuation` (BERT's WordPiece) */
  tokenizer: 'word' | 'wordpiece';
  /** lower-case the text first (default true) */
  lowercase?: boolean;
  /** 'bert' (default): split on whitespace and punctuation; 'whitespace': on whitespace only */
  split?: 'bert' | 'whitespace';
  /** prepended / appended token (e.g. '[CLS]' / '[SEP]'); absent or null: none */
  cls?: string | null;
  sep?: string | null;
  /** the padding token (default '[PAD]' when the vocabulary has it); padding needs one */
  pad?: string | null;
  /** the unknown-word token (default '[UNK]' when the vocabulary has it); without one an unknown word is an error */
  unk?: string | null;
  /** sequence length in tokens, special tokens included (default: the model input's fixed length, if any) */
  maxLength?: number;
  /** 'max' (default): pad every sequence to maxLength; 'none': no padding (models with a symbolic length) */
  padding?: 'max' | 'none';
  /** a text longer than maxLength: 'error' (default) or 'truncate' (the end is cut, [SEP] kept) */
  truncation?: 'error' | 'truncate';
  /** WordPiece continuation prefix (default '##') */
  continuation?: string;
  /** longest word WordPiece splits (longer words become the unknown token; default 100) */
  maxWordLength?: number;
  /** the name of the token-id input (default: the model's first int64 input) */
  input?: string;
}

export interface Bounds { low: number | number[]; high: number | number[] }

/** The zBox bounds implied by a metadata's value range and normalisation, or its explicit bounds. */
export function boundsOf(meta: ModelMetadata | undefined): Bounds | undefined {
  if (!meta) return undefined;
  if (meta.bounds) return meta.bounds;
  const i = meta.input;
  if (!i?.valueRange) return undefined;
  const [lo, hi] = i.valueRange;
  if (!i.mean || !i.std) return { low: lo, high: hi };
  return { low: i.mean.map((m, c) => (lo - m) / i.std![c]), high: i.mean.map((m, c) => (hi - m) / i.std![c]) };
}

/** The zBox bounds implied by preprocessing (its value range after normalisation), or undefined without a range. */
export function imageBounds(p: { valueRange?: [number, number]; mean?: number[]; std?: number[] }): Bounds | undefined {
  return boundsOf({ input: { valueRange: p.valueRange, mean: p.mean, std: p.std } });
}

/** The zBox bounds when none are given, the one rule every caller follows: the metadata's (explicit, or implied
 * by its value range and normalisation), else those the preprocessing implies, else none. */
export function defaultBounds(meta: ModelMetadata | undefined, preprocessing?: Parameters<typeof imageBounds>[0]): Bounds | undefined {
  return boundsOf(meta) ?? (preprocessing ? imageBounds(preprocessing) : undefined);
}

/** `options` with zBox `low`/`high` taken from `bounds` where not given: the one place bounds are defaulted
 * (callers choose the bounds: the metadata's, the preprocessing's). Without bounds, `options` unchanged. */
export function withBounds<T extends { low?: number | number[]; high?: number | number[] }>(options: T | undefined, bounds: Bounds | undefined): T | undefined {
  return bounds ? ({ ...options, low: options?.low ?? bounds.low, high: options?.high ?? bounds.high } as T) : options;
}

export function labelOf(meta: ModelMetadata | undefined, k: number): string | undefined {
  return meta?.labels?.[k];
}

/** The input value of black: the metadata's lowest input value after normalisation. */
export function blackValue(meta: ModelMetadata | undefined): number[] {
  const [lo] = meta?.input?.valueRange ?? [0, 1];
  const means = meta?.input?.mean ?? [0], stds = meta?.input?.std ?? [1];
  return means.map((m, c) => (lo - m) / stds[c]);
}
