import { backendNames, type BackendName } from '../backend/registry.js';
import { ArgumentError } from '../core/errors.js';

/** A numeric flag's value, or undefined when absent; anything that is not a finite number is an error naming the flag. */
export function numberFlag(flag: string, value: string | undefined, integer = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new ArgumentError(`--${flag}`, integer ? 'an integer' : 'a number', JSON.stringify(value));
  }
  return n;
}

/** A flag that must be given. */
export function requiredFlag(flag: string, value: string | undefined): string {
  if (value === undefined) throw new ArgumentError(`--${flag}`, 'a value', 'nothing');
  return value;
}

/** `--backend` and `--threads`, as loadModel takes them. */
export function backendFlags(f: { backend?: string; threads?: string }): { backend?: BackendName; threads?: number } {
  if (f.backend !== undefined && !backendNames.includes(f.backend as BackendName)) {
    throw new ArgumentError('--backend', backendNames.join(' or '), JSON.stringify(f.backend));
  }
  const threads = numberFlag('threads', f.threads, true);
  if (threads !== undefined && threads < 1) throw new ArgumentError('--threads', 'an integer >= 1', String(threads));
  return { backend: f.backend as BackendName | undefined, threads };
}
