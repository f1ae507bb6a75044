import { FormatError } from '../core/errors.js';

/** Typed reads of fields of parsed JSON (config files), with errors that name the file and the field. */
export type JsonObject = Record<string, unknown>;

export function asObject(value: unknown, file: string, field: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FormatError(file, field, 'a JSON object', describe(value));
  }
  return value as JsonObject;
}

export function numberField(obj: JsonObject, key: string, file: string, fallback?: number): number {
  const v = obj[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new FormatError(file, key, 'a number', describe(obj[key]));
  return v;
}

export function stringField(obj: JsonObject, key: string, file: string, fallback?: string): string {
  const v = obj[key] ?? fallback;
  if (typeof v !== 'string') throw new FormatError(file, key, 'a string', describe(obj[key]));
  return v;
}

export function booleanField(obj: JsonObject, key: string, file: string, fallback?: boolean): boolean {
  const v = obj[key] ?? fallback;
  if (typeof v !== 'boolean') throw new FormatError(file, key, 'true or false', describe(obj[key]));
  return v;
}

export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
