/**
 * Dynamic loss scaling for mixed precision, as torch.cuda.amp.GradScaler does it. Matrix products round their
 * inputs to f16, whose smallest normal value is 6.1e-5: gradients smaller than that would lose their bits or vanish.
 * So the loss gradient is multiplied by `scale` (2^16 at first) and the gradients are divided by it again before
 * clipping and the update. A step whose gradients are not finite (something overflowed f16's 65504) is skipped and
 * the scale halved; after `GROWTH_INTERVAL` finite steps in a row it doubles again.
 */
export interface LossScale {
  scale: number;
  /** Finite steps since the scale last changed. */
  goodSteps: number;
}

export const INITIAL_LOSS_SCALE: LossScale = { scale: 2 ** 16, goodSteps: 0 };
export const GROWTH_INTERVAL = 2000;

/** The scale after a step whose gradients were `finite` or not. */
export function nextLossScale(s: LossScale, finite: boolean): LossScale {
  if (!finite) return { scale: Math.max(1, s.scale / 2), goodSteps: 0 };
  return s.goodSteps + 1 >= GROWTH_INTERVAL ? { scale: s.scale * 2, goodSteps: 0 } : { scale: s.scale, goodSteps: s.goodSteps + 1 };
}
