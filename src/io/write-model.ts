/**
 * A LLaMA (our names and config) written as a GGUF that llama.cpp loads as it is: llama.cpp's metadata keys and
 * tensor names, the vocabulary as `tokenizer.ggml.*`. Our q/k rows are already in GGUF's interleaved RoPE layout,
 * so no permutation happens here.
 *
 * Quantization policy (what llama.cpp's `llama-quantize` does, where we have the types):
 * - 1-D tensors (the RMSNorm gains, rope_freqs) stay F32.
 * - 2-D weights take the requested type, except the output projection (`output.weight`, or `token_embd.weight` when
 *   tied, since it then is the output projection): for Q4_0, Q4_K and Q6_K files it is Q6_K, and for Q8_0 files
 *   Q8_0, because the logits are the most sensitive to rounding. `token_embd.weight` otherwise takes the
 *   requested type (llama.cpp changes it only for its 1-3 bit types). We do not copy llama.cpp's Q4_K_M/S
 *   per-layer bumps of attn_v and ffn_down, so our `q4_k` files are plain Q4_K plus a Q6_K output.
 * - A weight whose rows are not a multiple of its type's block size falls back: Q4_K and Q6_K -> Q8_0 (llama.cpp
 *   picks Q5_0 for Q4_K; we do not write Q5_0) when rows are a multiple of 32, else F16. llama.cpp refuses Q4_0/Q8_0
 *   for such rows; we fall back to F16 instead (stories260K's ffn_down rows are 172 long).
 */
import { f32ToF16 } from '../core/dtype.js';
import { ArgumentError, ShapeError } from '../core/errors.js';
import { shapeToString } from '../core/shape.js';
import { headDim, type LlamaConfig } from '../model/config.js';
import { ropeInverseFrequencies } from '../model/rope.js';
import { expectedTensors } from '../model/weights.js';
import { decodeTensor } from '../tensor/decode.js';
import { blockFormats, type TensorQuantizer } from '../core/quant/index.js';
import type { EncodedTensor, HostTensor } from '../tensor/tensor.js';
import { f32LeBytes } from './byte-source.js';
import { ggmlType } from './gguf.js';
import { vocabSize, vocabToGgufMetadata, type Vocab } from './gguf-tokenizer.js';
import { readModelWeights } from './load-model.js';
import { readVocab, tokenizerPathFor } from './load-tokenizer.js';
import { gv, writeGguf, type GgufTensorSpec, type GgufTypedValue, type GgufWriteProgress } from './gguf-writer.js';
import { ggufNameFromMeta } from './tensor-names.js';

/** Weight types a GGUF we write may use. */
export type WeightType = 'f32' | 'f16' | 'q8_0' | 'q4_0' | 'q4_k' | 'q6_k';
export const weightTypes: readonly WeightType[] = ['f32', 'f16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'];

/** ggml type ids and elements per block (gguf.ts has the byte sizes). */
const ggmlIds: Record<WeightType, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 8, q4_k: 12, q6_k: 14 };
/**
 * `general.file_type` (llama_ftype) of a file whose main type is this: ALL_F32 0, MOSTLY_F16 1, Q4_0 2, Q8_0 7,
 * Q4_K_S 14 (the nearest of llama.cpp's Q4_K mixes to ours), Q6_K 18.
 */
const fileTypes: Record<WeightType, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, q4_k: 14, q6_k: 18 };

/** A tensor given as it is, or made on demand (random init, or a decoded file), so that one at a time is in memory. */
export type TensorSource = HostTensor | EncodedTensor | (() => HostTensor | EncodedTensor);

export interface WriteLlamaGgufOptions {
  config: LlamaConfig;
  /** By our names (model/weights.ts `expectedTensors`); names the config does not use are ignored. */
  tensors: ReadonlyMap<string, TensorSource>;
  /** Either kind: a GGUF "llama" (SentencePiece) or "gpt2" (byte-level BPE) vocabulary. */
  vocab: Vocab;
  /** The type of the 2-D weights (see the policy above). */
  dtype: WeightType;
  /** `general.name`; default "llamats". */
  name?: string;
  /**
   * Quantizes the Q4_K and Q6_K tensors instead of the reference quantizers, with the same bytes (the CLI passes
   * the WASM kernels', src/backend/wasm/quantize.ts); default: the reference quantizers.
   */
  kQuantizer?: TensorQuantizer;
  onProgress?: (p: GgufWriteProgress) => void;
}

/** Write a LLaMA GGUF at `path` (atomically; tensors are fetched, encoded and written one at a time). */
export function writeLlamaGguf(path: string, o: WriteLlamaGgufOptions): void {
  if (!weightTypes.includes(o.dtype)) throw new ArgumentError('dtype', weightTypes.join(', '), JSON.stringify(o.dtype));
  checkVocab(o.config, o.vocab);
  const specs = tensorSpecs(o);
  const quantized = specs.some((t) => ggmlType(t.ggmlType)!.blockElems > 1);
  const metadata: [string, GgufTypedValue][] = [
    ['general.architecture', gv.string('llama')],
    ['general.name', gv.string(o.name ?? 'llamats')],
    ['general.file_type', gv.u32(fileTypes[o.dtype])],
    ...(quantized ? [['general.quantization_version', gv.u32(2)] as [string, GgufTypedValue]] : []),
    ...llamaMetadata(o.config),
    ...vocabToGgufMetadata(o.vocab),
  ];
  writeGguf(path, metadata, specs, { onProgress: o.onProgress });
}

export interface ConvertModelOptions {
  dtype: WeightType;
  /** Any tokenizer file readVocab reads; default: the model's own GGUF vocabulary, or tokenizer.bin beside a .bin. */
  tokenizer?: string;
  name?: string;
  /** As writeLlamaGguf's. */
  kQuantizer?: TensorQuantizer;
  onProgress?: (p: GgufWriteProgress) => void;
}

/**
 * Rewrite any model readModelWeights reads (a llama2.c .bin, a GGUF, a Hugging Face folder) as a LLaMA GGUF of
 * `dtype`: what `llamats quantize` does. Each input tensor is dropped once written, so memory falls as it goes.
 */
export function convertModel(inPath: string, outPath: string, o: ConvertModelOptions): void {
  const { config, tensors } = readModelWeights(inPath);
  const vocab = readVocab(tokenizerPathFor(inPath, o.tokenizer), config.vocabSize);
  const take = (name: string) => () => {
    const t = tensors.get(name)!;
    tensors.delete(name);
    return t;
  };
  const lazy = new Map([...tensors.keys()].map((name) => [name, take(name)]));
  writeLlamaGguf(outPath, { config, tensors: lazy, vocab, dtype: o.dtype, name: o.name, kQuantizer: o.kQuantizer, onProgress: o.onProgress });
}

/** The `llama.*` hyper-parameters, typed as llama.cpp's converter writes them. */
function llamaMetadata(c: LlamaConfig): [string, GgufTypedValue][] {
  const out: [string, GgufTypedValue][] = [
    ['llama.context_length', gv.u32(c.maxSeqLen)],
    ['llama.embedding_length', gv.u32(c.dim)],
    ['llama.block_count', gv.u32(c.nLayers)],
    ['llama.feed_forward_length', gv.u32(c.hiddenDim)],
    ['llama.attention.head_count', gv.u32(c.nHeads)],
    ['llama.attention.head_count_kv', gv.u32(c.nKvHeads)],
    ['llama.attention.layer_norm_rms_epsilon', gv.f32(c.normEps)],
    ['llama.rope.dimension_count', gv.u32(headDim(c))],
    ['llama.rope.freq_base', gv.f32(c.ropeTheta)],
    ['llama.vocab_size', gv.u32(c.vocabSize)],
  ];
  if (c.ropeScaling?.type === 'linear') {
    out.push(['llama.rope.scaling.type', gv.string('linear')], ['llama.rope.scaling.factor', gv.f32(c.ropeScaling.factor)]);
  }
  return out;
}

function checkVocab(c: LlamaConfig, vocab: Vocab): void {
  if (vocabSize(vocab) !== c.vocabSize) {
    throw new ArgumentError('vocab', `${c.vocabSize} pieces (the model's vocabSize)`, `${vocabSize(vocab)}`);
  }
}

/** One writer spec per tensor the config needs, in expectedTensors order, plus rope_freqs for scaled RoPE. */
function tensorSpecs(o: WriteLlamaGgufOptions): GgufTensorSpec[] {
  const specs = [...expectedTensors(o.config)].map(([ours, shape]): GgufTensorSpec => {
    const source = o.tensors.get(ours);
    if (!source) throw new ArgumentError('tensors', `a tensor "${ours}" of shape ${shapeToString(shape)}`, 'none');
    const name = ggufNameFromMeta(ours)!;
    const isOutput = ours === 'output' || (ours === 'tokEmbeddings' && o.config.tieEmbeddings);
    const type = tensorType(shape, o.dtype, isOutput);
    return { name, shape, ggmlType: ggmlIds[type], data: () => encode(materialize(source, ours, shape), type, o.kQuantizer) };
  });
  const factors = ropeFrequencyFactors(o.config);
  if (factors) specs.push({ name: 'rope_freqs.weight', shape: [factors.length], ggmlType: 0, data: () => f32LeBytes(factors) });
  return specs;
}

/** The type a tensor of this shape is stored as in a file of main type `dtype` (the policy in the header). */
export function tensorType(shape: readonly number[], dtype: WeightType, isOutput: boolean): WeightType {
  if (shape.length < 2) return 'f32';
  let type = dtype;
  if (isOutput && (dtype === 'q4_0' || dtype === 'q4_k' || dtype === 'q6_k')) type = 'q6_k';
  const row = shape.at(-1)!;
  if (row % blockElems(type) === 0) return type;
  return (type === 'q4_k' || type === 'q6_k') && row % 32 === 0 ? 'q8_0' : 'f16';
}

function blockElems(type: WeightType): number {
  return ggmlType(ggmlIds[type])!.blockElems;
}

/**
 * Llama 3.1 scaling as llama.cpp stores it: per-frequency divisors in `rope_freqs.weight` (Dh/2, F32), the plain
 * frequencies over the scaled ones. null when RoPE is unscaled or linear (a metadata key says that).
 */
function ropeFrequencyFactors(c: LlamaConfig): Float32Array | null {
  const s = c.ropeScaling;
  if (!s || s.type === 'linear') return null;
  if (s.type === 'frequencyFactors') return Float32Array.from(s.factors);
  const plain = ropeInverseFrequencies({ ...c, ropeScaling: null });
  const scaled = ropeInverseFrequencies(c);
  return plain.map((f, i) => f / scaled[i]!);
}

function materialize(source: TensorSource, name: string, shape: readonly number[]): HostTensor | EncodedTensor {
  const t = typeof source === 'function' ? source() : source;
  if (shapeToString(t.shape) !== shapeToString(shape)) {
    throw new ShapeError(`tensor "${name}"`, `shape ${shapeToString(shape)}`, `shape ${shapeToString(t.shape)}`);
  }
  return t;
}

/** The bytes of `t` stored as `type`: encoded input of that type is copied as it is, anything else goes via f32. */
function encode(t: HostTensor | EncodedTensor, type: WeightType, kQuantizer?: TensorQuantizer): Uint8Array {
  if ('bytes' in t && t.dtype === type) return t.bytes;
  const data = 'bytes' in t ? decodeTensor(t) : t.data;
  if (type === 'f32') return f32LeBytes(data);
  if (type === 'f16') return encodeF16(data);
  if (kQuantizer && (type === 'q4_k' || type === 'q6_k')) return kQuantizer(type, data);
  const { blockElems, blockBytes, quantizeRow } = blockFormats[type];
  const out = new Uint8Array((data.length / blockElems) * blockBytes); // tensorType keeps rows whole blocks
  quantizeRow(data, out);
  return out;
}

function encodeF16(x: Float32Array): Uint8Array {
  const out = new Uint8Array(2 * x.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < x.length; i++) view.setUint16(2 * i, f32ToF16(x[i]!), true);
  return out;
}
