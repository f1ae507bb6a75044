/**
 * Rotary position embedding on x (B, T, H, Dh), interleaved pairs as in Meta's LLaMA and llama.cpp:
 * (x[2i], x[2i+1]) is rotated by angle (startPos + t) * invFreq[i], i < Dh/2.
 * (Hugging Face checkpoints pair i with i + Dh/2 instead; io/ permutes their q/k rows into this layout.)
 * `direction` -1 rotates by the opposite angles: the inverse rotation, which is also rope's backward (a rotation's
 * transpose is its inverse).
 */
export function rope(
  out: Float32Array, x: Float32Array, invFreq: Float32Array,
  batch: number, time: number, heads: number, headDim: number, startPos: number, direction: 1 | -1 = 1,
): void {
  const half = headDim / 2;
  for (let t = 0; t < time; t++) {
    const pos = startPos + t;
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(pos * invFreq[i]!); // f32 angle, as transformers and llama.cpp compute it
      const cos = Math.cos(angle);
      const sin = direction * Math.sin(angle);
      for (let b = 0; b < batch; b++) {
        for (let h = 0; h < heads; h++) {
          const j = (((b * time + t) * heads + h) * headDim) + 2 * i;
          const x0 = x[j]!;
          const x1 = x[j + 1]!;
          out[j] = x0 * cos - x1 * sin;
          out[j + 1] = x0 * sin + x1 * cos;
        }
      }
    }
  }
}
