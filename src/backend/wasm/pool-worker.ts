/** A worker of WorkerPool: instantiates the kernel module on the shared memory and runs its share of each job. */
import { parentPort, workerData } from 'node:worker_threads';
import { claimChunks, poolLayout, type KernelTable } from './pool.js';

const { module, memory, control, claims, job, names, index, threads } = workerData as {
  module: WebAssembly.Module; memory: WebAssembly.Memory; control: Int32Array; claims: Int32Array; job: Float64Array;
  names: string[]; index: number; threads: number;
};
const { CALL_WORDS, GEN, DONE, CALLS, STOP, FAILED, SPIN } = poolLayout;
const instance = new WebAssembly.Instance(module, { env: { memory, abort: () => { throw new Error('kernel abort'); } } });
const kernels = instance.exports as unknown as KernelTable;

function runShare(): void {
  const calls = Atomics.load(control, CALLS);
  for (let i = 0; i < calls; i++) {
    const base = i * CALL_WORDS;
    const range = job[base + 1]!;
    const args = Array.from(job.subarray(base + 4, base + CALL_WORDS));
    if (job[base + 3]! >= 0) args[job[base + 3]!] = index;
    const kernel = kernels[names[job[base]!]!]!;
    claimChunks(claims, i, job[base + 2]!, threads, (start, end) => {
      args[range] = start;
      args[range + 1] = end;
      kernel(...args);
    });
  }
}

// Read the generation before saying ready: the first job may be posted the moment the main thread hears it.
let seen = Atomics.load(control, GEN);
parentPort!.postMessage('ready');
for (;;) {
  for (let spin = 0; Atomics.load(control, GEN) === seen && spin < SPIN; spin++);
  while (Atomics.load(control, GEN) === seen) Atomics.wait(control, GEN, seen);
  seen = Atomics.load(control, GEN);
  if (Atomics.load(control, STOP)) break;
  try {
    runShare();
  } catch {
    Atomics.store(control, FAILED, index); // the main thread reports it; never leave it waiting
  }
  if (Atomics.add(control, DONE, 1) + 1 === threads - 1) Atomics.notify(control, DONE);
}
