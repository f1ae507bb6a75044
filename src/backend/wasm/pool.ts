import { Worker } from 'node:worker_threads';

/**
 * A persistent pool of threads running WASM kernels over one shared memory: the main thread plus `threads - 1`
 * workers, each with its own instance of the same kernel module. A job is a list of kernel calls; every thread
 * runs its contiguous share of every call's rows, then the main thread waits for the others once (a single join
 * per job, so fused calls like Q/K/V cost one round trip).
 *
 * Synchronisation is through Atomics on a small shared control block: a brief spin (tens of microseconds), then
 * Atomics.wait. Unbounded spinning is what collapses OpenMP-style pools when a vCPU of this kind of VM is taken
 * away for milliseconds; waiting costs a futex wake instead.
 */

/**
 * One kernel call: `args[range]` and `args[range + 1]` are set to each thread's [start, end) of `total` rows, and
 * `args[thread]`, when given, to the thread's index (for per-thread scratch space).
 */
export interface KernelCall {
  kernel: string;
  args: number[];
  range: number;
  total: number;
  thread?: number;
}

export type KernelTable = Record<string, (...args: number[]) => void>;

const MAX_CALLS = 8;
const MAX_ARGS = 20;
const CALL_WORDS = 4 + MAX_ARGS; // kernel index, range index, total, thread index (-1: none), args
const GEN = 0;
const DONE = 1;
const CALLS = 2;
const STOP = 3;
const FAILED = 4; // index of a worker whose kernel threw, else 0
const SPIN = 20000; // iterations of an Atomics.load loop: roughly 20-50 microseconds
const STALL_MS = 60_000; // a job this late means a lost worker: fail loudly rather than hang

export class WorkerPool {
  private readonly control = new Int32Array(new SharedArrayBuffer(32));
  /** Per call of a job: the next chunk of rows to claim (see chunkRows). */
  private readonly claims = new Int32Array(new SharedArrayBuffer(MAX_CALLS * 4));
  private readonly job = new Float64Array(new SharedArrayBuffer(MAX_CALLS * CALL_WORDS * 8));

  private constructor(
    private readonly kernels: KernelTable,
    private readonly names: string[],
    private readonly workers: Worker[],
  ) {}

  /** Start `threads - 1` workers on `memory` with `module` and wait until each is ready. */
  static async create(threads: number, kernels: KernelTable, module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<WorkerPool> {
    const names = Object.keys(kernels).sort();
    const pool = new WorkerPool(kernels, names, []);
    const url = new URL('./pool-worker.js', import.meta.url);
    const starts = Array.from({ length: threads - 1 }, (_, i) => new Promise<Worker>((resolve, reject) => {
      const worker = new Worker(url, {
        workerData: { module, memory, control: pool.control, claims: pool.claims, job: pool.job, names, index: i + 1, threads },
      });
      worker.once('message', () => {
        worker.unref(); // an idle pool does not keep the process alive
        resolve(worker);
      });
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`llamats: a kernel worker exited (code ${code}) while starting`)));
    }));
    pool.workers.push(...(await Promise.all(starts)));
    return pool;
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  /** Run the calls on every thread and return when all rows are done. */
  run(calls: KernelCall[]): void {
    if (this.workers.length === 0) {
      for (const c of calls) this.kernels[c.kernel]!(...withRange(c, 0, c.total, 0));
      return;
    }
    for (let start = 0; start < calls.length; start += MAX_CALLS) this.runBatch(calls.slice(start, start + MAX_CALLS));
  }

  private runBatch(calls: KernelCall[]): void {
    calls.forEach((c, i) => {
      const base = i * CALL_WORDS;
      this.job[base] = this.names.indexOf(c.kernel);
      this.job[base + 1] = c.range;
      this.job[base + 2] = c.total;
      this.job[base + 3] = c.thread ?? -1;
      c.args.forEach((a, j) => (this.job[base + 4 + j] = a));
    });
    const ctrl = this.control;
    this.claims.fill(0);
    Atomics.store(ctrl, CALLS, calls.length);
    Atomics.store(ctrl, DONE, 0);
    Atomics.add(ctrl, GEN, 1);
    Atomics.notify(ctrl, GEN);
    calls.forEach((c, i) => claimChunks(this.claims, i, c.total, this.threads, (start, end) => this.kernels[c.kernel]!(...withRange(c, start, end, 0))));
    const others = this.workers.length;
    for (let spin = 0; Atomics.load(ctrl, DONE) < others && spin < SPIN; spin++);
    const deadline = performance.now() + STALL_MS;
    for (let done = Atomics.load(ctrl, DONE); done < others; done = Atomics.load(ctrl, DONE)) {
      if (Atomics.wait(ctrl, DONE, done, 1000) === 'timed-out' && performance.now() > deadline) {
        throw new Error(`llamats: kernel workers stopped responding for ${STALL_MS / 1000} s (${calls.map((c) => c.kernel).join(', ')}); dispose() backends you no longer use`);
      }
    }
    const failed = Atomics.exchange(ctrl, FAILED, 0);
    if (failed) throw new Error(`llamats: a WASM kernel failed on worker ${failed} (${calls.map((c) => c.kernel).join(', ')})`);
  }

  dispose(): void {
    Atomics.store(this.control, STOP, 1);
    Atomics.add(this.control, GEN, 1);
    Atomics.notify(this.control, GEN);
    for (const w of this.workers) void w.terminate();
    this.workers.length = 0;
  }
}

/**
 * Rows are handed out in chunks, claimed by whichever thread is free (an atomic counter per call): on a VM whose
 * second core is shared, a fixed even split leaves the faster thread waiting. About 4 chunks per thread, a multiple
 * of 4 rows (the mat-mul tiles) when there are enough rows. The chunks depend only on `total` and `threads`, and
 * every row is computed by the same code whichever thread takes it, so results do not depend on the timing.
 */
export function chunkRows(total: number, threads: number): number {
  const size = Math.ceil(total / (threads * 4));
  return total >= threads * 16 ? Math.ceil(size / 4) * 4 : Math.max(1, size);
}

/** Claim chunks of call `call` until none is left, running `run(start, end)` on each. */
export function claimChunks(claims: Int32Array, call: number, total: number, threads: number, run: (start: number, end: number) => void): void {
  const size = chunkRows(total, threads);
  for (let k = Atomics.add(claims, call, 1); k * size < total; k = Atomics.add(claims, call, 1)) {
    run(k * size, Math.min(total, (k + 1) * size));
  }
}

function withRange(c: KernelCall, start: number, end: number, thread: number): number[] {
  const args = [...c.args];
  args[c.range] = start;
  args[c.range + 1] = end;
  if (c.thread !== undefined) args[c.thread] = thread;
  return args;
}

export const poolLayout = { CALL_WORDS, GEN, DONE, CALLS, STOP, FAILED, SPIN };
