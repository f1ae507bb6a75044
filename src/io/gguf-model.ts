import { UnsupportedError } from '../core/errors.js';
import { headDim, validateConfig, type LlamaConfig, type RopeScaling } from '../model/config.js';
import type { HostTensor } from '../tensor/tensor.js';
import { closeGguf, ggufNumber, ggufString, openGguf, readGgufTensor, type GgufFile } from './gguf.js';
import { metaNameFromGguf } from './tensor-names.js';

/** Read a GGUF LLaMA: config from the `llama.*` metadata, tensors by our names (GGUF q/k are already interleaved). */
export function readGgufModel(path: string): { config: LlamaConfig; tensors: Map<string, HostTensor> } {
  const file = openGguf(path);
  try {
    const config = ggufConfig(file);
    const tensors = new Map<string, HostTensor>();
    for (const name of file.tensors.keys()) {
      const ours = metaNameFromGguf(name);
      if (ours) tensors.set(ours, readGgufTensor(file, name));
    }
    return { config, tensors };
  } finally {
    closeGguf(file);
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
