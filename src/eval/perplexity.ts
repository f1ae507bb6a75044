import { ArgumentError } from '../core/errors.js';
import { forward, type LlamaModel } from '../model/llama.js';

export interface PerplexityOptions {
  /** Keep every sequence's logits, (T, V) each, in the result. */
  keepLogits?: boolean;
  /**
   * Logits of a base model (usually the f32 original of a quantized model) on the same sequences, (T, V) each:
   * then the result also holds the KL divergence of this model from the base, as llama.cpp's perplexity reports it.
   */
  baseLogits?: readonly Float32Array[];
  /** Called after each sequence with the number done. */
  onProgress?: (done: number, total: number) => void;
}

export interface KlDivergence {
  /** Mean over predicted positions of KL(base || model), in nats, with its standard error. */
  mean: number;
  stderr: number;
  max: number;
  /** Fraction of positions where both models rank the same token first. */
  sameTop: number;
}

export interface PerplexityResult {
  perplexity: number;
  /** Mean negative log-likelihood per predicted token, in nats. */
  meanNll: number;
  /** Number of predicted tokens (each sequence of n tokens predicts n - 1). */
  predicted: number;
  logits?: Float32Array[];
  kl?: KlDivergence;
}

/**
 * Perplexity of the model on token sequences fed as they are (no BOS added): exp of the mean over all sequences
 * of -log p(x[t+1] | x[..t]). Each sequence is one forward pass of at most maxSeqLen tokens.
 */
export async function perplexity(model: LlamaModel, sequences: readonly (readonly number[])[], options: PerplexityOptions = {}): Promise<PerplexityResult> {
  const { ops, config } = model;
  const V = config.vocabSize;
  const { keepLogits = false, baseLogits, onProgress } = options;
  if (baseLogits && baseLogits.length !== sequences.length) {
    throw new ArgumentError('baseLogits', `logits of ${sequences.length} sequences`, `${baseLogits.length}`);
  }
  let nll = 0;
  let predicted = 0;
  const kept: Float32Array[] = [];
  const kl: number[] = [];
  let sameTop = 0;
  for (const [s, ids] of sequences.entries()) {
    if (ids.length < 1 || ids.length > config.maxSeqLen) {
      throw new ArgumentError(`sequence ${s} length`, `1..${config.maxSeqLen} tokens (maxSeqLen)`, String(ids.length));
    }
    const base = baseLogits?.[s];
    if (base && base.length !== ids.length * V) {
      throw new ArgumentError(`base logits of sequence ${s}`, `${ids.length} x ${V} values`, String(base.length));
    }
    const tokens = ops.fromHost(Int32Array.from(ids), [1, ids.length]);
    const logitsTensor = forward(model, tokens);
    ops.release(tokens);
    const logits = (await ops.read(logitsTensor)) as Float32Array;
    ops.release(logitsTensor);
    for (let t = 0; t + 1 < ids.length; t++) {
      const row = logSoftmax(logits.subarray(t * V, (t + 1) * V));
      nll -= row[ids[t + 1]!]!;
      if (base) {
        const baseRow = logSoftmax(base.subarray(t * V, (t + 1) * V));
        kl.push(klDivergence(baseRow, row));
        if (argmax(baseRow) === argmax(row)) sameTop++;
      }
    }
    predicted += ids.length - 1;
    if (keepLogits) kept.push(logits);
    onProgress?.(s + 1, sequences.length);
  }
  const meanNll = predicted ? nll / predicted : NaN;
  return {
    perplexity: Math.exp(meanNll), meanNll, predicted,
    ...(keepLogits ? { logits: kept } : {}),
    ...(baseLogits ? { kl: summarize(kl, sameTop) } : {}),
  };
}

/** log softmax of a row, stably, in f64. */
function logSoftmax(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const logZ = max + Math.log(sum);
  return Float64Array.from(row, (v) => v - logZ);
}

/** KL(p || q) = sum p (log p - log q), from log-probabilities. */
function klDivergence(logP: Float64Array, logQ: Float64Array): number {
  let kl = 0;
  for (let i = 0; i < logP.length; i++) kl += Math.exp(logP[i]!) * (logP[i]! - logQ[i]!);
  return Math.max(0, kl); // rounding can make a near-zero KL slightly negative
}

function argmax(x: Float64Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

function summarize(kl: number[], sameTop: number): KlDivergence {
  const n = kl.length;
  const mean = kl.reduce((a, b) => a + b, 0) / n;
  const variance = kl.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, n - 1);
  return { mean, stderr: Math.sqrt(variance / n), max: Math.max(...kl), sameTop: sameTop / n };
}
