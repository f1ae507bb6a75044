import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../io/package-paths.js';

const modules = new Map<boolean, WebAssembly.Module>();

/**
 * The compiled kernel module: the relaxed-SIMD build when asked for and the runtime validates it (Node 20 needs
 * --experimental-wasm-relaxed-simd), else the SIMD128 build. Compiled once per process; workers get it by message.
 */
export function kernelModule(relaxed = false): WebAssembly.Module {
  const dir = join(packageRoot, 'dist', 'backend', 'wasm');
  let useRelaxed = false;
  if (relaxed) useRelaxed = WebAssembly.validate(readFileSync(join(dir, 'kernels-relaxed.wasm')));
  let m = modules.get(useRelaxed);
  if (!m) {
    m = new WebAssembly.Module(readFileSync(join(dir, useRelaxed ? 'kernels-relaxed.wasm' : 'kernels.wasm')));
    modules.set(useRelaxed, m);
  }
  return m;
}
