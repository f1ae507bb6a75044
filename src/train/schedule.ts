/**
 * The LLaMA learning-rate schedule: linear warmup to the peak over `warmupSteps`, then cosine decay to
 * `minRatio` x peak (LLaMA: 10%) at `totalSteps`, flat after. Steps count from 1 (the first update).
 */
export interface LrSchedule {
  peak: number;
  warmupSteps: number;
  totalSteps: number;
  /** The final learning rate as a fraction of the peak. */
  minRatio: number;
}

export function learningRate(s: LrSchedule, step: number): number {
  if (step <= s.warmupSteps) return (s.peak * step) / s.warmupSteps;
  const decaySteps = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / decaySteps); // 0 -> 1
  const min = s.peak * s.minRatio;
  return min + 0.5 * (s.peak - min) * (1 + Math.cos(Math.PI * progress));
}
