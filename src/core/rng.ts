/**
 * Seeded random numbers: xorshift64* as in llama2.c's `run.c`, so a seed reproduces a run and, for the same
 * sampler, the same stream of coins as llama2.c. The state is a plain bigint, so it can be saved and restored.
 */
export class Rng {
  private state: bigint;

  constructor(seed: number | bigint) {
    const s = BigInt.asUintN(64, BigInt(seed));
    this.state = s === 0n ? 0x9e3779b97f4a7c15n : s; // xorshift has a fixed point at 0
  }

  /** Next 32 random bits (llama2.c `random_u32`). */
  nextU32(): number {
    let s = this.state;
    s ^= s >> 12n;
    s = BigInt.asUintN(64, s ^ (s << 25n));
    s ^= s >> 27n;
    this.state = s;
    return Number(BigInt.asUintN(64, s * 0x2545f4914f6cdd1dn) >> 32n);
  }

  /** Uniform in [0, 1) with 24 bits, as llama2.c `random_f32`. */
  nextFloat(): number {
    return (this.nextU32() >>> 8) / 16777216;
  }

  /** Standard normal (Box-Muller). */
  nextNormal(): number {
    const u = 1 - this.nextFloat(); // (0, 1]
    const v = this.nextFloat();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  get seedState(): bigint {
    return this.state;
  }

  set seedState(s: bigint) {
    this.state = s;
  }
}
