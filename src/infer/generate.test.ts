import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgumentError } from '../core/errors.js';
import { loadModel } from '../io/load-model.js';
import { loadTokenizer } from '../io/load-tokenizer.js';
import { assetPath } from '../io/package-paths.js';
import { Decoder } from './decoder.js';
import { generate, type GenerateOptions } from './generate.js';

const model = await loadModel(assetPath('stories260K', 'stories260K.bin'));
const tokenizer = loadTokenizer(assetPath('stories260K', 'tok512.bin'), { vocabSize: 512 });

async function run(prompt: string | number[], options: GenerateOptions): Promise<{ ids: number[]; text: string }> {
  const ids: number[] = [];
  let text = '';
  for await (const t of generate(model, tokenizer, prompt, options)) {
    ids.push(t.id);
    text += t.text;
  }
  return { ids, text };
}

// llama2.c's test_all.py: `run stories260K.bin -z tok512.bin -t 0.0 -n 200` with no prompt prints exactly this:
// 200 forward passes at positions 0..199 (BOS, then each new token), each printing the token it predicts.
const LLAMA2C_GREEDY =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\n' +
  "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to play with your ball, but I can't find it.\"\n" +
  'Lily was sad and didn\'t know what to do. She said, "I\'m sorry, Lily. I didn\'t know what to do."\n' +
  "Lily didn't want to help her mom, so she";

test("stories260K greedy from an empty prompt equals llama2.c's published output", async () => {
  const { ids, text } = await run('', { temperature: 0, maxTokens: 200 });
  assert.equal(ids.length, 200);
  assert.equal(text, LLAMA2C_GREEDY);
});

test("stories260K with llama2.c's sampler settings and seed reproduces its published sample", async () => {
  // llama2.c doc/stories260K.md: `run stories260K.bin -z tok512.bin -t 1.0 -p 0.9 -s 133742`
  const { text } = await run('', { temperature: 1, topP: 0.9, seed: 133742, maxTokens: 60 });
  assert.ok(text.startsWith('Once upon a time, there was a little boy named Timmy. Timmy loved to play with his toys and eat sandwiches.'), text);
});

test('maxTokens counts generated tokens, a prompt is continued in context, and a seed reproduces a run', async () => {
  const a = await run('Once upon a time', { maxTokens: 7, seed: 9, stopAtEos: false });
  assert.equal(a.ids.length, 7);
  assert.deepEqual(await run('Once upon a time', { maxTokens: 7, seed: 9, stopAtEos: false }), a);
  assert.equal(tokenizer.decode([1, ...tokenizer.encode('Once upon a time'), ...a.ids]), 'Once upon a time' + a.text);
});

test('bad prompts and options are rejected before any work', async () => {
  await assert.rejects(run([1, 512], {}), (e: unknown) => e instanceof ArgumentError && /prompt token id/.test(e.message) && /512/.test(e.message));
  await assert.rejects(run([], {}), ArgumentError);
  await assert.rejects(run('x', { maxTokens: -1 }), /maxTokens/);
  await assert.rejects(run('x', { topK: -2 }), /topK/);
});

test('generation stops at the context length and on abort', async () => {
  const it = generate(model, tokenizer, 'Once', { maxTokens: 10_000, stopAtEos: false });
  let n = 0;
  let r = await it.next();
  while (!r.done) (n++, (r = await it.next()));
  assert.equal(r.value.stopReason, 'contextFull');
  // Every position 0..maxSeqLen-1 was run; the last one's prediction is the final token.
  assert.equal(r.value.prefillTokens + r.value.decodeTokens, model.config.maxSeqLen);
  assert.equal(n, model.config.maxSeqLen - r.value.prefillTokens + 1);
  const controller = new AbortController();
  controller.abort();
  const aborted = await generate(model, tokenizer, 'Once', { signal: controller.signal }).next();
  assert.deepEqual([aborted.done, aborted.done && aborted.value.stopReason], [true, 'aborted']);
});

test('a generated BOS (a new story) or EOS ends the generation', async () => {
  // With this seed stories260K finishes its story and emits BOS within 256 tokens.
  const it = generate(model, tokenizer, '', { seed: 167640501, temperature: 1, topP: 0.9, maxTokens: 256 });
  const ids: number[] = [];
  let r = await it.next();
  while (!r.done) (ids.push(r.value.id), (r = await it.next()));
  assert.equal(r.value.stopReason, 'eos');
  assert.ok(ids.length < 256 && !ids.includes(tokenizer.bosId) && !ids.includes(tokenizer.eosId));
});

test('a generation frees what it allocates: a second identical one reserves no more backend memory', async () => {
  // The heap's high-water mark only grows when its free lists cannot serve a request, so anything the first run
  // left allocated (each step's token ids, say) would make the second grow it.
  await run('Once', { temperature: 0, maxTokens: 30 });
  const reserved = model.ops.reservedBytes;
  await run('Once', { temperature: 0, maxTokens: 30 });
  assert.equal(model.ops.reservedBytes, reserved);
});

test('a Decoder rejects an empty step, ids outside the vocabulary and steps past its capacity, before any work', async () => {
  const decoder = new Decoder(model, 4);
  await assert.rejects(decoder.next([]), (e: Error) => e instanceof ArgumentError && /at least one token id/.test(e.message));
  await assert.rejects(decoder.next([1, 512]), (e: Error) => e instanceof ArgumentError && /token id: expected an integer in \[0, 512\), found 512/.test(e.message));
  await decoder.next([1, 2, 3]);
  await assert.rejects(decoder.next([4, 5]), (e: Error) => e instanceof ArgumentError && /at most 4 positions/.test(e.message));
  assert.equal(decoder.cache.length, 3);
  decoder.dispose();
});
