/** Token inputs of a model: which input takes the token ids, its length and vocabulary size, text and id lists
 * turned into a checked int64 tensor, and relevance per token with the token strings. Browser-safe (the
 * vocabulary arrives in the metadata object: lib/node-io.ts reads a vocabulary file). */
import { Explainer } from '../explain';
import { Graph, Node } from '../ir/graph';
import { Encoded, TokenError, TokenizerSettings, checkTokenIds, encodeText, idsTensor, tokenStrings, tokenizerSettings, vocabIndex } from '../io/tokenize';
import { ModelMetadata, textMetadataOf } from '../metadata';
import { Tensor } from '../tensor';

/** What a model's token input takes. */
export interface TokenInput {
  /** the input's name */
  input: string;
  /** its fixed sequence length, or null when symbolic */
  length: number | null;
  /** from the vocabulary, else the rows of the embedding table the ids index (a Gather on a constant) */
  vocabSize?: number;
  /** id → token string (with a text section in the metadata) */
  vocab?: string[];
  /** the tokenizer (with a text section in the metadata) */
  tokenizer?: TokenizerSettings;
}

/** The token input of `explainer` (metadata `text.input`, else the first int64/int32 input), or null when the
 * model takes no integer input. */
export function tokenInputOf(explainer: Explainer, meta?: ModelMetadata): TokenInput | null {
  const g = explainer.graph;
  const text = textMetadataOf(meta);
  const name = text?.input;
  const info = name !== undefined ? g.inputs.find((i) => i.name === name) : g.inputs.find((i) => i.dtype === 'int64' || i.dtype === 'int32');
  if (name !== undefined && !info) throw new TokenError(`${explainer.source}: the metadata's text.input '${name}' is not an input of the model (inputs: ${g.inputs.map((i) => i.name).join(', ')})`);
  if (!info) return null;
  const d = info.dims?.[1];
  const length = info.dims && info.dims.length >= 2 && typeof d === 'number' && d > 0 ? d : null;
  const tokenizer = text ? tokenizerSettings(text, length) : undefined;
  if (tokenizer && length !== null && tokenizer.maxLength !== length) {
    throw new TokenError(`${explainer.source}: the metadata's text.maxLength ${tokenizer.maxLength} differs from the length of input '${info.name}' (${length})`);
  }
  return { input: info.name, length, vocabSize: tokenizer?.vocab.length ?? embeddingRows(explainer, info.name), vocab: tokenizer?.vocab, tokenizer };
}

/** Rows of the embedding table the ids of `input` index: the first dimension of the constant a Gather reads
 * with them (behind Cast/Reshape/Unsqueeze/Squeeze/Flatten). */
function embeddingRows(explainer: Explainer, input: string): number | undefined {
  const gather = embeddingGather(explainer.graph, input);
  return gather ? explainer.graph.constant(gather.inputs[0])?.dims[0] : undefined;
}

/** The token embedding the ids of graph input `input` index: the first Gather along axis 0 on a constant table
 * that reads them (behind Cast/Reshape/Unsqueeze/Squeeze/Flatten/Identity, which keep their order). */
export function embeddingGather(g: Graph, input: string): Node | undefined {
  const seen = new Set<string>();
  const walk = (v: string): Node | undefined => {
    if (seen.has(v)) return undefined;
    seen.add(v);
    for (const n of g.consumers(v)) {
      if (n.opType === 'Gather' && n.inputs[1] === v && g.isConstant(n.inputs[0]) && Number(n.attrs.axis ?? 0) === 0) return n;
      if (['Cast', 'Reshape', 'Unsqueeze', 'Squeeze', 'Flatten', 'Identity'].includes(n.opType) && n.inputs[0] === v) {
        const r = walk(n.outputs[0]);
        if (r !== undefined) return r;
      }
    }
    return undefined;
  };
  return walk(input);
}

/** A token-id input, checked, with its token strings per row. */
export interface TokenBatch {
  tensor: Tensor & { dtype: 'int64'; data: BigInt64Array };
  /** per row: the token strings (ids as strings without a vocabulary) */
  tokens: string[][];
  /** per row: 1 for a real token, 0 for padding (text only; ids given directly: all 1) */
  mask: number[][];
}

/** Texts tokenised with the model's vocabulary (one row each). */
export function encodeTexts(spec: TokenInput, texts: string[], where = 'text'): TokenBatch {
  if (!spec.tokenizer) throw new TokenError(`${where}: the model's metadata JSON has no text section (vocabulary and tokenizer): give token ids instead (--tokens or an int64 .npy)`);
  const index = vocabIndex(spec.tokenizer.vocab);
  const rows: Encoded[] = texts.map((t, k) => {
    try {
      return encodeText(t, spec.tokenizer!, index);
    } catch (e) {
      throw new TokenError(`${texts.length > 1 ? `${where} #${k + 1}` : where}: ${(e as Error).message}`);
    }
  });
  const T = Math.max(...rows.map((r) => r.ids.length));
  if (rows.some((r) => r.ids.length !== T)) {
    if (!spec.tokenizer.pad) throw new TokenError(`${where}: texts of different lengths need a pad token to be batched`);
    const pad = index.get(spec.tokenizer.pad)!;
    for (const r of rows) while (r.ids.length < T) { r.ids.push(pad); r.tokens.push(spec.tokenizer.pad); r.mask.push(0); }
  }
  return { tensor: idsTensor(rows.map((r) => r.ids)), tokens: rows.map((r) => r.tokens), mask: rows.map((r) => r.mask) };
}

/** Token ids given directly (a list, or an int tensor [T] or [N, T]), checked against the vocabulary size and the
 * model's fixed length. */
export function tokenIds(spec: TokenInput, ids: readonly number[] | Tensor, where = 'token ids'): TokenBatch {
  let rows: number[][];
  if (Array.isArray(ids)) rows = [[...ids]];
  else {
    const t = ids as Tensor;
    if (t.dtype !== 'int64' && t.dtype !== 'int32') throw new TokenError(`${where}: ${t.dtype} tensor; token ids must be int64 (or int32)`);
    if (t.dims.length !== 1 && t.dims.length !== 2) throw new TokenError(`${where}: shape [${t.dims.join('x')}]; token ids must be [T] or [N, T]`);
    const T = t.dims[t.dims.length - 1], N = t.dims.length === 2 ? t.dims[0] : 1;
    const src = t.data as ArrayLike<number | bigint>;
    rows = Array.from({ length: N }, (_, n) => Array.from({ length: T }, (_, k) => Number(src[n * T + k])));
  }
  rows.forEach((r, n) => checkTokenIds(r, spec.vocabSize, rows.length > 1 ? `${where} row ${n}` : where));
  if (!rows[0]?.length) throw new TokenError(`${where}: no token ids`);
  if (spec.length !== null && rows[0].length !== spec.length) {
    throw new TokenError(`${where}: ${rows[0].length} tokens; the model's input '${spec.input}' takes exactly ${spec.length}${spec.length > rows[0].length && spec.tokenizer?.pad ? ` (pad with ${spec.tokenizer.pad}, id ${spec.tokenizer.vocab.indexOf(spec.tokenizer.pad)})` : ''}`);
  }
  return { tensor: idsTensor(rows), tokens: rows.map((r) => tokenStrings(r, spec.vocab)), mask: rows.map((r) => r.map(() => 1)) };
}

/** Relevance per token of one row: a map [N, T] (the relevance of the ids input), or [N, T, D] (e.g. at the
 * embedding output: summed over the width). */
export function tokenRelevance(relevance: Tensor & { data: Float32Array }, row: number): Float32Array {
  const [N, T] = relevance.dims;
  if (relevance.dims.length < 2 || row >= N) throw new Error(`token relevance: shape [${relevance.dims.join('x')}] is not [N, T] or [N, T, D] (row ${row})`);
  const D = relevance.dims.slice(2).reduce((a, d) => a * d, 1);
  const out = new Float32Array(T);
  for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) out[t] += relevance.data[(row * T + t) * D + d];
  return out;
}

/** Positions of special tokens (cls, sep, pad) in a row of token strings: kept out of token deletion. */
export function specialPositions(tokens: readonly string[], spec: Pick<TokenInput, 'tokenizer'>): number[] {
  const s = spec.tokenizer;
  if (!s) return [];
  const special = new Set([s.cls, s.sep, s.pad].filter((x): x is string => !!x));
  return tokens.flatMap((t, k) => (special.has(t) ? [k] : []));
}

/** The id of the padding token (the tokenizer's), or undefined without one: the default baseline of integrated
 * gradients on tokens (lib/methods/token-ig.ts) and the replacement of token deletion. */
export function padTokenId(spec: Pick<TokenInput, 'tokenizer'>): number | undefined {
  const s = spec.tokenizer;
  return s?.pad ? s.vocab.indexOf(s.pad) : undefined;
}
