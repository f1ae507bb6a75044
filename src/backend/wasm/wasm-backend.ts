import { availableParallelism } from 'node:os';
import { decodeFloats, dtypeBytes, type DType } from '../../core/dtype.js';
import { ArgumentError, ShapeError } from '../../core/errors.js';
import { expectShape, numel, shapeToString, type Shape } from '../../core/shape.js';
import { decodeTensor } from '../../tensor/decode.js';
import type { EncodedTensor, Tensor } from '../../tensor/tensor.js';
import { attentionDims } from '../attention-dims.js';
import type { AdamWStep, Ops } from '../ops.js';
import { sliceTimeRows, timeSliceShape, writeTimeRows } from '../time-rows.js';
import { WasmHeap } from './heap.js';
import { kernelModule } from './kernels.js';
import { WorkerPool, type KernelCall, type KernelTable } from './pool.js';

/** Where a tensor lives in the heap. Views (reshape) share one storage, freed once. */
interface Storage {
  ptr: number;
  bytes: number;
  freed: boolean;
}

export interface WasmBackendOptions {
  /** Threads to run kernels on (the main thread included); default: the machine's cores. */
  threads?: number;
  /** Use the relaxed-SIMD kernels when the runtime accepts them (Node 20 needs --experimental-wasm-relaxed-simd). */
  relaxed?: boolean;
}

/**
 * Per weight type: the suffix of its decode (matvec) kernel, whether that kernel takes x quantized to Q8A, and the
 * ggml type id that the prefill kernel (matmulDecoded) decodes.
 */
const weightKernels: Partial<Record<DType, { suffix: string; quantizedX: boolean; ggml: number }>> = {
  f32: { suffix: 'F32', quantizedX: false, ggml: 0 }, f16: { suffix: 'F16', quantizedX: false, ggml: 1 },
  bf16: { suffix: 'BF16', quantizedX: false, ggml: 30 }, q8_0: { suffix: 'Q8_0', quantizedX: true, ggml: 8 },
  q4_0: { suffix: 'Q4_0', quantizedX: true, ggml: 2 }, q4_k: { suffix: 'Q4_K', quantizedX: true, ggml: 12 },
  q6_k: { suffix: 'Q6_K', quantizedX: true, ggml: 14 },
};
/** Q8A, the activation quantization of the integer kernels: per 32 values an f32 scale, an i32 sum, 32 int8. */
const Q8A_BLOCK_BYTES = 40;

/**
 * The fast CPU backend: tensors in one shared WebAssembly memory, WASM SIMD kernels (src/backend/wasm/assembly),
 * run on a pool of threads that split output rows. Weights stay in their file's encoding (f16, bf16, GGUF blocks)
 * and are decoded inside the kernels.
 */
export class WasmBackend implements Ops {
  readonly name = 'wasm';
  private readonly scopes: Set<Storage>[] = [];

  private constructor(
    readonly heap: WasmHeap,
    private readonly k: KernelTable,
    private readonly pool: WorkerPool,
  ) {}

  static async create(options: WasmBackendOptions = {}): Promise<WasmBackend> {
    const threads = options.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) throw new ArgumentError('threads', 'an integer >= 1', String(threads));
    const heap = new WasmHeap();
    const module = kernelModule(options.relaxed ?? false);
    const instance = new WebAssembly.Instance(module, { env: { memory: heap.memory, abort: kernelAbort } });
    const kernels = instance.exports as unknown as KernelTable;
    const pool = await WorkerPool.create(threads, kernels, module, heap.memory);
    const backend = new WasmBackend(heap, kernels, pool);
    unusedPools.register(backend, pool, backend); // a forgotten backend's threads still end
    return backend;
  }

  get threads(): number {
    return this.pool.threads;
  }

  /** Run raw kernel calls on the pool (for probes and benchmarks; ops are the normal way in). */
  runKernels(calls: KernelCall[]): void {
    this.pool.run(calls);
  }

  // ---- memory ----

  private alloc(shape: Shape, dtype: DType, bytes: number): Tensor {
    const storage: Storage = { ptr: this.heap.alloc(bytes), bytes, freed: false };
    this.scopes[this.scopes.length - 1]?.add(storage);
    return { shape: [...shape], dtype, backend: 'wasm', storage };
  }

  private f32(shape: Shape): Tensor {
    return this.alloc(shape, 'f32', numel(shape) * 4);
  }

  fromHost(data: Float32Array | Int32Array, shape: Shape): Tensor {
    if (data.length !== numel(shape)) {
      throw new ShapeError('fromHost', `${numel(shape)} elements for shape ${shapeToString(shape)}`, `${data.length}`);
    }
    const t = this.alloc(shape, data instanceof Int32Array ? 'i32' : 'f32', data.byteLength);
    this.heap.u8(ptr(t), data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return t;
  }

  fromEncoded(e: EncodedTensor): Tensor {
    if (e.shape.length === 1) return this.fromHost(decodeTensor(e), e.shape); // norm gains: the f32 kernels read them
    const t = this.alloc(e.shape, e.dtype, e.bytes.byteLength);
    this.heap.u8(ptr(t), e.bytes.byteLength).set(e.bytes);
    return t;
  }

  zeros(shape: Shape): Tensor {
    const t = this.f32(shape);
    this.heap.f32(ptr(t), numel(shape)).fill(0);
    return t;
  }

  async read(t: Tensor): Promise<Float32Array | Int32Array> {
    if (t.dtype === 'i32') return this.heap.i32(ptr(t), numel(t.shape)).slice();
    return this.heap.f32(ptr(f32Tensor(t)), numel(t.shape)).slice();
  }

  release(t: Tensor): void {
    const s = t.storage as Storage;
    if (s.freed) return;
    s.freed = true;
    this.heap.release(s.ptr, s.bytes);
  }

  tidy<T extends Tensor | Tensor[]>(fn: () => T): T {
    const scope = new Set<Storage>();
    this.scopes.push(scope);
    let result: T;
    try {
      result = fn();
    } finally {
      this.scopes.pop();
    }
    const kept = new Set((Array.isArray(result) ? result : [result]).map((t) => t.storage as Storage));
    for (const s of scope) {
      if (kept.has(s)) this.scopes[this.scopes.length - 1]?.add(s);
      else if (!s.freed) (s.freed = true), this.heap.release(s.ptr, s.bytes);
    }
    return result;
  }

  reshape(x: Tensor, shape: Shape): Tensor {
    if (numel(shape) !== numel(x.shape)) {
      throw new ShapeError('reshape', `${numel(x.shape)} elements`, `shape ${shapeToString(shape)}`);
    }
    return { ...x, shape: [...shape] };
  }

  sliceTime(x: Tensor, start: number, length: number): Tensor {
    const out = this.f32(timeSliceShape(x, start, length));
    sliceTimeRows(x, this.view(x), this.view(out), start, length);
    return out;
  }

  writeAt(dst: Tensor, x: Tensor, pos: number): void {
    writeTimeRows(dst, x, this.view(dst), this.view(x), pos);
  }

  /** An f32 view of a tensor's data (valid until the heap grows). */
  private view(t: Tensor): Float32Array {
    return this.heap.f32(ptr(f32Tensor(t)), numel(t.shape));
  }

  // ---- ops ----

  embedding(table: Tensor, ids: Tensor): Tensor {
    const [vocab, dim] = table.shape as [number, number];
    if (ids.dtype !== 'i32') throw new ShapeError('embedding ids', 'an i32 tensor', ids.dtype);
    const tokens = this.heap.i32(ptr(ids), numel(ids.shape));
    const out = this.f32([...ids.shape, dim]);
    const rowBytes = encodedBytes(table.dtype, dim);
    tokens.forEach((id, n) => {
      if (!(id >= 0 && id < vocab)) throw new ArgumentError('token id', `an integer in [0, ${vocab})`, String(id));
      const bytes = this.heap.u8(ptr(table) + id * rowBytes, rowBytes);
      const row = table.dtype === 'f32' ? decodeFloats(bytes, 'f32') : decodeTensor({ shape: [dim], dtype: table.dtype as EncodedTensor['dtype'], bytes });
      this.view(out).set(row, n * dim);
    });
    return out;
  }

  rmsnorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    const dim = last(x);
    expectShape('rmsnorm weight', weight.shape, [dim]);
    const out = this.f32(x.shape);
    this.k['rmsnorm']!(ptr(out), ptr(f32Tensor(x)), ptr(f32Tensor(weight)), dim, 0, numel(x.shape) / dim, eps);
    return out;
  }

  linear(x: Tensor, w: Tensor): Tensor {
    return this.linears(x, [w])[0]!;
  }

  /**
   * x (rows, in) against each w (out_i, in): one pool job. One row (decode) uses the matvec kernels (integer ones
   * on x quantized once to Q8A); several rows (prefill) the register-tiled f32 mat-mul, with weights of other types
   * decoded a few rows at a time into per-thread scratch.
   */
  linears(x: Tensor, ws: Tensor[]): Tensor[] {
    const inF = last(f32Tensor(x));
    const rows = numel(x.shape) / inF;
    const decode = rows === 1;
    let xq = 0;
    if (decode && ws.some((w) => kernelsFor(w).quantizedX)) {
      if (inF % 32 !== 0) throw new ShapeError('linear', 'an input width that is a multiple of 32 for quantized weights', String(inF));
      xq = ptr(this.alloc([inF], 'i32', (inF / 32) * Q8A_BLOCK_BYTES));
      this.k['quantizeQ8A']!(xq, ptr(x), inF);
    }
    const scratch = !decode && ws.some((w) => w.dtype !== 'f32') ? ptr(this.f32([this.threads, 4, inF])) : 0;
    const outs: Tensor[] = [];
    const calls: KernelCall[] = ws.map((w) => {
      const outF = w.shape[0]!;
      expectShape('linear weight', w.shape, [outF, inF]);
      const out = this.f32([...x.shape.slice(0, -1), outF]);
      outs.push(out);
      const { suffix, quantizedX, ggml } = kernelsFor(w);
      if (decode) return { kernel: `matvec${suffix}`, args: [ptr(out), quantizedX ? xq : ptr(x), ptr(w), inF, 0, 0], range: 4, total: outF };
      if (w.dtype === 'f32') return { kernel: 'matmulF32', args: [ptr(out), ptr(x), ptr(w), rows, inF, outF, 0, 0], range: 6, total: outF };
      return { kernel: 'matmulDecoded', args: [ptr(out), ptr(x), ptr(w), ggml, rows, inF, outF, scratch, 0, 0, 0], range: 9, total: outF, thread: 8 };
    });
    this.pool.run(calls);
    return outs;
  }

  rope(x: Tensor, invFreq: Tensor, startPos: number): Tensor {
    const [batch, time, heads, headDim] = x.shape as [number, number, number, number];
    expectShape('rope invFreq', invFreq.shape, [headDim / 2]);
    const out = this.f32(x.shape);
    const stride = time * heads * headDim * 4;
    for (let b = 0; b < batch; b++) {
      this.k['rope']!(ptr(out) + b * stride, ptr(f32Tensor(x)) + b * stride, ptr(invFreq), time, heads, headDim, startPos, 0, time * heads);
    }
    return out;
  }

  attention(q: Tensor, k: Tensor, v: Tensor, startPos: number): Tensor {
    const { batch, time, heads, kvHeads, headDim, cacheLen } = attentionDims(q, k, v, startPos);
    const out = this.f32(q.shape);
    const scratch = ptr(this.f32([heads, headDim + 4]));
    const qStride = time * heads * headDim * 4;
    const kvStride = cacheLen * kvHeads * headDim * 4;
    const calls = Array.from({ length: batch }, (_, b): KernelCall => ({
      kernel: 'attention',
      args: [ptr(out) + b * qStride, ptr(q) + b * qStride, ptr(k) + b * kvStride, ptr(v) + b * kvStride, scratch,
        time, heads, kvHeads, headDim, cacheLen, startPos, 0, 0],
      range: 11,
      total: heads,
    }));
    this.pool.run(calls);
    return out;
  }

  swiglu(gate: Tensor, up: Tensor): Tensor {
    expectShape('swiglu up', up.shape, gate.shape);
    const out = this.f32(gate.shape);
    this.k['swiglu']!(ptr(out), ptr(f32Tensor(gate)), ptr(f32Tensor(up)), 0, numel(gate.shape));
    return out;
  }

  add(a: Tensor, b: Tensor): Tensor {
    expectShape('add', b.shape, a.shape);
    const out = this.f32(a.shape);
    this.k['add']!(ptr(out), ptr(f32Tensor(a)), ptr(f32Tensor(b)), 0, numel(a.shape));
    return out;
  }

  softmax(x: Tensor): Tensor {
    const n = last(x);
    const out = this.f32(x.shape);
    this.k['softmax']!(ptr(out), ptr(f32Tensor(x)), n, 0, numel(x.shape) / n);
    return out;
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

  dispose(): void {
    unusedPools.unregister(this);
    this.pool.dispose();
  }
}

/** Stops the threads of backends that were dropped without dispose(). */
const unusedPools = new FinalizationRegistry<WorkerPool>((pool) => pool.dispose());

/** Bytes of one row of `cols` elements stored as `dtype`. */
function encodedBytes(dtype: DType, cols: number): number {
  if (dtype === 'f32' || dtype === 'f16' || dtype === 'bf16' || dtype === 'i32') return cols * dtypeBytes[dtype];
  const block = { q8_0: [32, 34], q4_0: [32, 18], q4_k: [256, 144], q6_k: [256, 210] }[dtype];
  return (cols / block[0]!) * block[1]!;
}

function kernelsFor(w: Tensor): { suffix: string; quantizedX: boolean; ggml: number } {
  const k = weightKernels[w.dtype];
  if (!k) throw new ShapeError('linear weight', 'f32, f16, bf16, q8_0, q4_0, q4_k or q6_k', w.dtype);
  return k;
}

function last(t: Tensor): number {
  return t.shape[t.shape.length - 1]!;
}

function kernelAbort(): never {
  throw new Error('llamats: a WASM kernel aborted');
}

function ptr(t: Tensor): number {
  if (t.backend !== 'wasm') throw new ArgumentError('tensor', 'a tensor of the wasm backend', `one of ${t.backend}`);
  const s = t.storage as Storage;
  if (s.freed) throw new ArgumentError('tensor', 'a live tensor', 'a disposed one');
  return s.ptr;
}

function f32Tensor(t: Tensor): Tensor {
  if (t.dtype !== 'f32') throw new ShapeError('wasm op', 'an f32 tensor', t.dtype);
  return t;
}

function todo(op: string): Error {
  return new Error(`llamats: ${op} is not written yet`);
}
