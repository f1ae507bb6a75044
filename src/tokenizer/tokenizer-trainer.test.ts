import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { ArgumentError } from '../core/errors.js';
import { byteLevelTokenizerJson, readHfTokenizer, sentencePieceTokenizerJson, tokenizerConfigJson } from '../io/hf-tokenizer.js';
import { loadTokenizer } from '../io/load-tokenizer.js';
import { assetPath, fixturePath } from '../io/package-paths.js';
import { fuzzStrings } from '../testing/tokenizer-fuzz.js';
import { LLAMA3_PATTERN } from './byte-level-bpe.js';
import { learnMerges } from './train-bpe.js';
import { trainTokenizer, WordCounter, type TokenizerFamily } from './tokenizer-trainer.js';

const tmp = mkdtempSync(join(tmpdir(), 'llamats-tok-train-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const lines = ['tinyshakespeare.txt', 'tinystories-sample.txt'].flatMap((f) => readFileSync(assetPath('corpus', f), 'utf8').split('\n')).filter((l) => l !== '');
const corpusBytes = lines.reduce((n, l) => n + Buffer.byteLength(l), 0);
const reference = JSON.parse(readFileSync(fixturePath('tokenizer-train', 'reference.json'), 'utf8')) as Record<string, Record<string, { bytesPerToken: number }>>;

function train(family: TokenizerFamily, vocabSize: number) {
  const words = new WordCounter(family);
  for (const line of lines) words.add(line);
  return trainTokenizer(words, vocabSize);
}

describe('learnMerges', () => {
  it('joins the most frequent pair first, counting every word by its count, and keeps counts right after merges', () => {
    // "a b a b" once and "a b c" 5 times: (a, b) occurs 7 times, (b, c) 5, (b, a) once. Then a+b = 3 leaves "3 3"
    // once and "3 c" 5 times: (3, c) = 4 next, then (3, 3) = 5.
    const words = [{ symbols: [0, 1, 0, 1], count: 1 }, { symbols: [0, 1, 2], count: 5 }];
    assert.deepEqual(learnMerges(words, { symbolCount: 3, merges: 10 }), [[0, 1], [3, 2], [3, 3]]);
    assert.deepEqual(words.map((w) => w.symbols), [[5], [4]]);
  });
  it('never joins what `join` refuses', () => {
    const words = [{ symbols: [0, 1, 0, 1], count: 3 }];
    assert.deepEqual(learnMerges<boolean>(words, { symbolCount: 2, merges: 5, describe: (s) => (s === 0 ? true : null), join: () => true }), []);
  });
});

describe('tokenizer training on the built-in corpus', () => {
  // The references trained on the same lines and measured on them (test/fixtures/tokenizer-train/make_reference.py).
  for (const [family, ref] of [['sentencepiece', 'sentencepiece'], ['byte-level', 'tokenizers']] as const) {
    it(`${family}: compression within 2% of ${ref === 'tokenizers' ? 'HF tokenizers' : 'SentencePiece'} at 4096 tokens, and its tokenizer.json loads in @huggingface/tokenizers with the same ids`, () => {
      const trained = train(family, 4096);
      assert.equal(trained.tokenizer.vocabSize, 4096);
      const tokens = lines.reduce((n, l) => n + trained.tokenizer.encode(l).length, 0);
      const ours = corpusBytes / tokens, theirs = reference[ref]!['4096']!.bytesPerToken;
      assert.ok(Math.abs(ours / theirs - 1) < 0.02, `${ours.toFixed(4)} bytes/token vs ${theirs.toFixed(4)}`);

      const json = trained.spm ? sentencePieceTokenizerJson(trained.spm) : byteLevelTokenizerJson(trained.byteLevel!, LLAMA3_PATTERN);
      const config = tokenizerConfigJson(trained.tokenizer, 1024, trained.spm ? '<unk>' : undefined);
      const dir = mkdtempSync(join(tmp, family));
      writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
      writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
      const reread = readHfTokenizer(join(dir, 'tokenizer.json'));
      const hf = new HfTokenizer(json, config);
      const texts = ['Once upon a time, there was a little girl named Lily.', '  two leading spaces', 'digits 12345 and 3.14', 'émoji 🦙 and 中文, Привет', "It's 'quoted'.\n\nNew para\ttab", ''];
      for (const text of texts) {
        const ids = trained.tokenizer.encode(text);
        assert.deepEqual(reread.encode(text), ids, `reread ${JSON.stringify(text)}`);
        assert.deepEqual(hf.encode(text, { add_special_tokens: false }).ids, ids, `@huggingface/tokenizers ${JSON.stringify(text)}`);
        assert.equal(trained.tokenizer.decode(ids), text);
      }
      assert.deepEqual([reread.bosId, reread.eosId], [trained.tokenizer.bosId, trained.tokenizer.eosId]);
    });
  }

  it('SentencePiece-style pieces keep to one script, never join digits, and have "▁" only first', () => {
    const { spm } = train('sentencepiece', 2048);
    const merged = spm!.pieces.slice(259).filter((p) => [...p].length > 1);
    assert.ok(merged.length > 1000);
    for (const piece of merged) {
      assert.ok(!/[0-9]/.test(piece), piece);
      assert.ok(!/.\u2581/u.test(piece) || /^\u2581+$/.test(piece), piece);
      assert.ok(!(/\p{L}/u.test(piece) && /[.,!?;:'"]/u.test(piece)), piece);
    }
  });

  it('refuses a vocabulary too small for its alphabet', () => {
    assert.throws(() => train('byte-level', 100), (e: unknown) => e instanceof ArgumentError && /--vocab-size: expected at least 258 \(256 bytes, 2 specials\), found 100/.test(e.message));
    assert.throws(() => train('sentencepiece', 300), (e: unknown) => e instanceof ArgumentError && /--vocab-size: expected at least \d+ \(3 specials, 256 bytes, \d+ characters\)/.test(e.message));
  });
});

describe('tokenizers trained here, as transformers and the Rust tokenizers library read them', () => {
  // test/fixtures/tokenizer-train/check_with_transformers.py: AutoTokenizer's ids (BOS added by the post-processor)
  // and the Rust library's, for the first 2000 fuzz strings, from the folders `llamats tokenizer train` wrote.
  const theirs = JSON.parse(gunzipSync(readFileSync(fixturePath('tokenizer-train', 'transformers-ids.json.gz'))).toString('utf8'));
  for (const folder of ['sentencepiece-4096', 'byte-level-4096']) {
    it(`${folder}: the same ids as transformers' AutoTokenizer and HF tokenizers`, () => {
      const ours = loadTokenizer(fixturePath('tokenizer-train', folder));
      const strings = fuzzStrings().slice(0, 2000);
      const differ = strings.filter((s, i) => {
        const ids = ours.encode(s, { parseSpecial: true });
        return JSON.stringify(ids) !== JSON.stringify(theirs[folder].rust[i]) || JSON.stringify([ours.bosId, ...ids]) !== JSON.stringify(theirs[folder].auto[i]);
      });
      assert.deepEqual(differ.slice(0, 5), [], `${differ.length} of ${strings.length} differ`);
    });
  }
});
