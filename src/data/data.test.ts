import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { openTokenShards, validationWindows, WindowSampler } from './loader.js';
import { prepareData } from './prepare.js';

const tmp = mkdtempSync(join(tmpdir(), 'llamats-data-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('prepare', () => {
  test('byte shards: nanoGPT split at floor(0.9 n), every byte kept, in order', async () => {
    const text = 'First Citizen:\nBefore we proceed any further, hear me speak.\n'.repeat(40) + 'café ☕ end\n';
    const file = join(tmp, 'a.txt');
    writeFileSync(file, text);
    const bytes = Buffer.from(text);
    const out = join(tmp, 'a');
    const meta = await prepareData({ inputs: [file], tokenizer: new ByteTokenizer(), tokenizerPath: 'bytes', outDir: out });
    const split = Math.floor(0.9 * bytes.length); // an ASCII byte here, so no boundary move
    assert.equal(meta.trainTokens, split);
    assert.equal(meta.valTokens, bytes.length - split);
    assert.equal(meta.trainBytes + meta.valBytes, bytes.length);
    const shards = openTokenShards(out);
    assert.deepEqual(Buffer.from(Uint8Array.from(shards.train)), bytes.subarray(0, split));
    assert.deepEqual(Buffer.from(Uint8Array.from(shards.val)), bytes.subarray(split));
  });

  test('a split point inside a character moves to its end', async () => {
    const file = join(tmp, 'b.txt');
    writeFileSync(file, 'ééééé'); // 10 bytes: floor(0.9 * 10) = 9 is the second byte of the last é
    const meta = await prepareData({ inputs: [file], tokenizer: new ByteTokenizer(), outDir: join(tmp, 'b') });
    assert.equal(meta.trainTokens, 10);
    assert.equal(meta.valTokens, 0);
  });

  test('bad inputs are clear errors', async () => {
    await assert.rejects(prepareData({ inputs: [join(tmp, 'missing.txt')], tokenizer: new ByteTokenizer(), outDir: join(tmp, 'c') }), /input: expected a readable text file/);
    await assert.rejects(prepareData({ inputs: [join(tmp, 'a.txt')], tokenizer: new ByteTokenizer(), outDir: join(tmp, 'c'), valFraction: 1 }), /valFraction: expected a number in \[0, 1\)/);
  });
});

describe('loader', () => {
  test('corrupt shards are FormatErrors naming the file and field', () => {
    const dir = join(tmp, 'a');
    const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ ...meta, trainTokens: meta.trainTokens + 1 }));
    assert.throws(() => openTokenShards(dir), /train\.bin: size: expected \d+ bytes/);
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ ...meta, dtype: 'float32' }));
    assert.throws(() => openTokenShards(dir), /meta\.json: dtype: expected uint16 or uint32, found "float32"/);
    writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
    assert.throws(() => openTokenShards(tmp), /meta\.json: expected a folder made by llamats prepare/);
  });

  test('windows: targets are inputs shifted by one; seeded; a saved state resumes the same batches', () => {
    const tokens = Uint16Array.from({ length: 500 }, (_, i) => i % 256);
    const a = new WindowSampler(tokens, { seqLen: 16, batch: 3, seed: 5 });
    const first = a.next();
    for (let i = 0; i < 16 * 3; i++) {
      if (i % 16 < 15) assert.equal(first.targets[i], first.inputs[i + 1]);
    }
    a.next();
    a.next();
    const saved = JSON.parse(JSON.stringify(a.state));
    const later = [a.next(), a.next()];
    const b = new WindowSampler(tokens, { seqLen: 16, batch: 3, seed: 5 });
    b.state = saved;
    assert.deepEqual([b.next(), b.next()], later);
    assert.deepEqual(new WindowSampler(tokens, { seqLen: 16, batch: 3, seed: 5 }).next(), first);
    assert.throws(() => new WindowSampler(tokens.subarray(0, 10), { seqLen: 16, batch: 1, seed: 1 }), /at least 17 tokens/);
  });

  test('validation windows score every token but the first exactly once', () => {
    const tokens = Uint16Array.from({ length: 40 }, (_, i) => i);
    const windows = validationWindows(tokens, 16);
    assert.deepEqual(windows.map((w) => w.inputs.length), [16, 16, 7]);
    assert.deepEqual(windows.flatMap((w) => Array.from(w.targets)), Array.from({ length: 39 }, (_, i) => i + 1));
  });
});
