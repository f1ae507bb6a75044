import { availableParallelism } from 'node:os';
import { decodeFloats, dtypeBytes, type DType } from '../../core/dtype.js';
import { ArgumentError, ShapeError } from '../../core/errors.js';
import { expectShape, numel, shapeToString, type Shape } from '../../core/shape.js';
import { decodeTensor } from '../../tensor/decode.js';
import type { EncodedTensor, Tensor } from '../../tensor/tensor.js';
import { attentionDims } from '../attention-dims.js';
import { checkDropout, dropout, dropoutArgs, maybeDropoutParams } from '../cpu/dropout.js';
import { embeddingBackward } from '../cpu/embedding.js';
import type { AdamWStep, Dropout, Ops } from '../ops.js';
import { reshapeView, Scopes } from '../scopes.js';
import { sliceTimeRows, timeSliceShape, writeTimeRows } from '../time-rows.js';
import { WasmHeap } from './heap.js';
import { isRelaxedBuild, kernelModule } from './kernels.js';
import { WorkerPool, type KernelCall, type KernelTable } from './pool.js';

/** Where a tensor lives in the heap. Views (reshape) share one storage, freed once. */
interface Storage {
  ptr: number;
  bytes: number;
  freed: boolean;
  /** f16 halves held times 2^10, so that none is subnormal (assembly/rebase.ts). */
  rebased?: boolean;
  /** Q8_0 or Q4_0 blocks of which some have an f16 subnormal scale (their decode takes an exact path, dot.ts). */
  subnormalScales?: boolean;
}

export interface WasmBackendOptions {
  /** Threads to run kernels on (the main thread included); default: the machine's cores. */
  threads?: number;
  /** Use the relaxed-SIMD kernels (fused multiply-add) when the runtime accepts them; default true. */
  relaxed?: boolean;
  /** Run Q4_0 and Q8_0 prefill on the integer kernels; default: when the relaxed build runs (there they are faster). */
  int8Prefill?: boolean;
}

/**
 * Per weight type: the suffix of its decode (matvec) kernel, the layout of x that kernel takes (f32 where none),
 * and the ggml type id that the prefill kernel (matmulDecoded) decodes.
 */
type DecodeX = 'f32' | 'f32x2^72' | 'f32x2^62' | 'Q8G' | 'Q8K' | 'Q8S';
const weightKernels: Partial<Record<DType, { suffix: string; decodeX: DecodeX; ggml: number }>> = {
  f32: { suffix: 'F32', decodeX: 'f32', ggml: 0 }, f16: { suffix: 'F16', decodeX: 'f32x2^72', ggml: 1 },
  bf16: { suffix: 'BF16', decodeX: 'f32', ggml: 30 }, q8_0: { suffix: 'Q8_0', decodeX: 'Q8S', ggml: 8 },
  q4_0: { suffix: 'Q4_0', decodeX: 'Q8G', ggml: 2 }, q4_k: { suffix: 'Q4_K', decodeX: 'Q8K', ggml: 12 },
  q6_k: { suffix: 'Q6_K', decodeX: 'Q8K', ggml: 14 },
};
/** Rebased f16 (assembly/rebase.ts): the decode kernel's x comes times 2^62 (2^72 / 2^10); 257 is our own type id. */
const rebasedF16Kernels = { suffix: 'F16', decodeX: 'f32x2^62', ggml: 257 } as const;
/** The factor that takes rebased halves back to their values. */
const REBASE_UNDO = 2 ** -10;
/**
 * Bytes of x quantized for decode (q8a.ts): per 128 values, Q8G, 4 f32 scales, 4 f32 scaled sums and 128 int8, and
 * Q8S, 4 f32 scales, 4 i32 corrections, and 32 magnitude and 32 sign bytes per 32 values; Q8K, per 256 values an
 * f32 scale (in 16 bytes), 16 i16 sums and 256 int8.
 */
const decodeXBytes = (inF: number) => ({ Q8G: Math.ceil(inF / 128) * 160, Q8K: (inF / 256) * 304, Q8S: Math.ceil(inF / 128) * 288 });
/**
 * Q8A4, Q8A4K (Q8A4 with one scale per 256 columns, as Q8K) and Q8A4S (q8a.ts), x for the integer prefill kernels:
 * bytes per 4 rows and 32 columns.
 */
const Q8A4_BLOCK_BYTES = { Q8A4: 160, Q8A4K: 160, Q8A4S: 288 };
/**
 * The weight types whose prefill runs on the integer dot (matmul-int8.ts), with the layout of x it takes. Relaxed
 * build only: there it is 1.2-1.7x the f32 tile on decoded rows; the SIMD128 build's exact dot is slower than that.
 */
const int8PrefillKernels: Partial<Record<DType, { kernel: string; layout: keyof typeof Q8A4_BLOCK_BYTES }>> = {
  q4_0: { kernel: 'matmulQ4_0', layout: 'Q8A4' },
  q4_k: { kernel: 'matmulQ4_K', layout: 'Q8A4K' },
  q8_0: { kernel: 'matmulQ8_0', layout: 'Q8A4S' },
};

/**
 * The fast CPU backend: tensors in one shared WebAssembly memory, WASM SIMD kernels (src/backend/wasm/assembly),
 * run on a pool of threads that split output rows. Weights stay in their file's encoding (f16, bf16, GGUF blocks)
 * and are decoded inside the kernels.
 */
export class WasmBackend implements Ops {
  readonly name = 'wasm';
  private readonly scopes = new Scopes<Storage>((s) => this.heap.release(s.ptr, s.bytes));

  private constructor(
    readonly heap: WasmHeap,
    private readonly k: KernelTable,
    private readonly pool: WorkerPool,
    private readonly int8Prefill: boolean,
  ) {}

  static async create(options: WasmBackendOptions = {}): Promise<WasmBackend> {
    const threads = options.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) throw new ArgumentError('threads', 'an integer >= 1', String(threads));
    const heap = new WasmHeap();
    const module = kernelModule(options.relaxed ?? true);
    const instance = new WebAssembly.Instance(module, { env: { memory: heap.memory, abort: kernelAbort } });
    const kernels = instance.exports as unknown as KernelTable;
    const pool = await WorkerPool.create(threads, kernels, module, heap.memory);
    const backend = new WasmBackend(heap, kernels, pool, options.int8Prefill ?? isRelaxedBuild(module));
    unusedPools.register(backend, pool, backend); // a forgotten backend's threads still end
    return backend;
  }

  get threads(): number {
    return this.pool.threads;
  }

  get device(): string {
    return `CPU, ${this.threads} thread${this.threads === 1 ? '' : 's'}`;
  }

  get reservedBytes(): number {
    return this.heap.stats.reserved;
  }

  /** Run raw kernel calls on the pool (for probes and benchmarks; ops are the normal way in). */
  runKernels(calls: KernelCall[]): void {
    this.pool.run(calls);
  }

  // ---- memory ----

  private alloc(shape: Shape, dtype: DType, bytes: number): Tensor {
    const storage: Storage = { ptr: this.heap.alloc(bytes), bytes, freed: false };
    this.scopes.track(storage);
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
    if (e.dtype === 'f16') this.rebase(t, e);
    if (e.dtype === 'q8_0' || e.dtype === 'q4_0') (t.storage as Storage).subnormalScales = hasSubnormalScale(e.bytes, encodedBytes(e.dtype, 32));
    return t;
  }

  /** Rebase an f16 tensor's halves in place (assembly/rebase.ts); one holding a value of 64 or more keeps its own. */
  private rebase(t: Tensor, e: EncodedTensor): void {
    const overflow = this.alloc([1], 'i32', 4);
    this.heap.i32(ptr(overflow), 1)[0] = 0;
    this.pool.run([{ kernel: 'rebaseF16', args: [ptr(t), ptr(overflow), 0, 0], range: 2, total: numel(e.shape) }]);
    if (this.heap.i32(ptr(overflow), 1)[0]) this.heap.u8(ptr(t), e.bytes.byteLength).set(e.bytes);
    else (t.storage as Storage).rebased = true;
    this.release(overflow);
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
    this.scopes.release(t.storage as Storage);
  }

  tidy<T extends Tensor | Tensor[]>(fn: () => T): T {
    return this.scopes.tidy(fn);
  }

  reshape(x: Tensor, shape: Shape): Tensor {
    return reshapeView(x, shape);
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
      if ((table.storage as Storage).rebased) row.forEach((v, i) => (row[i] = v * REBASE_UNDO));
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
   * on x quantized once to Q8G, Q8K or Q8S); several rows (prefill) the integer mat-mul kernels for Q4_0, Q4_K and
   * Q8_0 (on x quantized once to Q8A4, Q8A4K or Q8A4S), and the register-tiled f32 mat-mul for the rest, with weights
   * of other types decoded a few rows at a time into per-thread scratch.
   */
  linears(x: Tensor, ws: Tensor[]): Tensor[] {
    const inF = last(f32Tensor(x));
    const rows = numel(x.shape) / inF;
    const decode = rows === 1;
    if (ws.some((w) => kernelsFor(w).decodeX.startsWith('Q8')) && inF % 32 !== 0) {
      throw new ShapeError('linear', 'an input width that is a multiple of 32 for quantized weights', String(inF));
    }
    const quantized = new Map<string, number>(); // x in each activation layout a kernel asks for, made once
    const xIn = (layout: DecodeX | keyof typeof Q8A4_BLOCK_BYTES): number => {
      if (layout === 'f32') return ptr(x);
      let p = quantized.get(layout);
      if (p !== undefined) return p;
      if (layout === 'f32x2^72' || layout === 'f32x2^62') {
        p = ptr(this.f32([inF]));
        this.k['scale']!(p, ptr(x), layout === 'f32x2^72' ? 2 ** 72 : 2 ** 62, 0, inF);
      } else if (layout === 'Q8K') {
        p = ptr(this.alloc([inF], 'i32', decodeXBytes(inF)[layout]));
        this.k['quantizeQ8K']!(p, ptr(x), inF);
      } else if (layout === 'Q8G' || layout === 'Q8S') {
        p = ptr(this.alloc([inF], 'i32', decodeXBytes(inF)[layout]));
        this.k[`quantize${layout}`]!(p, ptr(x), inF, ptr(this.f32([10]))); // 40 bytes of scratch
      } else {
        p = ptr(this.alloc([rows, inF], 'i32', Math.ceil(rows / 4) * (inF / 32) * Q8A4_BLOCK_BYTES[layout]));
        this.k['quantizeQ8A4']!(p, ptr(x), rows, inF, layout === 'Q8A4S' ? 1 : 0, layout === 'Q8A4K' ? 256 : 32, ptr(this.f32([26]))); // 104 bytes of scratch
      }
      quantized.set(layout, p);
      return p;
    };
    const scratch = !decode && ws.some((w) => w.dtype !== 'f32') ? ptr(this.f32([this.threads, 4, inF])) : 0;
    const outs: Tensor[] = [];
    const calls: KernelCall[] = ws.map((w) => {
      const outF = w.shape[0]!;
      expectShape('linear weight', w.shape, [outF, inF]);
      const out = this.f32([...x.shape.slice(0, -1), outF]);
      outs.push(out);
      const { suffix, decodeX, ggml } = kernelsFor(w);
      if (decode) {
        const exactScales = (w.storage as Storage).subnormalScales ? 1 : 0; // Q8_0 and Q4_0 take it; the others ignore it
        return { kernel: `matvec${suffix}`, args: [ptr(out), xIn(decodeX), ptr(w), inF, 0, 0, exactScales], range: 4, total: outF };
      }
      if (w.dtype === 'f32') return { kernel: 'matmulF32', args: [ptr(out), ptr(x), ptr(w), rows, inF, outF, 0, 0], range: 6, total: outF };
      const int8 = this.int8Prefill ? int8PrefillKernels[w.dtype] : undefined;
      if (int8) {
        return { kernel: int8.kernel, args: [ptr(out), xIn(int8.layout), ptr(w), rows, inF, outF, scratch, 0, 0, 0], range: 8, total: outF, thread: 7 };
      }
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
    const table = this.f32([headDim]);
    for (let b = 0; b < batch; b++) {
      this.k['rope']!(ptr(out) + b * stride, ptr(f32Tensor(x)) + b * stride, ptr(invFreq), ptr(table), time, heads, headDim, startPos, 0, time * heads);
    }
    this.release(table);
    return out;
  }

  attention(q: Tensor, k: Tensor, v: Tensor, startPos: number, dropout?: Dropout): Tensor {
    const { batch, time, heads, kvHeads, headDim, cacheLen } = attentionDims(q, k, v, startPos);
    const drop = maybeDropoutParams(dropout);
    const out = this.f32(q.shape);
    const scores = this.f32([this.threads, cacheLen + 4]); // one row of scores per thread
    const qStride = time * heads * headDim * 4;
    const kvStride = cacheLen * kvHeads * headDim * 4;
    const calls = Array.from({ length: batch }, (_, b): KernelCall => ({
      kernel: 'attention',
      args: [ptr(out) + b * qStride, ptr(q) + b * qStride, ptr(k) + b * kvStride, ptr(v) + b * kvStride, ptr(scores),
        time, heads, kvHeads, headDim, cacheLen, startPos, 0, 0, 0, ...dropoutArgs(drop, b * heads * time * cacheLen)],
      range: 12,
      total: heads,
      thread: 11,
    }));
    this.pool.run(calls);
    this.release(scores);
    return out;
  }

  swiglu(gate: Tensor, up: Tensor): Tensor {
    expectShape('swiglu up', up.shape, gate.shape);
    const out = this.f32(gate.shape);
    this.k['swiglu']!(ptr(out), ptr(f32Tensor(gate)), ptr(f32Tensor(up)), 0, numel(gate.shape));
    return out;
  }

  /** In TypeScript over the heap (no kernel): dropout runs once per block in training, and is cheap beside it. */
  dropout(x: Tensor, p: number, seed: number): Tensor {
    checkDropout(p, seed);
    const out = this.f32(x.shape);
    dropout(this.heap.f32(ptr(out), numel(x.shape)), this.heap.f32(ptr(f32Tensor(x)), numel(x.shape)), p, seed);
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

  // ---- training ----

  /** xᵀ of a 2-D view (rows, cols) as a new (cols, rows) tensor. */
  private transposed(x: Tensor, rows: number, cols: number): Tensor {
    const out = this.f32([cols, rows]);
    this.pool.run([{ kernel: 'transpose', args: [ptr(out), ptr(f32Tensor(x)), rows, cols, 0, 0], range: 4, total: rows }]);
    return out;
  }

  /** out (m, n) = a (m, k) b^T for b (n, k): the register-tiled kernel, threads splitting n. */
  private matmulInto(out: Tensor, a: Tensor, b: Tensor, m: number, k: number, n: number): void {
    this.pool.run([{ kernel: 'matmulF32', args: [ptr(out), ptr(a), ptr(b), m, k, n, 0, 0], range: 6, total: n }]);
  }

  /**
   * dx = dy w and dw = dy^T x, both as the x w^T tile the forward uses, on transposed copies (transposes are
   * O(size) against the products' O(rows * in * out)): dx = dy (w^T)^T, dw = (dy^T) (x^T)^T.
   */
  linearBackward(dy: Tensor, x: Tensor, w: Tensor): { dx: Tensor; dw: Tensor } {
    const [outF, inF] = f32Tensor(w).shape as [number, number];
    expectShape('linearBackward x', [last(x)], [inF]);
    const rows = numel(x.shape) / inF;
    expectShape('linearBackward dy', dy.shape, [...x.shape.slice(0, -1), outF]);
    const dx = this.f32(x.shape);
    const dw = this.f32(w.shape);
    const wT = this.transposed(w, outF, inF);
    this.matmulInto(dx, dy, wT, rows, outF, inF);
    this.release(wT);
    const dyT = this.transposed(dy, rows, outF);
    const xT = this.transposed(x, rows, inF);
    this.matmulInto(dw, dyT, xT, outF, rows, inF);
    this.release(dyT);
    this.release(xT);
    return { dx, dw };
  }

  rmsnormBackward(dy: Tensor, x: Tensor, weight: Tensor, eps: number): { dx: Tensor; dweight: Tensor } {
    const dim = last(x);
    const rows = numel(x.shape) / dim;
    expectShape('rmsnormBackward weight', weight.shape, [dim]);
    expectShape('rmsnormBackward dy', dy.shape, x.shape);
    const dx = this.f32(x.shape);
    const dweight = this.f32([dim]);
    const rs = this.f32([rows]);
    this.pool.run([{ kernel: 'rmsnormBackward', args: [ptr(dx), ptr(rs), ptr(f32Tensor(dy)), ptr(f32Tensor(x)), ptr(f32Tensor(weight)), dim, 0, 0, eps], range: 6, total: rows }]);
    this.pool.run([{ kernel: 'rmsnormWeightGrad', args: [ptr(dweight), ptr(rs), ptr(dy), ptr(x), dim, rows, 0, 0], range: 6, total: dim }]);
    this.release(rs);
    return { dx, dweight };
  }

  ropeBackward(dy: Tensor, invFreq: Tensor, startPos: number): Tensor {
    const negated = this.fromHost(this.view(invFreq).map((f) => -f), invFreq.shape); // the inverse rotation
    const dx = this.rope(dy, negated, startPos);
    this.release(negated);
    return dx;
  }

  attentionBackward(dy: Tensor, q: Tensor, k: Tensor, v: Tensor, dropout?: Dropout): { dq: Tensor; dk: Tensor; dv: Tensor } {
    const { batch, time, heads, kvHeads, headDim, cacheLen } = attentionDims(q, k, v, 0);
    const drop = maybeDropoutParams(dropout);
    if (cacheLen !== time) throw new ShapeError('attentionBackward k', `${time} positions (training has no cache)`, String(cacheLen));
    expectShape('attentionBackward dy', dy.shape, q.shape);
    const dq = this.f32(q.shape);
    const dk = this.f32(k.shape);
    const dv = this.f32(v.shape);
    const scratch = this.f32([this.threads, 2 * time]);
    const qStride = time * heads * headDim * 4;
    const kvStride = time * kvHeads * headDim * 4;
    for (let b = 0; b < batch; b++) {
      const [qo, kvo] = [b * qStride, b * kvStride];
      this.pool.run([{
        kernel: 'attentionBackward',
        args: [ptr(dq) + qo, ptr(dk) + kvo, ptr(dv) + kvo, ptr(f32Tensor(dy)) + qo, ptr(q) + qo, ptr(k) + kvo, ptr(v) + kvo, ptr(scratch),
          time, heads, kvHeads, headDim, 0, 0, 0, ...dropoutArgs(drop, b * heads * time * time)],
        range: 13, total: kvHeads, thread: 12,
      }]);
    }
    this.release(scratch);
    return { dq, dk, dv };
  }

  swigluBackward(dy: Tensor, gate: Tensor, up: Tensor): { dgate: Tensor; dup: Tensor } {
    expectShape('swiglu up', up.shape, gate.shape);
    expectShape('swigluBackward dy', dy.shape, gate.shape);
    const dgate = this.f32(gate.shape);
    const dup = this.f32(gate.shape);
    this.pool.run([{ kernel: 'swigluBackward', args: [ptr(dgate), ptr(dup), ptr(f32Tensor(dy)), ptr(f32Tensor(gate)), ptr(f32Tensor(up)), 0, 0], range: 5, total: numel(gate.shape) }]);
    return { dgate, dup };
  }

  embeddingBackward(dy: Tensor, ids: Tensor, vocab: number): Tensor {
    const dim = last(dy);
    expectShape('embeddingBackward dy', dy.shape, [...ids.shape, dim]);
    if (ids.dtype !== 'i32') throw new ShapeError('embedding ids', 'an i32 tensor', ids.dtype);
    const dtable = this.zeros([vocab, dim]);
    embeddingBackward(this.view(dtable), this.view(dy), this.heap.i32(ptr(ids), numel(ids.shape)), vocab, dim);
    return dtable;
  }

  /**
   * Chunks of rows small enough that their (rows, V) logits stay within ~4 MB: logits by the forward tile, then
   * crossEntropyRows turns each row into its loss and gradScale (softmax - onehot), then dx and dw as in
   * linearBackward (w^T made once; dw summed over chunks).
   */
  crossEntropy(x: Tensor, w: Tensor, targets: Tensor, gradScale?: number): { loss: Tensor; dx?: Tensor; dw?: Tensor } {
    const [vocab, dim] = f32Tensor(w).shape as [number, number];
    expectShape('crossEntropy x', [last(x)], [dim]);
    const rows = numel(x.shape) / dim;
    expectShape('crossEntropy targets', targets.shape, [rows]);
    if (targets.dtype !== 'i32') throw new ShapeError('crossEntropy targets', 'an i32 tensor', targets.dtype);
    const ids = this.heap.i32(ptr(targets), rows);
    const bad = ids.find((t) => t >= vocab);
    if (bad !== undefined) throw new ArgumentError('target id', `an integer < ${vocab} (or < 0 to skip the row)`, String(bad));
    const chunk = Math.max(1, Math.min(rows, Math.floor(2 ** 20 / vocab)));
    const grad = gradScale !== undefined;
    const dx = grad ? this.f32(x.shape) : undefined;
    const dw = grad ? this.zeros(w.shape) : undefined;
    const wT = grad ? this.transposed(w, vocab, dim) : undefined;
    const logits = this.f32([chunk, vocab]);
    const losses = this.f32([chunk]);
    let loss = 0;
    for (let start = 0; start < rows; start += chunk) {
      const n = Math.min(chunk, rows - start);
      const xc = { ...x, shape: [n, dim], storage: { ...(x.storage as Storage), ptr: ptr(x) + start * dim * 4 } };
      this.matmulInto(logits, xc, w, n, dim, vocab);
      this.pool.run([{ kernel: 'crossEntropyRows', args: [ptr(logits), ptr(targets) + start * 4, ptr(losses), vocab, gradScale ?? 0, 0, 0], range: 5, total: n }]);
      loss += this.heap.f32(ptr(losses), n).reduce((s, l) => s + l, 0);
      if (!grad) continue;
      const dxc = { ...dx!, storage: { ...(dx!.storage as Storage), ptr: ptr(dx!) + start * dim * 4 } };
      this.matmulInto(dxc, logits, wT!, n, vocab, dim);
      const dlT = this.transposed(logits, n, vocab);
      const xT = this.transposed(xc, n, dim);
      const part = this.f32([vocab, dim]);
      this.matmulInto(part, dlT, xT, vocab, n, dim);
      this.k['add']!(ptr(dw!), ptr(dw!), ptr(part), 0, vocab * dim);
      for (const t of [dlT, xT, part]) this.release(t);
    }
    for (const t of [logits, losses, ...(wT ? [wT] : [])]) this.release(t);
    return { loss: this.fromHost(Float32Array.of(loss), [1]), dx, dw };
  }

  sumSquares(x: Tensor): Tensor {
    return this.fromHost(Float32Array.of((this.k['sumSquares'] as unknown as (p: number, n: number) => number)(ptr(f32Tensor(x)), numel(x.shape))), [1]);
  }

  scale(x: Tensor, s: number): Tensor {
    const out = this.f32(x.shape);
    this.pool.run([{ kernel: 'scale', args: [ptr(out), ptr(f32Tensor(x)), s, 0, 0], range: 3, total: numel(x.shape) }]);
    return out;
  }

  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, hp: AdamWStep): void {
    for (const [what, t] of [['grad', grad], ['m', m], ['v', v]] as const) expectShape(`adamw ${what}`, t.shape, param.shape);
    const { lr, beta1, beta2, eps, weightDecay, step, gradScale = 1 } = hp;
    const args = [ptr(f32Tensor(param)), ptr(f32Tensor(grad)), ptr(f32Tensor(m)), ptr(f32Tensor(v)), 1 - lr * weightDecay, beta1, beta2, eps,
      lr / (1 - beta1 ** step), Math.sqrt(1 - beta2 ** step), gradScale, 0, 0];
    this.pool.run([{ kernel: 'adamw', args, range: 11, total: numel(param.shape) }]);
  }

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

/** Whether any block of `bytes` (`blockBytes` each, its f16 scale first) has a scale that is an f16 subnormal. */
function hasSubnormalScale(bytes: Uint8Array, blockBytes: number): boolean {
  for (let i = 0; i < bytes.length; i += blockBytes) {
    const h = bytes[i]! | (bytes[i + 1]! << 8);
    if ((h & 0x7c00) === 0 && (h & 0x3ff) !== 0) return true;
  }
  return false;
}

function kernelsFor(w: Tensor): { suffix: string; decodeX: DecodeX; ggml: number } {
  if ((w.storage as Storage).rebased) return rebasedF16Kernels;
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
