import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { backendNames } from '../backend/registry.js';
import { unavailable } from '../testing/backends.js';
import { loadModel } from '../io/load-model.js';
import { fixturePath } from '../io/package-paths.js';
import { readSafetensorsHeader, readSafetensorsInts, readSafetensorsTensor } from '../io/safetensors.js';
import { argmax } from '../infer/sampler.js';
import { KvCache } from './kv-cache.js';
import { forward, type LlamaModel } from './llama.js';
import { ropeInverseFrequencies } from './rope.js';

/** Logits of transformers in float32 vs ours: both f32 with different summation orders; the fixtures measured
 * fp32-vs-fp64 differences of ~3e-6, so 1e-4 absolute leaves room for rounding but not for a wrong op. */
const LOGIT_TOLERANCE = 1e-4;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function logitsOf(model: LlamaModel, rows: number[][]): Promise<Float32Array> {
  const ids = Int32Array.from(rows.flat());
  return (await model.ops.read(forward(model, model.ops.fromHost(ids, [rows.length, rows[0]!.length])))) as Float32Array;
}

/** Greedy decoding through the KV cache: one prefill pass, then one pass per token. */
async function greedy(model: LlamaModel, prompt: number[], steps: number): Promise<number[]> {
  const { ops } = model;
  const cache = new KvCache(ops, model.config, 1, prompt.length + steps);
  const out = [...prompt];
  let input = prompt;
  for (let i = 0; i < steps; i++) {
    const logits = await ops.read(forward(model, ops.fromHost(Int32Array.from(input), [1, input.length]), { cache, lastOnly: true }));
    out.push(argmax(logits));
    input = [out[out.length - 1]!];
  }
  return out;
}

for (const backend of backendNames) {
  const skip = unavailable[backend];
  test(`[${backend}] tiny-gqa (HF folder, fp32): logits within 1e-4 of transformers for both sequences, same greedy ids`, { skip }, async () => {
    const dir = fixturePath('hf', 'tiny-gqa');
    const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8'));
    const model = await loadModel(dir, { backend });
    const reference = readSafetensorsTensor(readSafetensorsHeader(`${dir}/inputs_outputs.safetensors`).get('logits')!);
    const ours = await logitsOf(model, expected.input_ids);
    assert.ok(maxAbsDiff(ours, reference.data) < LOGIT_TOLERANCE, `max |diff| ${maxAbsDiff(ours, reference.data)}`);
    assert.deepEqual(await greedy(model, expected.prompt_ids, 20), expected.generated_ids);
    model.ops.dispose();
  });

  for (const variant of ['bf16', 'f16']) {
    test(`[${backend}] tiny-llama3-${variant} (llama3 rope scaling, MQA, tied, ${variant === 'bf16' ? 'sharded bf16' : 'f16'}): matches transformers`, { skip }, async () => {
      const dir = fixturePath('hf', `tiny-llama3-${variant}`);
      const model = await loadModel(dir, { backend });
      const ref = readSafetensorsHeader(`${dir}/reference.safetensors`);
      const invFreq = readSafetensorsTensor(ref.get('inv_freq')!).data;
      assert.ok(maxAbsDiff(ropeInverseFrequencies(model.config), invFreq) <= 1e-7 * Math.max(...invFreq));
      const inputIds = readSafetensorsInts(ref.get('input_ids')!);
      const rows = [Array.from(inputIds.slice(0, 40)), Array.from(inputIds.slice(40))];
      const ours = await logitsOf(model, rows);
      const reference = readSafetensorsTensor(ref.get('logits')!).data;
      assert.ok(maxAbsDiff(ours, reference) < LOGIT_TOLERANCE, `max |diff| ${maxAbsDiff(ours, reference)}`);
      const prompt = Array.from(readSafetensorsInts(ref.get('prompt_ids')!));
      assert.deepEqual(await greedy(model, prompt, 16), Array.from(readSafetensorsInts(ref.get('generated_ids')!)));
      model.ops.dispose();
    });
  }

  test(`[${backend}] prefill + cached steps give the logits of one full pass`, { skip }, async () => {
    const model = await loadModel(fixturePath('hf', 'tiny-gqa'), { backend });
    const ids = [5, 17, 300, 2, 99, 411, 7, 63, 250];
    const full = await logitsOf(model, [ids]);
    const { ops, config } = model;
    const cache = new KvCache(ops, config, 1, ids.length);
    const parts = [ids.slice(0, 4), ids.slice(4, 5), ids.slice(5)];
    const stepped: number[] = [];
    for (const part of parts) stepped.push(...(await ops.read(forward(model, ops.fromHost(Int32Array.from(part), [1, part.length]), { cache }))));
    assert.ok(maxAbsDiff(stepped, full) < 1e-5);
    assert.throws(() => forward(model, ops.fromHost(Int32Array.of(1), [1, 1]), { cache }), /at most 9 positions/);
    ops.dispose();
  });
}
