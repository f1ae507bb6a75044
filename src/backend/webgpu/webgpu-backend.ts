import { ArgumentError, ShapeError } from '../../core/errors.js';
import { expectShape, numel, shapeToString, type Shape } from '../../core/shape.js';
import { decodeTensor } from '../../tensor/decode.js';
import type { EncodedTensor, Tensor } from '../../tensor/tensor.js';
import { attentionDims } from '../attention-dims.js';
import { checkDropout, dropoutParams, maybeDropoutParams } from '../cpu/dropout.js';
import { checkPrecision, type AdamWStep, type Dropout, type Ops, type Precision, type StepLoop, type StepLoopOptions } from '../ops.js';
import { reshapeView, Scopes } from '../scopes.js';
import { timeSliceShape } from '../time-rows.js';
import { Gpu } from './gpu.js';
import * as k from './kernels/index.js';
import { WebGpuStepLoop } from './step-loop.js';

/** A tensor's GPU buffer; views (reshape) share one storage, freed once. */
interface Storage {
  buffer: GPUBuffer;
  /**
   * A weight matrix larger than one binding may be (2 GiB on the H100; a 128k-token vocabulary by 4096 in f32 is
   * 2.1 GB): its rows in parts of at most one binding each, `buffer` being the first. Embedding, linear and read
   * take such a tensor; other ops say they do not.
   */
  parts?: WeightPart[];
  /** An attention output's row statistics from the flash forward, for its backward (kernels/attention.ts). */
  rowStats?: GPUBuffer;
  freed: boolean;
}

/** Rows [first, first + rows) of a weight split across bindings, in their own buffer. */
interface WeightPart {
  buffer: GPUBuffer;
  first: number;
  rows: number;
}

/**
 * An op held back for the next one to fold in (Gpu.hold): an rmsnorm or swiglu for the mat-vec that reads its output,
 * a mat-vec for the add that takes its output, the q/k/v mat-vecs for the rotations of q and k and the cache writes
 * of k and v (kernels/matvec.ts), and where those cannot join it, the rotation of q for that of k and for the cache
 * writes (kernels/rope.ts). Decode takes 5 dispatches a layer instead of 14.
 */
type Held =
  | { kind: 'norm'; out: GPUBuffer; x: GPUBuffer; weight: GPUBuffer; eps: number; record(): void }
  | { kind: 'swiglu'; out: GPUBuffer; gate: GPUBuffer; up: GPUBuffer; record(): void }
  | { kind: 'matvec'; out: GPUBuffer; residualFits: boolean; record(residual?: { res: GPUBuffer; out: GPUBuffer }): void }
  | { kind: 'matvecs'; outs: GPUBuffer[]; rope?: k.RopeJobs; fits(rope: k.RopeJobs): boolean; make(rope?: k.RopeJobs): void; record(): void }
  | { kind: 'rope'; jobs: k.RopeJobs; record(): void };

/**
 * The WebGPU backend: tensors in GPU storage buffers (f32, i32 for ids), one WGSL kernel per op (kernels/), recorded
 * into one command stream that is submitted only when the host reads a result. Weights in other encodings are
 * decoded to f32 on upload. Release is deterministic: `tidy` frees a step's intermediates into the buffer pool, and
 * `dispose` destroys every buffer of the backend (the process's device stays, for the next backend).
 */
export class WebGpuBackend implements Ops {
  readonly name = 'webgpu';
  /** The host copy of every i32 tensor (token ids, targets: small), so ids are checked and sorted without a read. */
  private readonly hostInts = new WeakMap<Storage, Int32Array>();
  private readonly scopes = new Scopes<Storage>((s) => {
    for (const { buffer } of s.parts ?? [s]) this.gpu.free(buffer);
    if (s.rowStats) this.gpu.free(s.rowStats);
  });

  /** The rounding of matrix-product inputs that `precision` implies. */
  private readonly matmulInputs: k.MatmulInputs;

  private constructor(readonly gpu: Gpu, readonly precision: Precision) {
    this.matmulInputs = ({ fp32: 'f32', f16x3: 'f16x3', mixed: 'f16' } as const)[precision];
  }

  /**
   * `maxBinding`: bind at most this many bytes, below the device's limit (so that tests can split weights);
   * `subgroups: false`: keep the kernels off subgroup operations where the device has them (so that tests run both).
   */
  static async create(precision: Precision = 'fp32', { maxBinding, subgroups }: { maxBinding?: number; subgroups?: false } = {}): Promise<WebGpuBackend> {
    checkPrecision('webgpu', precision);
    return new WebGpuBackend(await Gpu.create(maxBinding, subgroups), precision);
  }

  /** The adapter, in words (vendor, device, driver). */
  get device(): string {
    const { vendor, architecture, device, description } = this.gpu.adapterInfo;
    return `GPU (${[vendor, architecture, device, description].filter(Boolean).join(', ')})`;
  }

  get reservedBytes(): number {
    return this.gpu.allocatedBytes;
  }

  // ---- memory ----

  private alloc(shape: Shape, dtype: 'f32' | 'i32' | 'f16' | 'bf16'): Tensor {
    const bytes = numel(shape) * (dtype === 'f16' || dtype === 'bf16' ? 2 : 4);
    const storage: Storage = { buffer: this.gpu.alloc(bytes), freed: false };
    this.scopes.track(storage);
    return { shape: [...shape], dtype, backend: 'webgpu', storage };
  }

  private f32(shape: Shape): Tensor {
    return this.alloc(shape, 'f32');
  }

  /**
   * A tensor for host data of `bytes`: one buffer, or for a matrix larger than one binding, parts of whole rows, each
   * written with its rows of `bytes`.
   */
  private upload(shape: Shape, dtype: 'f32' | 'i32' | 'f16' | 'bf16', bytes: ArrayBufferView): Tensor {
    const rows = shape[0]!;
    const rowBytes = bytes.byteLength / rows;
    const perPart = Math.floor(this.gpu.maxBinding / rowBytes);
    if (bytes.byteLength <= this.gpu.maxBinding || shape.length !== 2 || dtype === 'i32' || perPart === 0) {
      const t = this.alloc(shape, dtype);
      if (bytes.byteLength > 0) this.gpu.write(buf(t), bytes);
      return t;
    }
    const parts: WeightPart[] = [];
    for (let first = 0; first < rows; first += perPart) {
      const part = { buffer: this.gpu.alloc(Math.min(perPart, rows - first) * rowBytes), first, rows: Math.min(perPart, rows - first) };
      this.gpu.write(part.buffer, new Uint8Array(bytes.buffer, bytes.byteOffset + first * rowBytes, part.rows * rowBytes));
      parts.push(part);
    }
    const storage: Storage = { buffer: parts[0]!.buffer, parts, freed: false };
    this.scopes.track(storage);
    return { shape: [...shape], dtype, backend: 'webgpu', storage };
  }

  fromHost(data: Float32Array | Int32Array, shape: Shape): Tensor {
    if (data.length !== numel(shape)) {
      throw new ShapeError('fromHost', `${numel(shape)} elements for shape ${shapeToString(shape)}`, `${data.length}`);
    }
    const t = this.upload(shape, data instanceof Int32Array ? 'i32' : 'f32', data);
    if (data instanceof Int32Array) this.hostInts.set(t.storage as Storage, data.slice());
    return t;
  }

  /**
   * f16 and bf16 matrices stay as they are stored (half the memory; the mat-vec and embedding kernels read them, and
   * other ops get a decoded f32 copy); the block types and vectors are decoded to f32 here.
   */
  fromEncoded(e: EncodedTensor): Tensor {
    if ((e.dtype !== 'f16' && e.dtype !== 'bf16') || e.shape.length !== 2) return this.fromHost(decodeTensor(e), e.shape);
    return this.upload(e.shape, e.dtype, e.bytes);
  }

  /**
   * Record `use` of w as f32: w itself, or for an f16/bf16 weight a decoded copy, freed once recorded (the commands
   * already recorded run before any later use of its buffer).
   */
  private withF32(w: Tensor, use: (f: Tensor) => void): void {
    if (w.dtype === 'f32') return use(w);
    const copy = this.f32(w.shape);
    k.weightToF32(this.gpu, buf(copy), buf(w), numel(w.shape), weightType(w));
    use(copy);
    this.release(copy);
  }

  zeros(shape: Shape): Tensor {
    const out = this.f32(shape);
    k.fill(this.gpu, buf(out), numel(shape), 0);
    return out;
  }

  async read(t: Tensor): Promise<Float32Array | Int32Array> {
    const n = numel(t.shape);
    if (n === 0) return t.dtype === 'i32' ? new Int32Array(0) : new Float32Array(0);
    const halves = t.dtype === 'f16' || t.dtype === 'bf16';
    const bytes = new Uint8Array(n * (halves ? 2 : 4));
    const s = live(t);
    const rowBytes = s.parts ? bytes.length / t.shape[0]! : bytes.length;
    for (const part of s.parts ?? [{ buffer: s.buffer, first: 0, rows: 1 }]) bytes.set(new Uint8Array(await this.gpu.read(part.buffer, part.rows * rowBytes)), part.first * rowBytes);
    if (halves) return decodeTensor({ shape: t.shape, dtype: t.dtype as 'f16' | 'bf16', bytes });
    return t.dtype === 'i32' ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer);
  }

  release(t: Tensor): void {
    this.scopes.release(t.storage as Storage);
  }

  dispose(): void {
    this.gpu.destroy();
  }

  tidy<T extends Tensor | Tensor[]>(fn: () => T): T {
    return this.scopes.tidy(fn);
  }

  reshape(x: Tensor, shape: Shape): Tensor {
    return reshapeView(x, shape);
  }

  sliceTime(x: Tensor, start: number, length: number): Tensor {
    const out = this.f32(timeSliceShape(x, start, length));
    const [batch, time] = x.shape as [number, number];
    const row = numel(x.shape.slice(2));
    for (let b = 0; b < batch; b++) k.copy(this.gpu, buf(out), b * length * row, buf(x), (b * time + start) * row, length * row);
    return out;
  }

  writeAt(dst: Tensor, x: Tensor, pos: number): void {
    const [batch, cacheLen] = dst.shape as [number, number];
    const time = x.shape[1]!;
    expectShape('writeAt', x.shape, [batch, time, ...dst.shape.slice(2)]);
    if (pos < 0 || pos + time > cacheLen) {
      throw new ArgumentError('cache position', `rows within [0, ${cacheLen})`, `[${pos}, ${pos + time})`);
    }
    const row = numel(dst.shape.slice(2));
    const [db, xb] = [buf(dst), buf(f32(x))];
    // A held rotation of x writes its result to dst too, or a held rotation takes this copy along.
    let joined: k.RopeJobs | undefined;
    const fits = (j: k.RopeJobs | undefined) => j !== undefined && k.ropeBindings(j) <= this.gpu.maxStorageBuffers;
    const write = { batch, time, row, cacheLen, pos };
    const made = this.takeHeld(['matvecs'], (op) => op.rope !== undefined && (joined = withCacheWrite(op.rope, db, xb, write)) !== undefined &&
      (!joined.copy || op.outs.includes(joined.copy.src)) && op.fits(joined));
    if (made) return this.holdMatvecs(made, joined);
    if (this.takeHeld(['rope'], (op) => fits((joined = withCacheWrite(op.jobs, db, xb, write))))) return this.holdRope(joined!);
    for (let b = 0; b < batch; b++) k.copy(this.gpu, db, (b * cacheLen + pos) * row, xb, b * time * row, time * row);
  }

  stepLoop(idsShape: Shape, options: StepLoopOptions): StepLoop {
    const ids = this.fromHost(new Int32Array(numel(idsShape)), idsShape);
    return new WebGpuStepLoop(this.gpu, {
      ids,
      writeIds: (values) => {
        if (values.length !== numel(idsShape)) throw new ShapeError('step ids', `${numel(idsShape)} ids`, String(values.length));
        this.gpu.write(buf(ids), values);
        this.hostInts.set(ids.storage as Storage, values.slice());
      },
      read: (t) => this.read(t),
      release: (t) => this.release(t),
      buffer: (t) => buf(t),
    }, options);
  }

  /** Hold mat-vecs again with `rope` folded in (decode's q/k/v mat-vecs), for more rotations and cache writes to join. */
  private holdMatvecs(op: Extract<Held, { kind: 'matvecs' }>, rope: k.RopeJobs | undefined): void {
    this.gpu.hold({ ...op, rope, record: () => op.make(rope) } satisfies Held);
  }

  /** Hold RoPE jobs for a rotation or cache write to join (decode), or record them. */
  private holdRope(jobs: k.RopeJobs): void {
    const rope = () => k.ropeJobs(this.gpu, jobs);
    this.recordOrHold(jobs.batch * jobs.time, { kind: 'rope', jobs, record: rope });
  }

  /** The host copy of i32 tensor t, each value checked to lie in [0, vocab) (or below 0: ignored targets). */
  private hostIds(t: Tensor, vocab: number, what: string, negativeAllowed = false): Int32Array {
    if (t.dtype !== 'i32') throw new ShapeError(what, 'an i32 tensor', t.dtype);
    buf(t);
    const values = this.hostInts.get(t.storage as Storage);
    if (!values) throw new ArgumentError(what, 'ids from the host (fromHost)', 'an i32 tensor computed on the GPU (argmax)');
    for (const v of values) {
      if (v >= vocab || (v < 0 && !negativeAllowed)) throw new ArgumentError(what, `an integer in [0, ${vocab})`, String(v));
    }
    return values;
  }

  // ---- ops ----

  embedding(table: Tensor, ids: Tensor): Tensor {
    const [vocab, dim] = table.shape as [number, number];
    this.hostIds(ids, vocab, 'token id');
    const out = this.f32([...ids.shape, dim]);
    // A table split across bindings: each part fills the rows of its ids (the first writes zeros for the others).
    for (const part of weightParts(table)) k.embedding(this.gpu, buf(out), part.buffer, buf(ids), numel(ids.shape), part, dim, weightType(table));
    return out;
  }

  rmsnorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    const dim = last(x);
    expectShape('rmsnorm weight', weight.shape, [dim]);
    const out = this.f32(x.shape);
    const [o, xb, wb, rows] = [buf(out), buf(f32(x)), buf(f32(weight)), numel(x.shape) / dim];
    const rmsnorm = () => k.rmsnorm(this.gpu, o, xb, wb, rows, dim, eps); // (named: the profiler labels kernels by caller)
    this.recordOrHold(rows, { kind: 'norm', out: o, x: xb, weight: wb, eps, record: rmsnorm });
    return out;
  }

  /** Record op now, or hold it for a mat-vec to fold in when its rows would run as one (decode). */
  private recordOrHold(rows: number, op: Held): void {
    if (k.isMatvec(rows) && this.matmulInputs !== 'f16') this.gpu.hold(op);
    else op.record();
  }

  private takeHeld<K extends Held['kind']>(kinds: K[], match: (op: Extract<Held, { kind: K }>) => boolean): Extract<Held, { kind: K }> | undefined {
    return this.gpu.takeHeld((op) => kinds.includes((op as Held).kind as K) && match(op as Extract<Held, { kind: K }>)) as Extract<Held, { kind: K }> | undefined;
  }

  linear(x: Tensor, w: Tensor): Tensor {
    return this.linears(x, [w])[0]!;
  }

  linears(x: Tensor, ws: Tensor[]): Tensor[] {
    if (ws.some((w) => (w.storage as Storage).parts)) return ws.map((w) => this.splitLinear(x, w));
    const inF = last(f32(x));
    const rows = numel(x.shape.slice(0, -1));
    const outs = ws.map((w) => {
      expectShape('linear weight', w.shape, [w.shape[0]!, inF]);
      return this.f32([...x.shape.slice(0, -1), w.shape[0]!]);
    });
    const types = ws.map(weightType);
    if (k.isMatvec(rows) && this.matmulInputs !== 'f16' && types.every((t) => t === types[0])) {
      // Fold in a held rmsnorm or swiglu that made x, and hold a single mat-vec for an add to fold in.
      const [xb, outBufs, wBufs, ns] = [buf(x), outs.map(buf), ws.map(buf), ws.map((w) => w.shape[0]!)];
      const fits = (f: k.MatvecFusion) => k.matvecBindings(ws.length, f) <= this.gpu.maxStorageBuffers;
      let input = xb;
      let fusion: k.MatvecFusion = {};
      const before = this.takeHeld(['norm', 'swiglu'], (op) => op.out === xb);
      if (before?.kind === 'norm') [input, fusion] = [before.x, { norm: { weight: before.weight, eps: before.eps, out: xb } }];
      if (before?.kind === 'swiglu') [input, fusion] = [before.gate, { swiglu: { up: before.up, out: xb } }];
      if (before && !fits(fusion)) [input, fusion] = [xb, (before.record(), {})];
      const linears = (residual?: { res: GPUBuffer; out: GPUBuffer }) =>
        k.matvecs(this.gpu, outBufs, input, wBufs, rows, inF, ns, types[0], { ...fusion, residual });
      const residualFits = fits({ ...fusion, residual: { res: xb, out: xb } });
      if (ws.length === 1) this.gpu.hold({ kind: 'matvec', out: outBufs[0]!, residualFits, record: linears } satisfies Held);
      else {
        const withRope = (rope?: k.RopeJobs) => k.matvecs(this.gpu, outBufs, input, wBufs, rows, inF, ns, types[0], { ...fusion, rope });
        this.gpu.hold({ kind: 'matvecs', outs: outBufs, fits: (rope) => fits({ ...fusion, rope }), make: withRope, record: () => withRope() } satisfies Held);
      }
    } else {
      ws.forEach((w, i) => this.productNT(outs[i]!, x, w, rows, inF));
    }
    return outs;
  }

  /** out (rows, n) = x w^T, a 16-bit w read as it is stored (by the tiled and the tensor-core products alike). */
  private productNT(out: Tensor, x: Tensor, w: Tensor, rows: number, inF: number): void {
    k.matmul(this.gpu, buf(out), buf(x), buf(w), rows, inF, w.shape[0]!, k.NT, this.matmulInputs, undefined, weightType(w));
  }

  /** x w^T for a weight split across bindings (or not): each part's rows make a slice of out's columns. */
  private splitLinear(x: Tensor, w: Tensor): Tensor {
    const [n, inF] = w.shape as [number, number];
    const rows = numel(x.shape.slice(0, -1));
    const out = this.f32([...x.shape.slice(0, -1), n]);
    for (const part of weightParts(w)) {
      const storage: Storage = { buffer: part.buffer, freed: false }; // a view of the part (w owns its buffer)
      const slice = this.linear(x, { shape: [part.rows, inF], dtype: w.dtype, backend: 'webgpu', storage });
      k.copyColumns(this.gpu, buf(out), buf(slice), rows, n, part.first, part.rows);
      this.release(slice);
    }
    return out;
  }

  rope(x: Tensor, invFreq: Tensor, startPos: number): Tensor {
    const [batch, time, heads, headDim] = x.shape as [number, number, number, number];
    expectShape('rope invFreq', invFreq.shape, [headDim / 2]);
    const out = this.f32(x.shape);
    const rotation = { out: buf(out), x: buf(f32(x)), heads };
    const jobs: k.RopeJobs = { invFreq: buf(f32(invFreq)), batch, time, half: headDim / 2, startPos, direction: 1, rotations: [rotation], cacheLen: 0, cachePos: 0 };
    // The rotation joins the held mat-vecs that made x (q/k/v), with the rotation of q if it has one; or the rotation
    // of k joins a held one of q.
    const joins = (j: k.RopeJobs) => j.rotations.length === 1 && !j.copy && j.cacheLen === 0 && j.invFreq === jobs.invFreq && j.batch === batch &&
      j.time === time && j.half === jobs.half && j.startPos === startPos && !ropeBuffers(j).includes(rotation.out) && j.rotations[0]!.out !== rotation.x;
    let joined: k.RopeJobs | undefined;
    const made = this.takeHeld(['matvecs'], (op) => op.outs.includes(rotation.x) && (!op.rope || joins(op.rope)) &&
      op.fits((joined = op.rope ? { ...op.rope, rotations: [...op.rope.rotations, rotation] } : jobs)));
    if (made) {
      this.holdMatvecs(made, joined);
      return out;
    }
    const q = this.takeHeld(['rope'], (op) => joins(op.jobs));
    const both: k.RopeJobs | undefined = q && { ...q.jobs, rotations: [...q.jobs.rotations, rotation] };
    const fits = both !== undefined && k.ropeBindings(both) <= this.gpu.maxStorageBuffers;
    if (q && !fits) q.record();
    this.holdRope(fits ? both : jobs);
    return out;
  }

  attention(q: Tensor, kc: Tensor, vc: Tensor, startPos: number, dropout?: Dropout): Tensor {
    const { batch, time, heads, kvHeads, headDim, cacheLen } = attentionDims(q, kc, vc, startPos);
    const drop = maybeDropoutParams(dropout);
    const out = this.f32(q.shape);
    const rowStats = k.attention(this.gpu, buf(out), buf(f32(q)), buf(f32(kc)), buf(f32(vc)), { batch, time, heads, kvHeads, headDim, cacheLen, startPos }, this.matmulInputs, drop);
    (out.storage as Storage).rowStats = rowStats;
    return out;
  }

  swiglu(gate: Tensor, up: Tensor): Tensor {
    expectShape('swiglu up', up.shape, gate.shape);
    const out = this.f32(gate.shape);
    const [o, g, u, n] = [buf(out), buf(f32(gate)), buf(f32(up)), numel(gate.shape)];
    const swiglu = () => k.swiglu(this.gpu, o, g, u, n);
    this.recordOrHold(n / last(gate), { kind: 'swiglu', out: o, gate: g, up: u, record: swiglu });
    return out;
  }

  dropout(x: Tensor, p: number, seed: number): Tensor {
    checkDropout(p, seed);
    const out = this.f32(x.shape);
    k.dropout(this.gpu, buf(out), buf(f32(x)), numel(x.shape), dropoutParams(p, seed));
    return out;
  }

  add(a: Tensor, b: Tensor): Tensor {
    expectShape('add', b.shape, a.shape);
    const out = this.f32(a.shape);
    const [o, ab, bb] = [buf(out), buf(f32(a)), buf(f32(b))];
    // A held mat-vec that made one side writes the sum as well (a + b either way round: f32 addition commutes).
    const matvec = ab === bb ? undefined : this.takeHeld(['matvec'], (op) => op.residualFits && (op.out === ab || op.out === bb));
    if (matvec) matvec.record({ res: matvec.out === bb ? ab : bb, out: o });
    else k.add(this.gpu, o, ab, bb, numel(a.shape));
    return out;
  }

  argmax(x: Tensor): Tensor {
    const n = last(x);
    const out = this.alloc(x.shape.slice(0, -1), 'i32'); // no host copy: not for use as ids (hostIds says so)
    k.argmax(this.gpu, buf(out), buf(f32(x)), numel(x.shape) / n, n);
    return out;
  }

  softmax(x: Tensor): Tensor {
    const n = last(x);
    const out = this.f32(x.shape);
    k.softmax(this.gpu, buf(out), buf(f32(x)), numel(x.shape) / n, n);
    return out;
  }

  // ---- training ----

  linearBackward(dy: Tensor, x: Tensor, w: Tensor): { dx: Tensor; dw: Tensor } {
    const [outF, inF] = w.shape as [number, number];
    expectShape('linearBackward x', [last(x)], [inF]);
    const rows = numel(x.shape) / inF;
    expectShape('linearBackward dy', dy.shape, [...x.shape.slice(0, -1), outF]);
    const dx = this.f32(x.shape);
    const dw = this.f32(w.shape);
    this.withF32(w, (wf) => k.matmul(this.gpu, buf(dx), buf(f32(dy)), buf(wf), rows, outF, inF, k.NN, this.matmulInputs)); // dx (rows, in) = dy (rows, out) w (out, in)
    k.matmul(this.gpu, buf(dw), buf(dy), buf(f32(x)), outF, rows, inF, k.TN, this.matmulInputs); // dw (out, in) = dy^T x
    return { dx, dw };
  }

  rmsnormBackward(dy: Tensor, x: Tensor, weight: Tensor, eps: number): { dx: Tensor; dweight: Tensor } {
    const dim = last(x);
    expectShape('rmsnormBackward weight', weight.shape, [dim]);
    expectShape('rmsnormBackward dy', dy.shape, x.shape);
    const dx = this.f32(x.shape);
    const dweight = this.f32([dim]);
    k.rmsnormBackward(this.gpu, buf(dx), buf(dweight), buf(f32(dy)), buf(f32(x)), buf(f32(weight)), numel(x.shape) / dim, dim, eps);
    return { dx, dweight };
  }

  ropeBackward(dy: Tensor, invFreq: Tensor, startPos: number): Tensor {
    const [batch, time, heads, headDim] = dy.shape as [number, number, number, number];
    expectShape('rope invFreq', invFreq.shape, [headDim / 2]);
    const dx = this.f32(dy.shape);
    k.rope(this.gpu, buf(dx), buf(f32(dy)), buf(f32(invFreq)), batch, time, heads, headDim, startPos, -1);
    return dx;
  }

  attentionBackward(dy: Tensor, q: Tensor, kc: Tensor, vc: Tensor, dropout?: Dropout, y?: Tensor): { dq: Tensor; dk: Tensor; dv: Tensor } {
    const { batch, time, heads, kvHeads, headDim, cacheLen } = attentionDims(q, kc, vc, 0);
    const drop = maybeDropoutParams(dropout);
    if (cacheLen !== time) throw new ShapeError('attentionBackward k', `${time} positions (training has no cache)`, String(cacheLen));
    expectShape('attentionBackward dy', dy.shape, q.shape);
    if (y) expectShape('attentionBackward y', y.shape, q.shape);
    const dq = this.f32(q.shape);
    const dk = this.f32(kc.shape);
    const dv = this.f32(vc.shape);
    k.attentionBackward(this.gpu, { dq: buf(dq), dk: buf(dk), dv: buf(dv) }, buf(f32(dy)), buf(f32(q)), buf(f32(kc)), buf(f32(vc)), y && { out: buf(f32(y)), stats: (y.storage as Storage).rowStats }, { batch, time, heads, kvHeads, headDim }, this.matmulInputs, drop);
    return { dq, dk, dv };
  }

  swigluBackward(dy: Tensor, gate: Tensor, up: Tensor): { dgate: Tensor; dup: Tensor } {
    expectShape('swiglu up', up.shape, gate.shape);
    expectShape('swigluBackward dy', dy.shape, gate.shape);
    const dgate = this.f32(gate.shape);
    const dup = this.f32(up.shape);
    k.swigluBackward(this.gpu, buf(dgate), buf(dup), buf(f32(dy)), buf(f32(gate)), buf(f32(up)), numel(gate.shape));
    return { dgate, dup };
  }

  embeddingBackward(dy: Tensor, ids: Tensor, vocab: number): Tensor {
    const dim = last(dy);
    expectShape('embeddingBackward dy', dy.shape, [...ids.shape, dim]);
    const dtable = this.f32([vocab, dim]);
    k.embeddingBackward(this.gpu, buf(dtable), buf(f32(dy)), this.hostIds(ids, vocab, 'token id'), vocab, dim);
    return dtable;
  }

  crossEntropy(x: Tensor, w: Tensor, targets: Tensor, gradScale?: number): { loss: Tensor; dx?: Tensor; dw?: Tensor } {
    const [vocab, dim] = w.shape as [number, number];
    expectShape('crossEntropy x', [last(x)], [dim]);
    const rows = numel(x.shape) / dim;
    expectShape('crossEntropy targets', targets.shape, [rows]);
    this.hostIds(targets, vocab, 'target id', true);
    const loss = this.f32([1]);
    const grads = gradScale === undefined ? undefined : { dx: this.f32(x.shape), dw: this.f32(w.shape), scale: gradScale };
    const scratch = this.f32([k.crossEntropyScratch(rows, vocab, this.gpu.maxBinding)]);
    this.withF32(w, (wf) => k.crossEntropy(this.gpu, buf(loss), buf(f32(x)), buf(wf), buf(targets), buf(scratch), rows, dim, vocab, this.matmulInputs, grads && { dx: buf(grads.dx), dw: buf(grads.dw), scale: grads.scale }));
    this.release(scratch);
    return grads ? { loss, dx: grads.dx, dw: grads.dw } : { loss };
  }

  sumSquares(x: Tensor): Tensor {
    const out = this.f32([1]);
    k.sumSquares(this.gpu, buf(out), buf(f32(x)), numel(x.shape));
    return out;
  }

  scale(x: Tensor, s: number): Tensor {
    const out = this.f32(x.shape);
    k.scale(this.gpu, buf(out), buf(f32(x)), numel(x.shape), s);
    return out;
  }

  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, hp: AdamWStep): void {
    for (const [what, t] of [['grad', grad], ['m', m], ['v', v]] as const) expectShape(`adamw ${what}`, t.shape, param.shape);
    k.adamw(this.gpu, buf(f32(param)), buf(f32(grad)), buf(f32(m)), buf(f32(v)), numel(param.shape), hp);
  }
}

/**
 * RoPE jobs that also write x (batch, time, row) to dst (batch, cacheLen, row) at row pos: as a rotation's cache when
 * a rotation makes x, else as their copy; undefined when they cannot (another shape or position, a copy already, or
 * buffers that one dispatch may not both read and write).
 */
function withCacheWrite(j: k.RopeJobs, dst: GPUBuffer, x: GPUBuffer, w: { batch: number; time: number; row: number; cacheLen: number; pos: number }): k.RopeJobs | undefined {
  if (j.batch !== w.batch || j.time !== w.time || (j.cacheLen !== 0 && (j.cacheLen !== w.cacheLen || j.cachePos !== w.pos))) return undefined;
  if (ropeBuffers(j).includes(dst)) return undefined;
  const cache = { cacheLen: w.cacheLen, cachePos: w.pos };
  const maker = j.rotations.findIndex((r) => r.out === x);
  if (maker >= 0) {
    const r = j.rotations[maker]!;
    if (r.cache || r.heads * 2 * j.half !== w.row) return undefined;
    return { ...j, ...cache, rotations: j.rotations.map((o, i) => (i === maker ? { ...o, cache: dst } : o)) };
  }
  if (j.copy || j.rotations.some((r) => r.cache === x)) return undefined;
  return { ...j, ...cache, copy: { src: x, dst, row: w.row } };
}

/** Every buffer that RoPE jobs bind. */
function ropeBuffers(j: k.RopeJobs): GPUBuffer[] {
  return [j.invFreq, ...j.rotations.flatMap((r) => [r.out, r.x, ...(r.cache ? [r.cache] : [])]), ...(j.copy ? [j.copy.src, j.copy.dst] : [])];
}

function live(t: Tensor): Storage {
  if (t.backend !== 'webgpu') throw new ArgumentError('tensor', 'a tensor of the webgpu backend', `one of ${t.backend}`);
  const s = t.storage as Storage;
  if (s.freed) throw new ArgumentError('tensor', 'a live tensor', 'a released one');
  return s;
}

function buf(t: Tensor): GPUBuffer {
  const s = live(t);
  if (s.parts) {
    throw new ArgumentError('tensor', 'a tensor within one GPU binding (a weight split across bindings goes only to embedding, linear and read)',
      `a ${shapeToString(t.shape)} weight in ${s.parts.length} parts`);
  }
  return s.buffer;
}

/** The parts of a weight matrix split across bindings, or its one buffer as the only part. */
function weightParts(t: Tensor): WeightPart[] {
  const s = live(t);
  return s.parts ?? [{ buffer: s.buffer, first: 0, rows: t.shape[0]! }];
}

function f32(t: Tensor): Tensor {
  if (t.dtype !== 'f32') throw new ShapeError('webgpu op', 'an f32 tensor', t.dtype);
  return t;
}

/** How a weight tensor is stored: f32, or f16/bf16 kept from the file. */
function weightType(t: Tensor): k.WeightType {
  if (t.dtype === 'f16' || t.dtype === 'bf16' || t.dtype === 'f32') return t.dtype;
  throw new ShapeError('webgpu weight', 'an f32, f16 or bf16 tensor', t.dtype);
}

function last(t: Tensor): number {
  return t.shape[t.shape.length - 1]!;
}
