/**
 * llama2.c legacy checkpoint (`.bin`, the format run.c reads): 7 little-endian int32
 * (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len), then f32 arrays back to back with no
 * padding, each matrix (out, in) row-major, each per-layer array holding all layers of one kind. A negative
 * vocab_size means an unshared classifier is stored last. The file has no magic, so its exact size is the check.
 */
import { FormatError, UnsupportedError } from '../core/errors.js';
import { numel } from '../core/shape.js';
import type { HostTensor } from '../tensor/tensor.js';
import { ByteReader, ByteSource, readFloats, type FileInput } from './byte-source.js';

export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  /** Absolute value of the stored vocab_size. */
  vocabSize: number;
  seqLen: number;
  /** The classifier is the token embedding (stored vocab_size > 0). */
  sharedClassifier: boolean;
}

/** One array of the file: `copies` consecutive tensors of `shape` (one per layer when `perLayer`). */
interface Segment {
  name: string;
  ours: string | null; // our tensor name (per layer: `layers.${l}.${ours}`); null for arrays we skip
  shape: number[];
  perLayer: boolean;
  offset: number;
  bytes: number; // all copies
}

const headerFields = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'] as const;
const headerBytes = 4 * headerFields.length;
/** Larger than any real model's extent; bounds the arithmetic before the size check. */
const maxExtent = 1 << 24;
/** "ak42": the magic of export.py's newer v1/v2 formats, which run.c does not read. */
const versionedMagic = 0x616b3432;

/** Read a llama2.c checkpoint into our tensor names (`tokEmbeddings`, `layers.0.wq`, ..., `norm`, `output`). */
export function readLlama2cCheckpoint(input: FileInput): { header: Llama2cHeader; tensors: Map<string, HostTensor> } {
  const src = ByteSource.open(input);
  try {
    const header = readHeader(src);
    const segments = layout(header);
    checkSize(src, segments);
    return { header, tensors: readTensors(src, segments, header.nLayers) };
  } finally {
    src.dispose();
  }
}

function readHeader(src: ByteSource): Llama2cHeader {
  const r = new ByteReader(src);
  const v = headerFields.map((field) => r.i32(`header ${field}`));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocab, seqLen] = v as [number, number, number, number, number, number, number];
  if (dim === versionedMagic) throw new UnsupportedError(src.path, 'magic', 'the llama2.c version 1/2 export format ("ak42")');
  headerFields.forEach((field, i) => {
    const x = field === 'vocab_size' ? Math.abs(v[i]!) : v[i]!;
    if (x < 1 || x > maxExtent) {
      const want = field === 'vocab_size' ? 'a non-zero integer' : 'a positive integer';
      throw new FormatError(src.path, `header ${field}`, `${want} of magnitude at most ${maxExtent}`, String(v[i]));
    }
  });
  const fail = (field: string, want: string, found: number) => new FormatError(src.path, `header ${field}`, want, String(found));
  if (nHeads % nKvHeads !== 0) throw fail('n_heads', `a multiple of n_kv_heads (${nKvHeads})`, nHeads);
  if (dim % (2 * nHeads) !== 0) throw fail('dim', `a multiple of 2 * n_heads (${2 * nHeads}: even head size)`, dim);
  return { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(vocab), seqLen, sharedClassifier: vocab > 0 };
}

/** The arrays in file order with their byte offsets. */
function layout(h: Llama2cHeader): Segment[] {
  const { dim: D, hiddenDim: F, vocabSize: V } = h;
  const headSize = D / h.nHeads;
  const kvDim = headSize * h.nKvHeads;
  const freqs = h.seqLen * (headSize / 2); // legacy RoPE tables, unused
  const parts: [string, string | null, number[], boolean][] = [
    ['token_embedding_table', 'tokEmbeddings', [V, D], false],
    ['rms_att_weight', 'attnNorm', [D], true],
    ['wq', 'wq', [D, D], true],
    ['wk', 'wk', [kvDim, D], true],
    ['wv', 'wv', [kvDim, D], true],
    ['wo', 'wo', [D, D], true],
    ['rms_ffn_weight', 'ffnNorm', [D], true],
    ['w1', 'w1', [F, D], true],
    ['w2', 'w2', [D, F], true],
    ['w3', 'w3', [F, D], true],
    ['rms_final_weight', 'norm', [D], false],
    ['freq_cis_real', null, [freqs], false],
    ['freq_cis_imag', null, [freqs], false],
  ];
  if (!h.sharedClassifier) parts.push(['wcls', 'output', [V, D], false]);
  let offset = headerBytes;
  return parts.map(([name, ours, shape, perLayer]) => {
    const bytes = 4 * numel(shape) * (perLayer ? h.nLayers : 1);
    const segment = { name, ours, shape, perLayer, offset, bytes };
    offset += bytes;
    return segment;
  });
}

/** The header fixes the file size exactly: a short file names the array it cuts, a long one the excess. */
function checkSize(src: ByteSource, segments: Segment[]): void {
  const last = segments[segments.length - 1]!;
  const expected = last.offset + last.bytes;
  if (src.size === expected) return;
  const cut = segments.find((s) => s.offset + s.bytes > src.size);
  if (cut) {
    const want = `${expected} bytes in all, ${cut.name} at bytes ${cut.offset}..${cut.offset + cut.bytes}`;
    throw new FormatError(src.path, `array ${cut.name}`, want, `${src.size} bytes (the file ends inside ${cut.name})`);
  }
  throw new FormatError(src.path, 'file size', `${expected} bytes for this header`, `${src.size} bytes (${src.size - expected} extra)`);
}

function readTensors(src: ByteSource, segments: Segment[], nLayers: number): Map<string, HostTensor> {
  const tensors = new Map<string, HostTensor>();
  for (const s of segments) {
    if (s.ours === null) continue;
    const count = numel(s.shape);
    const copies = s.perLayer ? nLayers : 1;
    for (let l = 0; l < copies; l++) {
      const name = s.perLayer ? `layers.${l}.${s.ours}` : s.ours;
      const data = readFloats(src, s.offset + 4 * count * l, count, 'f32', s.perLayer ? `${s.name}[${l}]` : s.name);
      tensors.set(name, { shape: s.shape, data });
    }
  }
  return tensors;
}
