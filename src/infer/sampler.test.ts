import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgumentError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { argmax, checkSamplerOptions, sampleToken, type SamplerOptions } from './sampler.js';

const logits = Float32Array.from([2.0, 1.0, 0.5, 3.0, -1.0, 0.0]); // softmax ~ [.23 .085 .051 .63 .011 .031]
const softmax = (x: Float32Array, t = 1) => {
  const e = Array.from(x, (v) => Math.exp(v / t));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

/** Frequencies of each id over n draws. */
function histogram(options: SamplerOptions, n: number, context: number[] = []): number[] {
  const rng = new Rng(1234);
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < n; i++) counts[sampleToken(logits, options, rng, context)]!++;
  return counts.map((c) => c / n);
}

test('temperature 0 is argmax and draws no coin', () => {
  const rng = new Rng(5);
  assert.equal(sampleToken(logits, { temperature: 0 }, rng), 3);
  assert.equal(rng.nextU32(), new Rng(5).nextU32());
});

test('plain sampling follows softmax(logits / T)', () => {
  // 40k draws: the standard error of a frequency is <= 0.0025, so 0.01 is 4 sigma.
  for (const t of [1, 0.5, 2]) {
    const want = softmax(logits, t);
    histogram({ temperature: t }, 40000).forEach((f, i) => assert.ok(Math.abs(f - want[i]!) < 0.01, `T=${t} id ${i}: ${f} vs ${want[i]}`));
  }
});

test('top-k, top-p and min-p keep exactly the expected tokens, renormalised', () => {
  const p = softmax(logits);
  const check = (options: SamplerOptions, keep: number[]) => {
    const mass = keep.reduce((s, i) => s + p[i]!, 0);
    histogram(options, 40000).forEach((f, i) => {
      const want = keep.includes(i) ? p[i]! / mass : 0;
      assert.ok(Math.abs(f - want) < 0.01, `${JSON.stringify(options)} id ${i}: ${f} vs ${want}`);
    });
  };
  check({ topK: 2 }, [3, 0]);
  check({ topP: 0.8 }, [3, 0]); // .63 < .8 < .63 + .23: the crossing token is kept
  check({ topP: 0.5 }, [3]);
  check({ minP: 0.1 }, [3, 0, 1]); // threshold .063: id 1 (.085) in, id 2 (.051) out
  check({ topK: 3, minP: 0.1, topP: 0.99 }, [3, 0, 1]);
});

test('repetition penalty lowers tokens in the context', () => {
  const [base, penalised] = [histogram({}, 20000), histogram({ repetitionPenalty: 2 }, 20000, [3, 4])];
  assert.ok(penalised[3]! < base[3]! - 0.2, 'positive logit divided by the penalty');
  assert.ok(penalised[4]! < base[4]!, 'negative logit multiplied by the penalty');
  assert.equal(sampleToken(logits, { temperature: 0, repetitionPenalty: 2 }, new Rng(1), [3]), 0); // 3.0/2 < 2.0
});

test('a seed reproduces the draws', () => {
  const draw = (seed: number) => Array.from({ length: 50 }, function (this: Rng) {
    return sampleToken(logits, { temperature: 1.3, topP: 0.95 }, this);
  }, new Rng(seed));
  assert.deepEqual(draw(42), draw(42));
  assert.notDeepEqual(draw(42), draw(43));
});

test('options out of range are rejected by name', () => {
  for (const bad of [{ topP: 0 }, { temperature: -1 }, { topK: 1.5 }, { minP: 2 }, { repetitionPenalty: 0 }]) {
    const name = Object.keys(bad)[0]!;
    assert.throws(() => checkSamplerOptions(bad), (e: unknown) => e instanceof ArgumentError && e.message.startsWith(name));
  }
});

test('argmax gives the first of equal maxima, for logits (Float32Array) and any other array alike', () => {
  for (const values of [[1, 5, 2, 5, -1], [0.5, 3, 3], [-2, -1, -1], [7]]) {
    const want = values.indexOf(Math.max(...values));
    assert.equal(argmax(Float32Array.from(values)), want, String(values));
    assert.equal(argmax(values), want, String(values));
  }
});
