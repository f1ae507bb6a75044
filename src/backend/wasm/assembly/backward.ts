// Training kernels: the backward ops, the loss and the optimizer step. f32 throughout; ranges split over threads.
import { dotF32 } from './dot';
import { keeps } from './elementwise';

/** y += a * x over n floats. */
// @ts-ignore: decorator
@inline function axpy(y: usize, x: usize, a: f32, n: i32): void {
  const av = f32x4.splat(a);
  const nb = <usize>n * 4;
  let c: usize = 0;
  for (; c + 16 <= nb; c += 16) v128.store(y + c, f32x4.add(v128.load(y + c), f32x4.mul(av, v128.load(x + c))));
  for (; c < nb; c += 4) store<f32>(y + c, load<f32>(y + c) + a * load<f32>(x + c));
}

/**
 * out (cols, rows) = x (rows, cols) transposed, for source rows [rowStart, rowEnd). Eight source rows at a time, so
 * each column of them lands as 32 contiguous bytes of out.
 */
export function transpose(out: usize, x: usize, rows: i32, cols: i32, rowStart: i32, rowEnd: i32): void {
  const rb = <usize>cols * 4, ob = <usize>rows * 4;
  let r = rowStart;
  for (; r + 8 <= rowEnd; r += 8) {
    const src = x + <usize>r * rb;
    for (let c = 0; c < cols; c++) {
      const s = src + <usize>c * 4, d = out + <usize>c * ob + <usize>r * 4;
      for (let i: usize = 0; i < 8; i++) store<f32>(d + i * 4, load<f32>(s + i * rb));
    }
  }
  for (; r < rowEnd; r++) for (let c = 0; c < cols; c++) store<f32>(out + <usize>c * ob + <usize>r * 4, load<f32>(x + <usize>r * rb + <usize>c * 4));
}

/**
 * rmsnorm backward, rows [rowStart, rowEnd) of length dim: with r = 1/sqrt(mean(x^2) + eps), g = dy * w,
 * dx = r g - x r^3 mean(g x); r is kept in rs[row] for rmsnormWeightGrad.
 */
export function rmsnormBackward(dx: usize, rs: usize, dy: usize, x: usize, w: usize, dim: i32, rowStart: i32, rowEnd: i32, eps: f32): void {
  const rb = <usize>dim * 4;
  for (let row = rowStart; row < rowEnd; row++) {
    const xr = x + <usize>row * rb, gr = dy + <usize>row * rb, o = dx + <usize>row * rb;
    const r = <f32>(1 / Math.sqrt(<f64>dotF32(xr, xr, dim) / dim + eps));
    let gx: f32 = 0;
    for (let c: usize = 0; c < rb; c += 4) gx += load<f32>(gr + c) * load<f32>(w + c) * load<f32>(xr + c);
    const k = (r * r * r * gx) / <f32>dim;
    for (let c: usize = 0; c < rb; c += 4) store<f32>(o + c, r * load<f32>(gr + c) * load<f32>(w + c) - load<f32>(xr + c) * k);
    store<f32>(rs + <usize>row * 4, r);
  }
}

/** dweight[c] = sum over rows of dy[row, c] x[row, c] rs[row], for columns [colStart, colEnd). */
export function rmsnormWeightGrad(dw: usize, rs: usize, dy: usize, x: usize, dim: i32, rows: i32, colStart: i32, colEnd: i32): void {
  for (let c = colStart; c < colEnd; c++) store<f32>(dw + <usize>c * 4, 0);
  const span = colEnd - colStart;
  for (let row = 0; row < rows; row++) {
    const at = (<usize>row * <usize>dim + <usize>colStart) * 4;
    const r = load<f32>(rs + <usize>row * 4);
    for (let i = 0; i < span; i++) {
      const o = <usize>i * 4;
      store<f32>(dw + <usize>colStart * 4 + o, load<f32>(dw + <usize>colStart * 4 + o) + load<f32>(dy + at + o) * load<f32>(x + at + o) * r);
    }
  }
}

/** swiglu backward over elements [start, end): s = sigmoid(g); dgate = dy up s (1 + g (1 - s)); dup = dy g s. */
export function swigluBackward(dgate: usize, dup: usize, dy: usize, gate: usize, up: usize, start: i32, end: i32): void {
  for (let i = start; i < end; i++) {
    const o = <usize>i * 4;
    const g = load<f32>(gate + o), d = load<f32>(dy + o);
    const s: f32 = 1 / (1 + Mathf.exp(-g));
    store<f32>(dgate + o, d * load<f32>(up + o) * s * (1 + g * (1 - s)));
    store<f32>(dup + o, d * g * s);
  }
}

/**
 * Causal attention backward for one sequence (training: S = T), kv heads [kvStart, kvEnd) and the query heads that
 * read them, so threads never write the same dk/dv rows. Per query row the probabilities are recomputed (scores,
 * max, sum) into this thread's scratch (2T floats at scratch + thread * 8T bytes): with dp_s = dy.v_s and
 * D = sum p_s dp_s, ds_s = p_s (dp_s - D), dq += scale ds_s k_s, dk_s += scale ds_s q, dv_s += p_s dy.
 * With the forward's dropout (dropThreshold != 0; see attention), dp_s and the p_s of dv are the dropped ones.
 */
export function attentionBackward(dq: usize, dk: usize, dv: usize, dy: usize, q: usize, k: usize, v: usize, scratch: usize, time: i32, heads: i32, kvHeads: i32, headDim: i32, thread: i32, kvStart: i32, kvEnd: i32, dropOffset: u32, dropThreshold: u32, dropScale: f32): void {
  const group = heads / kvHeads;
  const scale = <f32>(1 / Math.sqrt(<f64>headDim));
  const db = <usize>headDim * 4;
  const p = scratch + <usize>thread * <usize>time * 8, dp = p + <usize>time * 4;
  for (let g = kvStart; g < kvEnd; g++) {
    for (let s = 0; s < time; s++) {
      const o = (<usize>s * <usize>kvHeads + <usize>g) * db;
      memory.fill(dk + o, 0, db);
      memory.fill(dv + o, 0, db);
    }
    for (let h = g * group; h < (g + 1) * group; h++) {
      for (let t = 0; t < time; t++) {
        const qo = (<usize>t * <usize>heads + <usize>h) * db;
        let m: f32 = -Infinity;
        for (let s = 0; s <= t; s++) {
          const score = dotF32(q + qo, k + (<usize>s * <usize>kvHeads + <usize>g) * db, headDim) * scale;
          store<f32>(p + <usize>s * 4, score);
          m = max(m, score);
        }
        let sum: f32 = 0;
        for (let s = 0; s <= t; s++) {
          const e = Mathf.exp(load<f32>(p + <usize>s * 4) - m);
          store<f32>(p + <usize>s * 4, e);
          sum += e;
        }
        const inv: f32 = 1 / sum;
        const row = dropOffset + (<u32>h * <u32>time + <u32>t) * <u32>time;
        let dSum: f32 = 0;
        for (let s = 0; s <= t; s++) {
          const ps = load<f32>(p + <usize>s * 4) * inv;
          store<f32>(p + <usize>s * 4, ps);
          let d = dotF32(dy + qo, v + (<usize>s * <usize>kvHeads + <usize>g) * db, headDim);
          if (dropThreshold != 0) d = keeps(row + <u32>s, dropThreshold) ? d * dropScale : 0;
          store<f32>(dp + <usize>s * 4, d);
          dSum += ps * d;
        }
        memory.fill(dq + qo, 0, db);
        for (let s = 0; s <= t; s++) {
          const ko = (<usize>s * <usize>kvHeads + <usize>g) * db;
          const ps = load<f32>(p + <usize>s * 4);
          const ds = ps * (load<f32>(dp + <usize>s * 4) - dSum) * scale;
          axpy(dq + qo, k + ko, ds, headDim);
          axpy(dk + ko, q + qo, ds, headDim);
          axpy(dv + ko, dy + qo, dropThreshold == 0 ? ps : keeps(row + <u32>s, dropThreshold) ? ps * dropScale : 0, headDim);
        }
      }
    }
  }
}

/**
 * Cross-entropy on logit rows [rowStart, rowEnd) of width vocab, in place: loss[row] = logsumexp - logit[target]
 * and the row becomes gradScale (softmax - onehot(target)); a row whose target is < 0 gets loss 0 and zeros.
 */
export function crossEntropyRows(logits: usize, targets: usize, loss: usize, vocab: i32, gradScale: f32, rowStart: i32, rowEnd: i32): void {
  const rb = <usize>vocab * 4;
  for (let row = rowStart; row < rowEnd; row++) {
    const l = logits + <usize>row * rb;
    const target = load<i32>(targets + <usize>row * 4);
    if (target < 0) {
      memory.fill(l, 0, rb);
      store<f32>(loss + <usize>row * 4, 0);
      continue;
    }
    const tl = <usize>target * 4;
    const targetLogit = load<f32>(l + tl);
    let m: f32 = -Infinity;
    for (let c: usize = 0; c < rb; c += 4) m = max(m, load<f32>(l + c));
    let sum: f64 = 0;
    for (let c: usize = 0; c < rb; c += 4) {
      const e = Mathf.exp(load<f32>(l + c) - m);
      store<f32>(l + c, e);
      sum += e;
    }
    store<f32>(loss + <usize>row * 4, <f32>(<f64>m + Math.log(sum) - <f64>targetLogit));
    const k = <f32>(<f64>gradScale / sum);
    for (let c: usize = 0; c < rb; c += 4) store<f32>(l + c, load<f32>(l + c) * k);
    store<f32>(l + tl, load<f32>(l + tl) - gradScale);
  }
}

/** out = x * s over elements [start, end). */
export function scale(out: usize, x: usize, s: f32, start: i32, end: i32): void {
  const sv = f32x4.splat(s);
  let i = start;
  for (; i + 4 <= end; i += 4) v128.store(out + <usize>i * 4, f32x4.mul(v128.load(x + <usize>i * 4), sv));
  for (; i < end; i++) store<f32>(out + <usize>i * 4, load<f32>(x + <usize>i * 4) * s);
}

/** Sum of squares of n floats, in f64 over f32 partial sums of 256 elements. */
export function sumSquares(x: usize, n: i32): f64 {
  let total: f64 = 0;
  for (let start = 0; start < n; start += 256) total += <f64>dotF32(x + <usize>start * 4, x + <usize>start * 4, min(256, n - start));
  return total;
}

/**
 * AdamW in place over elements [start, end) (torch.optim.AdamW's arithmetic), g = gradScale grad: param *= decay; m = b1 m + (1-b1) g;
 * v = b2 v + (1-b2) g^2; param -= stepSize m / (sqrt(v) / bias2Sqrt + eps).
 */
export function adamw(param: usize, grad: usize, m: usize, v: usize, decay: f32, beta1: f32, beta2: f32, eps: f32, stepSize: f32, bias2Sqrt: f32, gradScale: f32, start: i32, end: i32): void {
  for (let i = start; i < end; i++) {
    const o = <usize>i * 4;
    const g = load<f32>(grad + o) * gradScale;
    const mi = beta1 * load<f32>(m + o) + (1 - beta1) * g;
    const vi = beta2 * load<f32>(v + o) + (1 - beta2) * g * g;
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    store<f32>(param + o, load<f32>(param + o) * decay - (stepSize * mi) / (Mathf.sqrt(vi) / bias2Sqrt + eps));
  }
}
