import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { closeGguf, ggufNumber, openGguf } from '../io/gguf.js';
import { readGgufModel } from '../io/gguf-model.js';
import { spmVocabFromGguf } from '../io/gguf-tokenizer.js';
import { readModelWeights } from '../io/load-model.js';
import { assetPath, fixturePath } from '../io/package-paths.js';
import { writeLlamaGguf } from '../io/write-model.js';
import { llamats } from '../testing/run-cli.js';
import { presetConfig } from '../model/presets.js';
import { randomWeights, syntheticVocab } from '../model/random-init.js';


const tmp = mkdtempSync(join(tmpdir(), 'llamats-init-quantize-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const stories = fixturePath('stories260K', 'stories260K.gguf');

function fileType(path: string): number {
  const f = openGguf(path);
  try {
    return ggufNumber(f, 'general.file_type');
  } finally {
    closeGguf(f);
  }
}

test('init writes a preset with seeded random weights, showing progress and the size', () => {
  const path = join(tmp, 'tiny-f16.gguf');
  const r = llamats('init', '--preset', 'test-tiny', '--out', path, '--dtype', 'f16', '--seed', '3');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /3\/3 MB \| [\d.]+ MB\/s/);
  assert.match(r.stderr, /wrote .*tiny-f16\.gguf: 2\.9 MB in [\d.]+ s/);
  assert.deepEqual(readGgufModel(path).config, { ...presetConfig('test-tiny'), normEps: Math.fround(1e-5) });
  assert.equal(fileType(path), 1);
  const again = join(tmp, 'tiny-f16-again.gguf');
  assert.equal(llamats('init', '--preset', 'test-tiny', '--out', again, '--dtype', 'f16', '--seed', '3').status, 0);
  assert.ok(readFileSync(again).equals(readFileSync(path)), 'same seed, same file');
  const other = join(tmp, 'tiny-f16-seed4.gguf');
  assert.equal(llamats('init', '--preset', 'test-tiny', '--out', other, '--dtype', 'f16', '--seed', '4').status, 0);
  assert.ok(!readFileSync(other).equals(readFileSync(path)), 'another seed, other weights');
});

test('init --dtype q4_k (Q4_K and Q6_K tensors, quantized on the WASM kernels) writes the reference quantizers\' bytes', () => {
  const path = join(tmp, 'tiny-q4_k.gguf');
  const r = llamats('init', '--preset', 'test-tiny', '--out', path, '--dtype', 'q4_k');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(fileType(path), 14);
  const reference = join(tmp, 'tiny-q4_k-reference.gguf');
  const config = presetConfig('test-tiny');
  writeLlamaGguf(reference, {
    config, tensors: randomWeights(config, 0), vocab: syntheticVocab(config.vocabSize), dtype: 'q4_k', name: 'test-tiny (random init, seed 0)',
  });
  assert.ok(readFileSync(path).equals(readFileSync(reference)));
});

test('quantize rewrites a GGUF; its vocabulary and config come along', () => {
  const path = join(tmp, 'stories-f16.gguf');
  const r = llamats('quantize', stories, path, '--type', 'f16');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /wrote .*stories-f16\.gguf/);
  assert.equal(fileType(path), 1);
  assert.deepEqual(readGgufModel(path).config, readGgufModel(stories).config);
  const vocab = (p: string) => {
    const f = openGguf(p);
    try {
      return spmVocabFromGguf(f.metadata, p);
    } finally {
      closeGguf(f);
    }
  };
  assert.deepEqual(vocab(path), vocab(stories));
});

test('quantize reads a llama2.c .bin with --tokenizer, and finds tokenizer.bin beside a .bin only by that name', () => {
  const path = join(tmp, 'from-bin.gguf');
  const bin = assetPath('stories260K', 'stories260K.bin');
  const r = llamats('quantize', bin, path, '--type', 'f32', '--tokenizer', assetPath('stories260K', 'tok512.bin'));
  assert.equal(r.status, 0, r.stderr);
  const a = readModelWeights(bin);
  const b = readGgufModel(path);
  for (const [name, t] of b.tensors) assert.deepEqual(t, a.tensors.get(name), name);
  const missing = llamats('quantize', bin, join(tmp, 'no.gguf'), '--type', 'f32');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^llamats: --tokenizer: expected a tokenizer for .*stories260K\.bin \(a tokenizer file: tokenizer\.json, tokenizer\.model, tokenizer\.bin or a \.gguf\), found none given and none beside the model\n$/);
  assert.ok(!existsSync(join(tmp, 'no.gguf')));
});

test('bad flags and arguments give one clear line', () => {
  const cases: [string[], RegExp][] = [
    [['init', '--out', join(tmp, 'x.gguf')], /--preset: expected a value, found nothing/],
    [['init', '--preset', 'test-tiny'], /--out: expected a value, found nothing/],
    [['init', '--preset', 'gpt-5', '--out', join(tmp, 'x.gguf')], /preset: expected one of smollm-135m, tinyllama-1\.1b, stories260k, test-tiny, shakespeare, shakespeare-gpu, train-test, found "gpt-5"/],
    [['init', '--preset', 'test-tiny', '--out', join(tmp, 'x.gguf'), '--dtype', 'q3_k'], /--dtype: expected one of f32, f16, q8_0, q4_0, q4_k, q6_k, found "q3_k"/],
    [['init', '--preset', 'test-tiny', '--out', join(tmp, 'x.gguf'), '--seed', 'abc'], /--seed: expected an integer, found "abc"/],
    [['quantize', stories, '--type', 'q8_0'], /quantize: expected two paths, IN and OUT, found ".*stories260K\.gguf"/],
    [['quantize', stories, join(tmp, 'x.gguf')], /--type: expected a value, found nothing/],
    [['quantize', fixturePath('hf', 'tiny-gqa'), join(tmp, 'x.gguf'), '--type', 'f16'], /--tokenizer: .* found a Hugging Face folder/],
    [['quantize', join(tmp, 'nothing.gguf'), join(tmp, 'x.gguf'), '--type', 'f16'], /nothing at this path/],
  ];
  for (const [args, pattern] of cases) {
    const r = llamats(...args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
  assert.ok(!existsSync(join(tmp, 'x.gguf')));
});
