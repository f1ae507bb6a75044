/**
 * Every backward kernel against finite differences of its forward (the reference backend), on seeded random
 * inputs of awkward sizes. For a random projection r of the output, L(inputs) = sum(r * forward(inputs)); the
 * backward given dy = r must return dL/dinput. We compare directional derivatives: for a random direction u of
 * every differentiated input, (L(x + h u) - L(x - h u)) / 2h against sum_i <grad_i, u_i>.
 *
 * Tolerance: the forward runs in f32, so L carries rounding of ~1e-7 relative per term; with h = 1e-2 that is
 * ~1e-5 relative after dividing by 2h, and the central difference's own error is O(h^2) ~ 1e-4 times the third
 * derivative. Errors are measured against ||g|| ||u||, the largest the directional derivative could be; 1e-3
 * leaves room for both, and a wrong backward (a missing term, a transposed index) is off by O(1).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Rng } from '../../core/rng.js';
import { numel, type Shape } from '../../core/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { CpuBackend } from './cpu-backend.js';

const ops = new CpuBackend();
const rng = new Rng(99);
const H = 1e-2;
const TOL = 1e-3;

const random = (shape: Shape, scale = 1) => Float32Array.from({ length: numel(shape) }, () => scale * rng.nextNormal());
const data = (t: Tensor) => t.storage as Float32Array;
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);

/**
 * Check `grads` (the backward's results for inputs[0..n), given dy = r) against central differences of
 * L = sum(r * forward(inputs)).
 */
function checkGradients(
  what: string, inputs: { data: Float32Array; shape: Shape }[], forward: (ts: Tensor[]) => Tensor,
  backward: (dy: Tensor, ts: Tensor[]) => Tensor[],
): void {
  const tensors = inputs.map((i) => ops.fromHost(i.data, i.shape));
  const y = forward(tensors);
  const r = random(y.shape);
  const grads = backward(ops.fromHost(r, y.shape), tensors);
  const directions = grads.map((g) => random(g.shape));
  const loss = (sign: number) => {
    const moved = inputs.map((inp, i) => {
      const d = directions[i];
      return ops.fromHost(d ? inp.data.map((v, j) => v + sign * H * d[j]!) : inp.data, inp.shape);
    });
    return dot(r, data(forward(moved)));
  };
  const numeric = (loss(1) - loss(-1)) / (2 * H);
  const analytic = grads.reduce((s, g, i) => s + dot(data(g), directions[i]!), 0);
  // Relative to the largest directional derivative this gradient could have, ||g|| ||u|| (Cauchy-Schwarz), so a
  // direction that happens to be nearly orthogonal to g does not turn rounding into a large relative error.
  const scale = Math.sqrt(grads.reduce((s, g) => s + dot(data(g), data(g)), 0) * directions.reduce((s, d) => s + dot(d, d), 0));
  const err = Math.abs(numeric - analytic) / scale;
  assert.ok(err < TOL, `${what}: finite difference ${numeric} vs backward ${analytic} (relative error ${err})`);
}

describe('backward kernels pass finite-difference checks', () => {
  test('linear: dx and dw', () => {
    for (const [rows, inF, outF] of [[1, 5, 3], [7, 13, 9], [3, 1, 17]] as const) {
      checkGradients(`linear ${rows}x${inF}->${outF}`, [{ data: random([rows, inF]), shape: [rows, inF] }, { data: random([outF, inF]), shape: [outF, inF] }],
        ([x, w]) => ops.linear(x!, w!), (dy, [x, w]) => {
          const { dx, dw } = ops.linearBackward(dy, x!, w!);
          return [dx, dw];
        });
    }
  });

  test('rmsnorm: dx and dweight', () => {
    for (const [rows, dim] of [[1, 7], [5, 33]] as const) {
      checkGradients(`rmsnorm ${rows}x${dim}`, [{ data: random([rows, dim]), shape: [rows, dim] }, { data: random([dim]), shape: [dim] }],
        ([x, w]) => ops.rmsnorm(x!, w!, 1e-5), (dy, [x, w]) => {
          const { dx, dweight } = ops.rmsnormBackward(dy, x!, w!, 1e-5);
          return [dx, dweight];
        });
    }
  });

  test('rope: dx (from startPos 0 and 5)', () => {
    for (const startPos of [0, 5]) {
      const inv = Float32Array.from({ length: 3 }, (_, i) => 10000 ** (-i / 3));
      const invFreq = ops.fromHost(inv, [3]);
      checkGradients(`rope at ${startPos}`, [{ data: random([2, 7, 3, 6]), shape: [2, 7, 3, 6] }],
        ([x]) => ops.rope(x!, invFreq, startPos), (dy) => [ops.ropeBackward(dy, invFreq, startPos)]);
    }
  });

  test('attention: dq, dk, dv with grouped-query heads', () => {
    for (const [batch, time, heads, kvHeads, dh] of [[1, 1, 2, 1, 4], [2, 7, 6, 2, 6], [1, 13, 3, 3, 5]] as const) {
      checkGradients(`attention B${batch} T${time} H${heads}/${kvHeads} Dh${dh}`, [
        { data: random([batch, time, heads, dh]), shape: [batch, time, heads, dh] },
        { data: random([batch, time, kvHeads, dh]), shape: [batch, time, kvHeads, dh] },
        { data: random([batch, time, kvHeads, dh]), shape: [batch, time, kvHeads, dh] },
      ], ([q, k, v]) => ops.attention(q!, k!, v!, 0), (dy, [q, k, v]) => {
        const { dq, dk, dv } = ops.attentionBackward(dy, q!, k!, v!);
        return [dq, dk, dv];
      });
    }
  });

  test('attention with dropout on its probabilities (a fixed mask: the seed is fixed)', () => {
    const dropout = { p: 0.3, seed: 4 };
    for (const [batch, time, heads, kvHeads, dh] of [[2, 7, 6, 2, 6], [1, 13, 3, 3, 5]] as const) {
      checkGradients(`attention with dropout B${batch} T${time} H${heads}/${kvHeads} Dh${dh}`, [
        { data: random([batch, time, heads, dh]), shape: [batch, time, heads, dh] },
        { data: random([batch, time, kvHeads, dh]), shape: [batch, time, kvHeads, dh] },
        { data: random([batch, time, kvHeads, dh]), shape: [batch, time, kvHeads, dh] },
      ], ([q, k, v]) => ops.attention(q!, k!, v!, 0, dropout), (dy, [q, k, v]) => {
        const { dq, dk, dv } = ops.attentionBackward(dy, q!, k!, v!, dropout);
        return [dq, dk, dv];
      });
    }
  });

  test('swiglu: dgate and dup', () => {
    checkGradients('swiglu', [{ data: random([3, 11], 2), shape: [3, 11] }, { data: random([3, 11]), shape: [3, 11] }],
      ([g, u]) => ops.swiglu(g!, u!), (dy, [g, u]) => {
        const { dgate, dup } = ops.swigluBackward(dy, g!, u!);
        return [dgate, dup];
      });
  });

  test('embedding: dtable (repeated ids add up)', () => {
    const ids = ops.fromHost(Int32Array.from([3, 0, 3, 6, 1]), [1, 5]);
    checkGradients('embedding', [{ data: random([7, 5]), shape: [7, 5] }],
      ([table]) => ops.embedding(table!, ids), (dy) => [ops.embeddingBackward(dy, ids, 7)]);
  });

  test('fused output layer + cross-entropy: dx and dw, across chunks, with an ignored row', () => {
    const rows = 150; // more than one chunk of 64 rows, not a multiple
    const targets = ops.fromHost(Int32Array.from({ length: rows }, (_, i) => (i === 7 ? -1 : (i * 13) % 11)), [rows]);
    checkGradients('crossEntropy', [{ data: random([rows, 9]), shape: [rows, 9] }, { data: random([11, 9]), shape: [11, 9] }],
      ([x, w]) => ops.crossEntropy(x!, w!, targets).loss, (dy, [x, w]) => {
        const { dx, dw } = ops.crossEntropy(x!, w!, targets, data(dy)[0]!);
        return [dx!, dw!];
      });
  });
});

describe('cross-entropy values', () => {
  test('the loss is the summed negative log-softmax of the targets; ignored rows add nothing', () => {
    const x = random([4, 3]);
    const w = random([5, 3]);
    const t = [2, -1, 0, 4];
    const logits = data(ops.linear(ops.fromHost(x, [4, 3]), ops.fromHost(w, [5, 3])));
    let want = 0;
    t.forEach((target, r) => {
      if (target < 0) return;
      const row = Array.from(logits.subarray(r * 5, r * 5 + 5));
      want += Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[target]!;
    });
    const got = data(ops.crossEntropy(ops.fromHost(x, [4, 3]), ops.fromHost(w, [5, 3]), ops.fromHost(Int32Array.from(t), [4])).loss)[0]!;
    assert.ok(Math.abs(got - want) < 1e-5 * Math.abs(want), `${got} vs ${want}`);
  });

  test('gradScale scales both gradients; a target past the vocabulary is an error', () => {
    const x = ops.fromHost(random([3, 4]), [3, 4]);
    const w = ops.fromHost(random([6, 4]), [6, 4]);
    const t = ops.fromHost(Int32Array.from([1, 2, 3]), [3]);
    const one = ops.crossEntropy(x, w, t, 1);
    const half = ops.crossEntropy(x, w, t, 0.5);
    data(one.dx!).forEach((v, i) => assert.ok(Math.abs(data(half.dx!)[i]! - v / 2) < 1e-7));
    data(one.dw!).forEach((v, i) => assert.ok(Math.abs(data(half.dw!)[i]! - v / 2) < 1e-7));
    assert.throws(() => ops.crossEntropy(x, w, ops.fromHost(Int32Array.from([1, 6, 0]), [3])), /target id: expected an integer < 6 \(or < 0 to skip the row\), found 6/);
  });
});

describe('adamw', () => {
  test('two steps by the formula (hand-computed), decay only where asked', () => {
    const hp = { lr: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step: 1 };
    const p = ops.fromHost(Float32Array.of(1, -2), [2]);
    const m = ops.zeros([2]);
    const v = ops.zeros([2]);
    ops.adamw(p, ops.fromHost(Float32Array.of(0.5, 0), [2]), m, v, hp);
    // step 1: m = 0.05, v = 0.0125; m^ = 0.5, v^ = 0.25: p = 1 * 0.99 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.89;
    // the second element has no gradient: only the decay moves it, -2 * 0.99 = -1.98
    assert.ok(Math.abs(data(p)[0]! - 0.89) < 1e-6 && Math.abs(data(p)[1]! + 1.98) < 1e-6, `${data(p)}`);
    ops.adamw(p, ops.fromHost(Float32Array.of(-0.5, 0), [2]), m, v, { ...hp, step: 2, weightDecay: 0 });
    // step 2: m = 0.045 - 0.05 = -0.005, v = 0.011875 + 0.0125 = 0.024375; m^ = -0.005 / 0.19 = -0.0263158,
    // v^ = 0.024375 / 0.0975 = 0.25: p = 0.89 + 0.1 * 0.0263158 / 0.5 = 0.8952632
    assert.ok(Math.abs(data(p)[0]! - 0.8952632) < 1e-6, `${data(p)[0]}`);
    assert.ok(Math.abs(data(p)[1]! + 1.98) < 1e-6, 'no decay with weightDecay 0');
  });

  test('shape mismatches are ShapeErrors', () => {
    assert.throws(() => ops.adamw(ops.zeros([2]), ops.zeros([3]), ops.zeros([2]), ops.zeros([2]),
      { lr: 1, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, step: 1 }), /adamw grad/);
    assert.throws(() => ops.linearBackward(ops.zeros([2, 4]), ops.zeros([2, 3]), ops.zeros([5, 3])), /linearBackward dy/);
  });
});
