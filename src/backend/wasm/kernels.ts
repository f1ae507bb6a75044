import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import v8 from 'node:v8';
import { packageRoot } from '../../io/package-paths.js';

const modules = new Map<boolean, WebAssembly.Module>();

/**
 * The compiled kernel module: the relaxed-SIMD build (fused multiply-add: about 1.25x the f32 mat-mul throughput)
 * when asked for and the runtime accepts it, else the SIMD128 build. Node 20's V8 has relaxed SIMD behind
 * --experimental-wasm-relaxed-simd; we turn that flag on before compiling, which V8 honours for modules compiled
 * afterwards (later Node versions ship the feature and need nothing). Compiled once per process; workers get the
 * module by message.
 */
export function kernelModule(relaxed = true): WebAssembly.Module {
  const dir = join(packageRoot(), 'dist', 'backend', 'wasm');
  let useRelaxed = false;
  if (relaxed) {
    const bytes = readFileSync(join(dir, 'kernels-relaxed.wasm'));
    useRelaxed = WebAssembly.validate(bytes);
    if (!useRelaxed) {
      v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
      // That V8's baseline compiler (Liftoff) swaps the operands of relaxed SIMD's integer dot product, so code
      // gives wrong sums until it is re-optimized; its optimizing compiler is right. Compile optimized only.
      v8.setFlagsFromString('--no-liftoff');
      useRelaxed = WebAssembly.validate(bytes);
    }
  }
  let m = modules.get(useRelaxed);
  if (!m) {
    m = new WebAssembly.Module(readFileSync(join(dir, useRelaxed ? 'kernels-relaxed.wasm' : 'kernels.wasm')));
    if (useRelaxed && !relaxedDotIsRight(m)) return kernelModule(false);
    modules.set(useRelaxed, m);
  }
  return m;
}

/** Whether `module` is the relaxed-SIMD build. */
export function isRelaxedBuild(module: WebAssembly.Module): boolean {
  return modules.get(true) === module;
}

/**
 * Whether the relaxed build's integer dots give the exact sums on this runtime: the 16 unsigned bytes 0, 8, ..., 120
 * dotted with the signed bytes -128, -112, ..., 112 (whole, times a scale of -3; as low plus high nibbles; and as
 * dotI8SignedBy's), whose 4 lane sums are known. A guard (Node 20's baseline compiler got these dots wrong inside
 * our kernels, though not in this probe): a runtime that gets them wrong gets the SIMD128 build.
 */
function relaxedDotIsRight(module: WebAssembly.Module): boolean {
  const memory = new WebAssembly.Memory({ initial: 17, maximum: 65536, shared: true });
  const kernels = new WebAssembly.Instance(module, { env: { memory, abort: () => undefined } }).exports as Record<string, (...args: number[]) => number>;
  const u = new Uint8Array(memory.buffer, 0, 16);
  const s = new Int8Array(memory.buffer, 16, 16);
  for (let i = 0; i < 16; i++) {
    u[i] = 8 * i;
    s[i] = 16 * i - 128;
  }
  kernels['relaxedDotProbe']!(32, 0, 16);
  const laneSum = (lane: number, f: (u: number) => number) => [0, 1, 2, 3].reduce((sum, j) => sum + f(u[4 * lane + j]!) * s[4 * lane + j]!, 0);
  const sums = new Int32Array(memory.buffer, 32, 12);
  return [0, 1, 2, 3].every((lane) => sums[lane] === -3 * laneSum(lane, (b) => b) && sums[4 + lane] === laneSum(lane, (b) => (b & 15) + (b >> 4)) && sums[8 + lane] === laneSum(lane, (b) => b));
}
