// f16 weights rebased at load: times 2^REBASE_BITS, so that none is an f16 subnormal.
//
// Why: the f16 decode kernel (dotF16Rows) turns each half into an f32 by moving its bits (f16x8Low/High), which
// gives w / 2^112: an f16 subnormal becomes an f32 subnormal, and x64 takes a microcode assist (about 100 cycles)
// on every multiply-add that meets one. A model's weights hold about 0.24% f16 subnormals (|w| < 6.1e-5 at a
// standard deviation of 0.02), so about one f32x4 in a hundred meets one: tinyllama's f16 mat-vecs ran at half
// speed in cache, and at 8.2 GB/s from memory where the same rows without subnormals ran at 11.2. Times 2^10,
// every f16 subnormal (m 2^-24, m < 2^10) is a normal (m 2^-14), exactly; the kernels take the 2^10 back in x's
// scale or in the decode's rebias, both powers of two, so results are unchanged. Values of 64 and more would
// overflow (65504 is f16's largest): a tensor holding any keeps its bits as they are (rebaseF16 says so).

export const REBASE_BITS: u16 = 10;

/**
 * Halves [start, end) at p, in place: each times 2^10 (normals gain 10 in the exponent field; subnormals are
 * normalized; zeros stay). A half of 64 or more in magnitude (exponent field above 20), an inf or a nan sets the
 * i32 at `overflow` to 1 (the caller then restores the tensor: halves past it may be rebased).
 */
export function rebaseF16(p: usize, overflow: usize, start: i32, end: i32): void {
  const expMask = i16x8.splat(0x7c00), maxExp = i16x8.splat(20 << 10), bump = i16x8.splat(REBASE_BITS << 10), zero = i16x8.splat(0);
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a = p + <usize>i * 2, h = v128.load(a), exp = v128.and(h, expMask);
    if (v128.any_true(i16x8.gt_u(exp, maxExp))) store<i32>(overflow, 1);
    const zeroExponent = i16x8.eq(exp, zero);
    v128.store(a, i16x8.add(h, v128.andnot(bump, zeroExponent))); // zero-exponent lanes unchanged here
    if (v128.any_true(v128.andnot(zeroExponent, i16x8.eq(v128.and(h, i16x8.splat(0x7fff)), zero)))) { // a subnormal
      for (let j = 0; j < 8; j++) store<u16>(a + <usize>j * 2, rebaseHalf(load<u16>(a + <usize>j * 2)));
    }
  }
  for (; i < end; i++) {
    const a = p + <usize>i * 2, h = load<u16>(a);
    if ((h & 0x7c00) > (20 << 10)) store<i32>(overflow, 1);
    store<u16>(a, (h & 0x7c00) == 0 ? rebaseHalf(h) : h + (REBASE_BITS << 10));
  }
}

/** A zero-exponent half (zero or subnormal: m 2^-24) times 2^10: m 2^-14 = 2^(p - 14) (1 + f) for m's top bit p. */
function rebaseHalf(h: u16): u16 {
  const m = <u32>h & 0x3ff;
  if (m == 0 || (h & 0x7c00) != 0) return h; // zeros, and normal lanes already rebased by the vector step
  const p = 31 - clz(m);
  return <u16>((<u32>h & 0x8000) | ((p + 1) << 10) | ((m << (10 - p)) & 0x3ff));
}
