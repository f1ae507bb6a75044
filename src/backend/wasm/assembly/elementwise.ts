// Row-wise and element-wise f32 kernels. Ranges are rows (or elements) so the pool can split them.
import { dotF32 } from './dot';
import { exp4, hsum, madd } from './simd';

/**
 * Whether dropout keeps mask element i + seedHash (given as one u32, wrapping as cpu/dropout.ts's index does):
 * lowbias32(i + seedHash) >= threshold.
 */
// @ts-ignore: decorator
@inline export function keeps(indexPlusSeedHash: u32, threshold: u32): bool {
  let x = indexPlusSeedHash;
  x ^= x >> 16;
  x *= 0x7feb352d;
  x ^= x >> 15;
  x *= 0x846ca68b;
  x ^= x >> 16;
  return x >= threshold;
}

/** out = x / sqrt(mean(x^2) + eps) * w for rows [rowStart, rowEnd) of length dim. */
export function rmsnorm(out: usize, x: usize, w: usize, dim: i32, rowStart: i32, rowEnd: i32, eps: f32): void {
  const rb = <usize>dim * 4;
  for (let r = rowStart; r < rowEnd; r++) {
    const xr = x + <usize>r * rb, o = out + <usize>r * rb;
    const scale = f32x4.splat(<f32>(1 / Math.sqrt(<f64>dotF32(xr, xr, dim) / dim + eps)));
    let c: usize = 0;
    for (; c + 16 <= rb; c += 16) v128.store(o + c, f32x4.mul(f32x4.mul(v128.load(xr + c), scale), v128.load(w + c)));
    for (; c < rb; c += 4) store<f32>(o + c, load<f32>(xr + c) * f32x4.extract_lane(scale, 0) * load<f32>(w + c));
  }
}

/**
 * RoPE on rows (t, h) of x (T, H, Dh) for one sequence: pair (2i, 2i+1) rotated by angle (startPos + t) * invFreq[i],
 * the angle rounded to f32 as the reference does, cos/sin in f64: computed once per position (the rows of its
 * heads follow each other) into `table` (Dh floats, cos and sin per pair).
 */
export function rope(out: usize, x: usize, invFreq: usize, table: usize, time: i32, heads: i32, headDim: i32, startPos: i32, rowStart: i32, rowEnd: i32): void {
  let tablePos = -1;
  for (let row = rowStart; row < rowEnd; row++) {
    const t = row / heads;
    if (t != tablePos) {
      const pos = <f32>(startPos + t);
      for (let i = 0; i < headDim / 2; i++) {
        const angle = <f64>(pos * load<f32>(invFreq + <usize>i * 4));
        store<f32>(table + <usize>i * 8, <f32>Math.cos(angle));
        store<f32>(table + <usize>i * 8 + 4, <f32>Math.sin(angle));
      }
      tablePos = t;
    }
    const base = <usize>row * <usize>headDim * 4;
    for (let i = 0; i < headDim / 2; i++) {
      const c = load<f32>(table + <usize>i * 8), s = load<f32>(table + <usize>i * 8 + 4);
      const p = base + <usize>i * 8;
      const x0 = load<f32>(x + p), x1 = load<f32>(x + p + 4);
      store<f32>(out + p, x0 * c - x1 * s);
      store<f32>(out + p + 4, x0 * s + x1 * c);
    }
  }
}

/**
 * Causal GQA attention for one sequence, query heads [headStart, headEnd): q (T, H, Dh), k/v (S, Hkv, Dh), out
 * (T, H, Dh). Per query row, in three passes over its n = startPos + t + 1 keys: the scores q.k / sqrt(Dh) (four
 * keys at a time where Dh is a multiple of 4) and their max m, into this thread's scratch (S + 4 floats at scratch
 * + thread * (S + 4) * 4); then p = e^(score - m) four at a time and their sum l; then out = sum p v / l, 16 output
 * floats at a time in registers. The T x S score matrix never exists; one row of it does.
 * Dropout (training; none where dropThreshold is 0): p of key s is kept, times dropScale, where
 * keeps(dropOffset + (h T + t) S + s, dropThreshold) (the caller folds seedHash + b H T S into dropOffset); the sum l
 * that normalises the probabilities is taken before.
 */
export function attention(out: usize, q: usize, k: usize, v: usize, scratch: usize, time: i32, heads: i32, kvHeads: i32, headDim: i32, cacheLen: i32, startPos: i32, thread: i32, headStart: i32, headEnd: i32, dropOffset: u32, dropThreshold: u32, dropScale: f32): void {
  const group = heads / kvHeads;
  const scale = <f32>(1 / Math.sqrt(<f64>headDim));
  const db = <usize>headDim * 4, kvRow = <usize>kvHeads * db;
  const p = scratch + <usize>thread * <usize>(cacheLen + 4) * 4;
  for (let h = headStart; h < headEnd; h++) {
    const kh = k + <usize>(h / group) * db, vh = v + <usize>(h / group) * db;
    for (let t = 0; t < time; t++) {
      const qo = q + (<usize>t * <usize>heads + <usize>h) * db;
      const n = startPos + t + 1;
      let s = 0, mv = f32x4.splat(-Infinity);
      if ((headDim & 3) == 0) {
        for (; s + 4 <= n; s += 4) {
          const scores = f32x4.mul(scores4(qo, kh + <usize>s * kvRow, kvRow, db), f32x4.splat(scale));
          v128.store(p + <usize>s * 4, scores);
          mv = f32x4.pmax(mv, scores);
        }
      }
      let m = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
      for (; s < n; s++) {
        const score = dotF32(qo, kh + <usize>s * kvRow, headDim) * scale;
        store<f32>(p + <usize>s * 4, score);
        m = max(m, score);
      }
      for (let s = n; s < ((n + 3) & ~3); s++) store<f32>(p + <usize>s * 4, -Infinity); // e^-inf = 0 pads the last 4
      const mMax = f32x4.splat(m);
      let l = f32x4.splat(0);
      for (let s = 0; s < n; s += 4) {
        const e = exp4(f32x4.sub(v128.load(p + <usize>s * 4), mMax));
        v128.store(p + <usize>s * 4, e);
        l = f32x4.add(l, e);
      }
      const inv = f32x4.splat(1 / hsum(l));
      if (dropThreshold != 0) {
        const row = dropOffset + (<u32>h * <u32>time + <u32>t) * <u32>cacheLen;
        for (let s = 0; s < n; s++) store<f32>(p + <usize>s * 4, keeps(row + <u32>s, dropThreshold) ? load<f32>(p + <usize>s * 4) * dropScale : 0);
      }
      const o = out + (<usize>t * <usize>heads + <usize>h) * db;
      let c: usize = 0;
      for (; c + 64 <= db; c += 64) {
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        for (let s = 0; s < n; s++) {
          const ps = v128.load32_splat(p + <usize>s * 4), vs = vh + <usize>s * kvRow + c;
          a0 = madd(ps, v128.load(vs), a0);
          a1 = madd(ps, v128.load(vs + 16), a1);
          a2 = madd(ps, v128.load(vs + 32), a2);
          a3 = madd(ps, v128.load(vs + 48), a3);
        }
        v128.store(o + c, f32x4.mul(a0, inv));
        v128.store(o + c + 16, f32x4.mul(a1, inv));
        v128.store(o + c + 32, f32x4.mul(a2, inv));
        v128.store(o + c + 48, f32x4.mul(a3, inv));
      }
      for (; c < db; c += 4) {
        let a: f32 = 0;
        for (let s = 0; s < n; s++) a += load<f32>(p + <usize>s * 4) * load<f32>(vh + <usize>s * kvRow + c);
        store<f32>(o + c, a * f32x4.extract_lane(inv, 0));
      }
    }
  }
}

/**
 * The dots of q (db bytes of f32, a multiple of 16) with the 4 key rows at k, k + stride, k + 2 stride, k + 3 stride,
 * as one f32x4: a lane-wise accumulator per key, then a 4 x 4 transpose-and-add.
 */
// @ts-ignore: decorator
@inline function scores4(q: usize, k: usize, stride: usize, db: usize): v128 {
  let d0 = f32x4.splat(0), d1 = f32x4.splat(0), d2 = f32x4.splat(0), d3 = f32x4.splat(0);
  for (let c: usize = 0; c < db; c += 16) {
    const qv = v128.load(q + c);
    d0 = madd(qv, v128.load(k + c), d0);
    d1 = madd(qv, v128.load(k + stride + c), d1);
    d2 = madd(qv, v128.load(k + 2 * stride + c), d2);
    d3 = madd(qv, v128.load(k + 3 * stride + c), d3);
  }
  const u0 = f32x4.add(v128.shuffle<f32>(d0, d1, 0, 4, 1, 5), v128.shuffle<f32>(d0, d1, 2, 6, 3, 7));
  const u1 = f32x4.add(v128.shuffle<f32>(d2, d3, 0, 4, 1, 5), v128.shuffle<f32>(d2, d3, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(u0, u1, 0, 1, 4, 5), v128.shuffle<f32>(u0, u1, 2, 3, 6, 7));
}

/** out = silu(gate) * up over elements [start, end), silu(g) = g / (1 + e^-g). */
export function swiglu(out: usize, gate: usize, up: usize, start: i32, end: i32): void {
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i * 4;
    const g = v128.load(gate + o);
    v128.store(out + o, f32x4.mul(f32x4.div(g, f32x4.add(f32x4.splat(1), exp4(f32x4.neg(g)))), v128.load(up + o)));
  }
  for (; i < end; i++) {
    const o = <usize>i * 4;
    const g = load<f32>(gate + o);
    store<f32>(out + o, (g / (1 + Mathf.exp(-g))) * load<f32>(up + o));
  }
}

/** out = a + b over elements [start, end). */
export function add(out: usize, a: usize, b: usize, start: i32, end: i32): void {
  let i = start;
  for (; i + 4 <= end; i += 4) v128.store(out + <usize>i * 4, f32x4.add(v128.load(a + <usize>i * 4), v128.load(b + <usize>i * 4)));
  for (; i < end; i++) store<f32>(out + <usize>i * 4, load<f32>(a + <usize>i * 4) + load<f32>(b + <usize>i * 4));
}

/** Softmax over rows [rowStart, rowEnd) of length n. */
export function softmax(out: usize, x: usize, n: i32, rowStart: i32, rowEnd: i32): void {
  for (let r = rowStart; r < rowEnd; r++) {
    const xr = x + <usize>r * <usize>n * 4, o = out + <usize>r * <usize>n * 4;
    let m: f32 = -Infinity;
    for (let i = 0; i < n; i++) m = max(m, load<f32>(xr + <usize>i * 4));
    let sum: f64 = 0;
    for (let i = 0; i < n; i++) {
      const e = Mathf.exp(load<f32>(xr + <usize>i * 4) - m);
      store<f32>(o + <usize>i * 4, e);
      sum += e;
    }
    const inv = <f32>(1 / sum);
    for (let i = 0; i < n; i++) store<f32>(o + <usize>i * 4, load<f32>(o + <usize>i * 4) * inv);
  }
}

/** out[r] = sum of row r (rowFloats f32): a read-bandwidth probe for the benchmark. */
export function sumRows(out: usize, src: usize, rowFloats: i32, rowStart: i32, rowEnd: i32): void {
  for (let r = rowStart; r < rowEnd; r++) {
    const row = src + <usize>r * <usize>rowFloats * 4;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let c: usize = 0; c + 64 <= <usize>rowFloats * 4; c += 64) {
      a0 = f32x4.add(a0, v128.load(row + c)); a1 = f32x4.add(a1, v128.load(row + c + 16));
      a2 = f32x4.add(a2, v128.load(row + c + 32)); a3 = f32x4.add(a3, v128.load(row + c + 48));
    }
    store<f32>(out + <usize>r * 4, hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3))));
  }
}
