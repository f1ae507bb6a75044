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
import { getBackend } from '../backend/registry.js';
import { fixturePath } from '../io/package-paths.js';
import { loadModel } from '../io/load-model.js';
import { readSafetensorsHeader, readSafetensorsInts } from '../io/safetensors.js';
import { readHfTensorsAsOurs } from '../testing/hf-tensors.js';
import { AdamW, llamaAdamW } from './adamw.js';
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
