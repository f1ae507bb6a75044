/**
 * safetensors reader and f32 writer. Layout: u64 little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}}`, then the data; offsets
 * are relative to the end of the header. Headers are validated against the file size before any data is read.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { ArgumentError, FormatError, UnsupportedError } from '../core/errors.js';
import { numel, shapeToString } from '../core/shape.js';
import type { EncodedTensor, HostTensor } from '../tensor/tensor.js';
import { writeFileAtomic } from './atomic-write.js';
import { ByteReader, ByteSource, f32LeBytes, readFloats } from './byte-source.js';
import { asObject, describe, type JsonObject } from './json-fields.js';

export interface SafetensorsTensorInfo {
  name: string;
  /** As in the header: 'F32', 'F16', 'BF16', 'I64', ... */
  dtype: string;
  shape: number[];
  file: string;
  /** Absolute byte offsets in `file`. */
  begin: number;
  end: number;
}

/** Bytes per element of the dtypes whose sizes we can check. */
const dtypeSizes: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1,
  U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1, F8_E8M0: 1,
};
const floatDtypes: Record<string, 'f32' | 'f16' | 'bf16'> = { F32: 'f32', F16: 'f16', BF16: 'bf16' };
/** A larger header is certainly corrupt (the format's own reference implementation caps it at 100 MB). */
const maxHeaderBytes = 100_000_000;

/** The tensors of one .safetensors file, by name, with absolute offsets; `__metadata__` is skipped. */
export function readSafetensorsHeader(path: string): Map<string, SafetensorsTensorInfo> {
  return withSource(path, (src) => {
    const { header, dataStart } = readHeaderJson(src);
    const infos = new Map<string, SafetensorsTensorInfo>();
    for (const [name, entry] of Object.entries(header)) {
      if (name !== '__metadata__') infos.set(name, parseEntry(src, name, entry, dataStart));
    }
    return infos;
  });
}

/** A sharded checkpoint's `model.safetensors.index.json`: every tensor of `weight_map`, found in its shard. */
export function readSafetensorsIndex(indexPath: string): Map<string, SafetensorsTensorInfo> {
  const weightMap = readWeightMap(indexPath);
  const shards = new Map<string, Map<string, SafetensorsTensorInfo>>();
  const infos = new Map<string, SafetensorsTensorInfo>();
  for (const [name, shard] of Object.entries(weightMap)) {
    const field = `weight_map["${name}"]`;
    if (typeof shard !== 'string' || isAbsolute(shard) || shard.split(/[\\/]/).includes('..')) {
      throw new FormatError(indexPath, field, 'a shard file name in the same folder', describe(shard));
    }
    const shardPath = join(dirname(indexPath), shard);
    if (!shards.has(shard)) {
      if (!existsSync(shardPath)) throw new FormatError(indexPath, field, `shard ${shard} beside the index`, 'no such file');
      shards.set(shard, readSafetensorsHeader(shardPath));
    }
    const info = shards.get(shard)!.get(name);
    if (!info) throw new FormatError(indexPath, field, `tensor "${name}" in ${shard}`, 'a shard without it');
    infos.set(name, info);
  }
  return infos;
}

/** An F32, F16 or BF16 tensor as f32; other dtypes throw UnsupportedError. */
export function readSafetensorsTensor(info: SafetensorsTensorInfo): HostTensor {
  const dtype = floatDtypes[info.dtype];
  if (!dtype) throw new UnsupportedError(info.file, `tensor "${info.name}"`, `reading dtype ${info.dtype} as floats`);
  const data = withSource(info.file, (src) => readFloats(src, info.begin, numel(info.shape), dtype, `tensor "${info.name}" data`));
  return { shape: info.shape, data };
}

/** A weight as stored: F32 decoded to a host tensor, F16/BF16 kept encoded (decoded by the backend). */
export function readSafetensorsWeight(info: SafetensorsTensorInfo): HostTensor | EncodedTensor {
  const dtype = floatDtypes[info.dtype];
  if (dtype === 'f16' || dtype === 'bf16') {
    const bytes = withSource(info.file, (src) => src.read(info.begin, info.end - info.begin, `tensor "${info.name}" data`));
    return { shape: info.shape, dtype, bytes };
  }
  return readSafetensorsTensor(info);
}

/** An I64 or I32 tensor (token ids, labels) as numbers, row-major; an I64 beyond ±(2^53 - 1) is a FormatError. */
export function readSafetensorsInts(info: SafetensorsTensorInfo): number[] {
  if (info.dtype !== 'I64' && info.dtype !== 'I32') {
    throw new UnsupportedError(info.file, `tensor "${info.name}"`, `reading dtype ${info.dtype} as integers`);
  }
  return withSource(info.file, (src) => {
    const r = new ByteReader(src, info.begin);
    const field = `tensor "${info.name}" data`;
    const read = info.dtype === 'I64' ? () => r.i64(field) : () => r.i32(field);
    return Array.from({ length: numel(info.shape) }, read);
  });
}

/**
 * Write f32 tensors (in the given order, back to back) as a safetensors file, atomically. The JSON header is padded
 * with spaces to a multiple of 8 bytes so that the data is 8-byte aligned, as the format allows.
 */
export function writeSafetensors(path: string, tensors: Record<string, HostTensor>, metadata?: Record<string, string>): void {
  const header: JsonObject = metadata ? { __metadata__: metadata } : {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__') throw new ArgumentError('tensors', 'tensor names other than __metadata__', name);
    if (numel(t.shape) !== t.data.length) {
      throw new ArgumentError(`tensors["${name}"]`, `${numel(t.shape)} values for shape ${shapeToString(t.shape)}`, `${t.data.length}`);
    }
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] };
    chunks.push(f32LeBytes(t.data));
    offset += t.data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Buffer.concat([json, Buffer.alloc((8 - (json.byteLength % 8)) % 8, ' ')]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(padded.byteLength));
  writeFileAtomic(path, [length, padded, ...chunks]);
}

function withSource<T>(path: string, fn: (src: ByteSource) => T): T {
  const src = ByteSource.open(path);
  try {
    return fn(src);
  } finally {
    src.dispose();
  }
}

/** The header object and the absolute offset where the data starts. */
function readHeaderJson(src: ByteSource): { header: JsonObject; dataStart: number } {
  const length = new ByteReader(src).u64('header length');
  const most = Math.min(src.size - 8, maxHeaderBytes);
  if (length > most) throw new FormatError(src.path, 'header length', `at most ${most} bytes (file is ${src.size} bytes)`, String(length));
  const text = new TextDecoder().decode(src.read(8, length, 'header'));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FormatError(src.path, 'header', 'a JSON object', `invalid JSON (${(e as Error).message})`);
  }
  return { header: asObject(json, src.path, 'header'), dataStart: 8 + length };
}

function parseEntry(src: ByteSource, name: string, value: unknown, dataStart: number): SafetensorsTensorInfo {
  const path = src.path;
  const field = `tensor "${name}"`;
  const entry = asObject(value, path, field);
  const dtype = entry['dtype'];
  if (typeof dtype !== 'string') throw new FormatError(path, `${field} dtype`, 'a string', describe(dtype));
  const size = dtypeSizes[dtype];
  if (size === undefined) throw new UnsupportedError(path, `${field} dtype`, `dtype ${describe(dtype)}`);
  const shape = intArray(path, `${field} shape`, entry['shape']);
  const offsets = intArray(path, `${field} data_offsets`, entry['data_offsets']);
  const [begin, end] = offsets;
  if (offsets.length !== 2 || begin! > end!) {
    throw new FormatError(path, `${field} data_offsets`, '[begin, end] with begin <= end', describe(offsets));
  }
  const bytes = numel(shape) * size;
  if (end! - begin! !== bytes) {
    const want = `${bytes} bytes (shape ${shapeToString(shape)} of ${dtype})`;
    throw new FormatError(path, `${field} data_offsets`, want, `${end! - begin!} bytes [${begin}, ${end}]`);
  }
  if (dataStart + end! > src.size) {
    throw new FormatError(path, `${field} data_offsets`, `an end at most ${src.size - dataStart} (the data size)`, String(end));
  }
  return { name, dtype, shape, file: path, begin: dataStart + begin!, end: dataStart + end! };
}

/** A JSON array of non-negative safe integers. */
function intArray(path: string, field: string, value: unknown): number[] {
  if (!Array.isArray(value) || !value.every((x) => Number.isSafeInteger(x) && x >= 0)) {
    throw new FormatError(path, field, 'an array of non-negative integers', describe(value));
  }
  return value as number[];
}

function readWeightMap(indexPath: string): JsonObject {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(indexPath, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code) throw e;
    throw new FormatError(indexPath, '(root)', 'a JSON object', `invalid JSON (${(e as Error).message})`);
  }
  return asObject(asObject(json, indexPath, '(root)')['weight_map'], indexPath, 'weight_map');
}
