/**
 * A one-line progress bar on stderr for long file writes: tensors done, MB written, MB/s and ETA. On a terminal it
 * redraws in place; otherwise (a log, a pipe) it prints a line about every 10% so logs stay short.
 */
import type { GgufWriteProgress } from '../io/gguf-writer.js';

const barWidth = 24;

export interface ProgressBar {
  update(p: GgufWriteProgress): void;
  /** End the line; returns the seconds since the bar was made. */
  finish(): number;
}

export function createProgressBar(label: string, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  const start = performance.now();
  const tty = stream.isTTY === true;
  let lastDecile = -1;
  let drawn = false;
  const seconds = () => (performance.now() - start) / 1000;
  return {
    update(p) {
      const line = `${label} ${formatProgress(p, seconds())}`;
      const decile = Math.floor((10 * p.bytesDone) / Math.max(1, p.dataBytes));
      if (tty) stream.write(`\r${line}\x1b[K`);
      else if (decile !== lastDecile || p.tensorsDone === p.tensorCount) stream.write(`${line}\n`);
      lastDecile = decile;
      drawn = true;
    },
    finish() {
      if (tty && drawn) stream.write('\n');
      return seconds();
    },
  };
}

/** `[#######.........] 12/201 tensors  345.6/2200.0 MB  120.3 MB/s  ETA 15s` */
export function formatProgress(p: GgufWriteProgress, seconds: number): string {
  const fraction = p.dataBytes ? p.bytesDone / p.dataBytes : 1;
  const filled = Math.round(fraction * barWidth);
  const mb = (b: number) => (b / 1e6).toFixed(1);
  const rate = seconds > 0 ? p.bytesDone / seconds : 0;
  const eta = rate > 0 ? Math.ceil((p.dataBytes - p.bytesDone) / rate) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${p.tensorsDone}/${p.tensorCount} tensors  ` +
    `${mb(p.bytesDone)}/${mb(p.dataBytes)} MB  ${mb(rate)} MB/s  ETA ${eta}s`;
}
