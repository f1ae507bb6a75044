/**
 * GGUF v3 writer, the counterpart of gguf.ts. Metadata values carry their GGUF type explicitly (llama.cpp reads
 * some keys only as one integer width). The header is built in memory (it is small: a 49k-token vocabulary is about
 * 1 MB); tensor data is streamed: each tensor's bytes come from a callback, are written, and are dropped, so a
 * multi-GB model never sits in memory whole. The file appears at `path` only once complete (temp file, fsync,
 * rename), so an interrupted write never leaves a half file there.
 */
import { writeAtomically } from './atomic-write.js';
import { ArgumentError } from '../core/errors.js';
import { ggmlType, type GgmlType } from './gguf.js';

/** Element types a GGUF metadata value or array may have, with their type ids (gguf.md's gguf_metadata_value_type). */
export const ggufValueTypes = {
  u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, u64: 10, i64: 11, f64: 12,
} as const;
export type GgufScalarType = keyof typeof ggufValueTypes;
const arrayTypeId = 9;

type IntType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'u64' | 'i64';
type ScalarValue = number | bigint | boolean | string;

/** A metadata value with its GGUF type. Arrays hold scalars of one type (GGUF allows nesting; we never need it). */
export type GgufTypedValue =
  | { type: IntType | 'f32' | 'f64'; value: number | bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; itemType: GgufScalarType; value: ArrayLike<ScalarValue> };

/** Constructors for typed values: `gv.u32(5)`, `gv.array('f32', scores)`. */
export const gv = {
  u8: (value: number) => ({ type: 'u8', value }) as const,
  i8: (value: number) => ({ type: 'i8', value }) as const,
  u16: (value: number) => ({ type: 'u16', value }) as const,
  i16: (value: number) => ({ type: 'i16', value }) as const,
  u32: (value: number) => ({ type: 'u32', value }) as const,
  i32: (value: number) => ({ type: 'i32', value }) as const,
  u64: (value: number | bigint) => ({ type: 'u64', value }) as const,
  i64: (value: number | bigint) => ({ type: 'i64', value }) as const,
  f32: (value: number) => ({ type: 'f32', value }) as const,
  f64: (value: number) => ({ type: 'f64', value }) as const,
  bool: (value: boolean) => ({ type: 'bool', value }) as const,
  string: (value: string) => ({ type: 'string', value }) as const,
  array: (itemType: GgufScalarType, value: ArrayLike<ScalarValue>) => ({ type: 'array', itemType, value }) as const,
} satisfies Record<string, (...args: never[]) => GgufTypedValue>;

export interface GgufTensorSpec {
  name: string;
  /** Outermost first, as everywhere in llamats (a linear weight is [out, in]); written reversed as GGUF's `ne`. */
  shape: readonly number[];
  /** ggml type id (0 F32, 1 F16, 2 Q4_0, 8 Q8_0, 12 Q4_K, 14 Q6_K, ...); blocks run along the last axis. */
  ggmlType: number;
  /** The tensor's bytes as stored (little-endian elements or ggml blocks); called once, in file order. */
  data: () => Uint8Array;
}

export interface GgufWriteProgress {
  /** Tensors written so far, of `tensorCount`. */
  tensorsDone: number;
  tensorCount: number;
  /** Tensor data bytes written so far, of `dataBytes`. */
  bytesDone: number;
  dataBytes: number;
  name: string;
}

export interface WriteGgufOptions {
  /** Called after each tensor is written. */
  onProgress?: (p: GgufWriteProgress) => void;
}

const ggufMagic = 0x46554747; // "GGUF" as a little-endian u32
const ggufVersion = 3;
const defaultAlignment = 32;
/** llama.cpp's GGML_MAX_NAME is 64 bytes including the terminating NUL. */
const maxNameBytes = 63;

/** A tensor spec with its validated ggml type, byte length and offset inside the data section. */
interface PlacedTensor extends GgufTensorSpec {
  type: GgmlType;
  byteLength: number;
  offset: number;
}

/**
 * Write a GGUF v3 file at `path`: `metadata` in the order given, then the tensor infos and data in the order of
 * `tensors`, each aligned to `general.alignment` (default 32) with zero padding. Everything that can be checked
 * before writing (types, ranges, shapes, duplicate names) is; a tensor whose data callback returns the wrong number
 * of bytes aborts the write and leaves nothing at `path`.
 */
export function writeGguf(
  path: string, metadata: Iterable<readonly [string, GgufTypedValue]>, tensors: readonly GgufTensorSpec[], options: WriteGgufOptions = {},
): void {
  const kvs = [...metadata];
  const alignment = alignmentOf(kvs);
  const placed = placeTensors(tensors, alignment);
  const header = encodeHeader(kvs, placed);
  const dataStart = alignUp(header.byteLength, alignment);
  const dataBytes = placed.length ? placed.at(-1)!.offset + placed.at(-1)!.byteLength : 0;
  writeAtomically(path, (write) => {
    write(header);
    write(new Uint8Array(dataStart - header.byteLength));
    let pos = 0;
    placed.forEach((t, i) => {
      write(new Uint8Array(t.offset - pos));
      write(tensorData(t));
      pos = t.offset + t.byteLength;
      options.onProgress?.({ tensorsDone: i + 1, tensorCount: placed.length, bytesDone: pos, dataBytes, name: t.name });
    });
    if (placed.length) write(new Uint8Array(alignUp(pos, alignment) - pos)); // end on the alignment, as gguf-py does
  });
}

/** Bytes of a tensor of this shape (outermost first) and ggml type; blocks run along the last axis. */
export function ggmlTensorBytes(shape: readonly number[], type: GgmlType): number {
  const inner = shape.at(-1) ?? 1;
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return (inner / type.blockElems) * type.blockBytes * rows;
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

function alignmentOf(kvs: (readonly [string, GgufTypedValue])[]): number {
  const entry = kvs.find(([key]) => key === 'general.alignment');
  if (!entry) return defaultAlignment;
  const v = entry[1];
  const a = Number(v.value);
  if (v.type !== 'u32' || !Number.isInteger(Math.log2(a)) || a < 1) {
    throw new ArgumentError('metadata "general.alignment"', 'a u32 power of two', `${v.type} ${String(v.value)}`);
  }
  return a;
}

function placeTensors(tensors: readonly GgufTensorSpec[], alignment: number): PlacedTensor[] {
  const seen = new Set<string>();
  let offset = 0;
  return tensors.map((t) => {
    if (seen.has(t.name)) throw new ArgumentError(`tensor "${t.name}"`, 'unique tensor names', 'a duplicate');
    seen.add(t.name);
    const type = checkTensor(t);
    const byteLength = ggmlTensorBytes(t.shape, type);
    const placed = { ...t, type, byteLength, offset: alignUp(offset, alignment) };
    offset = placed.offset + byteLength;
    return placed;
  });
}

function checkTensor(t: GgufTensorSpec): GgmlType {
  const where = `tensor "${t.name}"`;
  const shape = `[${t.shape.join(', ')}]`;
  const nameBytes = Buffer.byteLength(t.name, 'utf8');
  if (nameBytes === 0 || nameBytes > maxNameBytes) {
    throw new ArgumentError(`${where} name`, `1 to ${maxNameBytes} bytes`, `${nameBytes} bytes`);
  }
  const type = ggmlType(t.ggmlType);
  if (!type) throw new ArgumentError(`${where} ggmlType`, 'a known ggml type id', String(t.ggmlType));
  if (t.shape.length < 1 || t.shape.length > 4) throw new ArgumentError(`${where} shape`, '1 to 4 dimensions', shape);
  if (!t.shape.every((n) => Number.isSafeInteger(n) && n > 0)) {
    throw new ArgumentError(`${where} shape`, 'positive integer dimensions', shape);
  }
  if (t.shape.at(-1)! % type.blockElems !== 0) {
    const expected = `a last dimension that is a multiple of the ${type.name} block size ${type.blockElems}`;
    throw new ArgumentError(`${where} shape`, expected, shape);
  }
  return type;
}

function tensorData(t: PlacedTensor): Uint8Array {
  const data = t.data();
  if (data.byteLength !== t.byteLength) {
    const what = `${t.byteLength} bytes of data (${t.type.name} [${t.shape.join(', ')}])`;
    throw new ArgumentError(`tensor "${t.name}" data`, what, `${data.byteLength} bytes`);
  }
  return data;
}

// ---- Header encoding ----

/** A growable little-endian byte buffer. */
interface Out {
  buf: Uint8Array;
  view: DataView;
  len: number;
}

/** Room for `n` more bytes; returns the view to write them with and their offset (the buffer may have moved). */
function reserve(o: Out, n: number): [DataView, number] {
  if (o.len + n > o.buf.byteLength) {
    const grown = new Uint8Array(Math.max(2 * o.buf.byteLength, o.len + n));
    grown.set(o.buf.subarray(0, o.len));
    o.buf = grown;
    o.view = new DataView(grown.buffer);
  }
  const at = o.len;
  o.len += n;
  return [o.view, at];
}

function u32(o: Out, n: number): void {
  const [view, at] = reserve(o, 4);
  view.setUint32(at, n, true);
}

function u64(o: Out, n: number | bigint): void {
  const [view, at] = reserve(o, 8);
  view.setBigUint64(at, BigInt(n), true);
}

const utf8 = new TextEncoder();

function gstring(o: Out, s: string): void {
  const bytes = utf8.encode(s);
  u64(o, bytes.byteLength);
  const [, at] = reserve(o, bytes.byteLength);
  o.buf.set(bytes, at);
}

function encodeHeader(kvs: (readonly [string, GgufTypedValue])[], tensors: PlacedTensor[]): Uint8Array {
  const buf = new Uint8Array(1 << 16);
  const o: Out = { buf, view: new DataView(buf.buffer), len: 0 };
  u32(o, ggufMagic);
  u32(o, ggufVersion);
  u64(o, tensors.length);
  u64(o, kvs.length);
  const keys = new Set<string>();
  for (const [key, value] of kvs) {
    if (keys.has(key)) throw new ArgumentError(`metadata "${key}"`, 'unique keys', 'a duplicate');
    keys.add(key);
    gstring(o, key);
    encodeValue(o, value, `metadata "${key}"`);
  }
  for (const t of tensors) {
    gstring(o, t.name);
    u32(o, t.shape.length);
    for (const n of [...t.shape].reverse()) u64(o, n); // ne[0] is the innermost axis
    u32(o, t.type.id);
    u64(o, t.offset);
  }
  return o.buf.slice(0, o.len);
}

function encodeValue(o: Out, v: GgufTypedValue, field: string): void {
  if (v.type === 'array') {
    if (!Object.hasOwn(ggufValueTypes, v.itemType)) throw new ArgumentError(`${field} itemType`, 'a GGUF scalar type', String(v.itemType));
    u32(o, arrayTypeId);
    u32(o, ggufValueTypes[v.itemType]);
    u64(o, v.value.length);
    for (let i = 0; i < v.value.length; i++) encodeScalar(o, v.itemType, v.value[i]!, `${field}[${i}]`);
    return;
  }
  if (!Object.hasOwn(ggufValueTypes, v.type)) throw new ArgumentError(`${field} type`, 'a GGUF value type', String(v.type));
  u32(o, ggufValueTypes[v.type]);
  encodeScalar(o, v.type, v.value, field);
}

/** Integer ranges, inclusive. */
const intRanges: Record<IntType, [bigint, bigint]> = {
  u8: [0n, 0xffn], i8: [-0x80n, 0x7fn], u16: [0n, 0xffffn], i16: [-0x8000n, 0x7fffn],
  u32: [0n, 0xffffffffn], i32: [-0x80000000n, 0x7fffffffn], u64: [0n, 2n ** 64n - 1n], i64: [-(2n ** 63n), 2n ** 63n - 1n],
};

function encodeScalar(o: Out, type: GgufScalarType, value: ScalarValue, field: string): void {
  const bad = (expected: string) => new ArgumentError(field, expected, `${typeof value} ${String(value)}`);
  if (type === 'string') {
    if (typeof value !== 'string') throw bad('a string');
    return gstring(o, value);
  }
  if (type === 'bool') {
    if (typeof value !== 'boolean') throw bad('a boolean');
    const [view, at] = reserve(o, 1);
    return view.setUint8(at, value ? 1 : 0);
  }
  if (type === 'f32' || type === 'f64') {
    if (typeof value !== 'number') throw bad('a number');
    const [view, at] = reserve(o, type === 'f32' ? 4 : 8);
    return type === 'f32' ? view.setFloat32(at, value, true) : view.setFloat64(at, value, true);
  }
  encodeInt(o, type, checkInt(type, value, bad));
}

function checkInt(type: IntType, value: ScalarValue, bad: (expected: string) => Error): bigint {
  const [lo, hi] = intRanges[type];
  const ok = typeof value === 'bigint' || (typeof value === 'number' && Number.isSafeInteger(value));
  if (!ok) throw bad(`an integer (${type})`);
  const n = BigInt(value);
  if (n < lo || n > hi) throw bad(`an integer in [${lo}, ${hi}] (${type})`);
  return n;
}

const intBytes: Record<IntType, number> = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, u64: 8, i64: 8 };

function encodeInt(o: Out, type: IntType, n: bigint): void {
  const [v, at] = reserve(o, intBytes[type]);
  switch (type) {
    case 'u8': return v.setUint8(at, Number(n));
    case 'i8': return v.setInt8(at, Number(n));
    case 'u16': return v.setUint16(at, Number(n), true);
    case 'i16': return v.setInt16(at, Number(n), true);
    case 'u32': return v.setUint32(at, Number(n), true);
    case 'i32': return v.setInt32(at, Number(n), true);
    case 'u64': return v.setBigUint64(at, n, true);
    case 'i64': return v.setBigInt64(at, n, true);
  }
}
