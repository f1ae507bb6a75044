import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

/** Largest single writeSync call: the syscall caps one write near 2 GiB. */
const maxWriteChunk = 1 << 30;

/**
 * Write a file so that readers see either the old content or the new, never a half-written file: `fill` streams the
 * bytes into `path.<pid>.tmp` (in as many pieces as it likes), which is fsynced and renamed over `path`. On any
 * error the temp file is removed and the error rethrown.
 */
export function writeAtomically(path: string, fill: (write: (bytes: Uint8Array) => void) => void): void {
  const tmp = `${path}.${process.pid}.tmp`;
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'w');
    const file = fd;
    fill((bytes) => writeAll(file, bytes));
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** writeAtomically for data in hand: a string (UTF-8), bytes, or chunks written in order. */
export function writeFileAtomic(path: string, data: Uint8Array | string | Uint8Array[]): void {
  const chunks = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : Array.isArray(data) ? data : [data];
  writeAtomically(path, (write) => chunks.forEach(write));
}

function writeAll(fd: number, chunk: Uint8Array): void {
  for (let done = 0; done < chunk.byteLength; ) {
    done += writeSync(fd, chunk, done, Math.min(maxWriteChunk, chunk.byteLength - done));
  }
}
