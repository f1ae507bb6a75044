import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { FormatError, UnsupportedError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { parseLlama2cTokenizer } from '../tokenizer/llama2c-tokenizer.js';
import { fuzzMismatches, fuzzStrings } from '../testing/tokenizer-fuzz.js';
import { createSentencePieceBpe, type SpmVocab } from '../tokenizer/sentencepiece-bpe.js';
import { byteLevelAlphabet } from '../tokenizer/byte-level-bpe.js';
import { closeGguf, openGguf, withGguf } from './gguf.js';
import { mergesFromRanks, spmVocabFromGguf, vocabFromGguf, vocabSize, vocabToGgufMetadata } from './gguf-tokenizer.js';
import { writeGguf } from './gguf-writer.js';
import { loadTokenizer } from './load-tokenizer.js';
import { parseTiktokenFile } from './tiktoken-file.js';

const fixture = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const llamaSpmPath = fixture('test/fixtures/llama.cpp-vocab/ggml-vocab-llama-spm.gguf');

function spmVocabOf(path: string): SpmVocab {
  const file = openGguf(path);
  try {
    return spmVocabFromGguf(file.metadata, path);
  } finally {
    closeGguf(file);
  }
}

const llama2 = createSentencePieceBpe(spmVocabOf(llamaSpmPath));

/** llama.cpp's test inputs: each string is followed by the separator, the last one too. */
function vocabTests(): { text: string; ids: number[] }[] {
  const inputs = readFileSync(`${llamaSpmPath}.inp`, 'utf8').split('\n__ggml_vocab_test__\n');
  assert.equal(inputs.pop(), '');
  const lines = readFileSync(`${llamaSpmPath}.out`, 'utf8').split('\n');
  return inputs.map((text, i) => ({ text, ids: lines[i]!.trim().split(' ').filter((s) => s !== '').map(Number) }));
}

describe('LLaMA 1/2 vocabulary from GGUF', () => {
  it('reproduces all 46 llama.cpp llama-spm test vectors (no BOS)', () => {
    const tests = vocabTests();
    assert.equal(tests.length, 46);
    const mismatches = tests
      .map(({ text, ids }, i) => ({ i, text, expected: ids.join(' '), got: llama2.encode(text).join(' ') }))
      .filter((t) => t.expected !== t.got);
    assert.deepEqual(mismatches, []);
  });

  it('equals SentencePiece on 10,000 random strings, and decodes those without "▁" back', () => {
    const mismatches = fuzzMismatches(llama2, 'sentencepiece-llama2');
    assert.deepEqual(mismatches.slice(0, 5), [], `${mismatches.length} mismatches`);
    // SentencePiece writes a space as "▁", so a "▁" in the input decodes as a space.
    const lossy = fuzzStrings().filter((s) => !s.includes('\u2581') && llama2.decode(llama2.encode(s)) !== s);
    assert.deepEqual(lossy.slice(0, 5), []);
  });

  it('merges a 1 MB run of one character in O(n log n) heap steps', () => {
    for (const char of ['a', '\u2581', '7']) {
      const text = char.repeat(1 << 20);
      const before = llama2.mergeSteps;
      const ids = llama2.encode(text);
      const n = text.length, steps = llama2.mergeSteps - before;
      // Each merge re-keys at most 3 heap entries, each in at most log2(n) + 1 moves; n merges at most.
      assert.ok(steps <= 4 * n * (Math.log2(n) + 1), `${JSON.stringify(char)}: ${steps} heap steps for ${n} characters`);
      assert.equal(llama2.decode(ids), char === '\u2581' ? ' '.repeat(n) : text); // '▁' decodes as a space
    }
  });

  it('encodes an unpaired surrogate as U+FFFD (byte fallback of its UTF-8), as UTF-8 encoders do', () => {
    assert.deepEqual(llama2.encode('a\ud800b'), llama2.encode('a\ufffdb'));
  });

  it('keeps a string that starts with U+FEFF whole (piece 30143 is the BOM itself)', () => {
    assert.equal(llama2.piece(30143), '\ufeff');
    assert.deepEqual(llama2.encode('\ufeffa'), [29871, 30143, 29874]);
  });

  it('decodes each test vector back to its input', () => {
    for (const { text, ids } of vocabTests()) assert.equal(llama2.decode(ids), text);
  });

  it('gives the ids of llama2.c test.c, with BOS', () => {
    assert.deepEqual(llama2.encode('I believe the meaning of life is', { bos: true }), [1, 306, 4658, 278, 6593, 310, 2834, 338]);
    assert.deepEqual(llama2.encode('', { bos: true }), [1]);
    assert.deepEqual([llama2.vocabSize, llama2.bosId, llama2.eosId], [32000, 1, 2]);
  });

  it('round-trips random Unicode and streams it like decode', () => {
    const rng = new Rng(99);
    for (let i = 0; i < 300; i++) {
      const text = randomText(rng, 40);
      const ids = llama2.encode(text, { bos: true });
      const decoder = llama2.createDecoder();
      assert.equal(llama2.decode(ids), text, JSON.stringify(text));
      assert.equal(ids.map((id) => decoder.push(id)).join('') + decoder.flush(), text, JSON.stringify(text));
    }
  });

  it('round-trips 1 MB of text, with and without spaces (speed is measured by the benchmark, not here)', () => {
    const rng = new Rng(1);
    const words = Array.from({ length: 20000 }, () => randomWord(rng));
    let text = '';
    while (text.length < 1 << 20) text += `${words[rng.nextU32() % words.length]}${rng.nextU32() % 10 === 0 ? ',\n' : ' '}`;
    for (const [name, t] of [['words', text], ['no spaces', text.replaceAll(' ', '')]] as const) {
      assert.equal(llama2.decode(llama2.encode(t)), t, name);
    }
  });
});

describe('tok512.bin and the vocabulary inside stories260K.gguf', () => {
  const fromBin = parseLlama2cTokenizer(readFileSync(fixture('assets/stories260K/tok512.bin')), 512, 'tok512.bin');
  const fromGguf = spmVocabOf(fixture('test/fixtures/stories260K/stories260K.gguf'));

  it('have the same pieces, scores, types and special ids', () => {
    assert.deepEqual(fromBin.pieces, fromGguf.pieces);
    assert.deepEqual(Array.from(fromBin.scores), Array.from(fromGguf.scores));
    assert.deepEqual(fromBin.types, fromGguf.types);
    assert.deepEqual([fromBin.bosId, fromBin.eosId, fromBin.unkId, fromBin.addSpacePrefix], [fromGguf.bosId, fromGguf.eosId, fromGguf.unkId, fromGguf.addSpacePrefix]);
  });

  it('encode to the same ids', () => {
    const [a, b] = [createSentencePieceBpe(fromBin), createSentencePieceBpe(fromGguf)];
    const rng = new Rng(4);
    const texts = [...vocabTests().map((t) => t.text), 'Once upon a time, there was a little girl named Lily.', ...Array.from({ length: 100 }, () => randomText(rng, 30))];
    for (const text of texts) assert.deepEqual(a.encode(text, { bos: true }), b.encode(text, { bos: true }), JSON.stringify(text));
  });
});

describe('spmVocabFromGguf metadata checks', () => {
  const base = (): Map<string, unknown> =>
    new Map<string, unknown>([
      ['tokenizer.ggml.model', 'llama'],
      ['tokenizer.ggml.tokens', ['<unk>', '<s>', '</s>', '\u2581a']],
      ['tokenizer.ggml.scores', [0, 0, 0, -1]],
      ['tokenizer.ggml.token_type', [2, 3, 3, 1]],
    ]);
  const withKey = (key: string, value: unknown) => new Map(base()).set(key, value);
  const without = (key: string) => {
    const m = base();
    m.delete(key);
    return m;
  };
  const fieldError = (field: string) => (e: unknown) => e instanceof FormatError && e.field === field && e.file === 'x.gguf';

  it('reads the keys, with llama.cpp defaults for absent special ids and add_space_prefix', () => {
    const v = spmVocabFromGguf(base(), 'x.gguf');
    assert.deepEqual([v.pieces.length, v.bosId, v.eosId, v.unkId, v.addSpacePrefix], [4, 1, 2, 0, true]);
    const custom = spmVocabFromGguf(new Map([...base(), ['tokenizer.ggml.bos_token_id', 0xffffffff], ['tokenizer.ggml.eos_token_id', 3], ['tokenizer.ggml.add_space_prefix', false]]), 'x.gguf');
    assert.deepEqual([custom.bosId, custom.eosId, custom.addSpacePrefix], [-1, 3, false]);
  });

  it('rejects other tokenizer models as unsupported', () => {
    assert.throws(() => spmVocabFromGguf(withKey('tokenizer.ggml.model', 'gpt2'), 'x.gguf'), (e: unknown) => e instanceof UnsupportedError && e.field === 'tokenizer.ggml.model' && e.message.includes('gpt2'));
  });

  it('rejects missing keys, arrays of mismatched length and bad values', () => {
    assert.throws(() => spmVocabFromGguf(without('tokenizer.ggml.model'), 'x.gguf'), fieldError('tokenizer.ggml.model'));
    assert.throws(() => spmVocabFromGguf(without('tokenizer.ggml.tokens'), 'x.gguf'), fieldError('tokenizer.ggml.tokens'));
    assert.throws(() => spmVocabFromGguf(without('tokenizer.ggml.scores'), 'x.gguf'), fieldError('tokenizer.ggml.scores'));
    assert.throws(() => spmVocabFromGguf(without('tokenizer.ggml.token_type'), 'x.gguf'), fieldError('tokenizer.ggml.token_type'));
    assert.throws(() => spmVocabFromGguf(withKey('tokenizer.ggml.scores', [0, 0, 0]), 'x.gguf'), fieldError('tokenizer.ggml.scores'));
    assert.throws(() => spmVocabFromGguf(withKey('tokenizer.ggml.token_type', [2, 3, 3, 1, 1]), 'x.gguf'), fieldError('tokenizer.ggml.token_type'));
    assert.throws(() => spmVocabFromGguf(withKey('tokenizer.ggml.token_type', [2, 3, 3, 9]), 'x.gguf'), fieldError('tokenizer.ggml.token_type[3]'));
    assert.throws(() => spmVocabFromGguf(withKey('tokenizer.ggml.tokens', ['a', 'b', 'c', 4]), 'x.gguf'), fieldError('tokenizer.ggml.tokens[3]'));
    assert.throws(() => spmVocabFromGguf(withKey('tokenizer.ggml.bos_token_id', 4), 'x.gguf'), fieldError('tokenizer.ggml.bos_token_id'));
    assert.throws(() => spmVocabFromGguf(withKey('tokenizer.ggml.add_space_prefix', 1), 'x.gguf'), fieldError('tokenizer.ggml.add_space_prefix'));
  });
});

/** Lowercase pseudo-words, some with an accent, so that the text has many distinct words. */
function randomWord(rng: Rng): string {
  const letters = 'etaoinshrdlucmfwypvbgkqjxzé';
  return Array.from({ length: 1 + (rng.nextU32() % 10) }, () => letters[rng.nextU32() % letters.length]).join('');
}

/**
 * Random text: ASCII, whitespace runs, combining marks, CJK, emoji and any plane. Only Unicode scalar values:
 * UTF-8 cannot hold an unpaired surrogate. U+2581 is left out: SentencePiece reads it as a space.
 */
function randomText(rng: Rng, maxCodePoints: number): string {
  const ranges: [number, number][] = [[0x20, 0x7e], [0x00, 0x1f], [0x300, 0x36f], [0x4e00, 0x9fff], [0x1f300, 0x1faff], [0x00, 0x10ffff]];
  let out = '';
  for (let n = rng.nextU32() % (maxCodePoints + 1); n > 0; n--) {
    const [lo, hi] = ranges[rng.nextU32() % ranges.length]!;
    const cp = lo + (rng.nextU32() % (hi - lo + 1));
    out += (cp >= 0xd800 && cp <= 0xdfff) || cp === 0x2581 ? '  ' : String.fromCodePoint(cp);
  }
  return out;
}

describe('byte-level vocabularies in GGUF (tokenizer.ggml.model "gpt2")', () => {
  const rankFile = fixture('test/fixtures/llama3-tokenizer/tokenizer.model');
  const llama3 = parseTiktokenFile(readFileSync(rankFile), rankFile);
  const tmp = mkdtempSync(join(tmpdir(), 'llamats-gguf-vocab-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("derives from tiktoken's ranks exactly the merges that transformers' converter writes (280,147, in order)", () => {
    const hf = JSON.parse(gunzipSync(readFileSync(fixture('test/fixtures/hf-tokenizers/llama3-tokenizer.json.gz'))).toString('utf8')).model.merges as [string, string][];
    const alphabet = byteLevelAlphabet();
    const name = (id: number) => Array.from(llama3.tokens[id]!, (b) => alphabet[b]).join('');
    const ours = mergesFromRanks(llama3.tokens, new Set(llama3.specialIds));
    assert.equal(ours.length, 280147);
    assert.deepEqual(ours.map(([a, b]) => `${name(a)} ${name(b)}`), hf.map(([a, b]) => `${a} ${b}`));
  });

  it('writes Llama 3 as "gpt2" + "llama-bpe" and reads it back with the same ids as the rank file', () => {
    const path = join(tmp, 'llama3-vocab.gguf');
    writeGguf(path, vocabToGgufMetadata(llama3), []);
    const vocab = withGguf(path, (f) => vocabFromGguf(f.metadata, path));
    assert.equal(vocabSize(vocab), 128256);
    const tokenizer = loadTokenizer(path);
    assert.deepEqual([tokenizer.bosId, tokenizer.eosId], [128000, 128001]);
    const mismatches = fuzzMismatches(tokenizer, 'tiktoken-llama3');
    assert.deepEqual(mismatches.slice(0, 5), [], `${mismatches.length} mismatches`);
    assert.deepEqual(tokenizer.encode('<|eot_id|>', { parseSpecial: true }), [128009]);
  });

  it('names the key of a bad gpt2 vocabulary', () => {
    const metadata = new Map<string, unknown>([['tokenizer.ggml.model', 'gpt2'], ['tokenizer.ggml.tokens', ['a', 'b']], ['tokenizer.ggml.token_type', [1, 1]], ['tokenizer.ggml.merges', ['a c']]]);
    assert.throws(() => vocabFromGguf(metadata, 'v.gguf'), (e: unknown) => e instanceof FormatError && e.message === 'v.gguf: tokenizer.ggml.merges[0]: expected "left right", two tokens, found "a c"');
    metadata.set('tokenizer.ggml.pre', 'qwen2');
    assert.throws(() => vocabFromGguf(metadata, 'v.gguf'), (e: unknown) => e instanceof UnsupportedError && /tokenizer\.ggml\.pre: the pre-tokenizer "qwen2"/.test(e.message));
  });
});

