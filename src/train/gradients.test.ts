/**
 * The training loss and every parameter's gradient against PyTorch: transformers' LlamaForCausalLM (fp32, eager)
 * on the `tiny-gqa` fixture, `model(ids, labels=ids).loss` and its `.backward()` (test/fixtures/hf/tiny-gqa).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { join } from 'node:path';
import { Tape } from '../autograd/tape.js';
import { backendNames, getBackend } from '../backend/registry.js';
import { unavailable } from '../testing/backends.js';
import { fixturePath } from '../io/package-paths.js';
import { loadModel } from '../io/load-model.js';
import { readSafetensorsHeader, readSafetensorsInts } from '../io/safetensors.js';
import { readHfTensorsAsOurs } from '../testing/hf-tensors.js';
import type { Dropout, LlamaModel } from '../model/llama.js';
import { recordLoss, type Batch } from './lm-loss.js';
import { trainableParams } from './trainer.js';

const dir = fixturePath('hf', 'tiny-gqa');
const ids = readSafetensorsInts(readSafetensorsHeader(join(dir, 'inputs_outputs.safetensors')).get('input_ids')!);
const torchLoss = 6.520448684692383; // README.md of the fixture

/** HF's shift: position t predicts token t + 1; the last position of each row has no target. */
function nextTokenBatch(rows: number, len: number): Batch {
  const inputs = Int32Array.from(ids);
  const targets = Int32Array.from(ids, (_, i) => ((i + 1) % len === 0 ? -1 : ids[i + 1]!));
  return { inputs, targets, batch: rows, seqLen: len };
}

/** Our gradients by flat name, q/k rows moved into HF's rotate_half layout to compare with torch's. */
async function gradients(model: LlamaModel, recompute: boolean, dropout?: Dropout): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const tape = new Tape(model.ops);
  const batch = nextTokenBatch(2, 24);
  const scored = 2 * 23;
  const lossT = recordLoss(tape, model, batch, 1 / scored, recompute, dropout);
  tape.backward();
  const loss = (await model.ops.read(lossT))[0]! / scored;
  const grads = new Map<string, Float32Array>();
  for (const p of trainableParams(model, { decayEmbeddings: true, decayNorms: false })) {
    const g = tape.grads.get(p.tensor);
    assert.ok(g, `no gradient for ${p.name}`);
    grads.set(p.name, (await model.ops.read(g)) as Float32Array);
  }
  tape.dispose();
  return { loss, grads };
}

const torchGrads = readHfTensorsAsOurs(join(dir, 'grads.safetensors'), 4, 2);

function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i]! - b[i]!) ** 2;
    norm += b[i]! ** 2;
  }
  return Math.sqrt(diff / norm);
}

for (const backend of backendNames) {
  describe(`[${backend}] tiny-gqa loss and gradients match PyTorch`, { skip: unavailable[backend] }, async () => {
    const ops = await getBackend(backend, { threads: 2 });
    after(() => ops.dispose());
    const model = await loadModel(dir, { backend: ops });

    test('loss within 1e-5 of transformers, every gradient within 1e-4 relative (per tensor)', async () => {
      const { loss, grads } = await gradients(model, false);
      assert.ok(Math.abs(loss - torchLoss) < 1e-5, `loss ${loss} vs ${torchLoss}`);
      assert.equal(grads.size, torchGrads.size);
      for (const [name, want] of torchGrads) {
        const err = relativeError(grads.get(name)!, want);
        assert.ok(err < 1e-4, `${name}: relative error ${err}`);
      }
    });

    test('gradient accumulation: two micro-batches of one row sum to the gradient of both rows at once', async () => {
      const whole = await gradients(model, false);
      const tape = new Tape(model.ops);
      const both = nextTokenBatch(2, 24);
      for (const row of [0, 1]) {
        const part = { inputs: both.inputs.subarray(row * 24, row * 24 + 24), targets: both.targets.subarray(row * 24, row * 24 + 24), batch: 1, seqLen: 24 };
        recordLoss(tape, model, part, 1 / 46);
        tape.backward();
      }
      for (const p of trainableParams(model, { decayEmbeddings: true, decayNorms: false })) {
        const g = (await model.ops.read(tape.grads.get(p.tensor)!)) as Float32Array;
        assert.ok(relativeError(g, whole.grads.get(p.name)!) < 1e-5, p.name); // f32 sums in another order
      }
      tape.dispose();
    });

    test('activation recomputation gives identical gradients', async () => {
      const plain = await gradients(model, false);
      const recomputed = await gradients(model, true);
      assert.equal(recomputed.loss, plain.loss);
      for (const [name, g] of plain.grads) assert.deepEqual(recomputed.grads.get(name), g, name);
    });

    test('dropout: gradients match finite differences of the loss with the same masks; recomputation redraws them', async () => {
      const dropout = { p: 0.3, seed: 7 };
      const { loss, grads } = await gradients(model, false, dropout);
      assert.ok(Math.abs(loss - torchLoss) > 1e-3, 'dropout changes the loss');
      const recomputed = await gradients(model, true, dropout);
      assert.equal(recomputed.loss, loss);
      for (const [name, g] of grads) assert.deepEqual(recomputed.grads.get(name), g, name);
      // Central differences on the 3 largest gradient entries of wq and w2 of layer 0 (one before each dropout site).
      // h = 1e-2: the f32 loss (~6.5) rounds to ~5e-7, so the quotient's rounding is ~3e-5, under 1% of these entries.
      const layer = model.weights.layers[0]!;
      for (const name of ['wq', 'w2'] as const) {
        const g = grads.get(`layers.0.${name}`)!;
        const host = (await model.ops.read(layer[name])) as Float32Array;
        const top = [...g.keys()].sort((a, b) => Math.abs(g[b]!) - Math.abs(g[a]!)).slice(0, 3);
        for (const i of top) {
          const lossAt = async (delta: number) => {
            const data = host.slice();
            data[i]! += delta;
            const w = model.ops.fromHost(data, layer[name].shape);
            const moved = { ...model, weights: { ...model.weights, layers: model.weights.layers.map((l, j) => (j === 0 ? { ...l, [name]: w } : l)) } };
            const result = (await gradients(moved, false, dropout)).loss;
            model.ops.release(w);
            return result;
          };
          const h = 1e-2;
          const numeric = ((await lossAt(h)) - (await lossAt(-h))) / (2 * h);
          assert.ok(Math.abs(numeric - g[i]!) <= 0.03 * Math.abs(g[i]!), `layers.0.${name}[${i}]: analytic ${g[i]} vs numeric ${numeric}`);
        }
      }
    });
  });
}
