import assert from 'node:assert/strict';
import { decodeTensor } from '../tensor/decode.js';
import { join } from 'node:path';
import { test } from 'node:test';
import { f16ToF32, f32ToF16 } from '../core/dtype.js';
import { ArgumentError, ConfigError, ShapeError } from '../core/errors.js';
import type { LlamaConfig } from '../model/config.js';
import { presetConfig, presetNames } from '../model/presets.js';
import { randomWeights, syntheticVocab } from '../model/random-init.js';
import { ropeInverseFrequencies } from '../model/rope.js';
import { expectedTensors } from '../model/weights.js';
import { createSentencePieceBpe } from '../tokenizer/sentencepiece-bpe.js';
import { scratch } from '../testing/bad-input.js';
import { ggufNumber, ggufString, withGguf } from './gguf.js';
import { readGgufModel } from './gguf-model.js';
import { spmVocabFromGguf } from './gguf-tokenizer.js';
import { fixturePath } from './package-paths.js';
import { ggufNameFromMeta, metaNameFromGguf } from './tensor-names.js';
import { convertModel, tensorType, writeLlamaGguf, type TensorSource, type WeightType } from './write-model.js';

const { dir } = scratch('write-model', 'gguf');
let n = 0;
const out = () => join(dir, `m-${n++}.gguf`);
const stories = fixturePath('stories260K', 'stories260K.gguf');
const tiny = presetConfig('test-tiny');


function writeRandom(config: LlamaConfig, dtype: WeightType, seed = 1): string {
  const path = out();
  writeLlamaGguf(path, { config, tensors: randomWeights(config, seed), vocab: syntheticVocab(config.vocabSize), dtype });
  return path;
}

test('ggufNameFromMeta inverts metaNameFromGguf for every tensor of a model', () => {
  for (const name of expectedTensors({ ...tiny, tieEmbeddings: false }).keys()) {
    const gguf = ggufNameFromMeta(name)!;
    assert.equal(metaNameFromGguf(gguf), name, gguf);
  }
  assert.equal(ggufNameFromMeta('layers.0.w1'), 'blk.0.ffn_gate.weight');
  assert.equal(ggufNameFromMeta('layers.0.bogus'), null);
});

test('an f32 random test-tiny reads back with its config, vocabulary and exact weights', () => {
  const path = writeRandom(tiny, 'f32');
  const { config, tensors } = readGgufModel(path);
  assert.deepEqual(config, { ...tiny, normEps: Math.fround(tiny.normEps) });
  const expected = randomWeights(tiny, 1);
  for (const [name, make] of expected) assert.deepEqual(tensors.get(name), make(), name);
  withGguf(path, (f) => {
    assert.equal(ggufString(f, 'general.architecture'), 'llama');
    assert.equal(ggufNumber(f, 'general.file_type'), 0);
    assert.equal(f.metadata.has('general.quantization_version'), false);
    assert.equal(ggufString(f, 'tokenizer.ggml.pre'), 'default');
    assert.equal(f.metadata.get('tokenizer.ggml.add_bos_token'), true);
    assert.equal(f.metadata.get('tokenizer.ggml.add_eos_token'), false);
    assert.deepEqual(spmVocabFromGguf(f.metadata, path), syntheticVocab(tiny.vocabSize));
    assert.equal(f.tensors.get('output.weight')!.typeName, 'F32');
  });
});

test('f16: 2-D weights are F16 (rounded to nearest), norms stay F32', () => {
  const path = writeRandom(tiny, 'f16');
  const { tensors } = readGgufModel(path);
  const wq = randomWeights(tiny, 1).get('layers.1.wq')!().data;
  const stored = tensors.get('layers.1.wq')!;
  assert.ok('bytes' in stored && stored.dtype === 'f16', 'kept as stored');
  assert.deepEqual(decodeTensor(stored), wq.map((x) => f16ToF32(f32ToF16(x))));
  withGguf(path, (f) => {
    assert.equal(ggufNumber(f, 'general.file_type'), 1);
    assert.equal(f.tensors.get('blk.0.attn_norm.weight')!.typeName, 'F32');
    assert.equal(f.tensors.get('token_embd.weight')!.typeName, 'F16');
  });
});

// Half a step, plus the step's own f16 rounding times |q| (127 * 2^-11); Q4_0 maps the largest magnitude to -8, so a
// value near +8 steps clamps to 7: one step.
test('q8_0 and q4_0 blocks decode (ggml layout) to the weights within the rounding bound', () => {
  for (const [dtype, blockBytes, bound] of [['q8_0', 34, 0.5 + 127 / 2048], ['q4_0', 18, 1 + 8 / 2048]] as const) {
    const shape = presetConfig('stories260k'); // its 64-wide output fits Q8_0, so a q4_0 file needs no Q6_K
    const path = writeRandom(shape, dtype);
    const want = randomWeights(shape, 1).get('layers.0.w3')!().data;
    withGguf(path, (f) => {
      const info = f.tensors.get('blk.0.ffn_up.weight')!;
      assert.equal(info.typeName, dtype.toUpperCase());
      assert.equal(ggufNumber(f, 'general.quantization_version'), 2);
      const bytes = f.source.read(info.offset, info.byteLength);
      const view = new DataView(bytes.buffer);
      for (let b = 0; b < want.length / 32; b++) {
        const d = f16ToF32(view.getUint16(b * blockBytes, true));
        for (let j = 0; j < 32; j++) {
          const byte = view.getUint8(b * blockBytes + 2 + (dtype === 'q8_0' ? j : j % 16));
          const q = dtype === 'q8_0' ? view.getInt8(b * blockBytes + 2 + j) : (j < 16 ? byte & 15 : byte >> 4) - 8;
          assert.ok(Math.abs(q * d - want[b * 32 + j]!) <= Math.abs(d) * bound * (1 + 1e-6), `${dtype} block ${b} element ${j}`);
        }
      }
    });
  }
});

test('tensorType: norms F32, the output matrix Q6_K in 4/6-bit files, fallbacks for rows off the block size', () => {
  assert.equal(tensorType([64], 'q4_0', false), 'f32');
  assert.equal(tensorType([512, 256], 'q4_0', false), 'q4_0');
  assert.equal(tensorType([512, 256], 'q4_0', true), 'q6_k');
  assert.equal(tensorType([512, 256], 'q8_0', true), 'q8_0');
  assert.equal(tensorType([512, 256], 'f16', true), 'f16');
  assert.equal(tensorType([512, 64], 'q4_k', false), 'q8_0'); // 64 % 256 != 0, 64 % 32 == 0
  assert.equal(tensorType([512, 64], 'q4_0', true), 'q8_0'); // stories260K's output: Q6_K does not fit 64
  assert.equal(tensorType([64, 172], 'q8_0', false), 'f16'); // stories260K's ffn_down
  assert.equal(tensorType([64, 172], 'q6_k', false), 'f16');
});

test('stories260K rewritten as f32 keeps every tensor, the config and the vocabulary', () => {
  const path = out();
  convertModel(stories, path, { dtype: 'f32' });
  const a = readGgufModel(stories);
  const b = readGgufModel(path);
  assert.deepEqual(b.config, a.config);
  assert.deepEqual([...b.tensors.keys()].sort(), [...a.tensors.keys()].sort());
  for (const [name, t] of a.tensors) assert.deepEqual(b.tensors.get(name), t, name);
  const vocabOf = (p: string) => withGguf(p, (f) => spmVocabFromGguf(f.metadata, p));
  assert.deepEqual({ ...vocabOf(path), scores: [...vocabOf(path).scores] }, { ...vocabOf(stories), scores: [...vocabOf(stories).scores] });
});

test('Llama 3.1 RoPE scaling is stored as rope_freqs.weight and reads back as the same frequencies', () => {
  const config: LlamaConfig = {
    ...tiny, ropeTheta: 500000,
    ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 },
  };
  const back = readGgufModel(writeRandom(config, 'f32')).config;
  assert.equal(back.ropeScaling?.type, 'frequencyFactors');
  const want = ropeInverseFrequencies(config);
  ropeInverseFrequencies(back).forEach((f, i) => assert.ok(Math.abs(f - want[i]!) <= 1e-6 * want[i]!, `frequency ${i}`));
});

test('writeLlamaGguf checks the vocabulary size, missing tensors and shapes', () => {
  const vocab = syntheticVocab(tiny.vocabSize);
  const tensors = randomWeights(tiny, 1);
  assert.throws(() => writeLlamaGguf(out(), { config: tiny, tensors, vocab: syntheticVocab(600), dtype: 'f32' }), /vocab: expected 512 pieces/);
  const missing = new Map(tensors);
  missing.delete('layers.1.w2');
  assert.throws(() => writeLlamaGguf(out(), { config: tiny, tensors: missing, vocab, dtype: 'f32' }), ArgumentError);
  const wrong = new Map<string, TensorSource>(tensors).set('norm', { shape: [3], data: new Float32Array(3) });
  assert.throws(() => writeLlamaGguf(out(), { config: tiny, tensors: wrong, vocab, dtype: 'f32' }), ShapeError);
  assert.throws(() => writeLlamaGguf(out(), { config: tiny, tensors, vocab, dtype: 'q3_k' as WeightType }), ArgumentError);
});

test('random weights: seeded, N(0, 0.02) for matrices, 1 for norms; each tensor independent of generation order', () => {
  const a = randomWeights(tiny, 7);
  const w1 = a.get('layers.0.w1')!().data;
  const mean = w1.reduce((s, x) => s + x, 0) / w1.length;
  const std = Math.sqrt(w1.reduce((s, x) => s + (x - mean) ** 2, 0) / w1.length);
  assert.ok(Math.abs(mean) < 1e-3 && Math.abs(std - 0.02) < 5e-4, `mean ${mean}, std ${std}`);
  assert.ok(a.get('norm')!().data.every((x) => x === 1));
  const b = randomWeights(tiny, 7);
  assert.deepEqual(b.get('layers.0.w1')!().data, w1, 'same seed, same values, whatever was generated before');
  assert.notDeepEqual(randomWeights(tiny, 8).get('layers.0.w1')!().data, w1);
  assert.notDeepEqual(a.get('layers.0.w3')!().data.subarray(0, 8), w1.subarray(0, 8));
});

test('synthetic vocabulary: exactly vocabSize unique pieces in LLaMA order, and text round-trips', () => {
  for (const size of [259, 512, 32000]) {
    const v = syntheticVocab(size);
    assert.equal(v.pieces.length, size);
    assert.equal(new Set(v.pieces).size, size, 'unique');
  }
  const v = syntheticVocab(512);
  assert.deepEqual(v.pieces.slice(0, 4), ['<unk>', '<s>', '</s>', '<0x00>']);
  assert.equal(v.pieces[258], '<0xFF>');
  const tok = createSentencePieceBpe(v);
  const text = 'Hello, world! Ünïcode 1234';
  assert.equal(tok.decode(tok.encode(text)), text);
  assert.throws(() => syntheticVocab(100), ConfigError);
});

test('presets: every preset is a valid config; unknown names list the known ones', () => {
  for (const name of presetNames) assert.ok(presetConfig(name).dim > 0);
  assert.equal(presetConfig('tinyllama-1.1b').nKvHeads, 4);
  assert.equal(presetConfig('smollm-135m').tieEmbeddings, true);
  assert.throws(() => presetConfig('llama-70b'), /preset: expected one of smollm-135m, tinyllama-1.1b, stories260k, test-tiny/);
});
