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
