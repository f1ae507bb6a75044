/**
 * What the WebGPU backend promises beyond the conformance suite: memory that is freed deterministically, a clear
 * error for a buffer the device cannot hold, and training that gives the CPU backend's losses.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { generate } from '../../infer/generate.js';
import { assetPath } from '../../io/package-paths.js';
import { loadModel } from '../../io/load-model.js';
import { loadTokenizer } from '../../io/load-tokenizer.js';
import { llamats } from '../../testing/run-cli.js';
import { unavailable } from '../../testing/backends.js';
import { CpuBackend } from '../cpu/cpu-backend.js';
import type { Ops } from '../ops.js';
import { GpuMemoryError } from './gpu.js';
import { WebGpuBackend } from './webgpu-backend.js';

describe('webgpu backend', { skip: unavailable.webgpu }, async () => {
  const ops = await WebGpuBackend.create();
  after(() => ops.dispose());

  test('tidy returns every intermediate to the pool: a forward-sized loop allocates nothing after its first pass', async () => {
    const x = ops.fromHost(Float32Array.from({ length: 3 * 64 }, (_, i) => Math.sin(i)), [3, 64]);
    const w = ops.fromHost(Float32Array.from({ length: 64 * 64 }, (_, i) => Math.cos(i)), [64, 64]);
    const step = () => ops.tidy(() => ops.softmax(ops.add(ops.linear(x, w), ops.linear(x, w))));
    ops.release(step());
    const before = ops.gpu.allocatedBytes;
    for (let i = 0; i < 100; i++) ops.release(step());
    await ops.read(x);
    assert.equal(ops.gpu.allocatedBytes, before);
  });

  test('attention over enough queries and heads to take the tiled kernel matches the reference (GQA, a cache offset)', async () => {
    const reference = new CpuBackend();
    const [batch, time, heads, kvHeads, headDim, startPos] = [2, 1030, 4, 2, 8, 3];
    const data = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 2);
    const run = async (o: Ops) => {
      const q = o.fromHost(data(batch * time * heads * headDim), [batch, time, heads, headDim]);
      const kv = o.fromHost(data(batch * (startPos + time) * kvHeads * headDim).reverse(), [batch, startPos + time, kvHeads, headDim]);
      return o.read(o.attention(q, kv, kv, startPos));
    };
    const [got, want] = [await run(ops), await run(reference)];
    let worst = 0;
    got.forEach((g, i) => (worst = Math.max(worst, Math.abs(g - want[i]!) / (1 + Math.abs(want[i]!)))));
    assert.ok(worst < 2e-5, `max relative difference ${worst}`); // f32 sums in another order (the reference sums in f64)
  });

  test('a tensor larger than the device can bind is a GpuMemoryError naming the size', () => {
    const elements = Math.floor(ops.gpu.maxBinding / 4) + 1;
    assert.throws(() => ops.zeros([elements]), (e: Error) => e instanceof GpuMemoryError && e.message.includes(`${elements * 4} bytes`));
  });

  test('load, generate and dispose 40 times: resident memory settles (no per-cycle leak)', async () => {
    const tokenizer = loadTokenizer(assetPath('stories260K', 'tok512.bin'));
    const cycle = async () => {
      const m = await loadModel(assetPath('stories260K', 'stories260K.bin'), { backend: 'webgpu' });
      for await (const _ of generate(m, tokenizer, 'Once', { maxTokens: 4, temperature: 0 })) void _;
      m.ops.dispose();
    };
    for (let i = 0; i < 10; i++) await cycle();
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 30; i++) await cycle();
    const grown = (process.memoryUsage().rss - before) / 2 ** 20;
    assert.ok(grown < 40, `resident memory grew ${grown.toFixed(1)} MB over 30 cycles`);
  });
});

describe('training on webgpu', { skip: unavailable.webgpu }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'llamats-webgpu-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('six steps give the CPU backend\'s losses within f32 rounding', () => {
    const text = join(tmp, 'corpus.txt');
    writeFileSync(text, readFileSync(assetPath('corpus', 'tinyshakespeare.txt')).subarray(0, 20_000));
    const losses = (backend: string) => {
      const out = join(tmp, backend);
      const r = llamats('train', '--text', text, '--config', 'train-test', '--batch', '2', '--seq-len', '32', '--steps', '6',
        '--warmup', '2', '--eval-every', '6', '--eval-windows', '4', '--samples', '0', '--threads', '1', '--backend', backend, '--out', out);
      assert.equal(r.status, 0, r.stderr);
      return readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss?: number })
        .flatMap((m) => (m.loss === undefined ? [] : [m.loss]));
    };
    const [gpu, cpu] = [losses('webgpu'), losses('cpu')];
    assert.equal(gpu.length, 6);
    // Both sum in f32 in different orders; six AdamW steps compound that to ~1e-6 relative, far inside 1e-4.
    gpu.forEach((l, i) => assert.ok(Math.abs(l - cpu[i]!) <= 1e-4 * cpu[i]!, `step ${i + 1}: ${l} vs ${cpu[i]}`));
  });
});
