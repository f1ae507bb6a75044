/**
 * GGUF (llama.cpp's model file) reader: header, metadata and tensor infos are parsed eagerly and validated against
 * the file size before anything is allocated; tensor data is read on demand. Layout (v2/v3, little-endian):
 * magic "GGUF", u32 version, u64 tensor_count, u64 metadata_kv_count, key-values, tensor infos, padding to the
 * alignment, tensor data.
 */
import { FormatError, UnsupportedError } from '../core/errors.js';
import { blockFormatForGgmlType } from '../core/quant/index.js';
import type { HostTensor } from '../tensor/tensor.js';
import { ByteReader, ByteSource, readFloats, type FileInput } from './byte-source.js';

export type GgufValue = number | boolean | string | GgufValue[];

export interface GgufTensorInfo {
  name: string;
  /** Row-major, outermost first (GGUF's `ne` reversed), so a linear weight is [out, in]. */
  shape: number[];
  ggmlType: number;
  typeName: string;
  /** Absolute byte offset of the data in the file. */
  offset: number;
  byteLength: number;
}

export interface GgufFile {
  path: string;
  version: number;
  alignment: number;
  metadata: Map<string, GgufValue>;
  tensors: Map<string, GgufTensorInfo>;
  /** Absolute offset where the tensor data section starts. */
  dataOffset: number;
  /** Open descriptor for reading tensor data; release it with `closeGguf`. */
  source: ByteSource;
}

/** A ggml element type: `blockBytes` bytes hold `blockElems` consecutive elements along the innermost axis. */
export interface GgmlType {
  id: number;
  name: string;
  blockElems: number;
  blockBytes: number;
}

const ggmlTypeList: [number, string, number, number][] = [
  [0, 'F32', 1, 4], [1, 'F16', 1, 2], [2, 'Q4_0', 32, 18], [3, 'Q4_1', 32, 20], [6, 'Q5_0', 32, 22],
  [7, 'Q5_1', 32, 24], [8, 'Q8_0', 32, 34], [9, 'Q8_1', 32, 36], [10, 'Q2_K', 256, 84], [11, 'Q3_K', 256, 110],
  [12, 'Q4_K', 256, 144], [13, 'Q5_K', 256, 176], [14, 'Q6_K', 256, 210], [15, 'Q8_K', 256, 292],
  [16, 'IQ2_XXS', 256, 66], [17, 'IQ2_XS', 256, 74], [18, 'IQ3_XXS', 256, 98], [19, 'IQ1_S', 256, 50],
  [20, 'IQ4_NL', 32, 18], [21, 'IQ3_S', 256, 110], [22, 'IQ2_S', 256, 82], [23, 'IQ4_XS', 256, 136],
  [24, 'I8', 1, 1], [25, 'I16', 1, 2], [26, 'I32', 1, 4], [27, 'I64', 1, 8], [28, 'F64', 1, 8],
  [29, 'IQ1_M', 256, 56], [30, 'BF16', 1, 2], [34, 'TQ1_0', 256, 54], [35, 'TQ2_0', 256, 66], [39, 'MXFP4', 32, 17],
];
const ggmlTypes = new Map(ggmlTypeList.map(([id, name, blockElems, blockBytes]) => [id, { id, name, blockElems, blockBytes }]));

/** The ggml type with this id, or undefined for an id this reader does not know. */
export function ggmlType(id: number): GgmlType | undefined {
  return ggmlTypes.get(id);
}

const floatTypes: Record<number, 'f32' | 'f16' | 'bf16'> = { 0: 'f32', 1: 'f16', 30: 'bf16' };

const ggufMagic = 0x46554747; // "GGUF" read as a little-endian u32
const defaultAlignment = 32;
const maxArrayDepth = 4;
/** Smallest possible encodings, to bound counts by the bytes left before looping: */
const minKvBytes = 8 + 4 + 1; // empty key, value type, a 1-byte value
const minTensorInfoBytes = 8 + 4 + 8 + 4 + 8; // empty name, n_dims, one ne, ggml_type, offset

/** Parse a GGUF file's header, metadata and tensor infos (a path, or bytes in memory). Close it with `closeGguf`. */
export function openGguf(input: FileInput): GgufFile {
  const source = ByteSource.open(input);
  try {
    return parseGguf(source);
  } catch (e) {
    source.dispose();
    throw e;
  }
}

export function closeGguf(file: GgufFile): void {
  file.source.dispose();
}

/** Open a GGUF, run `fn` on it, close it. */
export function withGguf<T>(input: FileInput, fn: (file: GgufFile) => T): T {
  const file = openGguf(input);
  try {
    return fn(file);
  } finally {
    closeGguf(file);
  }
}

/** Quantized tensors are read and decoded this many bytes (rounded down to whole blocks) at a time. */
const dequantChunkBytes = 1 << 22;

/**
 * A tensor as f32: F32, F16 and BF16 exactly; Q8_0, Q4_0, Q4_K and Q6_K dequantized as ggml does (bit for bit).
 * Other quantized types throw UnsupportedError. (openGguf has already checked that rows are whole blocks.)
 */
export function readGgufTensor(file: GgufFile, name: string): HostTensor {
  const info = findTensor(file, name);
  const count = info.shape.reduce((a, b) => a * b, 1);
  const dtype = floatTypes[info.ggmlType];
  if (dtype) return { shape: info.shape, data: readFloats(file.source, info.offset, count, dtype, `tensor "${name}" data`) };
  const format = blockFormatForGgmlType(info.ggmlType);
  if (!format) throw new UnsupportedError(file.path, `tensor "${name}"`, `reading ggml type ${info.typeName}`);
  const data = new Float32Array(count);
  // Read and decode in chunks of whole blocks (~4 MiB of file), so the encoded copy never holds the whole tensor.
  const chunkBlocks = Math.max(1, Math.floor(dequantChunkBytes / format.blockBytes));
  const chunk = new Uint8Array(Math.min(info.byteLength, chunkBlocks * format.blockBytes));
  for (let block = 0, blocks = count / format.blockElems; block < blocks; block += chunkBlocks) {
    const n = Math.min(chunkBlocks, blocks - block);
    const bytes = chunk.subarray(0, n * format.blockBytes);
    file.source.readInto(info.offset + block * format.blockBytes, bytes, `tensor "${name}" data`);
    format.dequantizeRow(bytes, data.subarray(block * format.blockElems, (block + n) * format.blockElems));
  }
  return { shape: info.shape, data };
}

/** A tensor's bytes exactly as stored, with its shape (outermost first) and ggml type. */
export function readGgufTensorRaw(file: GgufFile, name: string): { shape: number[]; ggmlType: number; typeName: string; bytes: Uint8Array } {
  const info = findTensor(file, name);
  const bytes = file.source.read(info.offset, info.byteLength, `tensor "${name}" data`);
  return { shape: info.shape, ggmlType: info.ggmlType, typeName: info.typeName, bytes };
}

function findTensor(file: GgufFile, name: string): GgufTensorInfo {
  const info = file.tensors.get(name);
  if (!info) throw new FormatError(file.path, `tensor "${name}"`, 'a tensor of that name', `none among ${file.tensors.size} tensors`);
  return info;
}

function parseGguf(source: ByteSource): GgufFile {
  const path = source.path;
  const r = new ByteReader(source);
  const magic = r.u32('magic');
  if (magic !== ggufMagic) throw new FormatError(path, 'magic', '"GGUF" (0x46554747)', `0x${magic.toString(16).padStart(8, '0')}`);
  const version = readVersion(r);
  const tensorCount = r.u64('tensor_count');
  const kvCount = r.u64('metadata_kv_count');
  checkCount(r, kvCount, minKvBytes, 'metadata_kv_count');
  checkCount(r, tensorCount, minTensorInfoBytes, 'tensor_count');
  const metadata = readMetadata(r, kvCount);
  const alignment = readAlignment(path, metadata);
  const raw = Array.from({ length: tensorCount }, (_, i) => readTensorInfo(r, i, alignment));
  const dataOffset = Math.ceil(r.pos / alignment) * alignment;
  const tensors = new Map<string, GgufTensorInfo>();
  for (const t of raw) {
    if (tensors.has(t.name)) throw new FormatError(path, `tensor "${t.name}"`, 'unique tensor names', 'a duplicate');
    tensors.set(t.name, placeTensor(source, t, dataOffset));
  }
  return { path, version, alignment, metadata, tensors, dataOffset, source };
}

function readVersion(r: ByteReader): number {
  const path = r.src.path;
  const version = r.u32('version');
  if (version === 1) throw new UnsupportedError(path, 'version', 'GGUF version 1 (re-convert the model with a current llama.cpp)');
  if (version !== 0 && (version & 0xffff) === 0) throw new UnsupportedError(path, 'version', 'a big-endian GGUF');
  if (version !== 2 && version !== 3) throw new FormatError(path, 'version', '2 or 3', String(version));
  return version;
}

/** Reject a count that could not fit in the bytes left, before looping over it. */
function checkCount(r: ByteReader, count: number, minBytes: number, field: string): void {
  if (count * minBytes > r.remaining) {
    const most = Math.floor(r.remaining / minBytes);
    throw new FormatError(r.src.path, field, `at most ${most} (${r.remaining} bytes left, at least ${minBytes} bytes each)`, String(count));
  }
}

function readString(r: ByteReader, field: string): string {
  return r.string(r.u64(`${field} length`), field);
}

function readMetadata(r: ByteReader, count: number): Map<string, GgufValue> {
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < count; i++) {
    const key = readString(r, `metadata[${i}] key`);
    if (metadata.has(key)) throw new FormatError(r.src.path, `metadata "${key}"`, 'unique keys', 'a duplicate');
    const type = r.u32(`metadata "${key}" type`);
    metadata.set(key, readValue(r, type, `metadata "${key}"`, 0));
  }
  return metadata;
}

function readValue(r: ByteReader, type: number, field: string, depth: number): GgufValue {
  switch (type) {
    case 0: return r.u8(field);
    case 1: return r.i8(field);
    case 2: return r.u16(field);
    case 3: return r.i16(field);
    case 4: return r.u32(field);
    case 5: return r.i32(field);
    case 6: return r.f32(field);
    case 7: return readBool(r, field);
    case 8: return readString(r, field);
    case 9: return readArray(r, field, depth);
    case 10: return r.u64(field);
    case 11: return r.i64(field);
    case 12: return r.f64(field);
    default: throw new FormatError(r.src.path, `${field} type`, 'a GGUF value type 0..12', String(type));
  }
}

function readBool(r: ByteReader, field: string): boolean {
  const b = r.u8(field);
  if (b > 1) throw new FormatError(r.src.path, field, 'a bool (0 or 1)', String(b));
  return b === 1;
}

/** Smallest encoding of a value of this type: bounds an array's count by the bytes left. */
function minValueBytes(r: ByteReader, type: number, field: string): number {
  const sizes = [1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8]; // string: its u64 length; array: type + count
  const size = sizes[type];
  if (size === undefined) throw new FormatError(r.src.path, `${field} element type`, 'a GGUF value type 0..12', String(type));
  return size;
}

function readArray(r: ByteReader, field: string, depth: number): GgufValue[] {
  if (depth >= maxArrayDepth) throw new FormatError(r.src.path, field, `arrays nested at most ${maxArrayDepth} deep`, 'deeper nesting');
  const type = r.u32(`${field} element type`);
  const minBytes = minValueBytes(r, type, field);
  const count = r.u64(`${field} count`);
  checkCount(r, count, minBytes, `${field} count`);
  const out = new Array<GgufValue>(count);
  for (let i = 0; i < count; i++) out[i] = readValue(r, type, `${field}[${i}]`, depth + 1);
  return out;
}

function readAlignment(path: string, metadata: Map<string, GgufValue>): number {
  const a = metadata.get('general.alignment') ?? defaultAlignment;
  if (typeof a !== 'number' || !Number.isSafeInteger(a) || a <= 0 || !Number.isInteger(Math.log2(a))) {
    throw new FormatError(path, 'general.alignment', 'a power of two', String(a));
  }
  return a;
}

/** A tensor info as stored: `offset` is relative to the data section. */
interface RawTensorInfo {
  name: string;
  ne: number[];
  type: GgmlType;
  offset: number;
  byteLength: number;
}

function readTensorInfo(r: ByteReader, i: number, alignment: number): RawTensorInfo {
  const path = r.src.path;
  const name = readString(r, `tensor_info[${i}] name`);
  const field = `tensor "${name}"`;
  const nDims = r.u32(`${field} n_dims`);
  if (nDims < 1 || nDims > 4) throw new FormatError(path, `${field} n_dims`, '1 to 4', String(nDims));
  const ne = Array.from({ length: nDims }, (_, d) => r.u64(`${field} ne[${d}]`));
  const typeId = r.u32(`${field} ggml_type`);
  const offset = r.u64(`${field} offset`);
  const type = ggmlType(typeId);
  if (!type) throw new FormatError(path, `${field} ggml_type`, 'a known ggml type id', String(typeId));
  if (offset % alignment !== 0) throw new FormatError(path, `${field} offset`, `a multiple of the alignment ${alignment}`, String(offset));
  return { name, ne, type, offset, byteLength: tensorBytes(path, field, ne, type) };
}

/** Bytes of a tensor of extent `ne` (innermost first): blocks run along ne[0]. */
function tensorBytes(path: string, field: string, ne: number[], type: GgmlType): number {
  ne.forEach((n, d) => {
    if (n < 1) throw new FormatError(path, `${field} ne[${d}]`, 'a positive dimension', String(n));
  });
  if (ne[0]! % type.blockElems !== 0) {
    throw new FormatError(path, `${field} ne[0]`, `a multiple of the ${type.name} block size ${type.blockElems}`, String(ne[0]));
  }
  const bytes = ne.reduce((a, n) => a * n, 1) / type.blockElems * type.blockBytes;
  if (!Number.isSafeInteger(bytes)) throw new FormatError(path, `${field} ne`, 'a tensor smaller than 2^53 bytes', `[${ne.join(', ')}]`);
  return bytes;
}

function placeTensor(source: ByteSource, t: RawTensorInfo, dataOffset: number): GgufTensorInfo {
  const offset = dataOffset + t.offset;
  if (offset + t.byteLength > source.size) {
    const range = `bytes ${offset}..${offset + t.byteLength}`;
    throw new FormatError(source.path, `tensor "${t.name}" data`, `${range} inside the file`, `a file of ${source.size} bytes`);
  }
  const shape = [...t.ne].reverse();
  return { name: t.name, shape, ggmlType: t.type.id, typeName: t.type.name, offset, byteLength: t.byteLength };
}

// Typed metadata getters: a missing key (without fallback) or a value of the wrong type is a FormatError.

export function ggufNumber(file: GgufFile, key: string, fallback?: number): number {
  return getValue(file, key, 'a number', (v): v is number => typeof v === 'number', fallback);
}

export function ggufString(file: GgufFile, key: string, fallback?: string): string {
  return getValue(file, key, 'a string', (v): v is string => typeof v === 'string', fallback);
}

export function ggufBoolean(file: GgufFile, key: string, fallback?: boolean): boolean {
  return getValue(file, key, 'a bool', (v): v is boolean => typeof v === 'boolean', fallback);
}

export function ggufArray(file: GgufFile, key: string, fallback?: GgufValue[]): GgufValue[] {
  return getValue(file, key, 'an array', (v): v is GgufValue[] => Array.isArray(v), fallback);
}

export function ggufStringArray(file: GgufFile, key: string, fallback?: string[]): string[] {
  const isStrings = (v: GgufValue): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  return getValue(file, key, 'an array of strings', isStrings, fallback);
}

export function ggufNumberArray(file: GgufFile, key: string, fallback?: number[]): number[] {
  const isNumbers = (v: GgufValue): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');
  return getValue(file, key, 'an array of numbers', isNumbers, fallback);
}

function getValue<T extends GgufValue>(file: GgufFile, key: string, expected: string, is: (v: GgufValue) => v is T, fallback?: T): T {
  const v = file.metadata.get(key);
  if (v === undefined && fallback !== undefined) return fallback;
  if (v !== undefined && is(v)) return v;
  throw new FormatError(file.path, `metadata "${key}"`, expected, describeValue(v));
}

function describeValue(v: GgufValue | undefined): string {
  if (v === undefined) return 'no such key';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}`;
  return `the ${typeof v} ${String(v)}`;
}
