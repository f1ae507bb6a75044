import { ArgumentError } from '../core/errors.js';
import { CpuBackend } from './cpu/cpu-backend.js';
import { checkPrecision, type Ops, type Precision } from './ops.js';
import { WasmBackend } from './wasm/wasm-backend.js';
import { WebGpuBackend } from './webgpu/webgpu-backend.js';

/**
 * `cpu`: the fast CPU backend (WASM SIMD kernels on a thread pool, backend/wasm). `reference`: the plain TypeScript
 * kernels (backend/cpu), slow and obviously right, the oracle the fast kernels are tested against. `webgpu`: WGSL
 * kernels on the GPU (backend/webgpu; in Node through the optional `webgpu` package).
 */
export type BackendName = 'cpu' | 'reference' | 'webgpu';
export const backendNames: readonly BackendName[] = ['cpu', 'reference', 'webgpu'];

export interface BackendOptions {
  /** Threads for the `cpu` backend (the main thread included); default: the machine's cores. */
  threads?: number;
  /** How matrix products round their inputs (ops.ts): 'f16x3' and 'mixed' are for the webgpu backend. Default fp32. */
  precision?: Precision;
}

/** A new backend of that name; release it with `dispose()`. */
export async function getBackend(name: BackendName = 'cpu', options: BackendOptions = {}): Promise<Ops> {
  checkPrecision(name, options.precision);
  if (name === 'webgpu') return WebGpuBackend.create(options.precision);
  if (name === 'reference') return new CpuBackend();
  if (name === 'cpu') return WasmBackend.create({ threads: options.threads });
  throw new ArgumentError('backend', backendNames.map((n) => `"${n}"`).join(' or '), JSON.stringify(name));
}
