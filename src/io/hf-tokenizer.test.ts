import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { byteLevelAlphabet } from '../tokenizer/byte-level-bpe.js';
import { byteTokenizerJson, readHfTokenizer } from './hf-tokenizer.js';

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

test('the byte tokenizer.json round-trips; other files are refused clearly', () => {
  const file = join(tmp, 'tokenizer.json');
  writeFileSync(file, JSON.stringify(byteTokenizerJson()));
  assert.deepEqual(readHfTokenizer(file).encode('Hi é'), [72, 105, 32, 195, 169]);
  writeFileSync(file, '{"model": {"type": "BPE"}}');
  assert.throws(() => readHfTokenizer(file), /tokenizer\.json: model: expected an object with "vocab" and "merges"/);
  const json = byteTokenizerJson() as { model: { merges: string[] } };
  json.model.merges = ['a b'];
  writeFileSync(file, JSON.stringify(json));
  assert.throws(() => readHfTokenizer(file), /is not supported yet/);
});
