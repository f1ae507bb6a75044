import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fixturePath } from '../io/package-paths.js';
import { llamats } from '../testing/run-cli.js';
import { readSafetensorsHeader, readSafetensorsTensor } from '../io/safetensors.js';


const tmp = mkdtempSync(join(tmpdir(), 'llamats-cli-'));
const gguf = fixturePath('stories260K', 'stories260K.gguf');

test('generate with no arguments tells a story with the built-in model', () => {
  const r = llamats('--max-tokens', '20', '--seed', '1');
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.length > 20, r.stdout);
  assert.match(r.stderr, /prefill: 1 tokens, [\d.]+ tokens\/s; decode: 19 tokens/);
});

test('generate streams prompt + greedy continuation and writes --json-stats', () => {
  const stats = join(tmp, 'stats.json');
  const args = ['generate', '--model', gguf, '--prompt', 'Once upon a time', '--temperature', '0', '--max-tokens', '12'];
  const r = llamats(...args, '--json-stats', stats);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.startsWith('Once upon a time, there was a little girl named Lily.'), r.stdout);
  const s = JSON.parse(readFileSync(stats, 'utf8'));
  assert.equal(s.prefillTokens, 5); // BOS + 4 prompt tokens
  assert.equal(s.decodeTokens, 11); // the first of 12 tokens comes from the prefill pass
  assert.ok(s.prefillTokensPerSecond > 0 && s.decodeTokensPerSecond > 0);
  assert.equal(llamats(...args).stdout, r.stdout, 'greedy is deterministic');
});

test('perplexity on ids saves [B, T, V] logits and prints the perplexity last', () => {
  const ids = join(tmp, 'ids.json');
  writeFileSync(ids, JSON.stringify([[1, 403, 407, 261, 378], [1, 5, 6, 7, 8]]));
  const out = join(tmp, 'logits.safetensors');
  const r = llamats('perplexity', '--model', gguf, '--ids-file', ids, '--save-logits', out);
  assert.equal(r.status, 0, r.stderr);
  const last = r.stdout.trim().split('\n').pop()!;
  assert.match(last, /^perplexity: \d+\.\d+$/);
  const logits = readSafetensorsTensor(readSafetensorsHeader(out).get('logits')!);
  assert.deepEqual(logits.shape, [2, 5, 512]);
  // Recompute the perplexity from the saved logits: mean NLL of the 2 x 4 next tokens.
  const rows = [[1, 403, 407, 261, 378], [1, 5, 6, 7, 8]];
  let nll = 0;
  rows.forEach((row, b) => row.slice(1).forEach((target, t) => {
    const l = logits.data.subarray((b * 5 + t) * 512, (b * 5 + t + 1) * 512);
    const max = Math.max(...l);
    nll -= l[target]! - max - Math.log(l.reduce((s, v) => s + Math.exp(v - max), 0));
  }));
  assert.ok(Math.abs(Number(last.split(' ')[1]) - Math.exp(nll / 8)) < 1e-4 * Math.exp(nll / 8));
});

test('bad flags and bad files give one clear line and a non-zero status, no stack trace', () => {
  const cases: [string[], number, RegExp][] = [
    [['generate', '--bogus'], 2, /Unknown option '--bogus'/],
    [['generate', '--top-k', 'many'], 1, /--top-k: expected an integer, found "many"/],
    [['generate', '--model', join(tmp, 'missing.gguf')], 1, /missing\.gguf: path: expected .* found nothing at this path/],
    [['perplexity', '--model', gguf], 1, /--text-file \/ --ids-file: expected exactly one of them, found neither/],
    [['frobnicate'], 2, /unknown command "frobnicate"/],
  ];
  for (const [args, status, message] of cases) {
    const r = llamats(...args);
    assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  const badIds = join(tmp, 'bad-ids.json');
  writeFileSync(badIds, '[[1, 2], [3, 99999]]');
  const r = llamats('perplexity', '--model', gguf, '--ids-file', badIds);
  assert.match(r.stderr, /bad-ids\.json: \[1\]\[1\]: expected a token id in \[0, 512\), found 99999/);
});

test('tokenize and detokenize: Llama 3 and LLaMA 2 files, one text, a JSONL batch, special text, bad flags', () => {
  const llama3 = fixturePath('llama3-tokenizer', 'tokenizer.model');
  const llama2 = fixturePath('llama2-tokenizer', 'tokenizer.model');
  let r = llamats('tokenize', '--tokenizer', llama3, '--text', 'This is a test sentence.', '--bos');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '[128000,2028,374,264,1296,11914,13]\n');
  r = llamats('tokenize', '--tokenizer', llama3, '--text', '<|eot_id|>', '--parse-special');
  assert.equal(r.stdout, '[128009]\n');
  const batch = join(tmp, 'batch.jsonl');
  writeFileSync(batch, `${JSON.stringify('Hello world')}\n${JSON.stringify(' Hello world')}\n`);
  r = llamats('tokenize', '--tokenizer', llama2, '--jsonl', batch);
  assert.equal(r.stdout, '[15043,3186]\n[29871,15043,3186]\n');
  r = llamats('detokenize', '--tokenizer', llama2, '--ids', '[1,15043,3186]');
  assert.equal(r.stdout, 'Hello world');
  r = llamats('tokenize', '--tokenizer', llama2, '--text', 'a', '--jsonl', batch);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /tokenize: expected exactly one of --text, --file, --jsonl, found --text and --jsonl/);
  writeFileSync(batch, 'not json\n');
  assert.match(llamats('tokenize', '--tokenizer', llama2, '--jsonl', batch).stderr, /line 1: expected a JSON string, found "not json"/);
  assert.match(llamats('detokenize', '--tokenizer', llama2, '--ids', '[1.5]').stderr, /--ids: expected a JSON array of integer ids/);
});

test('tokenizer train writes a tokenizer.json that tokenize reads; bad flags are clear errors', () => {
  const input = join(tmp, 'tiny.txt');
  writeFileSync(input, 'the cat sat on the mat\nthe dog sat on the log\n'.repeat(50));
  const out = join(tmp, 'trained-tokenizer');
  let r = llamats('tokenizer', 'train', '--input', input, '--vocab-size', '300', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /sentencepiece BPE, vocabulary 289 \(no pair left to merge before 300\), 7 distinct words/);
  assert.match(r.stdout, /compression: [\d.]+ bytes per token/);
  r = llamats('tokenize', '--tokenizer', out, '--text', 'the cat', '--bos');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout)[0], 1);
  assert.match(llamats('tokenizer', 'train', '--input', input, '--vocab-size', 'lots').stderr, /--vocab-size: expected an integer, found "lots"/);
  assert.match(llamats('tokenizer', 'fit').stderr, /tokenizer: expected the subcommand "train", found "fit"/);
  assert.match(llamats('tokenizer', 'train', '--input', join(tmp, 'missing.txt')).stderr, /--input: expected a readable text file/);
});
