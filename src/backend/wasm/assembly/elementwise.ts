// Row-wise and element-wise f32 kernels. Ranges are rows (or elements) so the pool can split them.
import { dotF32 } from './dot';
import { hsum } from './simd';

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
 * the angle rounded to f32 as the reference does, cos/sin in f64.
 */
export function rope(out: usize, x: usize, invFreq: usize, time: i32, heads: i32, headDim: i32, startPos: i32, rowStart: i32, rowEnd: i32): void {
  for (let row = rowStart; row < rowEnd; row++) {
    const pos = <f32>(startPos + row / heads);
    const base = <usize>row * <usize>headDim * 4;
    for (let i = 0; i < headDim / 2; i++) {
      const angle = <f64>(pos * load<f32>(invFreq + <usize>i * 4));
      const c = <f32>Math.cos(angle), s = <f32>Math.sin(angle);
      const p = base + <usize>i * 8;
      const x0 = load<f32>(x + p), x1 = load<f32>(x + p + 4);
      store<f32>(out + p, x0 * c - x1 * s);
      store<f32>(out + p + 4, x0 * s + x1 * c);
    }
  }
}

/**
 * Causal GQA attention for one sequence, query heads [headStart, headEnd): q (T, H, Dh), k/v (S, Hkv, Dh), out
 * (T, H, Dh). Online softmax: a running max m, sum l and accumulator acc (Dh floats of this thread's scratch, at
 * scratch + thread * (Dh + 4) * 4), rescaled as m grows; the T x S score matrix never exists.
 */
export function attention(out: usize, q: usize, k: usize, v: usize, scratch: usize, time: i32, heads: i32, kvHeads: i32, headDim: i32, cacheLen: i32, startPos: i32, thread: i32, headStart: i32, headEnd: i32): void {
  const group = heads / kvHeads;
  const scale = <f32>(1 / Math.sqrt(<f64>headDim));
  const db = <usize>headDim * 4;
  const acc = scratch + <usize>thread * (db + 16);
  for (let h = headStart; h < headEnd; h++) {
    const kvh = h / group;
    for (let t = 0; t < time; t++) {
      const qo = q + (<usize>t * <usize>heads + <usize>h) * db;
      let m: f32 = -Infinity, l: f32 = 0;
      memory.fill(acc, 0, db);
      for (let s = 0; s <= startPos + t; s++) {
        const ko = (<usize>s * <usize>kvHeads + <usize>kvh) * db;
        const score = dotF32(qo, k + ko, headDim) * scale;
        const mNew = max(m, score);
        const correction = Mathf.exp(m - mNew);
        const p = Mathf.exp(score - mNew);
        l = l * correction + p;
        const cv = f32x4.splat(correction), pv = f32x4.splat(p);
        let c: usize = 0;
        for (; c + 16 <= db; c += 16) v128.store(acc + c, f32x4.add(f32x4.mul(v128.load(acc + c), cv), f32x4.mul(v128.load(v + ko + c), pv)));
        for (; c < db; c += 4) store<f32>(acc + c, load<f32>(acc + c) * correction + load<f32>(v + ko + c) * p);
        m = mNew;
      }
      const o = out + (<usize>t * <usize>heads + <usize>h) * db;
      const inv: f32 = 1 / l;
      for (let c: usize = 0; c < db; c += 4) store<f32>(o + c, load<f32>(acc + c) * inv);
    }
  }
}

/** out = silu(gate) * up over elements [start, end), silu(g) = g / (1 + e^-g). */
export function swiglu(out: usize, gate: usize, up: usize, start: i32, end: i32): void {
  for (let i = start; i < end; i++) {
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
