import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

/** Largest single writeSync call: the syscall caps one write near 2 GiB. */
const maxWriteChunk = 1 << 30;

/**
 * Write a file so that readers see either the old content or the new, never a half-written file: write
 * `path.<pid>.tmp`, fsync it, rename it over `path`. On failure the temp file is removed and the error rethrown.
 * Chunks are written in order, so large payloads need not be concatenated first.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string | Uint8Array[]): void {
  const chunks = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : Array.isArray(data) ? data : [data];
  const tmp = `${path}.${process.pid}.tmp`;
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'w');
    for (const chunk of chunks) writeAll(fd, chunk);
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

function writeAll(fd: number, chunk: Uint8Array): void {
  for (let done = 0; done < chunk.byteLength; ) {
    done += writeSync(fd, chunk, done, Math.min(maxWriteChunk, chunk.byteLength - done));
  }
}
