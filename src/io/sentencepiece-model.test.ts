import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FormatError, LlamatsError, UnsupportedError } from '../core/errors.js';
import { fuzzMismatches } from '../testing/tokenizer-fuzz.js';
import { createSentencePieceBpe } from '../tokenizer/sentencepiece-bpe.js';
import { withGguf } from './gguf.js';
import { spmVocabFromGguf } from './gguf-tokenizer.js';
import { loadTokenizer } from './load-tokenizer.js';
import { parseSentencePieceModel } from './sentencepiece-model.js';

const fixture = (path: string) => fileURLToPath(new URL(`../../test/fixtures/${path}`, import.meta.url));
const modelPath = fixture('llama2-tokenizer/tokenizer.model');
const modelBytes = readFileSync(modelPath);
const model = parseSentencePieceModel(modelBytes, modelPath);

/** A protobuf field key and a length-delimited value. */
const field = (number: number, body: number[]) => [number * 8 + 2, body.length, ...body];
const piece = (text: string, type?: number) => field(1, [...field(1, [...Buffer.from(text)]), ...(type ? [3 * 8, type] : [])]);
const parse = (bytes: number[]) => () => parseSentencePieceModel(Uint8Array.from(bytes), 'bad.model');
const bpe = field(2, [3 * 8, 2]);
const keepWhitespace = field(3, [4 * 8, 0]);

describe("SentencePiece .model (LLaMA 2's tokenizer.model)", () => {
  it("reads LLaMA 2's flags: BPE, byte fallback, split digits, identity normalizer, dummy prefix", () => {
    const { modelType, byteFallback, splitDigits, normalizer, removeExtraWhitespaces, vocab } = model;
    assert.deepEqual({ modelType, byteFallback, splitDigits, normalizer, removeExtraWhitespaces }, { modelType: 2, byteFallback: true, splitDigits: true, normalizer: 'identity', removeExtraWhitespaces: false });
    assert.deepEqual([vocab.pieces.length, vocab.unkId, vocab.bosId, vocab.eosId, vocab.addSpacePrefix], [32000, 0, 1, 2, true]);
  });

  it("has the same pieces, scores and types as llama.cpp's LLaMA 2 vocabulary GGUF", () => {
    const ggufPath = fixture('llama.cpp-vocab/ggml-vocab-llama-spm.gguf');
    const gguf = withGguf(ggufPath, (file) => spmVocabFromGguf(file.metadata, ggufPath));
    assert.deepEqual(model.vocab.pieces, gguf.pieces);
    assert.deepEqual(model.vocab.types, gguf.types);
    assert.deepEqual(Float32Array.from(model.vocab.scores), Float32Array.from(gguf.scores));
  });

  it('equals SentencePiece on the 10,000 fuzz strings', () => {
    const mismatches = fuzzMismatches(createSentencePieceBpe(model.vocab), 'sentencepiece-llama2');
    assert.deepEqual(mismatches.slice(0, 5), [], `${mismatches.length} mismatches`);
  });

  it('is what loadTokenizer makes of tokenizer.model (told from a tiktoken rank file by its content)', () => {
    assert.deepEqual(loadTokenizer(modelPath).encode('Hello world'), [15043, 3186]);
    assert.deepEqual(loadTokenizer(fixture('llama3-tokenizer/tokenizer.model')).encode('Hello world'), [9906, 1917]);
  });

  it('reads a minimal model and its defaults (absent fields: normal pieces, unk 0, bos 1, eos 2)', () => {
    const m = parseSentencePieceModel(Uint8Array.from([...piece('<unk>', 2), ...piece('<s>', 3), ...piece('</s>', 3), ...piece('a'), ...bpe, ...keepWhitespace]), 'mini.model');
    assert.deepEqual(m.vocab.types, [2, 3, 3, 1]);
    assert.deepEqual([m.vocab.unkId, m.vocab.bosId, m.vocab.eosId], [0, 1, 2]);
  });

  it('names the file and field of malformed input, at every truncation', () => {
    const good = [...piece('<unk>', 2), ...piece('<s>', 3), ...piece('</s>', 3), ...bpe, ...keepWhitespace];
    for (let cut = 1; cut < good.length; cut++) {
      assert.throws(parse(good.slice(0, cut)), (e: unknown) => e instanceof LlamatsError && e.message.startsWith('bad.model: '), `cut at ${cut}`);
    }
    assert.throws(parse([0x0b]), (e: unknown) => e instanceof FormatError && /ModelProto field 1 at offset 1: expected a protobuf wire type 0, 1, 2 or 5, found 3/.test(e.message));
    assert.throws(parse([0x0a, 0xff, 0xff, 0xff, 0x0f]), (e: unknown) => e instanceof FormatError && /pieces\[0\] at offset 5: expected a length of at most 0 \(the bytes left\), found 33554431/.test(e.message));
    assert.throws(parse([...piece('a', 9), ...bpe]), (e: unknown) => e instanceof FormatError && /pieces\[0\]\.type: expected a piece type 1\.\.6, found 9/.test(e.message));
    assert.throws(parse([...field(1, [...field(1, [0xff])]), ...bpe]), (e: unknown) => e instanceof FormatError && /pieces\[0\]\.piece: expected UTF-8 text, found invalid UTF-8/.test(e.message));
  });

  it('refuses what it does not implement, by name: unigram models, other normalizers, whitespace removal', () => {
    const pieces = [...piece('<unk>', 2), ...piece('a')];
    assert.throws(parse([...pieces, ...field(2, [3 * 8, 1]), ...keepWhitespace]), (e: unknown) => e instanceof UnsupportedError && /model type 1 \(unigram/.test(e.message));
    assert.throws(parse([...pieces, ...bpe, ...field(3, [...field(1, [...Buffer.from('nmt_nfkc')]), 4 * 8, 0])]), (e: unknown) => e instanceof UnsupportedError && /"nmt_nfkc" normalizer/.test(e.message));
    assert.throws(parse([...pieces, ...bpe]), (e: unknown) => e instanceof UnsupportedError && /remove_extra_whitespaces/.test(e.message));
  });
});
