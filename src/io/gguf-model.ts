import { UnsupportedError } from '../core/errors.js';
import { headDim, validateConfig, type LlamaConfig, type RopeScaling } from '../model/config.js';
import type { EncodedTensor, HostTensor } from '../tensor/tensor.js';
import { closeGguf, ggufNumber, ggufString, openGguf, readGgufTensor, type GgufFile } from './gguf.js';
import type { FileInput } from './byte-source.js';
import { metaNameFromGguf } from './tensor-names.js';

/** A model file opened for reading its tensors one at a time (our names); `dispose()` closes it. */
export interface OpenedWeights {
  config: LlamaConfig;
  tensors: Map<string, () => HostTensor | EncodedTensor>;
  dispose(): void;
}

/** ggml types a backend can keep as they are stored (decoding them in its kernels). */
const encodedTypes: Record<number, EncodedTensor['dtype']> = { 1: 'f16', 30: 'bf16', 8: 'q8_0', 2: 'q4_0', 12: 'q4_k', 14: 'q6_k' };

/** Open a GGUF LLaMA: config from the `llama.*` metadata, tensors by our names (GGUF q/k are already interleaved). */
export function openGgufModel(input: FileInput): OpenedWeights {
  const file = openGguf(input);
  try {
    const config = ggufConfig(file);
    const tensors = new Map<string, () => HostTensor | EncodedTensor>();
    for (const [name, info] of file.tensors) {
      const ours = metaNameFromGguf(name);
      const dtype = encodedTypes[info.ggmlType];
      if (!ours) continue;
      tensors.set(ours, () => dtype
        ? { shape: info.shape, dtype, bytes: file.source.read(info.offset, info.byteLength, `tensor "${name}" data`) }
        : readGgufTensor(file, name));
    }
    return { config, tensors, dispose: () => closeGguf(file) };
  } catch (e) {
    closeGguf(file);
    throw e;
  }
}

/** Read a whole GGUF LLaMA into memory. */
export function readGgufModel(path: string): { config: LlamaConfig; tensors: Map<string, HostTensor | EncodedTensor> } {
  return readAll(openGgufModel(path));
}

/** Read every tensor of an opened model and close it. */
export function readAll(opened: OpenedWeights): { config: LlamaConfig; tensors: Map<string, HostTensor | EncodedTensor> } {
  try {
    return { config: opened.config, tensors: new Map([...opened.tensors].map(([name, read]) => [name, read()])) };
  } finally {
    opened.dispose();
  }
}

/** LlamaConfig from GGUF metadata (keys as llama.cpp writes them; see gguf-py's constants). */
export function ggufConfig(file: GgufFile): LlamaConfig {
  const arch = ggufString(file, 'general.architecture');
  if (arch !== 'llama') throw new UnsupportedError(file.path, 'general.architecture', `architecture "${arch}"`);
  const key = (k: string) => `llama.${k}`;
  const nHeads = ggufNumber(file, key('attention.head_count'));
  const tokens = file.metadata.get('tokenizer.ggml.tokens');
  const embd = file.tensors.get('token_embd.weight');
  const config: LlamaConfig = {
    dim: ggufNumber(file, key('embedding_length')),
    nLayers: ggufNumber(file, key('block_count')),
    nHeads,
    nKvHeads: ggufNumber(file, key('attention.head_count_kv'), nHeads),
    hiddenDim: ggufNumber(file, key('feed_forward_length')),
    vocabSize: ggufNumber(file, key('vocab_size'), embd?.shape[0] ?? (Array.isArray(tokens) ? tokens.length : undefined)),
    maxSeqLen: ggufNumber(file, key('context_length')),
    normEps: ggufNumber(file, key('attention.layer_norm_rms_epsilon')),
    ropeTheta: ggufNumber(file, key('rope.freq_base'), 10000),
    ropeScaling: ggufRopeScaling(file),
    tieEmbeddings: !file.tensors.has('output.weight'),
  };
  validateConfig(config, file.path);
  const nRot = ggufNumber(file, key('rope.dimension_count'), headDim(config));
  if (nRot !== headDim(config)) {
    throw new UnsupportedError(file.path, key('rope.dimension_count'), `partial rotary (${nRot} of ${headDim(config)} dims)`);
  }
  return config;
}

function ggufRopeScaling(file: GgufFile): RopeScaling | null {
  if (file.tensors.has('rope_freqs.weight')) {
    return { type: 'frequencyFactors', factors: Array.from(readGgufTensor(file, 'rope_freqs.weight').data) };
  }
  const type = ggufString(file, 'llama.rope.scaling.type', 'none');
  if (type === 'none') return null;
  if (type === 'linear') return { type, factor: ggufNumber(file, 'llama.rope.scaling.factor') };
  throw new UnsupportedError(file.path, 'llama.rope.scaling.type', `rope scaling "${type}"`);
}
