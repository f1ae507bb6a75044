import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { f32ToF16 } from '../core/dtype.js';
import { ArgumentError } from '../core/errors.js';
import { scratch } from '../testing/bad-input.js';
import { readGgufTensor, withGguf, type GgufValue } from './gguf.js';
import { gv, writeGguf, type GgufTensorSpec, type GgufTypedValue } from './gguf-writer.js';
import { fixturePath } from './package-paths.js';

const { dir } = scratch('gguf-writer', 'gguf');
let n = 0;
const out = () => join(dir, `w-${n++}.gguf`);
const stories = fixturePath('stories260K', 'stories260K.gguf');


const f32Bytes = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);
const f16Bytes = (xs: number[]) => new Uint8Array(Uint16Array.from(xs, f32ToF16).buffer);

test('every metadata value type reads back as written', () => {
  const kvs: [string, GgufTypedValue, GgufValue][] = [
    ['t.u8', gv.u8(255), 255], ['t.i8', gv.i8(-128), -128], ['t.u16', gv.u16(65535), 65535], ['t.i16', gv.i16(-32768), -32768],
    ['t.u32', gv.u32(0xffffffff), 0xffffffff], ['t.i32', gv.i32(-5), -5], ['t.f32', gv.f32(0.1), Math.fround(0.1)],
    ['t.f64', gv.f64(0.1), 0.1], ['t.u64', gv.u64(2n ** 53n - 1n), 2 ** 53 - 1], ['t.i64', gv.i64(-(2 ** 40)), -(2 ** 40)],
    ['t.bool', gv.bool(true), true], ['t.string', gv.string('héllo ▁'), 'héllo ▁'], ['t.empty', gv.string(''), ''],
    ['t.strings', gv.array('string', ['a', '', '<0x0A>']), ['a', '', '<0x0A>']],
    ['t.f32s', gv.array('f32', Float32Array.of(1.5, -2)), [1.5, -2]], ['t.i32s', gv.array('i32', [1, -1]), [1, -1]],
    ['t.bools', gv.array('bool', [true, false]), [true, false]], ['t.u8s', gv.array('u8', Uint8Array.of(7)), [7]],
    ['t.i64s', gv.array('i64', [-3n, 4]), [-3, 4]], ['t.none', gv.array('u32', []), []],
  ];
  const path = out();
  writeGguf(path, kvs.map(([k, v]) => [k, v]), []);
  withGguf(path, (f) => {
    assert.equal(f.version, 3);
    assert.deepEqual([...f.metadata.keys()], kvs.map(([k]) => k), 'keys in order');
    for (const [key, , expected] of kvs) assert.deepEqual(f.metadata.get(key), expected, key);
    assert.equal(f.tensors.size, 0);
  });
});

test('a header far larger than the first buffer (a 100k-piece vocabulary) reads back', () => {
  const pieces = Array.from({ length: 100000 }, (_, i) => `\u2581piece${i}`);
  const scores = Float32Array.from(pieces, (_, i) => -i);
  const path = out();
  writeGguf(path, [['a.tokens', gv.array('string', pieces)], ['a.scores', gv.array('f32', scores)], ['a.after', gv.u64(7)]], []);
  withGguf(path, (f) => {
    assert.deepEqual(f.metadata.get('a.tokens'), pieces);
    assert.deepEqual(f.metadata.get('a.scores'), [...scores]);
    assert.equal(f.metadata.get('a.after'), 7);
  });
});

test('F32 and F16 tensors of 1 to 4 dims read back, aligned, with shapes outermost first', () => {
  const tensors: GgufTensorSpec[] = [
    { name: 'a', shape: [3], ggmlType: 0, data: () => f32Bytes([1, 2, 3]) },
    { name: 'b', shape: [2, 3], ggmlType: 1, data: () => f16Bytes([1, -2, 0.5, 65504, 0, -0.25]) },
    { name: 'c', shape: [1, 2, 1, 2], ggmlType: 0, data: () => f32Bytes([9, 8, 7, 6]) },
  ];
  const path = out();
  writeGguf(path, [['general.name', gv.string('t')]], tensors);
  withGguf(path, (f) => {
    assert.deepEqual([...f.tensors.keys()], ['a', 'b', 'c']);
    for (const t of f.tensors.values()) assert.equal(t.offset % 32, 0, `${t.name} aligned`);
    assert.deepEqual(Array.from(readGgufTensor(f, 'a').data), [1, 2, 3]);
    assert.deepEqual(readGgufTensor(f, 'b').shape, [2, 3]);
    assert.deepEqual(Array.from(readGgufTensor(f, 'b').data), [1, -2, 0.5, 65504, 0, -0.25]);
    assert.deepEqual(f.tensors.get('c')!.shape, [1, 2, 1, 2]);
    assert.equal(f.source.size % 32, 0, 'the file ends on the alignment');
  });
});

test('general.alignment sets the alignment of the data', () => {
  const path = out();
  writeGguf(path, [['general.alignment', gv.u32(64)]], [
    { name: 'x', shape: [1], ggmlType: 0, data: () => f32Bytes([1]) },
    { name: 'y', shape: [1], ggmlType: 0, data: () => f32Bytes([2]) },
  ]);
  withGguf(path, (f) => {
    assert.equal(f.alignment, 64);
    assert.equal(f.tensors.get('y')!.offset - f.tensors.get('x')!.offset, 64);
    assert.equal(readGgufTensor(f, 'y').data[0], 2);
  });
});

/** The GGUF type llama.cpp's writer gave each stories260K key (our reader returns values without their types). */
function typedLikeStories(key: string, v: GgufValue): GgufTypedValue {
  if (typeof v === 'string') return gv.string(v);
  if (key === 'tokenizer.ggml.tokens') return gv.array('string', v as string[]);
  if (key === 'tokenizer.ggml.scores') return gv.array('f32', v as number[]);
  if (key === 'tokenizer.ggml.token_type') return gv.array('i32', v as number[]);
  if (key.endsWith('epsilon')) return gv.f32(v as number);
  return gv.u32(v as number);
}

test('a copy of stories260K.gguf (all metadata and tensors, in order) is byte-identical', () => {
  const path = out();
  withGguf(stories, (f) => {
    const metadata = [...f.metadata].map(([k, v]) => [k, typedLikeStories(k, v)] as const);
    const tensors = [...f.tensors.values()].map((t) => ({
      name: t.name, shape: t.shape, ggmlType: t.ggmlType, data: () => f.source.read(t.offset, t.byteLength),
    }));
    writeGguf(path, metadata, tensors);
  });
  assert.ok(readFileSync(path).equals(readFileSync(stories)));
});

test('bad input is an ArgumentError naming the tensor or key, and leaves no file behind', () => {
  const bad = (metadata: [string, GgufTypedValue][], tensors: GgufTensorSpec[], pattern: RegExp) => {
    const path = out();
    assert.throws(() => writeGguf(path, metadata, tensors), (e: unknown) => e instanceof ArgumentError && pattern.test(e.message));
    assert.ok(!existsSync(path), 'nothing at path');
  };
  const t = (name: string, shape: number[], ggmlType: number, bytes: number): GgufTensorSpec => ({
    name, shape, ggmlType, data: () => new Uint8Array(bytes),
  });
  bad([], [t('w', [2, 3], 0, 20)], /tensor "w" data: expected 24 bytes of data \(F32 \[2, 3\]\), found 20 bytes/);
  bad([], [t('w', [4], 0, 16), t('w', [4], 0, 16)], /tensor "w": expected unique tensor names/);
  bad([], [t('q', [2, 48], 8, 102)], /tensor "q" shape: expected a last dimension that is a multiple of the Q8_0 block size 32/);
  bad([], [t('x'.repeat(64), [1], 0, 4)], /name: expected 1 to 63 bytes/);
  bad([], [t('w', [2, 0], 0, 0)], /positive integer dimensions/);
  bad([], [t('w', [1, 1, 1, 1, 1], 0, 4)], /1 to 4 dimensions/);
  bad([], [t('w', [1], 4, 4)], /ggmlType: expected a known ggml type id, found 4/);
  bad([['k', gv.u8(256)]], [], /metadata "k": expected an integer in \[0, 255\]/);
  bad([['k', gv.i32(1.5)]], [], /metadata "k": expected an integer \(i32\)/);
  bad([['k', gv.u32(1)], ['k', gv.u32(2)]], [], /metadata "k": expected unique keys/);
  bad([['k', gv.array('string', ['a', 1 as unknown as string])]], [], /metadata "k"\[1\]: expected a string/);
  bad([['general.alignment', gv.u32(48)]], [], /general.alignment/);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temp files left');
});

test('an error inside a data callback aborts the write: no file at path, no temp file', () => {
  const path = out();
  const boom = () => {
    throw new Error('generator failed');
  };
  assert.throws(() => writeGguf(path, [], [{ name: 'a', shape: [1], ggmlType: 0, data: () => f32Bytes([1]) }, { name: 'b', shape: [1], ggmlType: 0, data: boom }]), /generator failed/);
  assert.ok(!existsSync(path));
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
});

test('progress is reported after each tensor with bytes written of the total', () => {
  const seen: string[] = [];
  writeGguf(out(), [], [
    { name: 'a', shape: [3], ggmlType: 0, data: () => f32Bytes([1, 2, 3]) },
    { name: 'b', shape: [2], ggmlType: 0, data: () => f32Bytes([1, 2]) },
  ], { onProgress: (p) => seen.push(`${p.name} ${p.tensorsDone}/${p.tensorCount} ${p.bytesDone}/${p.dataBytes}`) });
  assert.deepEqual(seen, ['a 1/2 12/40', 'b 2/2 40/40']);
});
