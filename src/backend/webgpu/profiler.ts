/// <reference types="@webgpu/types" />
/**
 * GPU time per kernel, for finding where a step's time goes: with LLAMATS_WEBGPU_PROFILE=1 in the environment (and
 * an adapter with `timestamp-query`), every dispatch runs in a compute pass of its own whose start and end the GPU
 * stamps, and at exit a table of the kernels' total GPU time goes to stderr, by the function that dispatched them.
 * A pass per dispatch takes away the overlap of neighbouring kernels, so totals are a little above normal running.
 */
const SLOTS = 4096; // timestamps per batch (two per dispatch)

export class Profiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolved: GPUBuffer;
  private labels: string[] = [];
  private readonly totals = new Map<string, { ns: number; count: number }>();
  private pending = 0;

  constructor(private readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: SLOTS });
    this.resolved = device.createBuffer({ size: SLOTS * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    process.on('exit', () => process.stderr.write(this.report()));
  }

  /** Whether profiling was asked for and the device can stamp passes. */
  static wanted(features: ReadonlySet<string>): boolean {
    return typeof process !== 'undefined' && process.env['LLAMATS_WEBGPU_PROFILE'] === '1' && features.has('timestamp-query');
  }

  get full(): boolean {
    return this.labels.length * 2 >= SLOTS;
  }

  /** The timestamp writes of a pass for one dispatch, labelled by whoever called `Gpu.dispatch`. */
  passFor(label: string): GPUComputePassTimestampWrites {
    const i = this.labels.push(label) - 1;
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Record the reading of this batch's stamps into `encoder`; they are added to the totals when they arrive. */
  collect(encoder: GPUCommandEncoder): (() => void) | undefined {
    const labels = this.labels;
    if (labels.length === 0) return undefined;
    this.labels = [];
    const bytes = labels.length * 16;
    const staging = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, labels.length * 2, this.resolved, 0);
    encoder.copyBufferToBuffer(this.resolved, 0, staging, 0, bytes);
    this.pending++;
    return () => {
      void staging.mapAsync(GPUMapMode.READ).then(() => {
        const stamps = new BigUint64Array(staging.getMappedRange());
        labels.forEach((label, i) => {
          const t = this.totals.get(label) ?? { ns: 0, count: 0 };
          t.ns += Number(stamps[2 * i + 1]! - stamps[2 * i]!);
          t.count++;
          this.totals.set(label, t);
        });
        staging.destroy();
        this.pending--;
      });
    };
  }

  report(): string {
    const rows = [...this.totals].sort((a, b) => b[1].ns - a[1].ns);
    const all = rows.reduce((s, [, t]) => s + t.ns, 0);
    const lines = rows.map(([label, t]) => `${(t.ns / 1e6).toFixed(1).padStart(10)} ms ${((100 * t.ns) / all).toFixed(1).padStart(5)}% ${String(t.count).padStart(8)}  ${label}`);
    return `\nGPU time by kernel (${(all / 1e6).toFixed(1)} ms in all${this.pending ? `, ${this.pending} batches unread` : ''}):\n${lines.join('\n')}\n`;
  }
}

/** The backend's plumbing for held ops (webgpu-backend.ts), skipped in labels. */
const PLUMBING = new Set(['recordOrHold', 'holdRope']);

/**
 * The two functions below Gpu.dispatch on the stack (the kernel's and the op's), a profile's label. A held op's
 * recording is named after its op (its closure is).
 */
export function callerLabel(): string {
  const frames = (new Error().stack ?? '').split('\n').slice(1).filter((l) => !/\/(gpu|profiler)\.js:/.test(l));
  const names = frames.map((l) => /at (?:\S+\.)?(\S+)(?: \[as \S+\])? \(/.exec(l)?.[1]).filter((name) => name !== undefined && !PLUMBING.has(name));
  return names.slice(0, 2).join(' < ');
}
