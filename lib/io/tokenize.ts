/** Text → token ids with a model's own vocabulary (the `text` section of its metadata JSON, lib/metadata.ts):
 * a word-level tokenizer and BERT's WordPiece (lower-casing and accent stripping, whitespace and punctuation
 * split, greedy longest-match-first pieces with a continuation prefix, the unknown token), special tokens,
 * padding and truncation; and the checks of token ids given directly. Pure TypeScript, browser-safe. */
import { TextMetadata } from '../metadata';
import { Tensor } from '../tensor';

/** Bad text or token ids (the input is at fault: exit code 1 in the CLI). */
export class TokenError extends Error {
  override name = 'TokenError';
}

/** A tokenizer's settings with every default filled in (vocabulary loaded). */
export interface TokenizerSettings {
  vocab: string[];
  tokenizer: 'word' | 'wordpiece';
  lowercase: boolean;
  split: 'bert' | 'whitespace';
  cls: string | null;
  sep: string | null;
  pad: string | null;
  unk: string | null;
  /** null: no limit (and no padding) */
  maxLength: number | null;
  padding: 'max' | 'none';
  truncation: 'error' | 'truncate';
  continuation: string;
  maxWordLength: number;
}

export interface Encoded {
  /** token ids, special tokens and padding included */
  ids: number[];
  /** their strings */
  tokens: string[];
  /** 1 for a real token (special tokens included), 0 for padding */
  mask: number[];
  /** tokens cut off by truncation (0 unless truncation is 'truncate') */
  truncated: number;
}

/** The settings of `text` (its vocabulary given as a list: a file is read by the caller, lib/node-io.ts),
 * `maxLength` defaulting to `modelLength` (the model input's fixed sequence length, if any). */
export function tokenizerSettings(text: TextMetadata, modelLength?: number | null): TokenizerSettings {
  if (!Array.isArray(text.vocab) || !text.vocab.length || text.vocab.some((t) => typeof t !== 'string')) {
    throw new TokenError('text metadata: vocab must be a non-empty list of strings (or a file name, read beside the JSON)');
  }
  if (text.tokenizer !== 'word' && text.tokenizer !== 'wordpiece') throw new TokenError(`text metadata: tokenizer must be 'word' or 'wordpiece', got '${String(text.tokenizer)}'`);
  const has = new Set(text.vocab);
  const special = (key: 'cls' | 'sep' | 'pad' | 'unk', def: string | null): string | null => {
    const v = text[key];
    if (v === undefined) return def !== null && has.has(def) ? def : null;
    if (v === null) return null;
    if (!has.has(v)) throw new TokenError(`text metadata: ${key} token '${v}' is not in the vocabulary`);
    return v;
  };
  const maxLength = text.maxLength ?? modelLength ?? null;
  if (maxLength !== null && !(Number.isInteger(maxLength) && maxLength >= 1)) throw new TokenError(`text metadata: maxLength must be a positive integer, got ${maxLength}`);
  const padding = text.padding ?? 'max';
  if (padding !== 'max' && padding !== 'none') throw new TokenError(`text metadata: padding must be 'max' or 'none', got '${String(padding)}'`);
  if (text.split !== undefined && text.split !== 'bert' && text.split !== 'whitespace') throw new TokenError(`text metadata: split must be 'bert' or 'whitespace', got '${String(text.split)}'`);
  const truncation = text.truncation ?? 'error';
  if (truncation !== 'error' && truncation !== 'truncate') throw new TokenError(`text metadata: truncation must be 'error' or 'truncate', got '${String(truncation)}'`);
  const s: TokenizerSettings = {
    vocab: text.vocab, tokenizer: text.tokenizer, lowercase: text.lowercase ?? true, split: text.split ?? 'bert',
    cls: special('cls', null), sep: special('sep', null), pad: special('pad', '[PAD]'), unk: special('unk', '[UNK]'),
    maxLength, padding, truncation, continuation: text.continuation ?? '##', maxWordLength: text.maxWordLength ?? 100,
  };
  if (s.padding === 'max' && s.maxLength !== null && !s.pad) throw new TokenError('text metadata: padding to maxLength needs a pad token (none given, and the vocabulary has no [PAD])');
  const fixed = (s.cls ? 1 : 0) + (s.sep ? 1 : 0);
  if (s.maxLength !== null && s.maxLength <= fixed) throw new TokenError(`text metadata: maxLength ${s.maxLength} leaves no room beside the special tokens`);
  return s;
}

/** BERT's `_is_punctuation`: every non-alphanumeric ASCII character ($, +, ^ … included) and Unicode P*. */
const isPunctuation = (ch: string): boolean => /[!-/:-@[-`{-~]/.test(ch) || /\p{P}/u.test(ch);

/** BERT's basic tokenisation: control characters dropped, optionally lower-cased with accents stripped, split
 * on whitespace, every punctuation character a word of its own (CJK characters are not split apart). */
export function basicSplit(text: string, lowercase: boolean, split: 'bert' | 'whitespace' = 'bert'): string[] {
  let t = text.replace(/[\p{Cc}\p{Cf}]/gu, (c) => (/\s/.test(c) ? ' ' : ''));
  if (lowercase) t = t.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '');
  const out: string[] = [];
  for (const word of t.split(/\s+/u)) {
    if (split === 'whitespace') { if (word) out.push(word); continue; }
    let cur = '';
    for (const ch of word) {
      if (isPunctuation(ch)) {
        if (cur) out.push(cur);
        out.push(ch);
        cur = '';
      } else cur += ch;
    }
    if (cur) out.push(cur);
  }
  return out;
}

/** WordPiece on one word: the longest vocabulary prefix, then the longest continuation piece of the rest, and so
 * on; a word with no split (or longer than maxWordLength) is the unknown token (null without one). */
export function wordPieces(word: string, has: (t: string) => boolean, opts: { continuation: string; unk: string | null; maxWordLength: number }): string[] | null {
  const chars = [...word];
  if (chars.length > opts.maxWordLength) return opts.unk ? [opts.unk] : null;
  const out: string[] = [];
  for (let start = 0; start < chars.length;) {
    let end = chars.length, piece: string | null = null;
    for (; end > start; end--) {
      const sub = (start > 0 ? opts.continuation : '') + chars.slice(start, end).join('');
      if (has(sub)) { piece = sub; break; }
    }
    if (piece === null) return opts.unk ? [opts.unk] : null;
    out.push(piece);
    start = end;
  }
  return out;
}

/** Text → ids (special tokens, padding and truncation as the settings say); empty text, a word outside the
 * vocabulary without an unknown token, or a text too long (truncation 'error') throw a TokenError. */
export function encodeText(text: string, s: TokenizerSettings, index?: Map<string, number>): Encoded {
  if (typeof text !== 'string' || !text.trim()) throw new TokenError('empty text: nothing to tokenise');
  const ids = index ?? vocabIndex(s.vocab);
  const has = (t: string) => ids.has(t);
  const pieces: string[] = [];
  for (const word of basicSplit(text, s.lowercase, s.split)) {
    const p = s.tokenizer === 'wordpiece' ? wordPieces(word, has, s) : has(word) ? [word] : s.unk ? [s.unk] : null;
    if (!p) throw new TokenError(`the word '${word}' is not in the vocabulary and it has no unknown token`);
    pieces.push(...p);
  }
  if (!pieces.length) throw new TokenError('the text has no token (only control characters)');
  const fixed = (s.cls ? 1 : 0) + (s.sep ? 1 : 0);
  let truncated = 0;
  if (s.maxLength !== null && pieces.length + fixed > s.maxLength) {
    if (s.truncation === 'error') {
      throw new TokenError(`the text is ${pieces.length + fixed} tokens long (special tokens included), longer than the model's ${s.maxLength}; shorten it (or set text.truncation to 'truncate' in the metadata)`);
    }
    truncated = pieces.length + fixed - s.maxLength;
    pieces.length = s.maxLength - fixed;
  }
  const tokens = [...(s.cls ? [s.cls] : []), ...pieces, ...(s.sep ? [s.sep] : [])];
  const mask = tokens.map(() => 1);
  if (s.padding === 'max' && s.maxLength !== null) {
    while (tokens.length < s.maxLength) { tokens.push(s.pad!); mask.push(0); }
  }
  return { ids: tokens.map((t) => ids.get(t)!), tokens, mask, truncated };
}

/** token → id (the first id of a token listed twice). */
export function vocabIndex(vocab: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  vocab.forEach((t, k) => { if (!m.has(t)) m.set(t, k); });
  return m;
}

/** `--tokens "12,7,99"`: comma- (or space-) separated non-negative integers. */
export function parseTokenList(text: string): number[] {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  if (!parts.length) throw new TokenError('no token ids given (expected e.g. "12,7,99")');
  return parts.map((p) => {
    if (!/^-?\d+$/.test(p)) throw new TokenError(`token id '${p}' is not an integer (expected e.g. "12,7,99")`);
    return Number(p);
  });
}

/** Checks token ids: integers in [0, vocabSize) (vocabSize unknown: only ≥ 0), rank-2 [N, T] int tensors;
 * throws a TokenError naming the first bad id and its position. */
export function checkTokenIds(ids: ArrayLike<number | bigint>, vocabSize: number | undefined, where = 'token ids'): void {
  for (let i = 0; i < ids.length; i++) {
    const v = Number(ids[i]);
    if (!Number.isInteger(v) || v < 0) throw new TokenError(`${where}: id ${String(ids[i])} at position ${i} is negative or not an integer`);
    if (vocabSize !== undefined && v >= vocabSize) throw new TokenError(`${where}: id ${v} at position ${i} is outside the vocabulary of ${vocabSize} tokens (0–${vocabSize - 1})`);
  }
}

/** Rows of token ids (all the same length) as an int64 tensor [N, T]. */
export function idsTensor(rows: readonly (readonly number[])[]): Tensor & { dtype: 'int64'; data: BigInt64Array } {
  const T = rows[0]?.length ?? 0;
  if (rows.some((r) => r.length !== T)) throw new TokenError(`token rows differ in length (${rows.map((r) => r.length).join(', ')}); pad them to one length`);
  const data = new BigInt64Array(rows.length * T);
  rows.forEach((r, n) => r.forEach((v, t) => { data[n * T + t] = BigInt(v); }));
  return { dtype: 'int64', dims: [rows.length, T], data };
}

/** The strings of ids (a vocabulary given), else the ids as strings. */
export function tokenStrings(ids: ArrayLike<number | bigint>, vocab?: readonly string[]): string[] {
  return Array.from({ length: ids.length }, (_, i) => { const k = Number(ids[i]); return vocab?.[k] ?? String(k); });
}

export function isTokenTensor(t: Tensor): boolean {
  return t.dtype === 'int64' || t.dtype === 'int32';
}
