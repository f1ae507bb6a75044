import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FormatError, UnsupportedError } from '../core/errors.js';
import { closeGguf, openGguf, readGgufTensor } from './gguf.js';
import { readLlama2cCheckpoint } from './llama2c.js';
import { assetPath, fixturePath } from './package-paths.js';
import { expectError, scratch } from '../testing/bad-input.js';

const bin = assetPath('stories260K', 'stories260K.bin');
const { writeCase: writeTemp } = scratch('llama2c', 'bin');



/** A copy of stories260K.bin with header int32 #i set to `value`. */
function withHeader(i: number, value: number): string {
  const b = Buffer.from(readFileSync(bin));
  b.writeInt32LE(value, 4 * i);
  return writeTemp(b);
}

test('stories260K.bin: header and tensor shapes', () => {
  const { header, tensors } = readLlama2cCheckpoint(bin);
  assert.deepEqual(header, { dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512, sharedClassifier: true });
  assert.equal(tensors.size, 1 + 9 * 5 + 1);
  assert.ok(!tensors.has('output'));
  const shapes: Record<string, number[]> = {
    tokEmbeddings: [512, 64], 'layers.0.attnNorm': [64], 'layers.4.wq': [64, 64], 'layers.2.wk': [32, 64],
    'layers.2.wv': [32, 64], 'layers.1.wo': [64, 64], 'layers.3.ffnNorm': [64], 'layers.0.w1': [172, 64],
    'layers.0.w2': [64, 172], 'layers.4.w3': [172, 64], norm: [64],
  };
  for (const [name, shape] of Object.entries(shapes)) assert.deepEqual(tensors.get(name)!.shape, shape, name);
});

test('stories260K.bin matches stories260K.gguf tensor for tensor', () => {
  const { tensors } = readLlama2cCheckpoint(bin);
  const gguf = openGguf(fixturePath('stories260K', 'stories260K.gguf'));
  try {
    const pairs: [string, string][] = [
      ['tokEmbeddings', 'token_embd.weight'], ['layers.0.attnNorm', 'blk.0.attn_norm.weight'], ['layers.3.wk', 'blk.3.attn_k.weight'],
      ['layers.1.wo', 'blk.1.attn_output.weight'], ['layers.4.ffnNorm', 'blk.4.ffn_norm.weight'], ['layers.4.w2', 'blk.4.ffn_down.weight'],
      ['layers.2.w3', 'blk.2.ffn_up.weight'], ['norm', 'output_norm.weight'],
    ];
    for (const [ours, theirs] of pairs) assert.deepEqual(tensors.get(ours), readGgufTensor(gguf, theirs), ours);
  } finally {
    closeGguf(gguf);
  }
});

test('negative vocab_size: an unshared classifier read from the end', () => {
  const b = Buffer.from(readFileSync(bin));
  b.writeInt32LE(-512, 20);
  const wcls = new Float32Array(512 * 64).map((_, i) => i / 1000);
  const path = writeTemp(Buffer.concat([b, Buffer.from(wcls.buffer)]));
  const { header, tensors } = readLlama2cCheckpoint(path);
  assert.equal(header.vocabSize, 512);
  assert.equal(header.sharedClassifier, false);
  assert.deepEqual(tensors.get('output'), { shape: [512, 64], data: wcls });
  const withoutWcls = writeTemp(b);
  expectError(() => readLlama2cCheckpoint(withoutWcls), FormatError, withoutWcls, 'array wcls');
});

test('truncated or padded files name the array that is cut, with byte counts', () => {
  const bytes = readFileSync(bin);
  const cuts: [number, string][] = [[0, 'header dim'], [27, 'header seq_len'], [28 + 100, 'array token_embedding_table'],
    [200_000, 'array wq'], [bytes.length - 4, 'array freq_cis_imag']];
  for (const [cut, field] of cuts) {
    const path = writeTemp(bytes.subarray(0, cut));
    expectError(() => readLlama2cCheckpoint(path), FormatError, path, field);
  }
  const cut = writeTemp(bytes.subarray(0, 200_000));
  assert.match(expectError(() => readLlama2cCheckpoint(cut), FormatError, cut, '1056540 bytes').message, /found 200000 bytes/);
  const long = writeTemp(Buffer.concat([bytes, Buffer.alloc(8)]));
  assert.match(expectError(() => readLlama2cCheckpoint(long), FormatError, long, 'file size').message, /8 extra/);
});

test('bad headers: zero or negative sizes, absurd sizes, heads that do not divide', () => {
  const cases: [number, number, string][] = [
    [0, 0, 'header dim'], [0, -64, 'header dim'], [1, 0, 'header hidden_dim'], [2, -5, 'header n_layers'],
    [3, 0, 'header n_heads'], [4, -4, 'header n_kv_heads'], [5, 0, 'header vocab_size'], [6, 0, 'header seq_len'],
    [0, 2 ** 30, 'header dim'], [5, -(2 ** 31), 'header vocab_size'],
    [4, 3, 'header n_heads: expected a multiple of n_kv_heads (3)'], [4, 16, 'header n_heads'],
    [3, 12, 'header dim'], // 64 / 12 heads: not a whole (even) head size
  ];
  for (const [i, value, field] of cases) {
    const path = withHeader(i, value);
    expectError(() => readLlama2cCheckpoint(path), FormatError, path, field);
  }
  const v1 = withHeader(0, 0x616b3432);
  expectError(() => readLlama2cCheckpoint(v1), UnsupportedError, v1, 'magic');
});
