// Compile the AssemblyScript kernels (src/backend/wasm/assembly) to dist/backend/wasm/: a SIMD128 build and a
// relaxed-SIMD build, which the loader picks at start-up when the runtime validates it. Needs only the npm package.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const asc = createRequire(import.meta.url).resolve('assemblyscript/bin/asc.js');
const entry = join(root, 'src/backend/wasm/assembly/index.ts');
const outDir = join(root, 'dist/backend/wasm');
mkdirSync(outDir, { recursive: true });
const common = [
  entry, '-O3', '--noAssert', '--runtime', 'stub', '--enable', 'simd', '--enable', 'threads',
  '--importMemory', '--sharedMemory', '--initialMemory', '17', '--maximumMemory', '65536', '--noExportMemory',
];
for (const [name, extra] of [['kernels.wasm', []], ['kernels-relaxed.wasm', ['--enable', 'relaxed-simd']]]) {
  execFileSync(process.execPath, [asc, ...common, ...extra, '-o', join(outDir, name)], { stdio: 'inherit' });
}
