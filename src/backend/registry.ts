import { ArgumentError } from '../core/errors.js';
import { CpuBackend } from './cpu/cpu-backend.js';
import type { Ops } from './ops.js';
import { WasmBackend } from './wasm/wasm-backend.js';

/**
 * `cpu`: the fast CPU backend (WASM SIMD kernels on a thread pool, backend/wasm). `reference`: the plain TypeScript
 * kernels (backend/cpu), slow and obviously right, the oracle the fast kernels are tested against.
 */
export type BackendName = 'cpu' | 'reference';
export const backendNames: readonly BackendName[] = ['cpu', 'reference'];

export interface BackendOptions {
  /** Threads for the `cpu` backend (the main thread included); default: the machine's cores. */
  threads?: number;
}

/** A new backend of that name; release it with `dispose()`. */
export async function getBackend(name: BackendName = 'cpu', options: BackendOptions = {}): Promise<Ops> {
  if (name === 'reference') return new CpuBackend();
  if (name === 'cpu') return WasmBackend.create({ threads: options.threads });
  throw new ArgumentError('backend', backendNames.map((n) => `"${n}"`).join(' or '), JSON.stringify(name));
}
