/**
 * The language-modelling loss: next-token cross-entropy of a LLaMA, with the output layer fused into the loss so the
 * (B*T, V) logits never exist whole. The same trunk as model/llama.ts's forward (embedding, blocks, final norm).
 */
import type { Ops } from '../backend/ops.js';
import { Tape } from '../autograd/tape.js';
import { block, dropped, mixSeed, type Dropout, type LlamaModel } from '../model/llama.js';
import type { Tensor } from '../tensor/tensor.js';

/** A batch of windows: inputs (B, T) and the next tokens (B, T) as i32; a target < 0 is not scored. */
export interface Batch {
  inputs: Int32Array;
  targets: Int32Array;
  batch: number;
  seqLen: number;
}

/**
 * Final hidden states (B*T, D) of `model`'s trunk run on `ops` (a Tape when training), with dropout when given (the
 * embeddings draw their mask from site 0 of its seed, block l from site l + 1).
 */
function hidden(model: LlamaModel, ops: Ops, inputs: Tensor, recompute: boolean, dropout?: Dropout): Tensor {
  const [batch, time] = inputs.shape as [number, number];
  const onOps = { ...model, ops };
  let x = dropped(ops, ops.embedding(model.weights.tokEmbeddings, inputs), dropout, 0);
  model.weights.layers.forEach((layer, l) => {
    const drop = dropout && { p: dropout.p, seed: mixSeed(dropout.seed, l + 1) };
    const runBlock = (o: Ops, input: Tensor) => block({ ...model, ops: o }, input, layer, 0, undefined, drop);
    const input = x; // a tape's tidy keeps everything; a backend's frees the block's intermediates (evaluation)
    x = recompute && ops instanceof Tape ? ops.checkpoint(runBlock, input) : ops.tidy(() => block(onOps, input, layer, 0, undefined, drop));
  });
  return ops.reshape(ops.rmsnorm(x, model.weights.norm, model.config.normEps), [batch * time, model.config.dim]);
}

/**
 * Record the loss of `b` on `tape` and return it (1): the sum of the scored positions' negative log-likelihoods
 * in nats. `tape.backward()` then adds gradScale x d(sum)/d(param) to the tape's gradients.
 */
export function recordLoss(tape: Tape, model: LlamaModel, b: Batch, gradScale: number, recompute = false, dropout?: Dropout): Tensor {
  const inputs = tape.fromHost(b.inputs, [b.batch, b.seqLen]);
  const targets = tape.fromHost(b.targets, [b.batch * b.seqLen]);
  return tape.crossEntropy(hidden(model, tape, inputs, recompute, dropout), model.weights.output, targets, gradScale).loss;
}

/** The summed negative log-likelihood (nats) of `b`, forward only. */
export async function evaluateLoss(model: LlamaModel, b: Batch): Promise<number> {
  const { ops } = model;
  const loss = ops.tidy(() => {
    const inputs = ops.fromHost(b.inputs, [b.batch, b.seqLen]);
    const targets = ops.fromHost(b.targets, [b.batch * b.seqLen]);
    return ops.crossEntropy(hidden(model, ops, inputs, false), model.weights.output, targets).loss;
  });
  const value = (await ops.read(loss))[0]!;
  ops.release(loss);
  return value;
}

/** Number of positions with a target (>= 0). */
export function scoredCount(b: Batch): number {
  return b.targets.reduce((n, t) => n + (t >= 0 ? 1 : 0), 0);
}
