import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ArgumentError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { parseLlama2cTokenizer } from './llama2c-tokenizer.js';
import { createSentencePieceBpe, spmTokenType, type SpmVocab } from './sentencepiece-bpe.js';
import type { Tokenizer } from './tokenizer.js';

const tok512Path = fileURLToPath(new URL('../../assets/stories260K/tok512.bin', import.meta.url));
const tok512Vocab = parseLlama2cTokenizer(readFileSync(tok512Path), 512, tok512Path);
const tok512 = createSentencePieceBpe(tok512Vocab);

/** <unk> <s> </s>, the 256 byte pieces (ids 3..258), then `extra` as normal pieces unless a type is given. */
function smallVocab(extra: [string, number, number?][], options: { bytes?: boolean; addSpacePrefix?: boolean } = {}): SpmVocab {
  const bytes = options.bytes === false ? [] : Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const pieces = ['<unk>', '<s>', '</s>', ...bytes, ...extra.map(([p]) => p)];
  const types = [spmTokenType.unknown, spmTokenType.control, spmTokenType.control, ...bytes.map(() => spmTokenType.byte), ...extra.map(([, , t]) => t ?? spmTokenType.normal)];
  const scores = [0, 0, 0, ...bytes.map(() => 0), ...extra.map(([, s]) => s)];
  return { pieces, scores, types, bosId: 1, eosId: 2, unkId: 0, addSpacePrefix: options.addSpacePrefix ?? true };
}

/** Ids of pieces by name, for readable expectations. */
function idsOf(vocab: SpmVocab, ...pieces: string[]): number[] {
  return pieces.map((p) => {
    const id = vocab.pieces.indexOf(p);
    assert.ok(id >= 0, `piece ${p} in the test vocabulary`);
    return id;
  });
}

/**
 * llama2.c run.c's encoder, transcribed as plainly as possible (O(n^2)): the oracle for the heap-based one.
 * A byte-fallback symbol has text '' so that it never merges.
 */
function referenceEncode(vocab: SpmVocab, text: string): number[] {
  if (text === '') return [];
  const ids = new Map<string, number>();
  vocab.pieces.forEach((p, i) => {
    if ((vocab.types[i] === spmTokenType.normal || vocab.types[i] === spmTokenType.userDefined) && !ids.has(p)) ids.set(p, i);
  });
  const symbols: { text: string; id: number }[] = [];
  for (const ch of `\u2581${text.replaceAll(' ', '\u2581')}`) {
    const id = ids.get(ch);
    if (id !== undefined) symbols.push({ text: ch, id });
    else for (const b of new TextEncoder().encode(ch)) symbols.push({ text: '', id: vocab.pieces.indexOf(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`) });
  }
  for (;;) {
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const id = symbols[i]!.text && symbols[i + 1]!.text ? ids.get(symbols[i]!.text + symbols[i + 1]!.text) : undefined;
      if (id !== undefined && vocab.scores[id]! > bestScore) [best, bestScore] = [i, vocab.scores[id]!];
    }
    if (best < 0) return symbols.map((s) => s.id);
    const merged = symbols[best]!.text + symbols[best + 1]!.text;
    symbols.splice(best, 2, { text: merged, id: ids.get(merged)! });
  }
}

/**
 * Random text over all of Unicode with the awkward parts over-represented: ASCII, control characters, runs of
 * whitespace, combining marks, CJK, emoji, any plane, U+FEFF. Only scalar values: an unpaired surrogate cannot be
 * written in UTF-8, so no tokenizer can give it back. U+2581 is left out too: SentencePiece reads it as a space.
 */
function randomText(rng: Rng, maxCodePoints: number): string {
  const ranges: [number, number][] = [
    [0x20, 0x7e], [0x00, 0x1f], [0x7f, 0x9f], [0x300, 0x36f], [0x4e00, 0x9fff], [0x1f300, 0x1faff], [0x00, 0x10ffff],
  ];
  const spaces = [' ', ' ', '\t', '\n', '\r', '\u00a0', '\u3000', '\ufeff'];
  const n = rng.nextU32() % (maxCodePoints + 1);
  let out = '';
  for (let i = 0; i < n; i++) {
    const kind = rng.nextU32() % (ranges.length + 2);
    if (kind >= ranges.length) {
      out += spaces[rng.nextU32() % spaces.length]!.repeat(1 + (rng.nextU32() % 4));
      continue;
    }
    const [lo, hi] = ranges[kind]!;
    const cp = lo + (rng.nextU32() % (hi - lo + 1));
    out += (cp >= 0xd800 && cp <= 0xdfff) || cp === 0x2581 ? 'x' : String.fromCodePoint(cp);
  }
  return out;
}

function streamDecode(tok: Tokenizer, ids: readonly number[]): string {
  const decoder = tok.createDecoder();
  return ids.map((id) => decoder.push(id)).join('') + decoder.flush();
}

describe('SentencePiece BPE encoding', () => {
  it('merges the highest-scoring pair first', () => {
    const bcFirst = smallVocab([['a', -10], ['b', -11], ['c', -12], ['ab', -2], ['bc', -1]], { addSpacePrefix: false });
    assert.deepEqual(createSentencePieceBpe(bcFirst).encode('abc'), idsOf(bcFirst, 'a', 'bc'));
    const abFirst = smallVocab([['a', -10], ['b', -11], ['c', -12], ['ab', -1], ['bc', -2]], { addSpacePrefix: false });
    assert.deepEqual(createSentencePieceBpe(abFirst).encode('abc'), idsOf(abFirst, 'ab', 'c'));
  });

  it('breaks ties to the leftmost pair and keeps merging merged symbols', () => {
    const v = smallVocab([['a', -5], ['aa', -1], ['aaaa', -2]], { addSpacePrefix: false });
    assert.deepEqual(createSentencePieceBpe(v).encode('aaa'), idsOf(v, 'aa', 'a'));
    assert.deepEqual(createSentencePieceBpe(v).encode('aaaaa'), idsOf(v, 'aaaa', 'a'));
  });

  it('adds the dummy prefix to non-empty text only, and maps spaces to ▁', () => {
    const v = smallVocab([['\u2581', -9], ['a', -8], ['\u2581a', -1]]);
    const tok = createSentencePieceBpe(v);
    assert.deepEqual(tok.encode('a a'), idsOf(v, '\u2581a', '\u2581a'));
    assert.deepEqual(tok.encode(''), []);
    assert.deepEqual(tok.encode('', { bos: true, eos: true }), [1, 2]);
    assert.deepEqual(createSentencePieceBpe({ ...v, addSpacePrefix: false }).encode('a'), idsOf(v, 'a'));
  });

  it('falls back to UTF-8 byte pieces, else to unk, else throws', () => {
    const v = smallVocab([['\u2581', -1]]);
    assert.deepEqual(createSentencePieceBpe(v).encode('é'), idsOf(v, '\u2581', '<0xC3>', '<0xA9>'));
    const noBytes = smallVocab([['\u2581', -1]], { bytes: false });
    assert.deepEqual(createSentencePieceBpe(noBytes).encode('éé'), [...idsOf(noBytes, '\u2581'), 0, 0]);
    assert.throws(() => createSentencePieceBpe({ ...noBytes, unkId: -1 }).encode('é'), ArgumentError);
  });

  it('never produces control, byte or unknown pieces by merging', () => {
    const v = smallVocab([['<', -1], ['s', -2], ['>', -3], ['<s', -4], ['0', -5], ['x', -6], ['4', -7], ['1', -8]], { addSpacePrefix: false });
    const tok = createSentencePieceBpe(v);
    assert.deepEqual(tok.encode('<s>'), idsOf(v, '<s', '>'));
    assert.deepEqual(tok.encode('<0x41>'), idsOf(v, '<', '0', 'x', '4', '1', '>'));
    assert.ok(!tok.encode('<unk>').includes(0));
  });

  it('adds BOS and EOS only when asked, and refuses them when the vocabulary has none', () => {
    const v = smallVocab([['\u2581', -1]]);
    assert.deepEqual(createSentencePieceBpe(v).encode(' ', { bos: true, eos: true }), [1, ...idsOf(v, '\u2581', '\u2581'), 2]);
    assert.throws(() => createSentencePieceBpe({ ...v, bosId: -1 }).encode('x', { bos: true }), ArgumentError);
    assert.throws(() => createSentencePieceBpe({ ...v, eosId: -1 }).encode('x', { eos: true }), ArgumentError);
  });

  it('equals llama2.c run.c encoding on random text (tok512)', () => {
    const rng = new Rng(7);
    for (let i = 0; i < 300; i++) {
      const text = randomText(rng, 30);
      assert.deepEqual(tok512.encode(text), referenceEncode(tok512Vocab, text), JSON.stringify(text));
    }
  });

  it('gives the same ids with and without splitting the text into words', () => {
    // A piece with '▁' after another character turns the word split off; U+E000 never occurs in the text.
    const whole = createSentencePieceBpe({
      ...tok512Vocab,
      pieces: [...tok512Vocab.pieces, '\ue000\u2581'],
      scores: [...tok512Vocab.scores, -1000],
      types: [...tok512Vocab.types, spmTokenType.normal],
    });
    const rng = new Rng(11);
    for (let i = 0; i < 200; i++) {
      const text = randomText(rng, 60).replaceAll('\ue000', 'x');
      assert.deepEqual(tok512.encode(text), whole.encode(text), JSON.stringify(text));
    }
  });

  it('round-trips 1 MB of text, with and without spaces (speed is measured by the benchmark, not here)', () => {
    const rng = new Rng(3);
    const words = Array.from({ length: 5000 }, () => Array.from({ length: 1 + (rng.nextU32() % 9) }, () => 'etaoinshrdlucmfwypvbgkqjxz'[rng.nextU32() % 26]).join(''));
    let prose = '';
    while (prose.length < 1 << 20) prose += `${words[rng.nextU32() % words.length]}${rng.nextU32() % 12 === 0 ? '.\n' : ' '}`;
    for (const [name, text] of [['prose', prose], ['no spaces', prose.replaceAll(' ', '')]] as const) {
      assert.equal(tok512.decode(tok512.encode(text)), text, name);
    }
  });
});

describe('SentencePiece BPE decoding', () => {
  const v = smallVocab([['\u2581', -9], ['a', -8], ['\u2581a', -1], ['b\u2581', -2]]);
  const tok = createSentencePieceBpe(v);
  const [space, a, spaceA] = idsOf(v, '\u2581', 'a', '\u2581a');

  it('drops the dummy-prefix space at the start and after control tokens only', () => {
    assert.equal(tok.decode([spaceA!, spaceA!]), 'a a');
    assert.equal(tok.decode([1, spaceA!, 2, spaceA!]), 'a a');
    assert.equal(tok.decode([1, 1, space!, spaceA!]), ' a');
    assert.equal(tok.decode([a!, spaceA!]), 'a a');
    assert.equal(tok.decode([...idsOf(v, '<0x41>'), spaceA!]), 'A a');
    assert.equal(createSentencePieceBpe({ ...v, addSpacePrefix: false }).decode([1, spaceA!]), ' a');
  });

  it('renders control tokens as nothing and unk as SentencePiece does', () => {
    assert.equal(tok.decode([1, 2]), '');
    assert.equal(tok.decode([a!, 0, a!]), 'a \u2047 a');
    assert.equal(tok.piece(spaceA!), '\u2581a');
    assert.equal(tok.piece(1), '<s>');
  });

  it('turns orphan and invalid bytes into U+FFFD as TextDecoder does, whole or streamed', () => {
    const bytes = (...b: number[]) => b.map((x) => x + 3);
    for (const [ids, text] of [
      [[...bytes(0xe2, 0x96), a!], '\ufffda'],
      [[a!, ...bytes(0x80, 0xff)], 'a\ufffd\ufffd'],
      [bytes(0xf0, 0x9f, 0x8e), '\ufffd'],
      [bytes(0xef, 0xbb, 0xbf, 0x41), '\ufeffA'],
    ] as const) {
      assert.equal(tok.decode(ids), text);
      assert.equal(streamDecode(tok, ids), text);
    }
  });

  it('holds back a character split over byte tokens until it is complete', () => {
    const ids = tok512.encode('🎉!');
    assert.deepEqual(ids.slice(1, 5), [0xf0, 0x9f, 0x8e, 0x89].map((b) => b + 3));
    const decoder = tok512.createDecoder();
    assert.deepEqual(ids.map((id) => decoder.push(id)), ['', '', '', '', '🎉', '!']);
    assert.equal(decoder.flush(), '');
  });

  it('reads a literal ▁ in the input as a space, as SentencePiece does', () => {
    assert.equal(tok512.decode(tok512.encode('a\u2581b')), 'a b');
  });

  it('rejects ids outside the vocabulary, naming the id and the vocabulary size', () => {
    for (const bad of [512, -1, 1.5, Number.NaN]) {
      assert.throws(() => tok512.decode([5, bad]), (e: unknown) => e instanceof ArgumentError && e.message.includes(String(bad)) && e.message.includes('512'));
      assert.throws(() => tok512.piece(bad), ArgumentError);
      assert.throws(() => tok512.createDecoder().push(bad), ArgumentError);
    }
  });
});

describe('SentencePiece BPE round trip (tok512)', () => {
  it('decode(encode(s)) == s, and streaming equals decode, on random Unicode', () => {
    const rng = new Rng(2024);
    for (let i = 0; i < 500; i++) {
      const text = randomText(rng, 40);
      const ids = tok512.encode(text, { bos: i % 2 === 0, eos: i % 3 === 0 });
      assert.equal(tok512.decode(ids), text, JSON.stringify(text));
      assert.equal(streamDecode(tok512, ids), text, JSON.stringify(text));
    }
  });

  it('streams like decode on random id sequences, valid UTF-8 or not', () => {
    const rng = new Rng(5);
    for (let i = 0; i < 300; i++) {
      const ids = Array.from({ length: rng.nextU32() % 20 }, () => rng.nextU32() % 512);
      assert.equal(streamDecode(tok512, ids), tok512.decode(ids), `ids ${ids.join(' ')}`);
    }
  });
});

describe('SpmVocab validation', () => {
  it('rejects arrays of different lengths, unknown types and special ids out of range', () => {
    const v = smallVocab([['a', -1]]);
    assert.throws(() => createSentencePieceBpe({ ...v, scores: v.scores.slice(1) }), ArgumentError);
    assert.throws(() => createSentencePieceBpe({ ...v, types: v.types.slice(1) }), ArgumentError);
    assert.throws(() => createSentencePieceBpe({ ...v, types: v.types.map((t, i) => (i === 5 ? 7 : t)) }), ArgumentError);
    assert.throws(() => createSentencePieceBpe({ ...v, bosId: v.pieces.length }), ArgumentError);
  });
});
