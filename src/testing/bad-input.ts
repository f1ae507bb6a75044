/** Helpers for the bad-input tests of the file readers (test-only; not part of the package). */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { FormatError, UnsupportedError } from '../core/errors.js';

/** Assert `fn` throws `cls` whose message names `file` and contains `field`; returns the error. */
export function expectError(fn: () => unknown, cls: typeof FormatError | typeof UnsupportedError, file: string, field: string): Error {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof cls, `expected ${cls.name}, got ${String(caught)}`);
  assert.ok(caught.message.includes(file), `message names the file: ${caught.message}`);
  assert.ok(caught.message.includes(field), `message names "${field}": ${caught.message}`);
  return caught;
}

/** A scratch folder removed after the test file, and a writer of numbered case files (`case-N.ext`) in it. */
export function scratch(prefix: string, ext: string): { dir: string; writeCase: (bytes: Uint8Array) => string } {
  const dir = mkdtempSync(join(tmpdir(), `llamats-${prefix}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  return {
    dir,
    writeCase: (bytes) => {
      const path = join(dir, `case-${n++}.${ext}`);
      writeFileSync(path, bytes);
      return path;
    },
  };
}
