import { expect } from 'chai';
import { textMetadataOf } from '../../lib/metadata';
import { TokenError, basicSplit, checkTokenIds, encodeText, idsTensor, parseTokenList, tokenizerSettings, wordPieces } from '../../lib/io/tokenize';

// BERT's own examples (tokenization_test.py of google-research/bert), on its test vocabulary
const BERT_VOCAB = ['[UNK]', '[CLS]', '[SEP]', 'want', '##want', '##ed', 'wa', 'un', 'runn', '##ing', ',', 'low', 'lowest'];
const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'the', 'cat', 'sat', '.', 'un', '##aff', '##able', 'hello', '!', 'cafe'];

describe('tokenizer (lib/io/tokenize.ts)', () => {
  it('splits on whitespace and punctuation, lower-cases and strips accents (BERT basic tokenizer)', () => {
    expect(basicSplit(' \tHeLLo!how  \n Are yoU?  ', true)).to.deep.equal(['hello', '!', 'how', 'are', 'you', '?']);
    expect(basicSplit('HäLLo!how  \n Are yoU?  ', false)).to.deep.equal(['HäLLo', '!', 'how', 'Are', 'yoU', '?']);
    expect(basicSplit('Café $5+x', true)).to.deep.equal(['cafe', '$', '5', '+', 'x']);
  });

  it('WordPiece: greedy longest match first, ## continuation, [UNK] for a word without a split', () => {
    const has = (t: string) => BERT_VOCAB.includes(t);
    const wp = (w: string) => wordPieces(w, has, { continuation: '##', unk: '[UNK]', maxWordLength: 100 });
    expect(wp('unwanted')).to.deep.equal(['un', '##want', '##ed']);
    expect(wp('running')).to.deep.equal(['runn', '##ing']);
    expect(wp('unwantedx')).to.deep.equal(['[UNK]']);
    expect(wordPieces('xyz', has, { continuation: '##', unk: null, maxWordLength: 100 })).to.equal(null);
    expect(wordPieces('lowest', has, { continuation: '##', unk: '[UNK]', maxWordLength: 3 })).to.deep.equal(['[UNK]']);
    const s = tokenizerSettings({ vocab: BERT_VOCAB, tokenizer: 'wordpiece' });
    expect(encodeText('UNwant\u00E9d,running', s).tokens).to.deep.equal(['un', '##want', '##ed', ',', 'runn', '##ing']);
  });

  it('adds [CLS]/[SEP], pads to maxLength with [PAD] and reports the mask', () => {
    const s = tokenizerSettings({ vocab: VOCAB, tokenizer: 'wordpiece', cls: '[CLS]', sep: '[SEP]', maxLength: 8 });
    const e = encodeText('The unaffable cat.', s);
    expect(e.tokens).to.deep.equal(['[CLS]', 'the', 'un', '##aff', '##able', 'cat', '.', '[SEP]']);
    expect(e.ids).to.deep.equal([2, 4, 8, 9, 10, 5, 7, 3]);
    const f = encodeText('hello dog', s);
    expect(f.tokens).to.deep.equal(['[CLS]', 'hello', '[UNK]', '[SEP]', '[PAD]', '[PAD]', '[PAD]', '[PAD]']);
    expect(f.mask).to.deep.equal([1, 1, 1, 1, 0, 0, 0, 0]);
  });

  it('word-level: each word a token, unknown words [UNK]; no padding when the length is symbolic', () => {
    const s = tokenizerSettings({ vocab: VOCAB, tokenizer: 'word' });
    expect(s.maxLength).to.equal(null);
    expect(encodeText('the cats sat!', s).tokens).to.deep.equal(['the', '[UNK]', 'sat', '!']);
    const noUnk = tokenizerSettings({ vocab: VOCAB, tokenizer: 'word', unk: null });
    expect(() => encodeText('the cats', noUnk)).to.throw(TokenError, /'cats' is not in the vocabulary/);
  });

  it('too long: an error naming both lengths, or truncation keeping [SEP]', () => {
    const s = tokenizerSettings({ vocab: VOCAB, tokenizer: 'word', cls: '[CLS]', sep: '[SEP]' }, 4);
    expect(() => encodeText('the cat sat .', s)).to.throw(TokenError, /6 tokens long .* longer than the model's 4/);
    const t = tokenizerSettings({ vocab: VOCAB, tokenizer: 'word', cls: '[CLS]', sep: '[SEP]', truncation: 'truncate' }, 4);
    const e = encodeText('the cat sat .', t);
    expect(e.tokens).to.deep.equal(['[CLS]', 'the', 'cat', '[SEP]']);
    expect(e.truncated).to.equal(2);
  });

  it('refuses empty text and bad metadata with one-line errors', () => {
    const s = tokenizerSettings({ vocab: VOCAB, tokenizer: 'word' });
    expect(() => encodeText('  \n ', s)).to.throw(TokenError, /empty text/);
    expect(() => tokenizerSettings({ vocab: VOCAB, tokenizer: 'bpe' as 'word' })).to.throw(/tokenizer must be 'word' or 'wordpiece'/);
    expect(() => tokenizerSettings({ vocab: VOCAB, tokenizer: 'word', cls: '<s>' })).to.throw(/cls token '<s>' is not in the vocabulary/);
    expect(() => tokenizerSettings({ vocab: ['a', 'b'], tokenizer: 'word' }, 4)).to.throw(/needs a pad token/);
    expect(() => tokenizerSettings({ vocab: [], tokenizer: 'word' })).to.throw(/non-empty list/);
  });

  it('reads the tokenizer section scripts/train_text.py writes (ids for special tokens, whitespace split)', () => {
    const meta = { input: { name: 'input_ids' }, tokenizer: { kind: 'word' as const, lowercase: true, split: 'whitespace' as const, maxLength: 6, prepend: '[CLS]', padding: 'right' as const, truncation: 'right' as const, cls: 1, pad: 0, unk: 2, vocabulary: ['[PAD]', '[CLS]', '[UNK]', 'rain', 'the', 'goal'] } };
    const text = textMetadataOf(meta)!;
    expect(text).to.deep.include({ tokenizer: 'word', cls: '[CLS]', pad: '[PAD]', unk: '[UNK]', sep: null, split: 'whitespace', truncation: 'truncate', padding: 'max', input: 'input_ids' });
    const s = tokenizerSettings(text);
    expect(encodeText('The rain, goal', s).tokens).to.deep.equal(['[CLS]', 'the', '[UNK]', 'goal', '[PAD]', '[PAD]']); // 'rain,' is one word
    expect(encodeText('the goal the goal the goal the', s)).to.deep.include({ truncated: 2 });
    expect(textMetadataOf({ text: { vocab: ['a'], tokenizer: 'word' } })).to.deep.equal({ vocab: ['a'], tokenizer: 'word' });
    expect(textMetadataOf({})).to.equal(undefined);
  });

  it('parses and checks token id lists', () => {
    expect(parseTokenList('12,7, 99')).to.deep.equal([12, 7, 99]);
    expect(() => parseTokenList('')).to.throw(TokenError, /no token ids/);
    expect(() => parseTokenList('1,x')).to.throw(TokenError, /'x' is not an integer/);
    expect(() => checkTokenIds([1, -2], 10)).to.throw(TokenError, /id -2 at position 1 is negative/);
    expect(() => checkTokenIds([1, 10], 10)).to.throw(TokenError, /id 10 at position 1 is outside the vocabulary of 10 tokens/);
    expect(() => checkTokenIds([BigInt(3)], 10)).to.not.throw();
    const t = idsTensor([[1, 2], [3, 4]]);
    expect(t.dims).to.deep.equal([2, 2]);
    expect(Array.from(t.data, Number)).to.deep.equal([1, 2, 3, 4]);
    expect(() => idsTensor([[1], [1, 2]])).to.throw(/differ in length/);
  });
});
