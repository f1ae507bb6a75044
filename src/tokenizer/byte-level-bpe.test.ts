import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ArgumentError, FormatError } from '../core/errors.js';
import { parseTiktokenFile } from '../io/tiktoken-file.js';
import { fuzzMismatches, fuzzStrings } from '../testing/tokenizer-fuzz.js';
import { byteLevelAlphabet, createByteLevelBpe, LLAMA3_PATTERN, regexForJs, type ByteLevelBpeVocab } from './byte-level-bpe.js';

const fixture = (path: string) => fileURLToPath(new URL(`../../test/fixtures/${path}`, import.meta.url));
const llama3Path = fixture('llama3-tokenizer/tokenizer.model');
const llama3Vocab = parseTiktokenFile(readFileSync(llama3Path), llama3Path);
const llama3 = createByteLevelBpe(llama3Vocab);

/** llama.cpp's vectors: inputs separated by "\n__ggml_vocab_test__\n", one line of ids per input. */
function llamaCppVectors(name: string): [string, number[]][] {
  const inputs = readFileSync(fixture(`llama.cpp-vocab/${name}.inp`), 'utf8').split('\n__ggml_vocab_test__\n').slice(0, -1);
  const outputs = readFileSync(fixture(`llama.cpp-vocab/${name}.out`), 'utf8').split('\n');
  return inputs.map((text, i) => [text, outputs[i]!.trim() === '' ? [] : outputs[i]!.trim().split(' ').map(Number)]);
}

describe('Llama 3 tokenizer (tiktoken rank file)', () => {
  it('reads the 128000 ranks and appends the 256 special tokens', () => {
    assert.equal(llama3.vocabSize, 128256);
    assert.deepEqual([llama3.bosId, llama3.eosId], [128000, 128001]);
    assert.equal(llama3.decode([128009]), '<|eot_id|>');
    assert.equal(llama3.decode([128255]), '<|reserved_special_token_250|>');
    assert.equal(llama3.piece(2028), 'This');
    assert.equal(llama3.piece(271), 'ĊĊ');
  });

  it("gives Meta's unit-test ids", () => {
    assert.deepEqual(llama3.encode('This is a test sentence.', { bos: true, eos: true }), [128000, 2028, 374, 264, 1296, 11914, 13, 128001]);
    const header = llama3.encode('<|start_header_id|>user<|end_header_id|>\n\n', { parseSpecial: true });
    assert.deepEqual(header, [128006, 882, 128007, 271]);
  });

  it("matches all 46 of llama.cpp's llama-bpe vectors", () => {
    const vectors = llamaCppVectors('ggml-vocab-llama-bpe.gguf');
    assert.equal(vectors.length, 46);
    for (const [text, want] of vectors) assert.deepEqual(llama3.encode(text), want, JSON.stringify(text));
  });

  it('"Cửa Việt": a pre-token that is a whole token is that token, though merging cannot reach it', () => {
    // " Việt" is token 101798, but no chain of merges over its bytes builds it: pure rank-ordered merging gives
    // 11655 26298 83. tiktoken (and HF's ignore_merges) look the whole pre-token up first.
    assert.deepEqual(llama3.encode('Cửa Việt'), [34, 91163, 101798]);
    const mergingOnly = createByteLevelBpe({ ...llama3Vocab, wholeTokens: false });
    assert.deepEqual(mergingOnly.encode('Cửa Việt'), [34, 91163, 11655, 26298, 83]);
  });

  it(`equals tiktoken with Meta's pattern on ${fuzzStrings().length} random strings, and decodes them back`, () => {
    const mismatches = fuzzMismatches(llama3, 'tiktoken-llama3');
    assert.deepEqual(mismatches.slice(0, 5), [], `${mismatches.length} mismatches`);
    const lossy = fuzzStrings().filter((s) => llama3.decode(llama3.encode(s)) !== s);
    assert.deepEqual(lossy.slice(0, 5), []);
  });

  it('with parseSpecial, equals tiktoken with every special allowed (special-token text becomes the token)', () => {
    const mismatches = fuzzMismatches(llama3, 'tiktoken-llama3-special', { parseSpecial: true });
    assert.deepEqual(mismatches.slice(0, 5), [], `${mismatches.length} mismatches`);
    assert.deepEqual(llama3.encode('<|eot_id|>'), [27, 91, 68, 354, 851, 91, 29], 'ordinary text by default');
  });

  it('encodes an unpaired surrogate as U+FFFD, as UTF-8 encoders do', () => {
    assert.deepEqual(llama3.encode('a\ud800b\udfffc'), llama3.encode('a\ufffdb\ufffdc'));
  });

  it('merges a 1 MB run of one character in O(n log n) heap steps', () => {
    for (const char of ['a', 'é', '7 ']) {
      const text = char.repeat(Math.floor((1 << 20) / char.length));
      const before = llama3.mergeSteps;
      const ids = llama3.encode(text);
      const n = Buffer.byteLength(text);
      const steps = llama3.mergeSteps - before;
      // Each merge re-keys at most 3 heap entries, each in at most log2(n) + 1 moves; n merges at most.
      assert.ok(steps <= 4 * n * (Math.log2(n) + 1), `${JSON.stringify(char)}: ${steps} heap steps for ${n} bytes`);
      assert.equal(llama3.decode(ids), text);
    }
  });

  it('streams decoding across tokens that split a character', () => {
    const text = 'héllo 🦙 wörld 中文';
    const decoder = llama3.createDecoder();
    const ids = llama3.encode(text);
    assert.equal(ids.map((id) => decoder.push(id)).join('') + decoder.flush(), text);
  });
});

describe('byte-level BPE with an explicit merge list', () => {
  // Bytes 'a' 'b' 'c' as ids 0..2 (the rest of the byte alphabet after them), then "ab", "bc", "abc".
  const bytes = Array.from({ length: 256 }, (_, b) => b).sort((x, y) => Number(!'abc'.includes(String.fromCharCode(x))) - Number(!'abc'.includes(String.fromCharCode(y))));
  const enc = new TextEncoder();
  const tokens = [...bytes.map((b) => Uint8Array.of(b)), enc.encode('ab'), enc.encode('bc'), enc.encode('abc')];
  const [a, b, c, ab, bc, abc] = [0, 1, 2, 256, 257, 258];
  const vocab = (merges: [number, number][]): ByteLevelBpeVocab => ({ tokens, specialIds: [], merges, pattern: regexForJs(LLAMA3_PATTERN), wholeTokens: false, bosId: -1, eosId: -1 });

  it('merges in list order, not in id order', () => {
    assert.deepEqual(createByteLevelBpe(vocab([[a, b], [b, c], [ab, c]])).encode('abc'), [abc]);
    assert.deepEqual(createByteLevelBpe(vocab([[b, c], [a, b], [ab, c]])).encode('abc'), [a, bc]);
    assert.deepEqual(createByteLevelBpe({ ...vocab([[b, c]]), merges: 'ranks' }).encode('abc'), [abc], 'by ranks, ab (256) first, then abc');
  });

  it('rejects a merge whose joined bytes are no token, and ids past the vocabulary', () => {
    assert.throws(() => createByteLevelBpe(vocab([[a, a]])), (e: unknown) => e instanceof ArgumentError && /merges\[0\].*0 \+ 0/.test(e.message));
    assert.throws(() => createByteLevelBpe(vocab([[a, 999]])), (e: unknown) => e instanceof ArgumentError && /merges\[0\]: expected token ids in \[0, 259\), found 999/.test(e.message));
  });
});

describe('regexForJs', () => {
  const re = (p: string) => new RegExp(regexForJs(p), 'gv');
  it('reads \\s as Unicode White_Space (U+0085 is one, U+FEFF is not), as Rust regex does', () => {
    assert.deepEqual('a\u0085b'.match(re(String.raw`\s+`)), ['\u0085']);
    assert.equal('a\ufeffb'.match(re(String.raw`\s+`)), null);
    assert.deepEqual('x y'.match(re(String.raw`[^\s]+`)), ['x', 'y']);
  });
  it('leaves out of \\p{L} the letters that Unicode 17 added (the references do not know them yet)', () => {
    assert.deepEqual('a\u{323ED}b'.match(re(String.raw`\p{L}+`)), ['a', 'b']);
    assert.deepEqual('a\u{323ED}b'.match(re(String.raw`[^\p{L}]`)), ['\u{323ED}']);
  });
  it('expands (?i:...) with simple case folding', () => {
    assert.deepEqual("it'S it'ſ it'LL".match(re("(?i:'s|'ll)")), ["'S", "'ſ", "'LL"]);
  });
});

describe('tiktoken rank file errors', () => {
  const parse = (text: string) => () => parseTiktokenFile(new TextEncoder().encode(text), 'bad.model');
  it('names the file, the line, what was expected and what was found', () => {
    assert.throws(parse('YQ== 0\nYg== x\n'), (e: unknown) => e instanceof FormatError && e.message === 'bad.model: line 2: expected "<base64 token> <rank>", found "Yg== x"');
    assert.throws(parse('YQ== 0\nYg== 0\n'), (e: unknown) => e instanceof FormatError && /line 2: expected each rank once, found rank 0 again/.test(e.message));
    assert.throws(parse('YQ== 0\nYQ== 1\n'), (e: unknown) => e instanceof FormatError && /line 2: expected distinct tokens, found the token of line 1 again/.test(e.message));
    assert.throws(parse('YQ== 0\nYg== 7\n'), (e: unknown) => e instanceof FormatError && /line 2: expected a rank below the line count 2, found 7/.test(e.message));
  });
  it('the GPT-2 alphabet spells every byte as one visible character', () => {
    assert.equal(new Set(byteLevelAlphabet()).size, 256);
  });
});
