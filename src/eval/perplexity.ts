import { ArgumentError } from '../core/errors.js';
import { forward, type LlamaModel } from '../model/llama.js';

export interface PerplexityResult {
  perplexity: number;
  /** Mean negative log-likelihood per predicted token, in nats. */
  meanNll: number;
  /** Number of predicted tokens (each sequence of n tokens predicts n - 1). */
  predicted: number;
  /** Logits of every sequence, (T, V) each, when asked for. */
  logits?: Float32Array[];
}

/**
 * Perplexity of the model on token sequences fed as they are (no BOS added): exp of the mean over all sequences
 * of -log p(x[t+1] | x[..t]). Each sequence is one forward pass of at most maxSeqLen tokens.
 */
export async function perplexity(model: LlamaModel, sequences: readonly (readonly number[])[], keepLogits = false): Promise<PerplexityResult> {
  const { ops, config } = model;
  let nll = 0;
  let predicted = 0;
  const kept: Float32Array[] = [];
  for (const [s, ids] of sequences.entries()) {
    if (ids.length < 1 || ids.length > config.maxSeqLen) {
      throw new ArgumentError(`sequence ${s} length`, `1..${config.maxSeqLen} tokens (maxSeqLen)`, String(ids.length));
    }
    const logitsTensor = forward(model, ops.fromHost(Int32Array.from(ids), [1, ids.length]));
    const logits = (await ops.read(logitsTensor)) as Float32Array;
    ops.dispose(logitsTensor);
    for (let t = 0; t + 1 < ids.length; t++) nll -= logSoftmaxAt(logits.subarray(t * config.vocabSize, (t + 1) * config.vocabSize), ids[t + 1]!);
    predicted += ids.length - 1;
    if (keepLogits) kept.push(logits);
  }
  const meanNll = predicted ? nll / predicted : NaN;
  return { perplexity: Math.exp(meanNll), meanNll, predicted, ...(keepLogits ? { logits: kept } : {}) };
}

/** log softmax(row)[target], computed stably in f64. */
function logSoftmaxAt(row: Float32Array, target: number): number {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  return row[target]! - max - Math.log(sum);
}
