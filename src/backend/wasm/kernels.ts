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
  const dir = join(packageRoot, 'dist', 'backend', 'wasm');
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

/**
 * Whether the relaxed build's integer dot gives the exact sums on this runtime, tried on its first (unoptimized)
 * call: 16 unsigned 7-bit bytes 0, 8, ..., 120 dotted with the signed bytes -128, -112, ..., 112, whose 4 lane
 * sums are known. A runtime that gets it wrong gets the SIMD128 build.
 */
function relaxedDotIsRight(module: WebAssembly.Module): boolean {
  const memory = new WebAssembly.Memory({ initial: 17, maximum: 65536, shared: true });
  const kernels = new WebAssembly.Instance(module, { env: { memory, abort: () => undefined } }).exports as Record<string, (...args: number[]) => number>;
  const bytes = new Uint8Array(memory.buffer, 0, 48);
  const sums = new Int32Array(memory.buffer, 32, 4);
  for (let i = 0; i < 16; i++) {
    bytes[i] = 8 * i;
    bytes[16 + i] = (16 * i - 128) & 0xff;
  }
  kernels['dotU7Probe']!(32, 0, 16);
  return sums.every((sum, lane) => sum === [0, 1, 2, 3].reduce((s, j) => s + 8 * (4 * lane + j) * (16 * (4 * lane + j) - 128), 0));
}
