/**
 * The proof that llama.cpp runs the GGUFs we write: node-llama-cpp (llama.cpp's prebuilt CPU binaries, a
 * devDependency) loads them and generates greedily; where the weights are a real model (stories260K) its tokens must
 * equal ours. If its binary cannot load here, the cases are skipped with the reason, never passed silently.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { getLlama, type Llama, type Token } from 'node-llama-cpp';
import type { BackendName } from '../backend/registry.js';
import { availableBackends } from '../testing/backends.js';
import { UnsupportedError } from '../core/errors.js';
import { argmax } from '../infer/sampler.js';
import { KvCache } from '../model/kv-cache.js';
import { forward } from '../model/llama.js';
import { presetConfig } from '../model/presets.js';
import { randomWeights, syntheticVocab } from '../model/random-init.js';
import { loadModel } from './load-model.js';
import { loadTokenizer } from './load-tokenizer.js';
import { fuzzStrings } from '../testing/tokenizer-fuzz.js';
import { fixturePath } from './package-paths.js';
import { parseTiktokenFile } from './tiktoken-file.js';
import { convertModel, weightTypes, writeLlamaGguf } from './write-model.js';

process.env.OMP_WAIT_POLICY ??= 'passive'; // spinning OpenMP threads can stall llama.cpp on small shared machines

const stories = fixturePath('stories260K', 'stories260K.gguf');
const tmp = mkdtempSync(join(tmpdir(), 'llamats-llama-cpp-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let llama: Llama | undefined;
let unavailable = '';
before(async () => {
  try {
    llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  } catch (e) {
    unavailable = `node-llama-cpp cannot load llama.cpp here: ${(e as Error).message}`;
  }
});
after(async () => llama?.dispose());

/** llama.cpp's greedy continuation of `prompt` (ids, BOS included), `count` tokens. */
async function llamaCppGreedy(path: string, prompt: number[], count: number): Promise<number[]> {
  const model = await llama!.loadModel({ modelPath: path });
  const context = await model.createContext({ contextSize: 256, threads: 1 });
  try {
    const out: number[] = [];
    for await (const token of context.getSequence().evaluate(prompt as Token[], { temperature: 0 })) {
      out.push(token);
      if (out.length === count) break;
    }
    return out;
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

/** Ours: the reference CPU backend, one prefill pass then one pass per token through the KV cache, argmax. */
async function ourGreedy(path: string, prompt: number[], count: number, backend: BackendName = 'reference'): Promise<number[]> {
  const model = await loadModel(path, { backend });
  const { ops } = model;
  const cache = new KvCache(ops, model.config, 1, prompt.length + count);
  const out: number[] = [];
  for (let input = prompt; out.length < count; input = [out.at(-1)!]) {
    const logits = await ops.read(forward(model, ops.fromHost(Int32Array.from(input), [1, input.length]), { cache, lastOnly: true }));
    out.push(argmax(logits));
  }
  ops.dispose();
  return out;
}

function skipUnlessLlamaCpp(t: TestContext): boolean {
  if (llama) return false;
  t.skip(unavailable);
  return true;
}

/**
 * Run `fn`; if it hits a type we cannot encode or decode yet (UnsupportedError: the K-quant encoders and the
 * quantized readers are in progress), skip the test with that reason instead of failing or passing.
 */
async function skipIfUnsupported(t: TestContext, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof UnsupportedError)) throw e;
    t.skip(e.message);
  }
}

const storiesPrompt = (path: string) => [1, ...loadTokenizer(path).encode('Once upon a time, there was a')];

for (const dtype of ['f32', 'f16', 'q8_0'] as const) {
  test(`stories260K written as ${dtype}: llama.cpp's 40 greedy tokens equal ours`, async (t) => {
    if (skipUnlessLlamaCpp(t)) return;
    const path = join(tmp, `stories-${dtype}.gguf`);
    convertModel(stories, path, { dtype });
    const prompt = storiesPrompt(path);
    const theirs = await llamaCppGreedy(path, prompt, 40);
    for (const backend of availableBackends) assert.deepEqual(await ourGreedy(path, prompt, 40, backend), theirs, backend);
  });
}

test('stories260K as q8_0: the first 50 greedy tokens equal the f32 original\'s, on every backend', async () => {
  const path = join(tmp, 'stories-q8_0-vs-f32.gguf');
  convertModel(stories, path, { dtype: 'q8_0' });
  const prompt = [1];
  const f32 = await ourGreedy(stories, prompt, 50);
  for (const backend of availableBackends) assert.deepEqual(await ourGreedy(path, prompt, 50, backend), f32, backend);
});

test('stories260K written as q4_0: llama.cpp loads it and tells a story (the same as ours)', async (t) => {
  if (skipUnlessLlamaCpp(t)) return;
  const path = join(tmp, 'stories-q4_0.gguf');
  convertModel(stories, path, { dtype: 'q4_0' });
  const prompt = storiesPrompt(path);
  const tokens = await llamaCppGreedy(path, prompt, 20);
  const text = loadTokenizer(path).decode(tokens);
  assert.match(text, /[a-z]+ [a-z]+/, text); // words, not noise
  for (const backend of availableBackends) assert.deepEqual(await ourGreedy(path, prompt, 20, backend), tokens, backend);
});

for (const dtype of weightTypes) {
  test(`test-tiny random init as ${dtype}: llama.cpp loads it and generates`, async (t) => {
    if (skipUnlessLlamaCpp(t)) return;
    const path = join(tmp, `tiny-${dtype}.gguf`);
    const config = presetConfig('test-tiny');
    await skipIfUnsupported(t, async () => {
      writeLlamaGguf(path, { config, tensors: randomWeights(config, 1), vocab: syntheticVocab(config.vocabSize), dtype });
      const tokens = await llamaCppGreedy(path, [1, 300, 301, 302], 8);
      assert.equal(tokens.length, 8);
      assert.ok(tokens.every((id) => Number.isInteger(id) && id >= 0 && id < config.vocabSize), String(tokens));
    });
  });
}

test("a model with Llama 3's vocabulary (GGUF \"gpt2\" + \"llama-bpe\"): llama.cpp tokenizes as we do", async (t) => {
  if (skipUnlessLlamaCpp(t)) return;
  const rankFile = fixturePath('llama3-tokenizer', 'tokenizer.model');
  const vocab = parseTiktokenFile(readFileSync(rankFile), rankFile);
  const config = { ...presetConfig('test-tiny'), dim: 64, hiddenDim: 128, vocabSize: 128256, tieEmbeddings: true };
  const path = join(tmp, 'tiny-llama3-vocab.gguf');
  writeLlamaGguf(path, { config, tensors: randomWeights(config, 1), vocab, dtype: 'q8_0' });
  const ours = loadTokenizer(path);
  const model = await llama!.loadModel({ modelPath: path });
  try {
    const vectors = readFileSync(fixturePath('llama.cpp-vocab', 'ggml-vocab-llama-bpe.gguf.inp'), 'utf8').split('\n__ggml_vocab_test__\n').slice(0, -1);
    const texts = [...vectors, ...fuzzStrings().slice(0, 1000)];
    const differ = texts.filter((text) => JSON.stringify(model.tokenize(text, false)) !== JSON.stringify(ours.encode(text)));
    assert.deepEqual(differ.slice(0, 5), [], `${differ.length} of ${texts.length} texts differ`);
  } finally {
    await model.dispose();
  }
});
