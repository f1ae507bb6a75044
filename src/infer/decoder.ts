import { ArgumentError } from '../core/errors.js';
import type { StepLoop } from '../backend/ops.js';
import { KvCache } from '../model/kv-cache.js';
import { forward, type LlamaModel } from '../model/llama.js';
import type { Tensor } from '../tensor/tensor.js';
import { argmax } from './sampler.js';

/**
 * A model reading a sequence a few tokens at a time with a KV cache: `next(ids)` appends ids to the context and gives
 * the logits after the last of them. One-token steps (decode) go through the backend's step loop where it has one
 * (WebGPU replays the commands of earlier steps: see webgpu/step-loop.ts).
 */
export class Decoder {
  readonly cache: KvCache;
  private readonly loop: StepLoop | undefined;
  /** The step loop of nextGreedy (made at its first call), when the backend has one and an argmax. */
  private greedyLoop: StepLoop | undefined;

  /** `stepLoop: false` runs every step op by op (to compare). */
  constructor(private readonly model: LlamaModel, capacity: number, { stepLoop = true }: { stepLoop?: boolean } = {}) {
    const { ops, config } = model;
    this.cache = new KvCache(ops, config, 1, capacity);
    this.loop = stepLoop ? this.stepLoop((logits) => logits) : undefined;
  }

  /** A step loop whose steps run the model on one token and give `output` of its logits, if the backend has one. */
  private stepLoop(output: (logits: Tensor) => Tensor): StepLoop | undefined {
    return this.model.ops.stepLoop?.([1, 1], {
      step: (ids) => this.forward(ids, output),
      position: () => this.cache.length,
      replayed: () => void (this.cache.length += 1),
    });
  }

  /** Whether one-token steps now run without their ops (see Ops.stepLoop). */
  get replaying(): boolean {
    return (this.loop?.replaying || this.greedyLoop?.replaying) ?? false;
  }

  /** Logits (vocab) after the last of `ids`, which join the context. */
  async next(ids: readonly number[]): Promise<Float32Array> {
    this.check(ids);
    if (ids.length === 1 && this.loop) return (await this.loop.run(Int32Array.from(ids))) as Float32Array;
    return (await this.run(ids, (logits) => logits)) as Float32Array;
  }

  /**
   * The greedy choice after the last of `ids` (which join the context): the argmax of next(ids)'s logits, taken on
   * the device where the backend has `argmax`, so that one id is read back instead of the logits.
   */
  async nextGreedy(ids: readonly number[]): Promise<number> {
    const { ops } = this.model;
    if (!ops.argmax) return argmax(await this.next(ids));
    this.check(ids);
    const choose = (logits: Tensor) => ops.argmax!(logits);
    if (ids.length === 1 && this.loop) {
      this.greedyLoop ??= this.stepLoop(choose);
      if (this.greedyLoop) return (await this.greedyLoop.run(Int32Array.from(ids)))[0]!;
    }
    return (await this.run(ids, choose))[0]!;
  }

  dispose(): void {
    this.loop?.dispose();
    this.greedyLoop?.dispose();
    this.cache.dispose();
  }

  private check(ids: readonly number[]): void {
    const { config } = this.model;
    if (ids.length === 0) throw new ArgumentError('ids', 'at least one token id', 'none');
    const bad = ids.find((id) => !(Number.isInteger(id) && id >= 0 && id < config.vocabSize));
    if (bad !== undefined) throw new ArgumentError('token id', `an integer in [0, ${config.vocabSize})`, String(bad));
    if (this.cache.length + ids.length > this.cache.capacity) {
      throw new ArgumentError('sequence length', `at most ${this.cache.capacity} positions (the KV cache)`, `${this.cache.length + ids.length}`);
    }
  }

  /** The model on tokens (B, T), which join the cache, and `output` of the logits after the last (those then freed). */
  private forward(tokens: Tensor, output: (logits: Tensor) => Tensor): Tensor {
    const logits = forward(this.model, tokens, { cache: this.cache, lastOnly: true });
    const out = output(logits);
    if (out !== logits) this.model.ops.release(logits);
    return out;
  }

  /** ids through the model op by op, and `output` of the logits after the last, read. */
  private async run(ids: readonly number[], output: (logits: Tensor) => Tensor): Promise<Float32Array | Int32Array> {
    const { ops } = this.model;
    const tokens = ops.fromHost(Int32Array.from(ids), [1, ids.length]);
    const out = this.forward(tokens, output);
    ops.release(tokens); // recorded work that reads it still runs first
    const values = await ops.read(out);
    ops.release(out);
    return values;
  }
}
