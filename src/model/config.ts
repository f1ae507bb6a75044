import { ConfigError } from '../core/errors.js';

/** Rotary-frequency scaling for long contexts, as in Hugging Face's `rope_scaling` / `rope_parameters`. */
export type RopeScaling =
  /** Llama 3.1: long wavelengths slowed by `factor`, short ones kept, a smooth ramp between. */
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number }
  /** Position interpolation: every frequency divided by `factor`. */
  | { type: 'linear'; factor: number }
  /** Per-frequency divisors stored in a GGUF (`rope_freqs.weight`, Dh/2 values), as llama.cpp writes Llama 3.1. */
  | { type: 'frequencyFactors'; factors: readonly number[] };

/** The shape of a LLaMA, named as in Meta's `ModelArgs`. Head dim Dh = dim / nHeads. */
export interface LlamaConfig {
  dim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  /** Width F of the SwiGLU feed-forward layer. */
  hiddenDim: number;
  vocabSize: number;
  /** Longest sequence (prompt + generated) the model was built for; the KV cache never exceeds it. */
  maxSeqLen: number;
  normEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  /** The output projection is the token embedding table (no separate `output` weight). */
  tieEmbeddings: boolean;
}

export function headDim(c: LlamaConfig): number {
  return c.dim / c.nHeads;
}

/** Check a config for sizes a forward pass can run with; `source` names where it came from (a file). */
export function validateConfig(c: LlamaConfig, source: string): LlamaConfig {
  const positive = ['dim', 'nLayers', 'nHeads', 'nKvHeads', 'hiddenDim', 'vocabSize', 'maxSeqLen'] as const;
  for (const field of positive) {
    const v = c[field];
    if (!Number.isSafeInteger(v) || v <= 0) throw new ConfigError(source, field, 'a positive integer', String(v));
  }
  if (c.dim % c.nHeads !== 0) {
    throw new ConfigError(source, 'dim', `a multiple of nHeads (${c.nHeads})`, String(c.dim));
  }
  if (headDim(c) % 2 !== 0) throw new ConfigError(source, 'dim / nHeads', 'an even head dim (RoPE pairs)', String(headDim(c)));
  if (c.nHeads % c.nKvHeads !== 0) {
    throw new ConfigError(source, 'nKvHeads', `a divisor of nHeads (${c.nHeads})`, String(c.nKvHeads));
  }
  if (!(c.normEps > 0 && c.normEps < 1)) throw new ConfigError(source, 'normEps', 'a number in (0, 1)', String(c.normEps));
  if (!(c.ropeTheta > 0)) throw new ConfigError(source, 'ropeTheta', 'a positive number', String(c.ropeTheta));
  const s = c.ropeScaling;
  if (s && s.type === 'frequencyFactors' && s.factors.length !== headDim(c) / 2) {
    throw new ConfigError(source, 'rope frequency factors', `${headDim(c) / 2} values`, String(s.factors.length));
  }
  return c;
}
