import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { f32ToBf16, f32ToF16 } from '../core/dtype.js';
import { FormatError, UnsupportedError } from '../core/errors.js';
import {
  ggufArray, ggufBoolean, ggufNumber, ggufNumberArray, ggufString, ggufStringArray, openGguf, readGgufTensor,
  readGgufTensorRaw, withGguf,
} from './gguf.js';
import { fixturePath } from './package-paths.js';
import { expectError, scratch } from '../testing/bad-input.js';

const stories = fixturePath('stories260K', 'stories260K.gguf');
const vocab = fixturePath('llama.cpp-vocab', 'ggml-vocab-llama-spm.gguf');
const { writeCase: writeTemp } = scratch('gguf', 'gguf');


/** Assert `fn` throws `cls` whose message names `file` and contains `field`. */


/** A copy of `src` with `patch` applied to its bytes. */
function patched(src: string, patch: (b: Buffer) => void): string {
  const b = Buffer.from(readFileSync(src));
  patch(b);
  return writeTemp(b);
}

// A tiny GGUF writer for hand-made cases.
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const u64 = (n: number | bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };
const str = (s: string) => Buffer.concat([u64(Buffer.byteLength(s)), Buffer.from(s)]);
const kv = (key: string, type: number, value: Buffer) => Buffer.concat([str(key), u32(type), value]);
const kvU32 = (key: string, n: number) => kv(key, 4, u32(n));
const info = (name: string, ne: (number | bigint)[], type: number, offset: number) =>
  Buffer.concat([str(name), u32(ne.length), ...ne.map(u64), u32(type), u64(offset)]);

function makeGguf(o: { kvs?: Buffer[]; infos?: Buffer[]; data?: Buffer; version?: number; alignment?: number }): string {
  const kvs = o.kvs ?? [];
  const infos = o.infos ?? [];
  const head = Buffer.concat([Buffer.from('GGUF'), u32(o.version ?? 3), u64(infos.length), u64(kvs.length), ...kvs, ...infos]);
  const align = o.alignment ?? 32;
  const pad = Buffer.alloc((align - (head.length % align)) % align);
  return writeTemp(Buffer.concat([head, pad, o.data ?? Buffer.alloc(0)]));
}

const f32s = (xs: number[]) => Buffer.from(new Float32Array(xs).buffer);
const u16s = (xs: number[]) => Buffer.from(new Uint16Array(xs).buffer);

test('stories260K.gguf: header, metadata and tensor infos', () => {
  withGguf(stories, (f) => {
    assert.equal(f.version, 3);
    assert.equal(f.metadata.size, 19);
    assert.equal(f.tensors.size, 48);
    assert.equal(f.alignment, 32);
    assert.equal(f.dataOffset, 14176);
    assert.equal(ggufString(f, 'general.architecture'), 'llama');
    assert.equal(ggufNumber(f, 'llama.embedding_length'), 64);
    assert.equal(ggufNumber(f, 'llama.rope.freq_base', 10000), 10000);
    assert.equal(ggufNumber(f, 'tokenizer.ggml.padding_token_id'), 0xffffffff);
    const tokens = ggufStringArray(f, 'tokenizer.ggml.tokens');
    assert.equal(tokens.length, 512);
    assert.deepEqual(tokens.slice(0, 3), ['<unk>', '<s>', '</s>']);
    const emb = f.tensors.get('token_embd.weight')!;
    assert.deepEqual(emb.shape, [512, 64]);
    assert.equal(emb.typeName, 'F32');
    assert.equal(emb.offset, 14176);
    assert.equal(emb.byteLength, 512 * 64 * 4);
    assert.deepEqual(f.tensors.get('blk.0.ffn_down.weight')!.shape, [64, 172]);
  });
});

test('stories260K.gguf: reads F32 tensors', () => {
  withGguf(stories, (f) => {
    const t = readGgufTensor(f, 'token_embd.weight');
    assert.deepEqual(t.shape, [512, 64]);
    assert.equal(t.data.length, 512 * 64);
    assert.ok(t.data.every(Number.isFinite));
    const norm = readGgufTensor(f, 'output_norm.weight');
    const raw = readFileSync(stories).subarray(f.tensors.get('output_norm.weight')!.offset);
    assert.equal(norm.data[5], raw.readFloatLE(20));
  });
});

test('ggml-vocab-llama-spm.gguf: 22 keys, no tensors, 32000 tokens', () => {
  withGguf(vocab, (f) => {
    assert.equal(f.metadata.size, 22);
    assert.equal(f.tensors.size, 0);
    assert.equal(ggufStringArray(f, 'tokenizer.ggml.tokens').length, 32000);
    assert.equal(ggufNumberArray(f, 'tokenizer.ggml.scores').length, 32000);
    assert.equal(ggufArray(f, 'tokenizer.ggml.token_type')[0], 2);
    assert.equal(ggufBoolean(f, 'tokenizer.ggml.add_bos_token'), true);
    assert.equal(ggufString(f, 'tokenizer.ggml.model'), 'llama');
  });
});

test('metadata getters name the key and the expected and found types', () => {
  withGguf(stories, (f) => {
    const e = expectError(() => ggufNumber(f, 'general.architecture'), FormatError, stories, 'general.architecture');
    assert.match(e.message, /expected a number, found the string "llama"/);
    expectError(() => ggufString(f, 'llama.nope'), FormatError, stories, 'llama.nope');
    expectError(() => ggufStringArray(f, 'tokenizer.ggml.scores'), FormatError, stories, 'tokenizer.ggml.scores');
    expectError(() => ggufBoolean(f, 'llama.block_count', true), FormatError, stories, 'llama.block_count');
    assert.equal(ggufBoolean(f, 'tokenizer.ggml.add_bos_token', true), true);
  });
});

test('a missing tensor is a FormatError', () => {
  withGguf(stories, (f) => expectError(() => readGgufTensor(f, 'blk.9.attn_q.weight'), FormatError, stories, 'blk.9.attn_q.weight'));
});

test('truncated files fail with FormatError at every cut', () => {
  for (const [src, cuts] of [[stories, [0, 3, 6, 20, 30, 200, 5000, 14000, 14150, 14176, 20000, 1185375]], [vocab, [24, 100, 400000, 723868]]] as const) {
    const bytes = readFileSync(src);
    for (const cut of cuts) {
      const path = writeTemp(bytes.subarray(0, cut));
      expectError(() => openGguf(path), FormatError, path, '');
    }
  }
});

test('bad magic and unsupported versions', () => {
  const magic = patched(stories, (b) => b.write('GGML', 0));
  expectError(() => openGguf(magic), FormatError, magic, 'magic');
  const v1 = patched(stories, (b) => b.writeUInt32LE(1, 4));
  expectError(() => openGguf(v1), UnsupportedError, v1, 'version');
  const v7 = patched(stories, (b) => b.writeUInt32LE(7, 4));
  expectError(() => openGguf(v7), FormatError, v7, 'version');
  const bigEndian = patched(stories, (b) => b.writeUInt32BE(3, 4));
  expectError(() => openGguf(bigEndian), UnsupportedError, bigEndian, 'version');
  withGguf(makeGguf({ version: 2, kvs: [kvU32('a', 1)] }), (f) => assert.equal(f.version, 2));
});

test('absurd counts are rejected before looping', () => {
  for (const [at, field] of [[8, 'tensor_count'], [16, 'metadata_kv_count']] as const) {
    for (const n of [2n ** 60n, 2n ** 40n, 2n ** 64n - 1n]) {
      const path = patched(stories, (b) => b.writeBigUInt64LE(n, at));
      expectError(() => openGguf(path), FormatError, path, field);
    }
  }
});

test('string lengths and array counts larger than the file', () => {
  const key = patched(stories, (b) => b.writeBigUInt64LE(2n ** 40n, 24));
  expectError(() => openGguf(key), FormatError, key, 'metadata[0] key');
  const tokens = readFileSync(stories).indexOf('tokenizer.ggml.tokens');
  const count = patched(stories, (b) => b.writeBigUInt64LE(2n ** 40n, tokens + 21 + 8));
  expectError(() => openGguf(count), FormatError, count, 'metadata "tokenizer.ggml.tokens" count');
  const piece = patched(stories, (b) => b.writeBigUInt64LE(2n ** 50n, tokens + 21 + 16));
  expectError(() => openGguf(piece), FormatError, piece, 'metadata "tokenizer.ggml.tokens"[0]: expected 1125899906842624 bytes');
});

test('corrupt tensor infos: n_dims, type, offset, data past the end', () => {
  // token_embd.weight's info: name, u32 n_dims, u64 ne[2], u32 type, u64 offset
  const at = readFileSync(stories).lastIndexOf('token_embd.weight') + 'token_embd.weight'.length;
  const cases: [(b: Buffer) => void, string][] = [
    [(b) => b.writeUInt32LE(5, at), 'n_dims'],
    [(b) => b.writeUInt32LE(0, at), 'n_dims'],
    [(b) => b.writeBigUInt64LE(0n, at + 4), 'ne[0]'],
    [(b) => b.writeUInt32LE(99, at + 20), 'ggml_type'],
    [(b) => b.writeUInt32LE(12, at + 20), 'ne[0]'], // Q4_K needs rows of 256
    [(b) => b.writeBigUInt64LE(4n, at + 24), 'offset'],
    [(b) => b.writeBigUInt64LE(32n * 40000n, at + 24), 'data'],
  ];
  for (const [patch, field] of cases) {
    const path = patched(stories, patch);
    expectError(() => openGguf(path), FormatError, path, `tensor "token_embd.weight" ${field}`);
  }
});

/** ggml's bytes for `type` of the fixture rows' first `elems` inputs, and ggml's dequantization of them as f32 bits. */
function ggmlRows(type: string, blockElems: number, blockBytes: number, elems: number): { bytes: Buffer; bits: Uint32Array } {
  const bytes = readFileSync(fixturePath('ggml-quants', `${type}.quant`)).subarray(0, (elems / blockElems) * blockBytes);
  const floats = readFileSync(fixturePath('ggml-quants', `${type}.dequant.f32`)).subarray(0, 4 * elems);
  return { bytes, bits: Uint32Array.from({ length: elems }, (_, i) => floats.readUInt32LE(4 * i)) };
}

test('Q8_0, Q4_0, Q4_K and Q6_K tensors read as ggml dequantizes them, bit for bit; raw reads give the stored bytes', () => {
  const types = [['q8_0', 8, 32, 34], ['q4_0', 2, 32, 18], ['q4_k', 12, 256, 144], ['q6_k', 14, 256, 210]] as const;
  const rows = types.map(([type, , blockElems, blockBytes]) => ggmlRows(type, blockElems, blockBytes, 512)); // the "gauss" row
  const align = (b: Buffer) => Buffer.concat([b, Buffer.alloc((32 - (b.length % 32)) % 32)]);
  let offset = 0;
  const infos = types.map(([type, id], i) => {
    const at = offset;
    offset += align(rows[i]!.bytes).length;
    return info(type, [256, 2], id, at);
  });
  const path = makeGguf({ infos, data: Buffer.concat(rows.map((r) => align(r.bytes))) });
  withGguf(path, (f) => {
    types.forEach(([type, id], i) => {
      const t = readGgufTensor(f, type);
      assert.deepEqual(t.shape, [2, 256]);
      assert.deepEqual(new Uint32Array(t.data.buffer), rows[i]!.bits, type);
      const raw = readGgufTensorRaw(f, type);
      assert.deepEqual({ ...raw, bytes: Buffer.from(raw.bytes) }, { shape: [2, 256], ggmlType: id, typeName: type.toUpperCase(), bytes: rows[i]!.bytes });
    });
  });
});

test('a quantized tensor larger than one read chunk decodes the same across chunk boundaries', () => {
  const blocks = readFileSync(fixturePath('ggml-quants', 'q8_0.random.quant')); // 64 random Q8_0 blocks
  const floats = readFileSync(fixturePath('ggml-quants', 'q8_0.random.dequant.f32'));
  const rows = 2000; // 2000 rows of those 64 blocks: 4.35 MB, past the 4 MiB chunk
  const path = makeGguf({ infos: [info('big', [64 * 32, rows], 8, 0)], data: Buffer.concat(Array(rows).fill(blocks)) });
  withGguf(path, (f) => {
    const t = readGgufTensor(f, 'big');
    const bits = new Uint32Array(t.data.buffer);
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < 64 * 32; i++) {
        if (bits[r * 2048 + i] !== floats.readUInt32LE(4 * i)) assert.fail(`row ${r} element ${i}`);
      }
    }
  });
});

test('rows that are not whole blocks are a FormatError when the file is opened', () => {
  const path = makeGguf({ infos: [info('w', [48, 2], 8, 0)], data: Buffer.alloc(2 * 51) });
  const e = expectError(() => openGguf(path), FormatError, path, 'tensor "w" ne[0]');
  assert.match(e.message, /a multiple of the Q8_0 block size 32, found 48/);
});

test('other quantized types are UnsupportedError "not supported yet"; raw reads still work', () => {
  const q5k = makeGguf({ infos: [info('w', [256, 2], 13, 0)], data: Buffer.alloc(2 * 176, 7) });
  withGguf(q5k, (f) => {
    assert.equal(f.tensors.get('w')!.typeName, 'Q5_K');
    assert.match(expectError(() => readGgufTensor(f, 'w'), UnsupportedError, q5k, '"w"').message, /Q5_K is not supported yet/);
    assert.deepEqual(readGgufTensorRaw(f, 'w').bytes, new Uint8Array(2 * 176).fill(7));
  });
  const iq2 = makeGguf({ infos: [info('w', [256, 2], 16, 0)], data: Buffer.alloc(2 * 66) });
  withGguf(iq2, (f) => {
    assert.equal(f.tensors.get('w')!.byteLength, 132);
    assert.match(expectError(() => readGgufTensor(f, 'w'), UnsupportedError, iq2, '"w"').message, /IQ2_XXS is not supported yet/);
  });
  withGguf(stories, (f) => expectError(() => readGgufTensorRaw(f, 'nope'), FormatError, stories, 'tensor "nope"'));
});

test('hand-made GGUF: F32, F16 and BF16 tensors, shapes outermost first', () => {
  const half = u16s([1.5, -2, 0.25].map(f32ToF16));
  const brain = u16s([3, -0.5].map(f32ToBf16));
  const data = Buffer.concat([f32s([1, 2, 3, 4, 5, 6]), Buffer.alloc(8), half, Buffer.alloc(26), brain]);
  const path = makeGguf({
    kvs: [kv('general.architecture', 8, str('llama')), kv('x.list', 9, Buffer.concat([u32(5), u64(2), u32(7), u32(8)]))],
    infos: [info('a', [3, 2], 0, 0), info('h', [3], 1, 32), info('b', [2, 1], 30, 64)],
    data,
  });
  withGguf(path, (f) => {
    assert.deepEqual(ggufArray(f, 'x.list'), [7, 8]);
    assert.deepEqual(readGgufTensor(f, 'a'), { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) });
    assert.deepEqual([...readGgufTensor(f, 'h').data], [1.5, -2, 0.25]);
    assert.deepEqual(readGgufTensor(f, 'b'), { shape: [1, 2], data: new Float32Array([3, -0.5]) });
  });
});

test('hand-made GGUF: bad alignment, duplicates, deep nesting, bad values', () => {
  const nested = (depth: number): Buffer => (depth === 0 ? Buffer.concat([u32(4), u64(0)]) : Buffer.concat([u32(9), u64(1), nested(depth - 1)]));
  const cases: [Parameters<typeof makeGguf>[0], string][] = [
    [{ kvs: [kvU32('general.alignment', 0)] }, 'general.alignment'],
    [{ kvs: [kvU32('general.alignment', 24)] }, 'general.alignment'],
    [{ kvs: [kvU32('k', 1), kvU32('k', 2)] }, 'metadata "k"'],
    [{ infos: [info('t', [1], 0, 0), info('t', [1], 0, 32)], data: Buffer.alloc(64) }, 'tensor "t"'],
    [{ kvs: [kv('deep', 9, nested(6))] }, 'metadata "deep"'],
    [{ kvs: [kv('flag', 7, Buffer.from([2]))] }, 'metadata "flag"'],
    [{ kvs: [kv('odd', 13, u32(0))] }, 'metadata "odd" type'],
    [{ kvs: [kv('arr', 9, Buffer.concat([u32(42), u64(1)]))] }, 'metadata "arr" element type'],
    [{ kvs: [kv('big', 10, u64(2n ** 63n))] }, 'metadata "big"'],
    [{ infos: [info('huge', [2 ** 26, 2 ** 26, 2 ** 26], 0, 0)] }, 'tensor "huge" ne'],
  ];
  for (const [spec, field] of cases) {
    const path = makeGguf(spec);
    expectError(() => openGguf(path), FormatError, path, field);
  }
  withGguf(makeGguf({ kvs: [kv('ok', 9, nested(3))] }), (f) => assert.deepEqual(f.metadata.get('ok'), [[[[]]]]));
});
