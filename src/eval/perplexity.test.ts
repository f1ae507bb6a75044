import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ArgumentError } from '../core/errors.js';
import { loadModel } from '../io/load-model.js';
import { fixturePath } from '../io/package-paths.js';
import { perplexity } from './perplexity.js';

const dir = fixturePath('hf', 'tiny-gqa');
const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8'));
const model = await loadModel(dir, { backend: 'reference' });

test("mean NLL equals transformers' loss on the tiny-gqa fixture", async () => {
  // transformers: mean cross-entropy over the 2 x 23 next-token positions = 6.520448684692383 (fp32 model).
  const r = await perplexity(model, expected.input_ids);
  assert.equal(r.predicted, 46);
  assert.ok(Math.abs(r.meanNll - expected.loss) < 1e-5, `${r.meanNll} vs ${expected.loss}`);
  assert.ok(Math.abs(r.perplexity - Math.exp(expected.loss)) < 1e-5 * Math.exp(expected.loss));
});

test('KL divergence from a base: zero against itself, positive and ranked against a perturbed base', async () => {
  const seqs = expected.input_ids as number[][];
  const own = (await perplexity(model, seqs, { keepLogits: true })).logits!;
  const self = (await perplexity(model, seqs, { baseLogits: own })).kl!;
  assert.ok(self.mean < 1e-12 && self.max < 1e-12);
  assert.equal(self.sameTop, 1);
  const noisy = (scale: number) => own.map((l) => l.map((v, i) => v + scale * Math.sin(i * 12.9898)));
  const [small, large] = [(await perplexity(model, seqs, { baseLogits: noisy(0.1) })).kl!, (await perplexity(model, seqs, { baseLogits: noisy(1) })).kl!];
  assert.ok(small.mean > 0 && large.mean > 10 * small.mean, `${small.mean} ${large.mean}`);
  assert.ok(large.sameTop < 1);
  await assert.rejects(perplexity(model, seqs, { baseLogits: own.slice(1) }), ArgumentError);
});
