/// <reference types="@webgpu/types" />
/**
 * A decode loop at the host cost of its dispatches alone. Run op by op, decode was bound by the host: each token ran
 * the whole forward pass in JavaScript (every op choosing kernels, buffers and parameters) to record about six
 * dispatches a layer, and that JavaScript costs several times the three Dawn calls that record a dispatch. But
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
  read(t: Tensor): Promise<Float32Array | Int32Array>;
  release(t: Tensor): void;
  buffer(t: Tensor): GPUBuffer;
}

/** A captured step: its commands, the position it ran at, and the buffer it left its output in (i32 or f32). */
interface Step {
  commands: Captured[];
  position: number;
  output: GPUBuffer;
  ints: boolean;
}

export class WebGpuStepLoop implements StepLoop {
  /** Captured steps at consecutive positions, not yet agreed on. */
  private readonly captures: Step[] = [];
  /** What is replayed: a step at position p records its commands with parameters advanced p - position steps. */
  private replayed: Step & { bytes: number } | undefined;
  private reserved: GPUBuffer[] = [];
  /** Set when captured steps disagreed: every step then runs its ops. */
  private unreplayable = false;

  constructor(private readonly gpu: Gpu, private readonly io: StepLoopIo, private readonly options: StepLoopOptions) {}

  get replaying(): boolean {
    return this.replayed !== undefined;
  }

  async run(ids: Int32Array): Promise<Float32Array | Int32Array> {
    this.io.writeIds(ids);
    const position = this.options.position();
    if (this.replayed) {
      this.gpu.replay(this.replayed.commands, position - this.replayed.position);
      this.options.replayed();
      const bytes = await this.gpu.read(this.replayed.output, this.replayed.bytes);
      return this.replayed.ints ? new Int32Array(bytes) : new Float32Array(bytes);
    }
    let out: Tensor | undefined;
    const commands = this.gpu.capture(() => {
      out = this.options.step(this.io.ids);
    });
    const values = await this.io.read(out!);
    const output = this.io.buffer(out!);
    this.io.release(out!);
    if (!commands) this.unreplayable = true;
    if (!this.unreplayable) this.learn({ commands: commands!, position, output, ints: values instanceof Int32Array }, values.byteLength);
    return values;
  }

  /** Keep a captured step; once CAPTURED_STEPS at consecutive positions agree, replay them from then on. */
  private learn(step: Step, bytes: number): void {
    const previous = this.captures[this.captures.length - 1];
    if (previous && previous.position + 1 !== step.position) this.captures.length = 0; // not consecutive: start again
    this.captures.push(step);
    if (this.captures.length < CAPTURED_STEPS) return;
    const agreed = replayable(this.captures.map((c) => c.commands));
    this.captures.length = 0;
    if (!agreed) return void (this.unreplayable = true);
    this.replayed = { ...step, commands: agreed, bytes };
    const buffers = agreed.flatMap((c) => (c.kind === 'dispatch' ? c.buffers : c.kind === 'copy' ? [c.src, c.dst] : []));
    this.reserved = this.gpu.reserve([step.output, ...buffers]);
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
 * and every parameter word changed by the same amount from one step to the next; else undefined. Only integer words
 * (positions, offsets, lengths) may change: an f32's bits can move by equal amounts over a few steps (3.0, 3.5, 4.0)
 * and then not (4.5 is not 4.0's bits plus as much again).
 */
function replayable(steps: Captured[][]): Captured[] | undefined {
  const last = steps[steps.length - 1]!;
  if (steps.some((s) => s.length !== last.length)) return undefined;
  const commands: Captured[] = [];
  for (let i = 0; i < last.length; i++) {
    const c = last[i]!;
    const seen = steps.map((s) => s[i]!);
    if (!seen.every((d) => sameCommand(d, c))) return undefined;
    if (c.kind !== 'dispatch') {
      commands.push(c);
      continue;
    }
    const params = seen.map((d) => (d as typeof c).params);
    const change = (s: number) => params[s]!.map((w, j) => (w - params[s - 1]![j]!) >>> 0);
    const step = change(params.length - 1);
    if (step.some((d, j) => d !== 0 && c.floats[j])) return undefined;
    for (let s = 1; s < params.length - 1; s++) if (change(s).some((d, j) => d !== step[j])) return undefined;
    commands.push(step.some((d) => d !== 0) ? { ...c, step } : c);
  }
  return commands;
}

/** Whether two captured commands are the same but for their parameter values. */
function sameCommand(a: Captured, b: Captured): boolean {
  if (a.kind === 'dispatch') {
    return b.kind === 'dispatch' && a.pipeline === b.pipeline && a.group === b.group && a.slot === b.slot
      && a.params.length === b.params.length && a.groups.every((g, j) => g === b.groups[j]);
  }
  if (a.kind === 'copy') {
    return b.kind === 'copy' && a.src === b.src && a.srcOffset === b.srcOffset && a.dst === b.dst && a.dstOffset === b.dstOffset && a.bytes === b.bytes;
  }
  return b.kind === 'submit';
}
