import { ArgumentError } from '../core/errors.js';
import { CpuBackend } from './cpu/cpu-backend.js';
import type { Ops } from './ops.js';

export type BackendName = 'cpu';

/** The backend of a name; `cpu` is the reference (and for now the only) backend. */
export function getBackend(name: BackendName = 'cpu'): Ops {
  if (name === 'cpu') return new CpuBackend();
  throw new ArgumentError('backend', '"cpu"', JSON.stringify(name));
}
