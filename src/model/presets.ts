/**
 * Named model shapes for `llamats init`: the sizes of models people benchmark (the weights come from
 * random-init.ts), the built-in stories260K's shape, and a tiny one for tests.
 */
import { ArgumentError } from '../core/errors.js';
import { validateConfig, type LlamaConfig } from './config.js';

const llama = { normEps: 1e-5, ropeTheta: 10000, ropeScaling: null } as const;

export const presets = {
  /** SmolLM-135M's shape (Hugging Face, LLaMA architecture): narrow and deep, tied 49152-token embeddings. */
  'smollm-135m': {
    dim: 576, nLayers: 30, nHeads: 9, nKvHeads: 3, hiddenDim: 1536, vocabSize: 49152, maxSeqLen: 2048,
    tieEmbeddings: true, ...llama,
  },
  /** TinyLlama-1.1B's shape: LLaMA 2 architecture with grouped-query attention (32 heads, 4 kv heads). */
  'tinyllama-1.1b': {
    dim: 2048, nLayers: 22, nHeads: 32, nKvHeads: 4, hiddenDim: 5632, vocabSize: 32000, maxSeqLen: 2048,
    tieEmbeddings: false, ...llama,
  },
  /** llama2.c's stories260K (the built-in model). */
  stories260k: {
    dim: 64, nLayers: 5, nHeads: 8, nKvHeads: 4, hiddenDim: 172, vocabSize: 512, maxSeqLen: 512,
    tieEmbeddings: true, ...llama,
  },
  /** For tests: every 2-D weight's rows are a multiple of 256 (so K-quants apply), untied, about 1.3M weights. */
  'test-tiny': {
    dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 512, vocabSize: 512, maxSeqLen: 256,
    tieEmbeddings: false, ...llama,
  },
  /**
   * The quickstart of `llamats train`: a 0.9M-parameter LLaMA over bytes (vocab 256) for the built-in tiny
   * Shakespeare, the size of nanoGPT's CPU quickstart model, so that five minutes on two cores reach it.
   */
  shakespeare: {
    dim: 128, nLayers: 4, nHeads: 4, nKvHeads: 4, hiddenDim: 384, vocabSize: 256, maxSeqLen: 128,
    tieEmbeddings: false, ...llama,
  },
  /**
   * The GPU quickstart (`llamats train --backend webgpu`): the size of nanoGPT's GPU baby model for tiny Shakespeare
   * (6 layers, 6 heads of 64, context 256), 10.8M parameters over bytes.
   */
  'shakespeare-gpu': {
    dim: 384, nLayers: 6, nHeads: 6, nKvHeads: 6, hiddenDim: 1024, vocabSize: 256, maxSeqLen: 256,
    tieEmbeddings: false, ...llama,
  },
  /** For training tests: a few thousand weights over bytes. */
  'train-test': {
    dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 64, vocabSize: 256, maxSeqLen: 32,
    tieEmbeddings: false, ...llama,
  },
} satisfies Record<string, LlamaConfig>;

export type PresetName = keyof typeof presets;
export const presetNames = Object.keys(presets) as PresetName[];

/** The config of a preset; an unknown name is an ArgumentError listing the known ones. */
export function presetConfig(name: string): LlamaConfig {
  if (!Object.hasOwn(presets, name)) {
    throw new ArgumentError('preset', `one of ${presetNames.join(', ')}`, JSON.stringify(name));
  }
  return validateConfig({ ...presets[name as PresetName] }, `preset ${name}`);
}
