import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { ArgumentError, FormatError } from '../core/errors.js';
import { parseLlama2cTokenizer, readLlama2cTokenizer } from './llama2c-tokenizer.js';
import { spmTokenType } from './sentencepiece-bpe.js';

const tok512Path = fileURLToPath(new URL('../../assets/stories260K/tok512.bin', import.meta.url));
const tok512Bytes = readFileSync(tok512Path);

/** Byte offset of entry i in tok512.bin (after the u32 max_token_length). */
function entryOffset(i: number): number {
  let offset = 4;
  for (let k = 0; k < i; k++) offset += 8 + tok512Bytes.readInt32LE(offset + 4);
  return offset;
}

function formatError(field: RegExp, expected: RegExp, found: RegExp) {
  return (e: unknown) => e instanceof FormatError && field.test(e.field) && expected.test(e.expected) && found.test(e.found);
}

describe('llama2.c tokenizer.bin', () => {
  const dir = mkdtempSync(join(tmpdir(), 'llamats-tok-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('maps the exported pieces back to SentencePiece spelling and types (tok512.bin)', () => {
    const v = parseLlama2cTokenizer(tok512Bytes, 512, tok512Path);
    assert.equal(v.pieces.length, 512);
    assert.deepEqual(v.pieces.slice(0, 4), ['<unk>', '<s>', '</s>', '<0x00>']);
    assert.deepEqual(v.types.slice(0, 4), [spmTokenType.unknown, spmTokenType.control, spmTokenType.control, spmTokenType.byte]);
    assert.equal(v.pieces[258], '<0xFF>');
    assert.ok(v.types.slice(3, 259).every((t) => t === spmTokenType.byte));
    assert.ok(v.types.slice(259).every((t) => t === spmTokenType.normal));
    // Merges score -rank: the first merge, '▁t', scores -0 (as stored) and the next -1.
    assert.deepEqual([v.pieces[259], v.scores[259], v.pieces[260], v.scores[260]], ['\u2581t', -0, 'he', -1]);
    assert.deepEqual([v.bosId, v.eosId, v.unkId, v.addSpacePrefix], [1, 2, 0, true]);
  });

  it('encodes with the dummy prefix as run.c does: 410 is "▁" in tok512', () => {
    const tok = readLlama2cTokenizer(tok512Path, 512);
    assert.equal(tok.vocabSize, 512);
    assert.equal(tok.piece(410), '\u2581');
    assert.deepEqual(tok.encode(' ', { bos: true }), [1, 410, 410]);
    assert.equal(tok.decode(tok.encode('Once upon a time, Lily saw a "big" dog!', { bos: true })), 'Once upon a time, Lily saw a "big" dog!');
  });

  it('rejects a vocabSize that differs from the entries in the file', () => {
    assert.throws(() => readLlama2cTokenizer(tok512Path, 511), formatError(/vocabulary size/, /^511 entries/, /^512 entries$/));
    assert.throws(() => readLlama2cTokenizer(tok512Path, 513), formatError(/vocabulary size/, /^513 entries/, /^512 entries$/));
    assert.throws(() => readLlama2cTokenizer(tok512Path, 0), ArgumentError);
  });

  it('rejects a truncated file, naming the entry and the bytes left', () => {
    const write = (name: string, bytes: Uint8Array) => {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      return path;
    };
    const midPiece = write('mid-piece.bin', tok512Bytes.subarray(0, entryOffset(300) + 9));
    assert.throws(() => readLlama2cTokenizer(midPiece, 512), formatError(/^entry 300 len/, /\[0, 1\]/, /^\d+$/));
    const midHeader = write('mid-header.bin', tok512Bytes.subarray(0, entryOffset(300) + 5));
    assert.throws(() => readLlama2cTokenizer(midHeader, 512), formatError(/^entry 300 at offset/, /8 bytes/, /^5 bytes/));
    const atBoundary = write('at-boundary.bin', tok512Bytes.subarray(0, entryOffset(300)));
    assert.throws(() => readLlama2cTokenizer(atBoundary, 512), formatError(/vocabulary size/, /^512 entries/, /^300 entries$/));
    const noHeader = write('no-header.bin', tok512Bytes.subarray(0, 2));
    assert.throws(() => readLlama2cTokenizer(noHeader, 512), formatError(/max_token_length/, /4 bytes/, /truncated/));
  });

  it('rejects negative and huge piece lengths, stray bytes and invalid UTF-8', () => {
    const withLen = (len: number) => {
      const copy = Uint8Array.from(tok512Bytes);
      new DataView(copy.buffer).setInt32(entryOffset(5) + 4, len, true);
      return copy;
    };
    assert.throws(() => parseLlama2cTokenizer(withLen(-1), 512, 'bad.bin'), formatError(/^entry 5 len/, /bytes left/, /^-1$/));
    assert.throws(() => parseLlama2cTokenizer(withLen(0x7fffffff), 512, 'bad.bin'), formatError(/^entry 5 len/, /bytes left/, /^2147483647$/));
    const stray = Uint8Array.from([...tok512Bytes, 1, 2, 3]);
    assert.throws(() => parseLlama2cTokenizer(stray, 512, 'bad.bin'), formatError(/vocabulary size/, /^512 entries/, /^3 more bytes after entry 511$/));
    const badUtf8 = Uint8Array.from(tok512Bytes);
    badUtf8[entryOffset(300) + 8] = 0xff;
    assert.throws(() => parseLlama2cTokenizer(badUtf8, 512, 'bad.bin'), formatError(/^entry 300 piece$/, /UTF-8/, /invalid/));
  });
});
