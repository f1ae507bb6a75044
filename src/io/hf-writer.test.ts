/**
 * Models written by `llamats train` are Hugging Face LLaMA folders that transformers loads as they are:
 * test/fixtures/hf/llamats-trained-{untied,tied} were written by our trainer, then loaded with
 * LlamaForCausalLM.from_pretrained and AutoTokenizer by test/fixtures/hf/make_train_fixtures.py, which saved
 * transformers' logits for fixed ids and its token ids for a test string.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { forward } from '../model/llama.js';
import { openHfFolder } from './hf-model.js';
import { writeHfModel } from './hf-writer.js';
import { loadModel, readModelWeights } from './load-model.js';
import { loadTokenizer, tokenizerPathFor } from './load-tokenizer.js';
import { fixturePath } from './package-paths.js';
import { readSafetensorsHeader, readSafetensorsInts, readSafetensorsTensor } from './safetensors.js';

const tmp = mkdtempSync(join(tmpdir(), 'llamats-hfw-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

for (const kind of ['untied', 'tied']) {
  const dir = fixturePath('hf', `llamats-trained-${kind}`);

  test(`${kind}: transformers computes our logits from our checkpoint (within 1e-4)`, async () => {
    const ref = readSafetensorsHeader(join(dir, 'logits.safetensors'));
    const ids = readSafetensorsInts(ref.get('input_ids')!);
    const want = readSafetensorsTensor(ref.get('logits')!).data;
    const model = await loadModel(dir, { backend: 'reference' });
    const { ops } = model;
    const got = await ops.read(forward(model, ops.fromHost(Int32Array.from(ids), [2, 16])));
    let worst = 0;
    got.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - want[i]!))));
    assert.ok(worst < 1e-4, `max |ours - transformers| = ${worst}`);
  });

  test(`${kind}: transformers' tokenizer reads our tokenizer.json to the same ids`, () => {
    const check = JSON.parse(readFileSync(join(dir, 'tokenizer.json-check.json'), 'utf8')) as { text: string; ids: number[] };
    const tokenizer = loadTokenizer(tokenizerPathFor(dir));
    assert.deepEqual(tokenizer.encode(check.text), check.ids);
    assert.equal(tokenizer.decode(check.ids), check.text);
  });

  test(`${kind}: writing what we read gives back the same tensors (q/k permutation inverted exactly)`, () => {
    const { config, tensors } = readModelWeights(dir);
    const out = join(tmp, kind);
    writeHfModel(out, config, new Map([...tensors].map(([n, t]) => [n, t as { shape: number[]; data: Float32Array }])));
    const again = openHfFolder(out);
    assert.deepEqual(again.config, config);
    for (const [name, t] of tensors) assert.deepEqual(again.tensors.get(name)!(), t, name);
  });
}
