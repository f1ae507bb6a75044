import cliProgress from 'cli-progress';
import type { GgufWriteProgress } from '../io/gguf-writer.js';

export interface ProgressBar {
  update(done: number, total: number): void;
  /** End the bar; returns the seconds since it was made. */
  finish(): number;
}

/** Progress of writing a GGUF, as MB done of MB in all. */
export function writeProgress(bar: ProgressBar): (p: GgufWriteProgress) => void {
  return (p) => bar.update(Math.round(p.bytesDone / 1e6), Math.round(p.dataBytes / 1e6));
}

/**
 * A progress bar on stderr with the count, rate and ETA: `label [=====-----] 12/40 windows | 3.1 windows/s | ETA 9s`.
 * On a terminal it redraws in place; in a log it prints a line every few seconds.
 */
export function progressBar(label: string, unit: string): ProgressBar {
  const start = performance.now();
  const bar = new cliProgress.SingleBar({
    format: `${label} [{bar}] {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted}`,
    barCompleteChar: '=', barIncompleteChar: '-', hideCursor: false, noTTYOutput: true, notTTYSchedule: 5000,
    stream: process.stderr,
  });
  let started = false;
  return {
    update(done, total) {
      const rate = (done / Math.max(1e-9, (performance.now() - start) / 1000)).toFixed(1);
      if (!started) bar.start(total, done, { rate });
      else bar.update(done, { rate });
      started = true;
    },
    finish() {
      if (started) bar.stop();
      return (performance.now() - start) / 1000;
    },
  };
}
