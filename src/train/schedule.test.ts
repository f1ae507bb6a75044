import assert from 'node:assert/strict';
import { test } from 'node:test';
import { learningRate } from './schedule.js';

const s = { peak: 1e-3, warmupSteps: 10, totalSteps: 110, minRatio: 0.1 };

test('warmup rises linearly to the peak', () => {
  assert.equal(learningRate(s, 1), 1e-4);
  assert.equal(learningRate(s, 5), 5e-4);
  assert.equal(learningRate(s, 10), 1e-3);
});

test('cosine decays to 10% of the peak at the last step and stays there', () => {
  // halfway through the decay, cos(pi/2) = 0: the mean of peak and floor
  assert.ok(Math.abs(learningRate(s, 60) - 0.55e-3) < 1e-15);
  assert.ok(Math.abs(learningRate(s, 110) - 1e-4) < 1e-15);
  assert.ok(Math.abs(learningRate(s, 500) - 1e-4) < 1e-15);
  for (let t = 11; t < 110; t++) assert.ok(learningRate(s, t + 1) < learningRate(s, t));
});
