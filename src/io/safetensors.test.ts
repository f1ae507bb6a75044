import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FormatError, UnsupportedError } from '../core/errors.js';
import { fixturePath } from './package-paths.js';
import { expectError, scratch } from '../testing/bad-input.js';
import {
  readSafetensorsHeader, readSafetensorsIndex, readSafetensorsInts, readSafetensorsTensor, writeSafetensors,
} from './safetensors.js';

const model = fixturePath('hf', 'tiny-gqa', 'model.safetensors');
const io = fixturePath('hf', 'tiny-gqa', 'inputs_outputs.safetensors');
const { dir, writeCase } = scratch('safetensors', 'safetensors');

/** A file of a u64 header length, the header text and `data` bytes. */
function rawFile(header: string, data = Buffer.alloc(0), length = Buffer.byteLength(header)): string {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(length));
  return writeCase(Buffer.concat([len, Buffer.from(header), data]));
}

test('tiny-gqa model.safetensors: header and an f32 tensor', () => {
  const infos = readSafetensorsHeader(model);
  assert.ok(!infos.has('__metadata__'));
  const q = infos.get('model.layers.0.self_attn.q_proj.weight')!;
  assert.equal(q.dtype, 'F32');
  assert.deepEqual(q.shape, [64, 64]);
  assert.equal(q.end - q.begin, 64 * 64 * 4);
  const t = readSafetensorsTensor(q);
  assert.deepEqual(t.shape, [64, 64]);
  assert.equal(t.data[7], readFileSync(model).readFloatLE(q.begin + 28));
});

test('tiny-gqa inputs_outputs.safetensors: int64 input_ids and f32 logits', () => {
  const infos = readSafetensorsHeader(io);
  const ids = infos.get('input_ids')!;
  assert.equal(ids.dtype, 'I64');
  assert.deepEqual(ids.shape, [2, 24]);
  const values = readSafetensorsInts(ids);
  assert.equal(values.length, 48);
  assert.deepEqual(values.slice(0, 4), [438, 328, 206, 461]);
  const expected = JSON.parse(readFileSync(fixturePath('hf', 'tiny-gqa', 'expected.json'), 'utf8')) as { input_ids: number[][] };
  assert.deepEqual(values, expected.input_ids.flat());
  assert.deepEqual(readSafetensorsTensor(infos.get('logits')!).shape, [2, 24, 512]);
  expectError(() => readSafetensorsTensor(ids), UnsupportedError, io, 'input_ids');
  expectError(() => readSafetensorsInts(infos.get('logits')!), UnsupportedError, io, 'logits');
});

test('writeSafetensors round-trips f32 tensors and metadata, 8-byte aligned, atomically', () => {
  const path = join(dir, 'round.safetensors');
  const tensors = {
    a: { shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0, 1e-8, -Infinity]) },
    'b.c': { shape: [1], data: new Float32Array([42]) },
    empty: { shape: [0, 4], data: new Float32Array(0) },
  };
  writeSafetensors(path, tensors, { format: 'pt' });
  const bytes = readFileSync(path);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  assert.equal(headerLength % 8, 0);
  assert.deepEqual(JSON.parse(bytes.subarray(8, 8 + headerLength).toString()).__metadata__, { format: 'pt' });
  const infos = readSafetensorsHeader(path);
  assert.deepEqual([...infos.keys()], ['a', 'b.c', 'empty']);
  for (const [name, t] of Object.entries(tensors)) assert.deepEqual(readSafetensorsTensor(infos.get(name)!), t);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
});

test('a failed write leaves neither a partial file nor a temp file', () => {
  const target = mkdtempSync(join(dir, 'occupied-')); // renaming a file over a directory fails
  writeFileSync(join(target, 'keep'), 'x');
  assert.throws(() => writeSafetensors(target, { a: { shape: [1], data: new Float32Array([1]) } }));
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
  assert.throws(() => writeSafetensors(join(dir, 'bad.safetensors'), { a: { shape: [2], data: new Float32Array([1]) } }), /tensors\["a"\]/);
});

test('header length larger than the file, or absurd', () => {
  for (const length of [4096, 2 ** 40]) {
    const path = rawFile('{}', Buffer.alloc(0), length);
    expectError(() => readSafetensorsHeader(path), FormatError, path, 'header length');
  }
  const short = join(dir, 'short.safetensors');
  writeFileSync(short, Buffer.alloc(5));
  expectError(() => readSafetensorsHeader(short), FormatError, short, 'header length');
});

test('header that is not a JSON object', () => {
  for (const header of ['{"a": ', '[1, 2]', 'null']) {
    const path = rawFile(header);
    expectError(() => readSafetensorsHeader(path), FormatError, path, 'header');
  }
});

test('entries with bad fields, offsets past the end, sizes that lie, unknown dtypes', () => {
  const entry = (e: object) => JSON.stringify({ w: e });
  const data = Buffer.alloc(16);
  const cases: [object, string][] = [
    [{ dtype: 'F32', shape: [2, 2], data_offsets: [0, 32] }, 'tensor "w" data_offsets'], // past the end
    [{ dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] }, 'tensor "w" data_offsets: expected 16 bytes'], // lies
    [{ dtype: 'F16', shape: [2, 2], data_offsets: [0, 16] }, 'tensor "w" data_offsets: expected 8 bytes'], // lies
    [{ dtype: 'F32', shape: [2, 2], data_offsets: [16, 0] }, 'tensor "w" data_offsets'],
    [{ dtype: 'F32', shape: [2, 2], data_offsets: [0] }, 'tensor "w" data_offsets'],
    [{ dtype: 'F32', shape: [2, -2], data_offsets: [0, 16] }, 'tensor "w" shape'],
    [{ dtype: 'F32', shape: '2x2', data_offsets: [0, 16] }, 'tensor "w" shape'],
    [{ dtype: 4, shape: [4], data_offsets: [0, 16] }, 'tensor "w" dtype'],
    [{ shape: [4], data_offsets: [0, 16] }, 'tensor "w" dtype'],
  ];
  for (const [e, field] of cases) {
    const path = rawFile(entry(e), data);
    expectError(() => readSafetensorsHeader(path), FormatError, path, field);
  }
  const notObject = rawFile(JSON.stringify({ w: [1] }), data);
  expectError(() => readSafetensorsHeader(notObject), FormatError, notObject, 'tensor "w"');
  const unknown = rawFile(entry({ dtype: 'Q7', shape: [4], data_offsets: [0, 16] }), data);
  expectError(() => readSafetensorsHeader(unknown), UnsupportedError, unknown, 'tensor "w" dtype');
});

test('a file truncated inside its data', () => {
  const bytes = readFileSync(model);
  const path = join(dir, 'cut.safetensors');
  writeFileSync(path, bytes.subarray(0, bytes.length - 100));
  expectError(() => readSafetensorsHeader(path), FormatError, path, 'data_offsets');
});

test('sharded index: tensors from their shards; missing shard, tensor or weight_map', () => {
  const shardDir = mkdtempSync(join(dir, 'sharded-'));
  const t = (x: number) => ({ shape: [2], data: new Float32Array([x, x + 1]) });
  writeSafetensors(join(shardDir, 'model-00001-of-00002.safetensors'), { a: t(1) });
  writeSafetensors(join(shardDir, 'model-00002-of-00002.safetensors'), { b: t(3) });
  let indexes = 0;
  const index = (weightMap: unknown) => {
    const path = join(shardDir, `index-${indexes++}.json`);
    writeFileSync(path, JSON.stringify({ metadata: { total_size: 16 }, weight_map: weightMap }));
    return path;
  };
  const ok = readSafetensorsIndex(index({ a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' }));
  assert.deepEqual([...readSafetensorsTensor(ok.get('b')!).data], [3, 4]);
  assert.ok(ok.get('a')!.file.endsWith('model-00001-of-00002.safetensors'));

  const missingShard = index({ a: 'model-00001-of-00002.safetensors', c: 'model-00009-of-00009.safetensors' });
  assert.match(expectError(() => readSafetensorsIndex(missingShard), FormatError, missingShard, 'weight_map["c"]').message, /model-00009/);
  const missingTensor = index({ b: 'model-00001-of-00002.safetensors' });
  expectError(() => readSafetensorsIndex(missingTensor), FormatError, missingTensor, 'weight_map["b"]');
  const escaping = index({ a: '../model-00001-of-00002.safetensors' });
  expectError(() => readSafetensorsIndex(escaping), FormatError, escaping, 'weight_map["a"]');
  const noMap = index(undefined);
  expectError(() => readSafetensorsIndex(noMap), FormatError, noMap, 'weight_map');
  const badJson = join(shardDir, 'bad.json');
  writeFileSync(badJson, '{"weight_map": {');
  expectError(() => readSafetensorsIndex(badJson), FormatError, badJson, 'JSON');
});
