/** out = silu(gate) * up, silu(x) = x / (1 + e^-x). */
export function swiglu(out: Float32Array, gate: Float32Array, up: Float32Array): void {
  for (let i = 0; i < out.length; i++) {
    const g = gate[i]!;
    out[i] = (g / (1 + Math.exp(-g))) * up[i]!;
  }
}

/**
 * Backward of swiglu. With s = sigmoid(g): d silu(g)/dg = s (1 + g (1 - s)), so
 *   dgate = dy * up * s * (1 + g (1 - s))        dup = dy * silu(g)
 */
export function swigluBackward(dgate: Float32Array, dup: Float32Array, dy: Float32Array, gate: Float32Array, up: Float32Array): void {
  for (let i = 0; i < dy.length; i++) {
    const g = gate[i]!;
    const s = 1 / (1 + Math.exp(-g));
    dgate[i] = dy[i]! * up[i]! * s * (1 + g * (1 - s));
    dup[i] = dy[i]! * g * s;
  }
}
