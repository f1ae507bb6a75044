import type { AdamWStep } from '../ops.js';

/**
 * One AdamW step in place (torch.optim.AdamW's arithmetic), per element in f64, with g = gradScale grad:
 *   param *= 1 - lr wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *   param -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 */
export function adamw(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, hp: AdamWStep): void {
  const { lr, beta1, beta2, eps, weightDecay, step, gradScale = 1 } = hp;
  const stepSize = lr / (1 - beta1 ** step);
  const bias2Sqrt = Math.sqrt(1 - beta2 ** step);
  for (let i = 0; i < param.length; i++) {
    const g = grad[i]! * gradScale;
    m[i] = beta1 * m[i]! + (1 - beta1) * g;
    v[i] = beta2 * v[i]! + (1 - beta2) * g * g;
    param[i] = param[i]! * (1 - lr * weightDecay) - (stepSize * m[i]!) / (Math.sqrt(v[i]!) / bias2Sqrt + eps);
  }
}
