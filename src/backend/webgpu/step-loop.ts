/// <reference types="@webgpu/types" />
/**
 * A decode loop at the host cost of its dispatches alone. Decode is bound by the host: each token runs the whole
 * forward pass in JavaScript (every op choosing kernels, buffers and parameters) to record about six dispatches a
 * layer, and on this backend that JavaScript costs several times the three Dawn calls that record a dispatch. But
 * every decode step records the same commands, on the same pooled buffers, only at the next position: so the first
 * steps are captured (`Gpu.capture`), and once three in a row agree, later steps replay the captured commands with
 * the parameters that moved from step to step moved on by as much again (positions, cache offsets and lengths).
 *
 * Three steps, not two, so that what is taken for a per-step change is seen twice: a replay is used only where each
 * dispatch's pipeline, bind group, workgroup counts and parameter slot were equal in all three, and each parameter
 * word changed by the same amount both times. The buffers a replay writes that are free between steps (the step's
 * intermediates and its output) are taken out of the pool until `dispose`, so nothing else is given them meanwhile.
 */
import type { Tensor } from '../../tensor/tensor.js';
import type { StepLoop, StepLoopOptions } from '../ops.js';
import type { Captured, Gpu } from './gpu.js';

/** Agreeing captured steps needed before replaying. */
const CAPTURED_STEPS = 3;

/** What the loop needs of its backend: the ids tensor it writes each step, and reading and freeing outputs. */
export interface StepLoopIo {
  readonly ids: Tensor;
  writeIds(ids: Int32Array): void;
  read(t: Tensor): Promise<Float32Array>;
  release(t: Tensor): void;
  buffer(t: Tensor): GPUBuffer;
}

export class WebGpuStepLoop implements StepLoop {
  /** Captured steps that may agree, with the position of each. */
  private readonly captures: { commands: Captured[]; position: number }[] = [];
  /** The commands replayed, as captured at `position`: a step at position p advances their parameters p - position steps. */
  private replayed: { commands: Captured[]; position: number } | undefined;
  private reserved: GPUBuffer[] = [];
  private output: { buffer: GPUBuffer; bytes: number } | undefined;
  /** Set when captured steps disagreed: every step then runs its ops. */
  private unreplayable = false;

  constructor(private readonly gpu: Gpu, private readonly io: StepLoopIo, private readonly options: StepLoopOptions) {}

  get replaying(): boolean {
    return this.replayed !== undefined;
  }

  async run(ids: Int32Array): Promise<Float32Array> {
    this.io.writeIds(ids);
    const position = this.options.position();
    if (this.replayed && this.output) {
      this.gpu.replay(this.replayed.commands, position - this.replayed.position);
      this.options.replayed();
      return new Float32Array(await this.gpu.read(this.output.buffer, this.output.bytes));
    }
    let out: Tensor | undefined;
    const captured = this.gpu.capture(() => {
      out = this.options.step(this.io.ids);
    });
    const logits = await this.io.read(out!);
    const buffer = this.io.buffer(out!);
    this.io.release(out!);
    if (!this.unreplayable) this.learn(captured, position, buffer, logits.byteLength);
    return logits;
  }

  /** Keep a captured step; after CAPTURED_STEPS at consecutive positions that agree, replay them from then on. */
  private learn(commands: Captured[] | undefined, position: number, output: GPUBuffer, bytes: number): void {
    const previous = this.captures[this.captures.length - 1];
    if (!commands || (this.output && this.output.buffer !== output)) return void (this.unreplayable = true);
    if (previous && previous.position + 1 !== position) this.captures.length = 0; // not consecutive: start again
    this.output = { buffer: output, bytes };
    this.captures.push({ commands, position });
    if (this.captures.length < CAPTURED_STEPS) return;
    const agreed = replayable(this.captures.map((c) => c.commands));
    this.captures.length = 0;
    if (!agreed) return void (this.unreplayable = true);
    this.replayed = { commands: agreed, position };
    this.reserved = this.gpu.reserve([output, ...agreed.flatMap((c) => (c.kind === 'dispatch' ? c.buffers : c.kind === 'copy' ? [c.src, c.dst] : []))]);
  }

  dispose(): void {
    for (const b of this.reserved) this.gpu.free(b);
    this.reserved = [];
    this.replayed = undefined;
    this.io.release(this.io.ids);
  }
}

/**
 * The last of `steps` with each dispatch's per-step parameter change, where every step recorded the same commands
 * and every parameter word changed by the same amount from one step to the next; else undefined.
 */
function replayable(steps: Captured[][]): Captured[] | undefined {
  const last = steps[steps.length - 1]!;
  if (steps.some((s) => s.length !== last.length)) return undefined;
  const commands: Captured[] = [];
  for (let i = 0; i < last.length; i++) {
    const c = last[i]!;
    const seen = steps.map((s) => s[i]!);
    if (c.kind === 'dispatch') {
      const all = seen as (typeof c)[];
      if (all.some((d) => d.kind !== 'dispatch' || d.pipeline !== c.pipeline || d.group !== c.group || d.slot !== c.slot || d.params.length !== c.params.length || d.groups.some((g, j) => g !== c.groups[j]))) return undefined;
      const step = c.params.map((w, j) => (w - all[all.length - 2]!.params[j]!) >>> 0);
      for (let s = 1; s < all.length; s++) {
        if (all[s]!.params.some((w, j) => ((w - all[s - 1]!.params[j]!) >>> 0) !== step[j])) return undefined;
      }
      commands.push(step.some((d) => d !== 0) ? { ...c, step } : c);
    } else if (c.kind === 'copy') {
      if (seen.some((d) => d.kind !== 'copy' || d.src !== c.src || d.dst !== c.dst || d.srcOffset !== c.srcOffset || d.dstOffset !== c.dstOffset || d.bytes !== c.bytes)) return undefined;
      commands.push(c);
    } else {
      if (seen.some((d) => d.kind !== 'submit')) return undefined;
      commands.push(c);
    }
  }
  return commands;
}
