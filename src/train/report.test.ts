import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FormatError } from '../core/errors.js';
import type { LlamaConfig } from '../model/config.js';
import {
  carbonReport, formatCarbonReport, lossPlotSvg, metricSeries, MetricsLog, mfu, niceTicks, parameterCount,
  readMetrics, trainingFlopsPerToken, truncateAfterStep,
} from './report.js';

/** Every opening tag is closed or self-closing, in order: enough to say the SVG is well-formed XML. */
function assertBalanced(svg: string): void {
  const stack: string[] = [];
  for (const [, close, name, self] of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (close) assert.equal(stack.pop(), name);
    else if (!self) stack.push(name!);
  }
  assert.deepEqual(stack, []);
  assert.ok(!/&(?!amp;|lt;|gt;|quot;|apos;)/.test(svg), 'every & starts an entity');
}

const count = (s: string, sub: string) => s.split(sub).length - 1;

test('ticks are 1-2-5 round values covering the range', () => {
  assert.deepEqual(niceTicks(1.23, 4.56), [1, 2, 3, 4, 5]);
  assert.deepEqual(niceTicks(1.23, 4.56, 8), [1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5]);
  assert.deepEqual(niceTicks(0, 1000), [0, 200, 400, 600, 800, 1000]);
  assert.deepEqual(niceTicks(0.1, 0.3), [0.1, 0.15, 0.2, 0.25, 0.3]);
  for (const [lo, hi] of [[1.23, 4.56], [0.1, 0.3], [3, 3], [-7.5, 12], [0.0012, 0.0094], [1, 250000]] as const) {
    const t = niceTicks(lo, hi);
    assert.ok(t[0]! <= lo && t[t.length - 1]! >= hi, `${t} covers ${lo}..${hi}`);
    const step = t[1]! - t[0]!;
    const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
    assert.ok([1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-6), `step ${step} is 1, 2 or 5 x 10^k`);
    for (const v of t) assert.ok(Math.abs(v / step - Math.round(v / step)) < 1e-6, `${v} is a multiple of ${step}`);
    assert.ok(t.length >= 3 && t.length <= 12);
  }
});

test('the plot: one polyline per non-empty series, circles on the sparse one, legend names escaped', () => {
  const train = Array.from({ length: 200 }, (_, i) => ({ step: i + 1, value: 5 * Math.exp(-i / 50) + 1.2 }));
  train[10] = { step: 11, value: NaN };
  train[20] = { step: 21, value: Infinity };
  const val = [50, 100, 150, 200].map((step) => ({ step, value: 1.5 + 100 / step }));
  const svg = lossPlotSvg(
    [{ name: 'train <loss>', points: train }, { name: 'val & "held-out"', points: val }, { name: 'empty', points: [] }],
    { title: 'tiny: A & B', yLabel: 'cross-entropy' },
  );
  assert.ok(svg.startsWith('<svg '));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assertBalanced(svg);
  assert.equal(count(svg, '<polyline'), 2);
  assert.equal(count(svg, '<circle'), 4);
  assert.ok(svg.includes('train &lt;loss&gt;'));
  assert.ok(svg.includes('val &amp; &quot;held-out&quot;'));
  assert.ok(svg.includes('tiny: A &amp; B'));
  assert.ok(svg.includes('cross-entropy'));
  assert.ok(!svg.includes('NaN') && !svg.includes('Infinity'));
  const trainLine = svg.match(/<polyline[^>]*points="([^"]*)"/)![1]!;
  assert.equal(trainLine.split(' ').length, 198, 'NaN and Infinity points skipped');
  assert.ok(svg.includes('>200<'), 'x ticks are labelled');
});

test('the plot survives no data, one point and constant values', () => {
  for (const series of [[], [{ name: 'a', points: [] }], [{ name: 'a', points: [{ step: 1, value: NaN }] }]]) {
    const svg = lossPlotSvg(series);
    assertBalanced(svg);
    assert.equal(count(svg, '<polyline'), 0);
    assert.ok(svg.includes('no data'));
  }
  for (const points of [[{ step: 5, value: 2.5 }], [{ step: 1, value: 3 }, { step: 2, value: 3 }, { step: 3, value: 3 }]]) {
    const svg = lossPlotSvg([{ name: 'train', points }]);
    assertBalanced(svg);
    assert.equal(count(svg, '<polyline'), 1);
    assert.equal(count(svg, '<circle'), points.length);
    assert.ok(!svg.includes('NaN') && !svg.includes('Infinity'));
  }
});

test('carbon: 1 device for an hour at 400 W, PUE 1.1, 0.385 kg/kWh', () => {
  const r = carbonReport({ flops: 1.5e15, seconds: 3600, devices: 1, watts: 400, deviceName: 'CPU' });
  assert.equal(r.deviceHours, 1);
  assert.ok(Math.abs(r.energyKwh - 0.44) < 1e-12);
  assert.ok(Math.abs(r.tCo2eq - 1.694e-4) < 1e-12);
  assert.ok(Math.abs(r.kgCo2eq - 0.1694) < 1e-12);
  assert.equal(r.pue, 1.1);
  assert.equal(r.kgCo2PerKwh, 0.385);
  const text = formatCarbonReport(r);
  assert.equal(text.split('\n').length, 4);
  for (const s of ['1.500e+15 FLOPs', '1.000 device-hours', '0.4400 kWh', '1.694e-4 tCO2eq', '0.1694 kg CO2eq', 'CPU']) {
    assert.ok(text.includes(s), `${JSON.stringify(s)} in\n${text}`);
  }
  // the values columns line up
  assert.equal(new Set(text.split('\n').map((l) => l.search(/ {2}\S/))).size, 1);
  // LLaMA-65B's line of Table 15: 2048 A100-80GB x 1,022,362 GPU-hours total at 400 W -> 449 MWh, 173 tCO2eq
  const llama = carbonReport({ flops: 0, seconds: 1022362 * 3600, devices: 1, watts: 400, deviceName: 'A100-80GB' });
  assert.ok(Math.abs(llama.energyKwh / 1000 - 449.9) < 0.5);
  assert.ok(Math.abs(llama.tCo2eq - 173) < 0.5);
  assert.throws(() => carbonReport({ flops: 1, seconds: -1, devices: 1, watts: 1, deviceName: 'x' }), /seconds/);
});

test('training FLOPs and parameters of the tiny config, by hand', () => {
  const c: LlamaConfig = {
    dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 172, vocabSize: 512, maxSeqLen: 64,
    normEps: 1e-5, ropeTheta: 10000, ropeScaling: null, tieEmbeddings: false,
  };
  // head dim 16, kv dim 32. Per layer: wq 64*64 + wk 32*64 + wv 32*64 + wo 64*64 + w1,w2,w3 3*172*64
  const perLayer = 4096 + 2048 + 2048 + 4096 + 33024; // 45312
  const matmul = 2 * perLayer + 512 * 64; // 90624 + 32768 = 123392 (output projection counted, embedding lookup free)
  assert.equal(trainingFlopsPerToken(c, 24), 6 * matmul + 12 * 2 * 24 * 64); // 740352 + 36864
  assert.equal(trainingFlopsPerToken(c, 24), 777216);
  // all parameters: matmul weights + embedding table + 2 norms per layer + final norm
  assert.equal(parameterCount(c), 123392 + 32768 + 5 * 64);
  // tied: the table is the output projection, counted once; the FLOPs do not change (the projection still runs)
  const tied = { ...c, tieEmbeddings: true };
  assert.equal(parameterCount(tied), 123392 + 5 * 64);
  assert.equal(trainingFlopsPerToken(tied, 24), 777216);
  assert.equal(mfu(1000, 777216, 1e12), 777216e3 / 1e12);
});

test('metrics log: append, read back, truncate on resume, torn last line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'llamats-report-'));
  try {
    const log = new MetricsLog(join(dir, 'out'));
    for (let step = 1; step <= 10; step++) {
      log.log({ step, loss: 5 - step / 10, lr: 1e-3 });
      if (step % 5 === 0) log.log({ step, valLoss: step === 10 ? NaN : 4.5 });
    }
    const all = readMetrics(log.path);
    assert.equal(all.length, 12);
    assert.deepEqual(all[0], { step: 1, loss: 4.9, lr: 1e-3 });
    assert.deepEqual(metricSeries(all, 'valLoss'), [{ step: 5, value: 4.5 }]); // NaN was written as null
    assert.equal(metricSeries(all, 'loss').length, 10);

    // a crash mid-append leaves a torn line: readers skip it, the resume drops it and the steps after 6
    appendFileSync(log.path, '{"step":11,"lo');
    assert.equal(readMetrics(log.path).length, 12);
    const resumed = new MetricsLog(join(dir, 'out'), 6);
    assert.deepEqual(readMetrics(resumed.path).map((r) => r.step), [1, 2, 3, 4, 5, 5, 6]);
    resumed.log({ step: 7, loss: 1 });
    assert.deepEqual(readMetrics(resumed.path).map((r) => r.step), [1, 2, 3, 4, 5, 5, 6, 7]);
    assert.ok(readFileSync(resumed.path, 'utf8').endsWith('}\n'));

    assert.equal(truncateAfterStep(resumed.path, 2), 2);
    assert.equal(truncateAfterStep(join(dir, 'missing.jsonl'), 2), 0);
    // a fresh run (no resume step) starts an empty log
    new MetricsLog(join(dir, 'out'));
    assert.deepEqual(readMetrics(resumed.path), []);

    // a bad line in the middle is an error naming the line, not silently dropped
    writeFileSync(resumed.path, '{"step":1}\nnot json\n{"step":2}\n');
    assert.throws(() => readMetrics(resumed.path), (e: unknown) => e instanceof FormatError && /line 2/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
