/** out[r] = dot(w[r, :], x) for r in [rowStart, rowEnd); w is (rows, cols) f32 row-major. */
export function matvecF32(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  for (let r = rowStart; r < rowEnd; r++) {
    const row = w + <usize>r * <usize>cols * 4;
    let acc = f32x4.splat(0);
    let c = 0;
    for (; c + 4 <= cols; c += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(row + c * 4), v128.load(x + c * 4)));
    let sum = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
    for (; c < cols; c++) sum += load<f32>(row + c * 4) * load<f32>(x + c * 4);
    store<f32>(out + <usize>r * 4, sum);
  }
}
