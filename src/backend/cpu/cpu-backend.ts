import type { DType } from '../../core/dtype.js';
import { ArgumentError, ShapeError } from '../../core/errors.js';
import { expectShape, numel, shapeToString, type Shape } from '../../core/shape.js';
import { decodeTensor } from '../../tensor/decode.js';
import type { EncodedTensor, Tensor } from '../../tensor/tensor.js';
import { attentionDims } from '../attention-dims.js';
import type { AdamWStep, Ops } from '../ops.js';
import { sliceTimeRows, timeSliceShape, writeTimeRows } from '../time-rows.js';
import { add } from './add.js';
import { attention } from './attention.js';
import { embedding } from './embedding.js';
import { linear } from './linear.js';
import { rmsnorm } from './rmsnorm.js';
import { rope } from './rope.js';
import { softmax } from './softmax.js';
import { swiglu } from './swiglu.js';

/**
 * The reference backend: plain TypeScript kernels over Float32Array, each in its own file beside this one.
 * They are written to be obviously right, and they are the oracle every fast kernel is tested against.
 */
export class CpuBackend implements Ops {
  readonly name = 'cpu';

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

  attention(q: Tensor, k: Tensor, v: Tensor, startPos: number): Tensor {
    const { batch, time, heads, kvHeads, headDim, cacheLen } = attentionDims(q, k, v, startPos);
    const out = new Float32Array(numel(q.shape));
    attention(out, f32(q), f32(k), f32(v), batch, time, heads, kvHeads, headDim, cacheLen, startPos);
    return wrap(out, q.shape, 'f32');
  }

  swiglu(gate: Tensor, up: Tensor): Tensor {
    expectShape('swiglu up', up.shape, gate.shape);
    const out = new Float32Array(numel(gate.shape));
    swiglu(out, f32(gate), f32(up));
    return wrap(out, gate.shape, 'f32');
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

  // ---- training (being written: each throws until its kernel lands) ----
  linearBackward(_dy: Tensor, _x: Tensor, _w: Tensor): { dx: Tensor; dw: Tensor } { throw todo('linearBackward'); }
  rmsnormBackward(_dy: Tensor, _x: Tensor, _weight: Tensor, _eps: number): { dx: Tensor; dweight: Tensor } { throw todo('rmsnormBackward'); }
  ropeBackward(_dy: Tensor, _invFreq: Tensor, _startPos: number): Tensor { throw todo('ropeBackward'); }
  attentionBackward(_dy: Tensor, _q: Tensor, _k: Tensor, _v: Tensor): { dq: Tensor; dk: Tensor; dv: Tensor } { throw todo('attentionBackward'); }
  swigluBackward(_dy: Tensor, _gate: Tensor, _up: Tensor): { dgate: Tensor; dup: Tensor } { throw todo('swigluBackward'); }
  embeddingBackward(_dy: Tensor, _ids: Tensor, _vocab: number): Tensor { throw todo('embeddingBackward'); }
  crossEntropy(_x: Tensor, _w: Tensor, _targets: Tensor, _gradScale?: number): { loss: Tensor; dx?: Tensor; dw?: Tensor } { throw todo('crossEntropy'); }
  sumSquares(_x: Tensor): Tensor { throw todo('sumSquares'); }
  scale(_x: Tensor, _s: number): Tensor { throw todo('scale'); }
  adamw(_param: Tensor, _grad: Tensor, _m: Tensor, _v: Tensor, _hp: AdamWStep): void { throw todo('adamw'); }
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

function todo(op: string): Error {
  return new Error(`llamats: ${op} is not written yet`);
}
