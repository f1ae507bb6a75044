/**
 * One optimizer step as PyTorch takes it: two AdamW steps of the tiny-gqa model (clip_grad_norm_ 1.0, then
 * torch.optim.AdamW with betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on matrices and 0 on norm gains, lr 1e-2),
 * made by test/fixtures/hf/make_train_fixtures.py.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tape } from '../autograd/tape.js';
import { CpuBackend } from '../backend/cpu/cpu-backend.js';
import { getBackend } from '../backend/registry.js';
import { fixturePath } from '../io/package-paths.js';
import { loadModel } from '../io/load-model.js';
import { readSafetensorsHeader, readSafetensorsInts } from '../io/safetensors.js';
import { readHfTensorsAsOurs } from '../testing/hf-tensors.js';
import { AdamW, llamaAdamW } from './adamw.js';
import { GROWTH_INTERVAL, INITIAL_LOSS_SCALE, nextLossScale } from './loss-scale.js';
import { recordLoss } from './lm-loss.js';
import { trainableParams } from './trainer.js';

const model0 = fixturePath('hf', 'tiny-gqa');
const fixture = fixturePath('hf', 'tiny-gqa-adamw');
const expected = JSON.parse(readFileSync(join(fixture, 'expected.json'), 'utf8')) as { lr: number; steps: { loss: number; grad_norm: number }[] };
const ids = readSafetensorsInts(readSafetensorsHeader(join(model0, 'inputs_outputs.safetensors')).get('input_ids')!);
const torchAfter = readHfTensorsAsOurs(join(fixture, 'params-after-2-steps.safetensors'), 4, 2);

for (const backend of ['reference', 'cpu'] as const) {
  describe(`[${backend}] AdamW matches torch.optim.AdamW after clip_grad_norm_`, async () => {
    const ops = await getBackend(backend, { threads: 2 });
    after(() => ops.dispose());
    const model = await loadModel(model0, { backend: ops });
    const params = trainableParams(model, { decayEmbeddings: true, decayNorms: false });
    const before = new Map(await Promise.all(params.map(async (p) => [p.name, (await ops.read(p.tensor)) as Float32Array] as const)));

    test('losses, gradient norms, and every parameter after two steps', async () => {
      const optimizer = new AdamW(ops, params, llamaAdamW);
      const inputs = Int32Array.from(ids);
      const targets = Int32Array.from(ids, (_, i) => ((i + 1) % 24 === 0 ? -1 : ids[i + 1]!));
      for (const want of expected.steps) {
        const tape = new Tape(ops);
        const loss = recordLoss(tape, model, { inputs, targets, batch: 2, seqLen: 24 }, 1 / 46);
        tape.backward();
        const got = (await ops.read(loss))[0]! / 46;
        tape.dispose();
        const norm = await optimizer.update(tape.grads, expected.lr);
        assert.ok(Math.abs(got - want.loss) < 1e-5, `loss ${got} vs ${want.loss}`);
        assert.ok(Math.abs(norm - want.grad_norm) < 1e-4 * want.grad_norm, `grad norm ${norm} vs ${want.grad_norm}`);
      }
      // Compare the total change of each tensor: ||ours - torch|| / ||torch - initial||. Adam's step is ~lr per
      // element whatever the gradient's size, so this is a relative error of the updates themselves; f32 gradients
      // (1e-6 relative) move the normalised step by about as much.
      for (const p of params) {
        const now = (await ops.read(p.tensor)) as Float32Array;
        const want = torchAfter.get(p.name)!;
        const start = before.get(p.name)!;
        let diff = 0;
        let moved = 0;
        for (let i = 0; i < now.length; i++) {
          diff += (now[i]! - want[i]!) ** 2;
          moved += (want[i]! - start[i]!) ** 2;
        }
        const err = Math.sqrt(diff / moved);
        assert.ok(err < 1e-4, `${p.name}: update differs from torch's by ${err} relative`); // measured: 1.4e-5 at worst
      }
      optimizer.dispose();
    });
  });
}

describe('AdamW under loss scaling (mixed precision)', () => {
  const ops = new CpuBackend();
  /** One update of w = [1, -2, 3] from gradient `g` that is `lossScale` times the true one. */
  const step = async (g: number[], lossScale: number) => {
    const w = ops.fromHost(Float32Array.from([1, -2, 3]), [3]);
    const optimizer = new AdamW(ops, [{ name: 'w', tensor: w, decay: true }], llamaAdamW);
    const norm = await optimizer.update(new Map([[w, ops.fromHost(Float32Array.from(g), [3])]]), 0.1, lossScale);
    return { norm, w: [...(await ops.read(w))], m: [...(await ops.read(optimizer.m.get('w')!))] };
  };

  test('gradients scaled by 2^10 with lossScale 2^10 give the unscaled update bit for bit (norm 5, clipped to 1)', async () => {
    const scaled = await step([3 * 1024, 4 * 1024, 0], 1024);
    assert.deepEqual(scaled, await step([3, 4, 0], 1));
    assert.equal(scaled.norm, 5);
  });

  test('a non-finite gradient skips the update: weights and moments stay', async () => {
    assert.deepEqual(await step([1, Infinity, 0], 65536), { norm: Infinity, w: [1, -2, 3], m: [0, 0, 0] });
    assert.ok(Number.isNaN((await step([1, NaN, 0], 1)).norm));
  });

  test('the loss scale halves on overflow and doubles after GROWTH_INTERVAL finite steps', () => {
    assert.deepEqual(nextLossScale(INITIAL_LOSS_SCALE, false), { scale: 2 ** 15, goodSteps: 0 });
    let s = { scale: 8, goodSteps: 0 };
    for (let i = 0; i < GROWTH_INTERVAL - 1; i++) s = nextLossScale(s, true);
    assert.deepEqual(s, { scale: 8, goodSteps: GROWTH_INTERVAL - 1 });
    assert.deepEqual(nextLossScale(s, true), { scale: 16, goodSteps: 0 });
    assert.deepEqual(nextLossScale({ scale: 1, goodSteps: 5 }, false), { scale: 1, goodSteps: 0 });
  });
});
