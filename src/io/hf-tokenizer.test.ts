import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { ArgumentError, FormatError, UnsupportedError } from '../core/errors.js';
import { fuzzMismatches } from '../testing/tokenizer-fuzz.js';
import { byteLevelAlphabet } from '../tokenizer/byte-level-bpe.js';
import { byteTokenizerJson, readHfTokenizer } from './hf-tokenizer.js';
import { loadTokenizer } from './load-tokenizer.js';
import { fixturePath } from './package-paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'llamats-tok-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test("GPT-2's byte-level alphabet: printable bytes are themselves, the rest U+0100.. in order", () => {
  const a = byteLevelAlphabet();
  assert.equal(new Set(a).size, 256);
  assert.equal(a[0x41], 'A');
  assert.equal(a[0x20], '\u0120'); // space is 'Ġ', as in every GPT-2 style vocabulary
  assert.equal(a[0x0a], '\u010a'); // newline is 'Ċ'
  assert.equal(a[0], '\u0100');
});

test('the byte tokenizer.json that training writes reads back as bytes', () => {
  const file = join(tmp, 'tokenizer.json');
  writeFileSync(file, JSON.stringify(byteTokenizerJson()));
  const tokenizer = readHfTokenizer(file);
  assert.deepEqual(tokenizer.encode('Hi é'), [72, 105, 32, 195, 169]);
  assert.equal(tokenizer.vocabSize, 256);
});

/** A fixture tokenizer.json (stored gzipped) unpacked into its own folder, with its tokenizer_config.json if any. */
function unpack(name: string, config?: string): string {
  const dir = mkdtempSync(join(tmp, `${name}-`));
  writeFileSync(join(dir, 'tokenizer.json'), gunzipSync(readFileSync(fixturePath('hf-tokenizers', `${name}.json.gz`))));
  if (config) writeFileSync(join(dir, 'tokenizer_config.json'), readFileSync(fixturePath('hf-tokenizers', config)));
  return join(dir, 'tokenizer.json');
}

describe("Llama 3's tokenizer.json (byte-level BPE, made by transformers' converter)", () => {
  const llama3 = readHfTokenizer(unpack('llama3-tokenizer', 'llama3-tokenizer_config.json'));
  it('takes BOS and EOS from tokenizer_config.json', () => {
    assert.deepEqual([llama3.vocabSize, llama3.bosId, llama3.eosId], [128002, 128000, 128001]);
  });
  it("equals HF tokenizers on the 10,000 fuzz strings (with its default: added tokens parsed)", () => {
    const mismatches = fuzzMismatches(llama3, 'hf-llama3', { parseSpecial: true });
    assert.deepEqual(mismatches.slice(0, 5), [], `${mismatches.length} mismatches`);
  });
  it("gives the same ids as Meta's rank file where both define the behaviour (special text as text)", () => {
    const mismatches = fuzzMismatches(llama3, 'tiktoken-llama3');
    assert.deepEqual(mismatches.slice(0, 5), [], `${mismatches.length} mismatches`);
  });
});

describe("LLaMA 2's tokenizer.json (SentencePiece-style: Metaspace, byte fallback, merges)", () => {
  const llama2 = readHfTokenizer(unpack('llama2-tokenizer'));
  it("equals HF tokenizers on the 10,000 fuzz strings (with its default: added tokens parsed)", () => {
    const mismatches = fuzzMismatches(llama2, 'hf-llama2', { parseSpecial: true });
    assert.deepEqual(mismatches.slice(0, 5), [], `${mismatches.length} mismatches`);
  });
  it('differs from SentencePiece where HF does: no dummy prefix before a leading space; <s> in text', () => {
    const sentencepiece = loadTokenizer(fixturePath('llama2-tokenizer', 'tokenizer.model'));
    assert.deepEqual(llama2.encode('  \n'), [259, 13]); // "▁▁" "\n"
    assert.deepEqual(sentencepiece.encode('  \n'), [1678, 13]); // "▁▁▁" "\n"
    assert.deepEqual(llama2.encode('Hello world'), sentencepiece.encode('Hello world'));
    assert.deepEqual(llama2.encode('<s>Hi', { parseSpecial: true }), [1, 6324]);
    assert.deepEqual(llama2.encode('<s>Hi').slice(0, 4), sentencepiece.encode('<s>Hi').slice(0, 4));
    assert.deepEqual([llama2.bosId, llama2.eosId], [1, 2]);
  });
});

test('malformed tokenizer.json files are FormatErrors naming the file and what is wrong', () => {
  const file = join(tmp, 'bad-tokenizer.json');
  const write = (json: unknown) => writeFileSync(file, typeof json === 'string' ? json : JSON.stringify(json));
  const bpe = (vocab: Record<string, number>, merges: unknown[], extra: object = {}) => ({ ...byteTokenizerJson(), ...extra, model: { type: 'BPE', vocab, merges } });
  const alphabet = Object.fromEntries(byteLevelAlphabet().map((c, b) => [c, b]));
  const cases: [unknown, RegExp][] = [
    ['{"model": {"type": "BPE", "vo', /bad-tokenizer\.json: JSON: expected a tokenizer\.json, found /],
    ['{"model": {"type": "BPE"}}', /model: expected an object with "vocab" and "merges"/],
    [bpe(alphabet, ['a zz']), /model\.merges\[0\]: expected two tokens of the vocabulary, found "a zz"/],
    [bpe({ ...alphabet, ab: 5 }, []), /expected each id once, found id 5 for both "[^"]+" and "ab"/],
    [bpe({ ...alphabet, ab: 300 }, []), /model\.vocab: expected ids 0\.\.300 without gaps, found no token with id 256/],
    [bpe(alphabet, [['a', 'b']]), /merges\[0\]: expected a pair whose joined bytes are a token/],
  ];
  for (const [json, message] of cases) {
    write(json);
    assert.throws(() => readHfTokenizer(file), (e: unknown) => (e instanceof FormatError || e instanceof ArgumentError) && message.test(e.message), String(message));
  }
  write({ ...byteTokenizerJson(), model: { type: 'WordPiece', vocab: {}, merges: [] } });
  assert.throws(() => readHfTokenizer(file), (e: unknown) => e instanceof UnsupportedError && /model\.type: a WordPiece model/.test(e.message));
});

test('add_bos comes from tokenizer_config.json, else from the post-processor (generation follows it)', () => {
  assert.equal(readHfTokenizer(unpack('llama3-tokenizer', 'llama3-tokenizer_config.json')).addBos, false); // ByteLevel post-processor
  assert.equal(readHfTokenizer(unpack('llama2-tokenizer')).addBos, false); // TemplateProcessing without <s>
  assert.equal(readHfTokenizer(fixturePath('tokenizer-train', 'sentencepiece-4096', 'tokenizer.json')).addBos, true);
  assert.equal(loadTokenizer(fixturePath('llama2-tokenizer', 'tokenizer.model')).addBos, true);
});
