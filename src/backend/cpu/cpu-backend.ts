import type { DType } from '../../core/dtype.js';
import { ArgumentError, ShapeError } from '../../core/errors.js';
import { expectShape, numel, shapeToString, type Shape } from '../../core/shape.js';
import { decodeTensor } from '../../tensor/decode.js';
import type { EncodedTensor, Tensor } from '../../tensor/tensor.js';
import { attentionDims } from '../attention-dims.js';
import type { AdamWStep, Dropout, Ops } from '../ops.js';
import { sliceTimeRows, timeSliceShape, writeTimeRows } from '../time-rows.js';
import { adamw } from './adamw.js';
import { add } from './add.js';
import { attention, attentionBackward } from './attention.js';
import { crossEntropy } from './cross-entropy.js';
import { embedding, embeddingBackward } from './embedding.js';
import { linear, linearBackward } from './linear.js';
import { rmsnorm, rmsnormBackward } from './rmsnorm.js';
import { rope } from './rope.js';
import { softmax } from './softmax.js';
import { swiglu, swigluBackward } from './swiglu.js';
import { checkDropout, dropout, maybeDropoutParams } from './dropout.js';

/**
 * The reference backend: plain TypeScript kernels over Float32Array, each in its own file beside this one.
 * They are written to be obviously right, and they are the oracle every fast kernel is tested against.
 */
export class CpuBackend implements Ops {
  readonly name = 'cpu';
  readonly device = 'CPU, 1 thread (reference kernels)';

  fromHost(data: Float32Array | Int32Array, shape: Shape): Tensor {
    if (data.length !== numel(shape)) {
      throw new ShapeError('fromHost', `${numel(shape)} elements for shape ${shapeToString(shape)}`, `${data.length}`);
    }
    return wrap(data.slice(), shape, data instanceof Int32Array ? 'i32' : 'f32');
  }

  fromEncoded(t: EncodedTensor): Tensor {
    return wrap(decodeTensor(t), t.shape, 'f32');
  }

  tidy<T extends Tensor | Tensor[]>(fn: () => T): T {
    return fn(); // host memory is reclaimed by the garbage collector
  }

  zeros(shape: Shape): Tensor {
    return wrap(new Float32Array(numel(shape)), shape, 'f32');
  }

  async read(t: Tensor): Promise<Float32Array | Int32Array> {
    return data(t).slice();
  }

  release(_t: Tensor): void {
    // Host memory is reclaimed by the garbage collector.
  }

  dispose(): void {}

  reshape(x: Tensor, shape: Shape): Tensor {
    if (numel(shape) !== numel(x.shape)) {
      throw new ShapeError('reshape', `${numel(x.shape)} elements`, `shape ${shapeToString(shape)}`);
    }
    return wrap(data(x), shape, x.dtype);
  }

  sliceTime(x: Tensor, start: number, length: number): Tensor {
    const shape = timeSliceShape(x, start, length);
    const out = new Float32Array(numel(shape));
    sliceTimeRows(x, f32(x), out, start, length);
    return wrap(out, shape, 'f32');
  }

  writeAt(dst: Tensor, x: Tensor, pos: number): void {
    writeTimeRows(dst, x, f32(dst), f32(x), pos);
  }

  embedding(table: Tensor, ids: Tensor): Tensor {
    const [vocab, dim] = table.shape as [number, number];
    const out = new Float32Array(numel(ids.shape) * dim);
    embedding(out, f32(table), i32(ids), vocab, dim);
    return wrap(out, [...ids.shape, dim], 'f32');
  }

  rmsnorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    const dim = last(x);
    expectShape('rmsnorm weight', weight.shape, [dim]);
    const out = new Float32Array(numel(x.shape));
    rmsnorm(out, f32(x), f32(weight), dim, eps);
    return wrap(out, x.shape, 'f32');
  }

  linear(x: Tensor, w: Tensor): Tensor {
    const inF = last(x);
    const outF = w.shape[0]!;
    expectShape('linear weight', w.shape, [outF, inF]);
    const rows = numel(x.shape) / inF;
    const out = new Float32Array(rows * outF);
    linear(out, f32(x), f32(w), rows, inF, outF);
    return wrap(out, [...x.shape.slice(0, -1), outF], 'f32');
  }

  linears(x: Tensor, ws: Tensor[]): Tensor[] {
    return ws.map((w) => this.linear(x, w));
  }

  rope(x: Tensor, invFreq: Tensor, startPos: number): Tensor {
    const [batch, time, heads, headDim] = x.shape as [number, number, number, number];
    expectShape('rope invFreq', invFreq.shape, [headDim / 2]);
    const out = new Float32Array(numel(x.shape));
    rope(out, f32(x), f32(invFreq), batch, time, heads, headDim, startPos);
    return wrap(out, x.shape, 'f32');
  }

  attention(q: Tensor, k: Tensor, v: Tensor, startPos: number, dropout?: Dropout): Tensor {
    const { batch, time, heads, kvHeads, headDim, cacheLen } = attentionDims(q, k, v, startPos);
    const out = new Float32Array(numel(q.shape));
    attention(out, f32(q), f32(k), f32(v), batch, time, heads, kvHeads, headDim, cacheLen, startPos, maybeDropoutParams(dropout));
    return wrap(out, q.shape, 'f32');
  }

  swiglu(gate: Tensor, up: Tensor): Tensor {
    expectShape('swiglu up', up.shape, gate.shape);
    const out = new Float32Array(numel(gate.shape));
    swiglu(out, f32(gate), f32(up));
    return wrap(out, gate.shape, 'f32');
  }

  dropout(x: Tensor, p: number, seed: number): Tensor {
    checkDropout(p, seed);
    const out = new Float32Array(numel(x.shape));
    dropout(out, f32(x), p, seed);
    return wrap(out, x.shape, 'f32');
  }

  add(a: Tensor, b: Tensor): Tensor {
    expectShape('add', b.shape, a.shape);
    const out = new Float32Array(numel(a.shape));
    add(out, f32(a), f32(b));
    return wrap(out, a.shape, 'f32');
  }

  softmax(x: Tensor): Tensor {
    const out = new Float32Array(numel(x.shape));
    softmax(out, f32(x), last(x));
    return wrap(out, x.shape, 'f32');
  }

  // ---- training ----

  linearBackward(dy: Tensor, x: Tensor, w: Tensor): { dx: Tensor; dw: Tensor } {
    const [outF, inF] = w.shape as [number, number];
    expectShape('linearBackward x', [last(x)], [inF]);
    const rows = numel(x.shape) / inF;
    expectShape('linearBackward dy', dy.shape, [...x.shape.slice(0, -1), outF]);
    const dx = new Float32Array(rows * inF);
    const dw = new Float32Array(outF * inF);
    linearBackward(dx, dw, f32(dy), f32(x), f32(w), rows, inF, outF);
    return { dx: wrap(dx, x.shape, 'f32'), dw: wrap(dw, w.shape, 'f32') };
  }

  rmsnormBackward(dy: Tensor, x: Tensor, weight: Tensor, eps: number): { dx: Tensor; dweight: Tensor } {
    const dim = last(x);
    expectShape('rmsnormBackward weight', weight.shape, [dim]);
    expectShape('rmsnormBackward dy', dy.shape, x.shape);
    const dx = new Float32Array(numel(x.shape));
    const dweight = new Float32Array(dim);
    rmsnormBackward(dx, dweight, f32(dy), f32(x), f32(weight), dim, eps);
    return { dx: wrap(dx, x.shape, 'f32'), dweight: wrap(dweight, weight.shape, 'f32') };
  }

  ropeBackward(dy: Tensor, invFreq: Tensor, startPos: number): Tensor {
    const [batch, time, heads, headDim] = dy.shape as [number, number, number, number];
    expectShape('rope invFreq', invFreq.shape, [headDim / 2]);
    const dx = new Float32Array(numel(dy.shape));
    rope(dx, f32(dy), f32(invFreq), batch, time, heads, headDim, startPos, -1);
    return wrap(dx, dy.shape, 'f32');
  }

  attentionBackward(dy: Tensor, q: Tensor, k: Tensor, v: Tensor, dropout?: Dropout): { dq: Tensor; dk: Tensor; dv: Tensor } {
    const { batch, time, heads, kvHeads, headDim, cacheLen } = attentionDims(q, k, v, 0);
    if (cacheLen !== time) throw new ShapeError('attentionBackward k', `${time} positions (training has no cache)`, String(cacheLen));
    expectShape('attentionBackward dy', dy.shape, q.shape);
    const dq = new Float32Array(numel(q.shape));
    const dk = new Float32Array(numel(k.shape));
    const dv = new Float32Array(numel(v.shape));
    attentionBackward(dq, dk, dv, f32(dy), f32(q), f32(k), f32(v), batch, time, heads, kvHeads, headDim, maybeDropoutParams(dropout));
    return { dq: wrap(dq, q.shape, 'f32'), dk: wrap(dk, k.shape, 'f32'), dv: wrap(dv, v.shape, 'f32') };
  }

  swigluBackward(dy: Tensor, gate: Tensor, up: Tensor): { dgate: Tensor; dup: Tensor } {
    expectShape('swiglu up', up.shape, gate.shape);
    expectShape('swigluBackward dy', dy.shape, gate.shape);
    const dgate = new Float32Array(numel(gate.shape));
    const dup = new Float32Array(numel(gate.shape));
    swigluBackward(dgate, dup, f32(dy), f32(gate), f32(up));
    return { dgate: wrap(dgate, gate.shape, 'f32'), dup: wrap(dup, up.shape, 'f32') };
  }

  embeddingBackward(dy: Tensor, ids: Tensor, vocab: number): Tensor {
    const dim = last(dy);
    expectShape('embeddingBackward dy', dy.shape, [...ids.shape, dim]);
    const dtable = new Float32Array(vocab * dim);
    embeddingBackward(dtable, f32(dy), i32(ids), vocab, dim);
    return wrap(dtable, [vocab, dim], 'f32');
  }

  crossEntropy(x: Tensor, w: Tensor, targets: Tensor, gradScale?: number): { loss: Tensor; dx?: Tensor; dw?: Tensor } {
    const [vocab, dim] = w.shape as [number, number];
    expectShape('crossEntropy x', [last(x)], [dim]);
    const rows = numel(x.shape) / dim;
    expectShape('crossEntropy targets', targets.shape, [rows]);
    if (gradScale === undefined) {
      return { loss: wrap(Float32Array.of(crossEntropy(f32(x), f32(w), i32(targets), rows, dim, vocab)), [1], 'f32') };
    }
    const dx = new Float32Array(rows * dim);
    const dw = new Float32Array(vocab * dim);
    const loss = crossEntropy(f32(x), f32(w), i32(targets), rows, dim, vocab, { dx, dw, gradScale });
    return { loss: wrap(Float32Array.of(loss), [1], 'f32'), dx: wrap(dx, x.shape, 'f32'), dw: wrap(dw, w.shape, 'f32') };
  }

  sumSquares(x: Tensor): Tensor {
    return wrap(Float32Array.of(f32(x).reduce((s, v) => s + v * v, 0)), [1], 'f32');
  }

  scale(x: Tensor, s: number): Tensor {
    return wrap(f32(x).map((v) => v * s), x.shape, 'f32');
  }

  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, hp: AdamWStep): void {
    for (const [what, t] of [['grad', grad], ['m', m], ['v', v]] as const) expectShape(`adamw ${what}`, t.shape, param.shape);
    adamw(f32(param), f32(grad), f32(m), f32(v), hp);
  }
}

function wrap(storage: Float32Array | Int32Array, shape: Shape, dtype: DType): Tensor {
  return { shape: [...shape], dtype, backend: 'cpu', storage };
}

function data(t: Tensor): Float32Array | Int32Array {
  if (t.backend !== 'cpu') throw new ArgumentError('tensor', 'a tensor of the cpu backend', `one of ${t.backend}`);
  return t.storage as Float32Array | Int32Array;
}

function f32(t: Tensor): Float32Array {
  if (t.dtype !== 'f32') throw new ShapeError('cpu op', 'an f32 tensor', `${t.dtype}`);
  return data(t) as Float32Array;
}

function i32(t: Tensor): Int32Array {
  if (t.dtype !== 'i32') throw new ShapeError('cpu op', 'an i32 tensor', `${t.dtype}`);
  return data(t) as Int32Array;
}

function last(t: Tensor): number {
  return t.shape[t.shape.length - 1]!;
}
