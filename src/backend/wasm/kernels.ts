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
      useRelaxed = WebAssembly.validate(bytes);
    }
  }
  let m = modules.get(useRelaxed);
  if (!m) {
    m = new WebAssembly.Module(readFileSync(join(dir, useRelaxed ? 'kernels-relaxed.wasm' : 'kernels.wasm')));
    modules.set(useRelaxed, m);
  }
  return m;
}
