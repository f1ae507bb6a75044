import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, FormatError, UnsupportedError } from '../core/errors.js';
import { forward } from '../model/llama.js';
import { detectFormat, loadModel, readModelWeights } from './load-model.js';
import { loadTokenizer } from './load-tokenizer.js';
import { assetPath, fixturePath } from './package-paths.js';
import { permuteRopeRows } from './tensor-names.js';

const binPath = assetPath('stories260K', 'stories260K.bin');
const ggufPath = fixturePath('stories260K', 'stories260K.gguf');

test('stories260K .bin and .gguf load to the same config and give identical logits', async () => {
  const [bin, gguf] = [await loadModel(binPath), await loadModel(ggufPath)];
  // The GGUF says context 2048 where the .bin header says 512, and stores the shared classifier as a copy.
  assert.deepEqual({ ...gguf.config, maxSeqLen: 512, tieEmbeddings: true }, bin.config);
  assert.equal(gguf.config.tieEmbeddings, false);
  const ids = Int32Array.from([1, 403, 407, 261, 378, 5, 511, 0, 290]);
  const run = async (m: typeof bin) => m.ops.read(forward(m, m.ops.fromHost(ids, [1, ids.length])));
  assert.deepEqual(await run(gguf), await run(bin));
  bin.ops.dispose();
  gguf.ops.dispose();
});

test('a model and its tokenizer load from bytes in memory (as in a browser) as from the path; truncated bytes name the file', async () => {
  const file = { name: 'https://example.org/stories260K.gguf', bytes: new Uint8Array(readFileSync(ggufPath)) };
  const [fromPath, fromBytes] = [await loadModel(ggufPath), await loadModel(file)];
  assert.deepEqual(fromBytes.config, fromPath.config);
  const ids = Int32Array.from([1, 403, 407, 261]);
  const run = async (m: typeof fromPath) => m.ops.read(forward(m, m.ops.fromHost(ids, [1, ids.length])));
  assert.deepEqual(await run(fromBytes), await run(fromPath));
  fromPath.ops.dispose();
  fromBytes.ops.dispose();
  assert.deepEqual(loadTokenizer(file).encode('Once upon a time'), loadTokenizer(ggufPath).encode('Once upon a time'));
  const bin = { name: 'stories260K.bin', bytes: new Uint8Array(readFileSync(binPath)) };
  assert.equal(detectFormat(bin), 'llama2c');
  const cut = { name: file.name, bytes: file.bytes.subarray(0, file.bytes.length - 100) };
  await assert.rejects(loadModel(cut), (e: unknown) => e instanceof FormatError && e.message.startsWith(`${file.name}: tensor "`) && /inside the file, found a file of \d+ bytes/.test(e.message));
});

test('the HF <-> interleaved RoPE row permutation is a permutation and inverts', () => {
  const rows = 2 * 8;
  const t = { shape: [rows, 3], data: Float32Array.from({ length: rows * 3 }, (_, i) => i) };
  const there = permuteRopeRows(t, 2);
  assert.deepEqual(Array.from(there.data.filter((_, i) => i % 3 === 0)), [0, 12, 3, 15, 6, 18, 9, 21, 24, 36, 27, 39, 30, 42, 33, 45]);
  assert.deepEqual(permuteRopeRows(there, 2, true).data, t.data);
});

function hfCopy(edit: (config: Record<string, unknown>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'llamats-hf-'));
  cpSync(fixturePath('hf', 'tiny-gqa'), dir, { recursive: true });
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  edit(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

test('a config whose dims do not divide is a ConfigError naming the file and field', () => {
  const dir = hfCopy((c) => (c['num_key_value_heads'] = 3));
  assert.throws(() => readModelWeights(dir), (e: unknown) =>
    e instanceof ConfigError && e.message.includes(join(dir, 'config.json')) && /nKvHeads/.test(e.message) && /divisor of nHeads \(4\)/.test(e.message));
  const odd = hfCopy((c) => (c['hidden_size'] = 66));
  assert.throws(() => readModelWeights(odd), (e: unknown) => e instanceof ConfigError && /config dim: expected a multiple of nHeads/.test(e.message));
});

test('weights that disagree with the config name the tensor and both shapes', async () => {
  const dir = hfCopy((c) => (c['intermediate_size'] = 100));
  await assert.rejects(loadModel(dir), (e: unknown) =>
    e instanceof FormatError && /tensor layers\.0\.w1: expected shape \[100, 64\], found shape \[172, 64\]/.test(e.message));
});

test('unsupported models and unknown files are named clearly', () => {
  const dir = hfCopy((c) => (c['rope_parameters'] = { rope_type: 'yarn', rope_theta: 10000, factor: 4 }));
  assert.throws(() => readModelWeights(dir), (e: unknown) => e instanceof UnsupportedError && /not supported yet/.test(e.message));
  assert.throws(() => detectFormat('/nonexistent/model.gguf'), (e: unknown) => e instanceof FormatError && /nothing at this path/.test(e.message));
  const junk = join(mkdtempSync(join(tmpdir(), 'llamats-')), 'junk.safetensors');
  writeFileSync(junk, 'hello');
  assert.throws(() => detectFormat(junk), (e: unknown) => e instanceof FormatError && /68 65 6c 6c/.test(e.message));
});
