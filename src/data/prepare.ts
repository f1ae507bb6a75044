/**
 * Text files -> token shards for training: `train.bin` and `val.bin` (little-endian uint16 ids, or uint32 for
 * vocabularies over 65536) and `meta.json`. Streams each input in chunks cut at newlines, so memory stays bounded
 * whatever the input's size. The validation split is the tail of each file from byte floor((1 - valFraction) *
 * size) (moved to the next character boundary): for a byte tokenizer this is nanoGPT's split of the same corpus
 * exactly (first 90% train, last 10% validation), so validation losses compare.
 *
 * Each chunk is encoded on its own: a SentencePiece tokenizer adds its dummy-prefix space at each chunk start (one
 * per few MB of text; bytes are unaffected).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError } from '../core/errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { utf8Decode } from '../tokenizer/utf8-stream.js';

export interface TokenMeta {
  format: 'llamats-tokens';
  version: 1;
  dtype: 'uint16' | 'uint32';
  vocabSize: number;
  trainTokens: number;
  valTokens: number;
  /** UTF-8 bytes of text on each side, for bits per byte. */
  trainBytes: number;
  valBytes: number;
  tokenizer: string;
  inputs: { path: string; bytes: number }[];
}

export interface PrepareOptions {
  inputs: string[];
  tokenizer: Tokenizer;
  /** How the tokenizer is named in meta.json ('bytes' or its path). */
  tokenizerPath?: string;
  outDir: string;
  valFraction?: number;
  /** Bytes of input read so far, of all. */
  onProgress?(done: number, total: number): void;
}

const chunkBytes = 4 << 20;

export async function prepareData(o: PrepareOptions): Promise<TokenMeta> {
  const valFraction = o.valFraction ?? 0.1;
  if (!(valFraction >= 0 && valFraction < 1)) throw new ArgumentError('valFraction', 'a number in [0, 1)', String(valFraction));
  if (o.inputs.length === 0) throw new ArgumentError('inputs', 'at least one text file', 'none');
  const sizes = o.inputs.map((path) => {
    try {
      return statSync(path).size;
    } catch {
      throw new ArgumentError('input', 'a readable text file', JSON.stringify(path));
    }
  });
  mkdirSync(o.outDir, { recursive: true });
  const dtype = o.tokenizer.vocabSize <= 65536 ? 'uint16' : 'uint32';
  const train = new ShardWriter(join(o.outDir, 'train.bin'), dtype);
  const val = new ShardWriter(join(o.outDir, 'val.bin'), dtype);
  const total = sizes.reduce((a, b) => a + b, 0);
  let done = 0;
  let trainBytes = 0;
  let valBytes = 0;
  try {
    o.inputs.forEach((path, i) => {
      const size = sizes[i]!;
      const fd = openSync(path, 'r');
      try {
        const split = characterBoundary(fd, Math.floor((1 - valFraction) * size), size);
        for (const [from, to, shard] of [[0, split, train], [split, size, val]] as const) {
          streamLines(fd, from, to, (text) => shard.write(o.tokenizer.encode(text)), (n) => o.onProgress?.((done += n), total));
        }
        trainBytes += split;
        valBytes += size - split;
      } finally {
        closeSync(fd);
      }
    });
    const meta: TokenMeta = {
      format: 'llamats-tokens', version: 1, dtype, vocabSize: o.tokenizer.vocabSize, trainTokens: train.count,
      valTokens: val.count, trainBytes, valBytes, tokenizer: o.tokenizerPath ?? 'unnamed',
      inputs: o.inputs.map((path, i) => ({ path, bytes: sizes[i]! })),
    };
    train.commit();
    val.commit();
    writeFileAtomic(join(o.outDir, 'meta.json'), JSON.stringify(meta, null, 1) + '\n');
    return meta;
  } catch (e) {
    train.abort();
    val.abort();
    throw e;
  }
}

/** The first offset at or after `at` that does not fall inside a UTF-8 character (continuation bytes 10xxxxxx). */
function characterBoundary(fd: number, at: number, size: number): number {
  const byte = new Uint8Array(1);
  while (at < size && readSync(fd, byte, 0, 1, at) === 1 && (byte[0]! & 0xc0) === 0x80) at++;
  return at;
}

/**
 * Bytes [from, to) of a file as text, in pieces of at most ~chunkBytes that end after a newline where there is one
 * (a newline byte never sits inside a UTF-8 character, so every piece decodes on its own).
 */
function streamLines(fd: number, from: number, to: number, onText: (text: string) => void, onBytes: (n: number) => void): void {
  const buffer = new Uint8Array(chunkBytes);
  let carry = 0; // bytes at the start of buffer left over from the last read
  for (let pos = from; pos < to || carry > 0; ) {
    const got = pos < to ? readSync(fd, buffer, carry, Math.min(chunkBytes - carry, to - pos), pos) : 0;
    pos += got;
    const filled = carry + got;
    if (pos < to && got === 0) throw new ArgumentError('input', `${to} readable bytes`, `a file that ended at ${pos}`);
    let end = pos < to ? buffer.lastIndexOf(0x0a, filled - 1) + 1 || filled : filled;
    while (end < filled && end > 0 && (buffer[end]! & 0xc0) === 0x80) end--; // a line longer than the buffer
    onText(utf8Decode(buffer.subarray(0, end)));
    onBytes(end);
    buffer.copyWithin(0, end, filled);
    carry = filled - end;
  }
}

/** Appends ids to `path.tmp`; `commit` renames it into place. */
class ShardWriter {
  count = 0;
  private readonly fd: number;
  private readonly tmp: string;

  constructor(private readonly path: string, private readonly dtype: 'uint16' | 'uint32') {
    this.tmp = `${path}.${process.pid}.tmp`;
    this.fd = openSync(this.tmp, 'w');
  }

  write(ids: number[]): void {
    const data = this.dtype === 'uint16' ? Uint16Array.from(ids) : Uint32Array.from(ids);
    const bytes = new Uint8Array(data.buffer);
    for (let at = 0; at < bytes.length; ) at += writeSync(this.fd, bytes, at, bytes.length - at);
    this.count += ids.length;
  }

  commit(): void {
    fsyncSync(this.fd);
    closeSync(this.fd);
    renameSync(this.tmp, this.path);
  }

  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    rmSync(this.tmp, { force: true });
  }
}
