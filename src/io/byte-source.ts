import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { decodeFloats, dtypeBytes } from '../core/dtype.js';
import { FormatError } from '../core/errors.js';

/** Largest single readSync call: the syscall caps one read near 2 GiB. */
const maxReadChunk = 1 << 30;
const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A file already in memory (fetched in a browser, say): its bytes, and a name for errors (its URL or file name). */
export interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

/** A path (Node) or bytes in memory: what the readers of model and tokenizer files take. */
export type FileInput = string | NamedBytes;

/** The name errors give for an input: its path or its name. */
export function inputName(input: FileInput): string {
  return typeof input === 'string' ? input : input.name;
}

/**
 * Bytes read by ranges, from a file or from memory. Files may exceed 2 GiB, so nothing here reads a whole file at
 * once; offsets are plain numbers, checked to be safe integers. Call `dispose()` when done.
 */
export abstract class ByteSource {
  abstract readonly path: string;
  abstract readonly size: number;

  /** A source over the file at a path, or over bytes in memory. */
  static open(input: FileInput): ByteSource {
    return typeof input === 'string' ? new FileSource(input) : new MemorySource(input);
  }

  /** `length` bytes at `offset`; `field` names what is being read, for the error if the file is too short. */
  read(offset: number, length: number, field = 'bytes'): Uint8Array {
    const out = new Uint8Array(this.checkRange(offset, length, field));
    this.readInto(offset, out, field);
    return out;
  }

  /** Fill `target` from the file starting at `offset`. */
  readInto(offset: number, target: Uint8Array, field = 'bytes'): void {
    this.checkRange(offset, target.byteLength, field);
    this.fill(offset, target, field);
  }

  dispose(): void {}

  /** Copy target.byteLength bytes from `offset`, a range already checked. */
  protected abstract fill(offset: number, target: Uint8Array, field: string): void;

  /** Throws unless [offset, offset+length) lies inside the file; returns length. */
  private checkRange(offset: number, length: number, field: string): number {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new FormatError(this.path, field, 'a non-negative safe-integer byte range', `offset ${offset}, length ${length}`);
    }
    if (offset + length > this.size) {
      const left = Math.max(0, this.size - offset);
      throw new FormatError(this.path, field, `${length} bytes at offset ${offset}`, `${left} bytes left (file is ${this.size} bytes)`);
    }
    return length;
  }
}

/** An open file (Node). Owns its descriptor. */
class FileSource extends ByteSource {
  readonly size: number;
  private fd: number | null;

  constructor(readonly path: string) {
    super();
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
  }

  protected fill(offset: number, target: Uint8Array, field: string): void {
    if (this.fd === null) throw new Error(`${this.path}: read after close`);
    for (let done = 0; done < target.byteLength; ) {
      const want = Math.min(maxReadChunk, target.byteLength - done);
      const got = readSync(this.fd, target, done, want, offset + done);
      if (got === 0) {
        throw new FormatError(this.path, field, `${want} more bytes at offset ${offset + done}`, 'end of file (it shrank while open)');
      }
      done += got;
    }
  }

  override dispose(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

class MemorySource extends ByteSource {
  readonly path: string;
  readonly size: number;
  private readonly bytes: Uint8Array;

  constructor({ name, bytes }: NamedBytes) {
    super();
    this.path = name;
    this.bytes = bytes;
    this.size = bytes.byteLength;
  }

  protected fill(offset: number, target: Uint8Array): void {
    target.set(this.bytes.subarray(offset, offset + target.byteLength));
  }
}

/**
 * Floats stored little-endian at `offset` (`count` elements of `dtype`) as a fresh Float32Array.
 * f32 on a little-endian host is read straight into the result (one copy of the data in memory, not two).
 */
export function readFloats(src: ByteSource, offset: number, count: number, dtype: 'f32' | 'f16' | 'bf16', field: string): Float32Array {
  if (dtype === 'f32' && littleEndianHost) {
    const out = new Float32Array(count);
    src.readInto(offset, new Uint8Array(out.buffer), field);
    return out;
  }
  return decodeFloats(src.read(offset, count * dtypeBytes[dtype], field), dtype);
}

/** The little-endian bytes of an f32 array (a view on little-endian hosts, a copy elsewhere). */
export function f32LeBytes(data: Float32Array): Uint8Array {
  if (littleEndianHost) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  data.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return out;
}

const chunkSize = 1 << 20;
// ignoreBOM: a string that starts with U+FEFF keeps it (LLaMA 2's vocabulary has that piece, id 30143).
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * A sequential little-endian reader over a ByteSource, buffered in 1 MiB chunks. Every read names the field it is
 * reading, so that a short file fails with "file: field: expected N bytes at offset X, found M bytes left".
 */
export class ByteReader {
  private buf: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0; // file offset of buf[0]

  constructor(
    readonly src: ByteSource,
    public pos = 0,
  ) {}

  /** Bytes between the cursor and the end of the file. */
  get remaining(): number {
    return this.src.size - this.pos;
  }

  // `need` may swap in a new chunk, so it runs before `this.view` is read.
  u8(field: string): number {
    const at = this.need(1, field);
    return this.view.getUint8(at);
  }
  i8(field: string): number {
    const at = this.need(1, field);
    return this.view.getInt8(at);
  }
  u16(field: string): number {
    const at = this.need(2, field);
    return this.view.getUint16(at, true);
  }
  i16(field: string): number {
    const at = this.need(2, field);
    return this.view.getInt16(at, true);
  }
  u32(field: string): number {
    const at = this.need(4, field);
    return this.view.getUint32(at, true);
  }
  i32(field: string): number {
    const at = this.need(4, field);
    return this.view.getInt32(at, true);
  }
  f32(field: string): number {
    const at = this.need(4, field);
    return this.view.getFloat32(at, true);
  }
  f64(field: string): number {
    const at = this.need(8, field);
    return this.view.getFloat64(at, true);
  }
  /** uint64 as a number; a value above 2^53 - 1 is a FormatError (no real size or count is that large). */
  u64(field: string): number {
    const offset = this.pos;
    const at = this.need(8, field);
    return this.safe(this.view.getBigUint64(at, true), field, offset);
  }
  i64(field: string): number {
    const offset = this.pos;
    const at = this.need(8, field);
    return this.safe(this.view.getBigInt64(at, true), field, offset);
  }

  /** `length` raw bytes (a copy). */
  bytes(length: number, field: string): Uint8Array {
    if (length > chunkSize) {
      const out = this.src.read(this.pos, length, field);
      this.pos += length;
      return out;
    }
    const at = this.need(length, field);
    return this.buf.slice(at, at + length);
  }

  /** `length` bytes decoded as UTF-8 (invalid sequences become U+FFFD). */
  string(length: number, field: string): string {
    return utf8.decode(this.bytes(length, field));
  }

  /** Make `n` bytes at the cursor available in `buf`, advance past them, and return their index in `buf`. */
  private need(n: number, field: string): number {
    let at = this.pos - this.bufStart;
    if (at < 0 || at + n > this.buf.byteLength) {
      const length = Math.max(n, Math.min(chunkSize, this.src.size - this.pos));
      this.buf = this.src.read(this.pos, length, field);
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
      this.bufStart = this.pos;
      at = 0;
    }
    this.pos += n;
    return at;
  }

  private safe(v: bigint, field: string, at: number): number {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new FormatError(this.src.path, field, `a 64-bit integer within ±(2^53 - 1) at offset ${at}`, String(v));
    }
    return Number(v);
  }
}
