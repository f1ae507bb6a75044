import { ArgumentError } from '../core/errors.js';
import type { StepLoop } from '../backend/ops.js';
import { KvCache } from '../model/kv-cache.js';
import { forward, type LlamaModel } from '../model/llama.js';

/**
 * A model reading a sequence a few tokens at a time with a KV cache: `next(ids)` appends ids to the context and gives
 * the logits after the last of them. One-token steps (decode) go through the backend's step loop where it has one
 * (WebGPU replays the commands of earlier steps: see webgpu/step-loop.ts).
 */
export class Decoder {
  readonly cache: KvCache;
  private readonly loop: StepLoop | undefined;

  /** `stepLoop: false` runs every step op by op (to compare). */
  constructor(private readonly model: LlamaModel, capacity: number, { stepLoop = true }: { stepLoop?: boolean } = {}) {
    const { ops, config } = model;
    this.cache = new KvCache(ops, config, 1, capacity);
    if (stepLoop) this.loop = ops.stepLoop?.([1, 1], {
      step: (ids) => forward(model, ids, { cache: this.cache, lastOnly: true }),
      position: () => this.cache.length,
      replayed: () => void (this.cache.length += 1),
    });
  }

  /** Whether one-token steps now run without their ops (see Ops.stepLoop). */
  get replaying(): boolean {
    return this.loop?.replaying ?? false;
  }

  /** Logits (vocab) after the last of `ids`, which join the context. */
  async next(ids: readonly number[]): Promise<Float32Array> {
    const { ops, config } = this.model;
    if (ids.length === 0) throw new ArgumentError('ids', 'at least one token id', 'none');
    const bad = ids.find((id) => !(Number.isInteger(id) && id >= 0 && id < config.vocabSize));
    if (bad !== undefined) throw new ArgumentError('token id', `an integer in [0, ${config.vocabSize})`, String(bad));
    if (this.cache.length + ids.length > this.cache.capacity) {
      throw new ArgumentError('sequence length', `at most ${this.cache.capacity} positions (the KV cache)`, `${this.cache.length + ids.length}`);
    }
    if (ids.length === 1 && this.loop) return this.loop.run(Int32Array.from(ids));
    const tokens = ops.fromHost(Int32Array.from(ids), [1, ids.length]);
    const logits = forward(this.model, tokens, { cache: this.cache, lastOnly: true });
    ops.release(tokens); // recorded work that reads it still runs first
    const values = (await ops.read(logits)) as Float32Array;
    ops.release(logits);
    return values;
  }

  dispose(): void {
    this.loop?.dispose();
    this.cache.dispose();
  }
}
