/// <reference types="@webgpu/types" />
/**
 * The WebGPU device layer under the WebGPU backend: the device (Node's `webgpu` package or the browser's
 * navigator.gpu), a buffer pool, a pipeline cache, and the command stream. Kernels are recorded into one open
 * command encoder and one compute pass, and submitted together when the host needs a result (`flush`), so a
 * forward pass is a single submit. Each dispatch's small parameters go into a uniform ring written once per
 * submit.
 */
import { ArgumentError } from '../../core/errors.js';
import { callerLabel, Profiler } from './profiler.js';

/** A tensor the device cannot hold (larger than one binding, or out of memory): names the size asked for. */
export class GpuMemoryError extends Error {
  constructor(readonly bytes: number, reason: string) {
    super(`webgpu: cannot allocate ${bytes} bytes (${(bytes / 2 ** 20).toFixed(1)} MiB): ${reason}`);
    this.name = 'GpuMemoryError';
  }
}

let dawn: GPU | undefined;

/**
 * The WebGPU entry point: navigator.gpu in a browser, else the optional `webgpu` package (Dawn) in Node. Dawn's
 * instance is made once and kept for the process: if it were garbage-collected while its devices live, Dawn would
 * crash.
 */
export async function gpuEntry(): Promise<GPU | undefined> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (dawn) return dawn;
  if (typeof process === 'undefined') return undefined; // a browser without WebGPU
  let module: { create(flags: string[]): GPU; globals: object };
  process.env['XDG_RUNTIME_DIR'] ??= '/tmp'; // Vulkan loaders want it; headless machines often lack it
  try {
    module = (await import('webgpu')) as typeof module;
  } catch {
    return undefined;
  }
  Object.assign(globalThis, module.globals); // GPUBufferUsage, GPUMapMode, ...
  // allow_unsafe_apis exposes the experimental subgroup-matrix feature (tensor cores); Dawn turns shader-f16 off on
  // NVIDIA's Vulkan driver unless told otherwise.
  // A profile (profiler.ts) wants timestamps at full resolution.
  const profiling = process.env['LLAMATS_WEBGPU_PROFILE'] === '1' ? ['disable-dawn-features=timestamp_quantization'] : [];
  dawn = module.create(['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia', ...profiling]);
  return dawn;
}

/** Why no device: undefined when one is available. For tests that skip with a reason. */
export async function gpuUnavailableReason(): Promise<string | undefined> {
  const gpu = await gpuEntry();
  if (!gpu) return 'no WebGPU: neither navigator.gpu nor the optional `webgpu` package is available';
  const adapter = await gpu.requestAdapter();
  return adapter ? undefined : 'no WebGPU adapter on this machine (no GPU and no Vulkan software driver such as lavapipe)';
}

const WORKGROUP = 64;
/** Workgroups a dispatch may have along each dimension (WebGPU's default maxComputeWorkgroupsPerDimension). */
export const MAX_GROUPS = 65535;
/** Dispatches with more than this many workgroups along x wrap onto y (within MAX_GROUPS). */
export const MAX_GROUPS_X = 32768;
const PARAM_SLOT = 256; // minUniformBufferOffsetAlignment
const RING_SLOTS = 2048;
const MAX_STAGING_SIZES = 8; // sizes of read-back buffers kept for reuse
const MAX_BIND_GROUPS = 8192; // cached per Gpu; the cache starts over when full
/**
 * Recorded dispatches are submitted in batches of this many, so the GPU runs the first ones while the host records
 * the rest (a decode step of smollm-135m records 183 and reads once; submitting only at the read would run them one
 * after the other: host, then GPU). Dawn builds the Vulkan commands at submit: a batch of 64 took the H100 machine's
 * host about 200 us, 3 us a dispatch, on top of the ~7 us of recording one.
 */
const SUBMIT_EVERY = 64;

/**
 * A kernel's parameters: u32 (plain numbers) and f32 (wrapped with `f32`), 4 bytes each in order, as its WGSL
 * `Params` struct declares them (at most 64).
 */
export type Param = number | { f32: number };
export const f32 = (value: number): Param => ({ f32: value });

/** WGSL shared by every kernel: the flat invocation index of a 1-D dispatch that `dispatch1d` spread over x and y. */
export const FLAT_INDEX = /* wgsl */ `
fn flatIndex(id: vec3u) -> u32 { return id.x + id.y * ${MAX_GROUPS_X * WORKGROUP}u; }`;

/** An op whose recording is held back (`Gpu.hold`): `record` records it as it is. */
export interface HeldOp {
  record(): void;
}

/**
 * One command of a captured stretch of recording (`Gpu.capture`), enough to record it again without the ops that
 * made it: a dispatch (its parameter words written at ring offset `slot`, -1 for none; `floats` marks the words that
 * hold f32 values; `step` is added to them once per step when replayed), a copy, or the submit that ended a batch.
 */
export type Captured =
  | { kind: 'dispatch'; pipeline: GPUComputePipeline; group: GPUBindGroup; buffers: GPUBuffer[]; groups: [number, number, number]; slot: number; params: Uint32Array; floats: boolean[]; step?: Uint32Array }
  | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; bytes: number }
  | { kind: 'submit' };

/** A compiled kernel. */
interface Kernel {
  id: number;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/** The process's device, shared by every Gpu: devices are costly to make and the driver keeps some of each. */
interface SharedDevice {
  device: GPUDevice;
  adapterInfo: GPUAdapterInfo;
  pipelines: Map<string, Kernel>;
  /** The device's limits that ops consult, read once (reading device.limits makes a new object each time). */
  limits: { maxStorageBufferBindingSize: number; maxStorageBuffersPerShaderStage: number; maxComputeWorkgroupStorageSize: number };
  /** Whether the device runs the f16 tensor-core mat-mul (kernels/tensor-core-matmul.ts). */
  tensorCores: boolean;
  /** Whether kernels may use subgroup operations, with subgroups of consecutive invocations (see subgroupsProbe). */
  subgroups: boolean;
  /** GPU time per kernel, when asked for (profiler.ts). */
  profiler?: Profiler;
  /** Why the device stopped working (lost, or an uncaptured error), once it has: thrown at every read from then on. */
  failure?: Error;
}
let current: Promise<SharedDevice> | undefined;

/** The first adapter's device, with its largest buffer limits; an Error saying why when there is none. */
async function sharedDevice(): Promise<SharedDevice> {
  const gpu = await gpuEntry();
  if (!gpu) throw new ArgumentError('backend', 'WebGPU (navigator.gpu, or the optional `webgpu` package in Node)', 'neither is available');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new ArgumentError('backend', 'a WebGPU adapter', 'none on this machine');
  const tensorCores = hasTensorCores(adapter);
  const subgroupOps = adapter.features.has('subgroups' as GPUFeatureName);
  const profile = Profiler.wanted(adapter.features);
  const device = await adapter.requestDevice({
    requiredFeatures: [...(tensorCores ? TENSOR_CORE_FEATURES : []), ...(subgroupOps ? ['subgroups' as GPUFeatureName] : []), ...(profile ? ['timestamp-query' as GPUFeatureName] : [])],
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(16, adapter.limits.maxStorageBuffersPerShaderStage),
      ...(tensorCores && { maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize }),
    },
  });
  const { maxStorageBufferBindingSize, maxStorageBuffersPerShaderStage, maxComputeWorkgroupStorageSize } = device.limits;
  const limits = { maxStorageBufferBindingSize, maxStorageBuffersPerShaderStage, maxComputeWorkgroupStorageSize };
  // LLAMATS_WEBGPU_SUBGROUPS=0 keeps the kernels on workgroup memory alone (to compare, or where a driver errs).
  const subgroups = subgroupOps && (typeof process === 'undefined' || process.env['LLAMATS_WEBGPU_SUBGROUPS'] !== '0') && (await subgroupsProbe(device));
  const s: SharedDevice = { device, adapterInfo: adapter.info, pipelines: new Map(), limits, tensorCores, subgroups, ...(profile && { profiler: new Profiler(device) }) };
  void device.lost.then((info) => {
    s.failure ??= new Error(`webgpu: device lost (${info.reason}): ${info.message}`);
    current = undefined; // the next backend makes a new device
  });
  device.addEventListener('uncapturederror', (e) => {
    s.failure ??= new Error(`webgpu: ${(e as GPUUncapturedErrorEvent).error.message}`);
  });
  return s;
}

const TENSOR_CORE_FEATURES = ['shader-f16', 'chromium-experimental-subgroup-matrix'] as GPUFeatureName[];
/** Workgroup memory the tensor-core kernel declares (its f16 tiles and an f32 fragment per subgroup). */
export const TENSOR_CORE_WORKGROUP_BYTES = 2 * 128 * (32 + 8) * 2 + 4 * 16 * 16 * 4;

/**
 * Whether the adapter multiplies f16 16 x 16 x 16 matrices into f32 in subgroups of 32 (tensor cores, through the
 * experimental subgroup-matrix feature) with the workgroup memory that kernel needs.
 */
function hasTensorCores(adapter: GPUAdapter): boolean {
  const info = adapter.info as GPUAdapterInfo & {
    subgroupMinSize?: number; subgroupMaxSize?: number;
    subgroupMatrixConfigs?: Iterable<{ componentType: string; resultComponentType: string; M: number; N: number; K: number }>;
  };
  const configs = [...(info.subgroupMatrixConfigs ?? [])];
  return TENSOR_CORE_FEATURES.every((f) => adapter.features.has(f))
    && info.subgroupMinSize === 32 && info.subgroupMaxSize === 32
    && adapter.limits.maxComputeWorkgroupStorageSize >= TENSOR_CORE_WORKGROUP_BYTES
    && configs.some((c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && c.M === 16 && c.N === 16 && c.K === 16);
}

/**
 * Whether the subgroups of a 64-wide workgroup are runs of consecutive invocations of a power-of-two size from 4 to
 * 64, the layout that the kernels' subgroup sums assume (usual on GPUs, but WGSL does not promise it): a probe kernel
 * reports each invocation's subgroup size and index in its subgroup.
 */
async function subgroupsProbe(device: GPUDevice): Promise<boolean> {
  const module = device.createShaderModule({ code: /* wgsl */ `enable subgroups;
@group(0) @binding(0) var<storage, read_write> out: array<u32, 128>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) i: u32, @builtin(subgroup_size) size: u32, @builtin(subgroup_invocation_id) id: u32) {
  out[2u * i] = size;
  out[2u * i + 1u] = id;
}` });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const out = device.createBuffer({ size: 512, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: 512, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: out } }] }));
  pass.dispatchWorkgroups(1);
  pass.end();
  encoder.copyBufferToBuffer(out, 0, read, 0, 512);
  device.queue.submit([encoder.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const words = new Uint32Array(read.getMappedRange().slice(0));
  read.unmap();
  [out, read].forEach((b) => b.destroy());
  const size = words[0]!;
  return [4, 8, 16, 32, 64].includes(size) && [...Array(64).keys()].every((i) => words[2 * i] === size && words[2 * i + 1] === i % size);
}

/**
 * One backend's view of the shared device: its own buffers (all of them destroyed by `destroy`), parameter ring and
 * command stream.
 */
export class Gpu {
  /** Free buffers by size: their ids, highest first (see `free`). */
  private readonly pool = new Map<number, number[]>();
  /** Buffers by id (ids number the buffers this Gpu has seen, in order). */
  private readonly byId: GPUBuffer[] = [];
  private readonly owned = new Set<GPUBuffer>();
  private readonly staging = new Map<number, GPUBuffer[]>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly bufferIds = new Map<GPUBuffer, number>();
  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private readonly ring: GPUBuffer;
  private readonly ringData = new ArrayBuffer(RING_SLOTS * PARAM_SLOT);
  private readonly ringU32 = new Uint32Array(this.ringData);
  private readonly ringF32 = new Float32Array(this.ringData);
  private ringUsed = 0;
  private recorded = 0;
  private passPipeline: GPUComputePipeline | undefined;
  private held: HeldOp | undefined;
  /** The commands recorded since `capture` began, while it runs; undefined once something not capturable ran. */
  private captured: Captured[] | undefined;
  private capturing = false;
  /** Bytes of storage buffers created so far (pooled ones included): what the pool holds on the device. */
  allocatedBytes = 0;
  /** An allocation of this Gpu's that the device refused: thrown at every read from then on. */
  private failure: GpuMemoryError | undefined;

  private constructor(private readonly shared: SharedDevice, private readonly bindingLimit: number, private readonly subgroupsAllowed: boolean) {
    this.ring = this.device.createBuffer({ size: RING_SLOTS * PARAM_SLOT, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  }

  /**
   * `maxBinding`: bind at most this many bytes, below the device's limit (tests split weights with it); `subgroups:
   * false`: no subgroup operations, where the device has them (tests run both).
   */
  static async create(maxBinding = Infinity, subgroups?: false): Promise<Gpu> {
    current ??= sharedDevice();
    try {
      return new Gpu(await current, maxBinding, subgroups !== false);
    } catch (e) {
      current = undefined;
      throw e;
    }
  }

  get device(): GPUDevice {
    return this.shared.device;
  }

  get adapterInfo(): GPUAdapterInfo {
    return this.shared.adapterInfo;
  }

  /** Whether the f16 tensor-core mat-mul runs here. */
  get tensorCores(): boolean {
    return this.shared.tensorCores;
  }

  /** Whether kernels may sum over subgroups of consecutive invocations (4 to 64 of them). */
  get subgroups(): boolean {
    return this.shared.subgroups && this.subgroupsAllowed;
  }

  /** Largest buffer one binding can see. */
  get maxBinding(): number {
    return Math.min(this.shared.limits.maxStorageBufferBindingSize, this.bindingLimit);
  }

  /** Bytes of workgroup memory one kernel may declare. */
  get maxWorkgroupStorage(): number {
    return this.shared.limits.maxComputeWorkgroupStorageSize;
  }

  /** Storage buffers one kernel may bind. */
  get maxStorageBuffers(): number {
    return this.shared.limits.maxStorageBuffersPerShaderStage;
  }

  // ---- memory ----

  /** A storage buffer of at least `bytes` (pooled by size class: sizes round up by at most 1/8). */
  alloc(bytes: number): GPUBuffer {
    if (bytes > this.maxBinding) throw new GpuMemoryError(bytes, `larger than one binding may be on this device (${this.maxBinding} bytes)`);
    // The size class, but never past what one binding holds (a chunk sized to the limit must still fit).
    const size = Math.max(Math.min(sizeClass(bytes), Math.floor(this.maxBinding / 16) * 16), Math.ceil(bytes / 4) * 4);
    const reused = this.pool.get(size)?.pop();
    if (reused !== undefined) return this.byId[reused]!;
    this.allocatedBytes += size;
    this.device.pushErrorScope('out-of-memory');
    const buffer = this.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    void this.device.popErrorScope().then((e) => {
      if (e) this.failure ??= new GpuMemoryError(bytes, e.message);
    });
    this.owned.add(buffer);
    return buffer;
  }

  /**
   * Give a buffer back to the pool. Commands already recorded that use it still run first (queue order). Each size's
   * list is kept in falling id order and `alloc` takes the lowest id, so which buffers a step gets depends only on
   * which are free, not on the order they were freed in: a steady loop then meets the same bind groups every step.
   */
  free(buffer: GPUBuffer): void {
    const list = this.pool.get(buffer.size) ?? [];
    const id = this.bufferId(buffer);
    let at = list.length;
    while (at > 0 && list[at - 1]! < id) at--;
    list.splice(at, 0, id);
    this.pool.set(buffer.size, list);
  }

  /** Copy host bytes into a buffer at offset (after the commands recorded so far, which may still read it). */
  write(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    this.flush();
    this.captured = undefined;
    const bytes = new Uint8Array(Math.ceil(data.byteLength / 4) * 4); // a 4-byte multiple, and never shared memory
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.device.queue.writeBuffer(buffer, offset, bytes);
  }

  /** The bytes [offset, offset + bytes) of a buffer, after everything recorded so far has run. */
  async read(buffer: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    // Staging buffers are kept for the next read of the size (a decode step reads its logits every token).
    const staging = this.staging.get(size)?.pop() ?? this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.copy(buffer, offset, staging, 0, size);
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      staging.destroy();
      this.check();
      throw e;
    }
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    if (this.staging.has(size) || this.staging.size < MAX_STAGING_SIZES) this.staging.set(size, [...(this.staging.get(size) ?? []), staging]);
    else staging.destroy();
    this.check();
    return out;
  }

  /** Destroy every buffer this Gpu made, pooled or still held by tensors (the shared device stays). */
  destroy(): void {
    this.flush();
    for (const b of this.owned) b.destroy();
    for (const b of [...this.staging.values()].flat()) b.destroy();
    this.owned.clear();
    this.staging.clear();
    this.bindGroups.clear();
    this.bufferIds.clear();
    this.byId.length = 0;
    this.pool.clear();
    this.ring.destroy();
  }

  // ---- commands ----

  /**
   * Record one kernel: `wgsl` declares its buffers as @group(0) @binding(0..n-1) in the order given (read-only ones
   * as `read`, outputs as `read_write`) and, when there are params, `var<uniform> p: Params` at @binding(n). Its
   * entry point is `main`, with @workgroup_size(64) unless it says otherwise.
   */
  dispatch(wgsl: string, buffers: GPUBuffer[], params: Param[], groups: [number, number?, number?]): void {
    this.settle();
    const kernel = this.pipeline(wgsl);
    const offset = params.length > 0 ? this.pushParams(params) : -1;
    const profiler = this.shared.profiler;
    if (profiler) {
      if (profiler.full) this.flush();
      this.endPass();
      this.pass = this.commandEncoder().beginComputePass({ timestampWrites: profiler.passFor(callerLabel()) });
    }
    const pass = this.computePass();
    if (this.passPipeline !== kernel.pipeline) pass.setPipeline((this.passPipeline = kernel.pipeline));
    const group = this.bindGroup(kernel, buffers, offset);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(groups[0], groups[1] ?? 1, groups[2] ?? 1);
    this.captured?.push({
      kind: 'dispatch', pipeline: kernel.pipeline, group, buffers, groups: [groups[0], groups[1] ?? 1, groups[2] ?? 1], slot: offset,
      params: offset >= 0 ? this.ringU32.slice(offset / 4, offset / 4 + params.length) : new Uint32Array(0),
      floats: params.map((v) => typeof v !== 'number'),
    });
    if (++this.recorded >= SUBMIT_EVERY) this.flush();
  }

  /**
   * The bind group of a kernel's buffers and parameter slot, made once: a steady loop (a decode step, a training
   * step) takes the same pooled buffers and ring slots in the same order every time, and making bind groups is most
   * of what a dispatch costs on the host.
   */
  private bindGroup(kernel: Kernel, buffers: GPUBuffer[], offset: number): GPUBindGroup {
    let key = `${kernel.id} ${offset}`;
    for (const b of buffers) key += ` ${this.bufferId(b)}`;
    let group = this.bindGroups.get(key);
    if (!group) {
      const entries: GPUBindGroupEntry[] = buffers.map((buffer, binding) => ({ binding, resource: { buffer } }));
      if (offset >= 0) entries.push({ binding: buffers.length, resource: { buffer: this.ring, offset, size: PARAM_SLOT } });
      group = this.device.createBindGroup({ layout: kernel.layout, entries });
      if (this.bindGroups.size >= MAX_BIND_GROUPS) this.bindGroups.clear();
      this.bindGroups.set(key, group);
    }
    return group;
  }

  private bufferId(buffer: GPUBuffer): number {
    let id = this.bufferIds.get(buffer);
    if (id === undefined) {
      this.bufferIds.set(buffer, (id = this.byId.length));
      this.byId.push(buffer);
    }
    return id;
  }

  /** `dispatch` over n invocations of a 64-wide kernel that indexes with flatIndex (FLAT_INDEX). */
  dispatch1d(wgsl: string, buffers: GPUBuffer[], params: Param[], n: number): void {
    const groups = Math.max(1, Math.ceil(n / WORKGROUP));
    this.dispatch(wgsl, buffers, params, groups <= MAX_GROUPS_X ? [groups] : [MAX_GROUPS_X, Math.ceil(groups / MAX_GROUPS_X)]);
  }

  /** Record a buffer-to-buffer copy (byte counts multiples of 4). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.settle();
    if (bytes === 0) return;
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.captured?.push({ kind: 'copy', src, srcOffset, dst, dstOffset, bytes });
  }

  /** Submit what is recorded. */
  flush(): void {
    this.settle();
    if (!this.encoder) return;
    this.endPass();
    if (this.ringUsed > 0) this.device.queue.writeBuffer(this.ring, 0, this.ringData, 0, this.ringUsed);
    const readProfile = this.shared.profiler?.collect(this.encoder);
    this.device.queue.submit([this.encoder.finish()]);
    readProfile?.();
    this.encoder = undefined;
    this.ringUsed = 0;
    this.recorded = 0;
    this.captured?.push({ kind: 'submit' });
  }

  /**
   * Run `fn` and return the commands it recorded, submitted (undefined where it did what a replay could not repeat:
   * wrote host data, or ran under the profiler). Recording before it is submitted first, so the capture starts on an
   * empty ring.
   */
  capture(fn: () => void): Captured[] | undefined {
    if (this.capturing) throw new Error('webgpu: captures do not nest');
    this.flush();
    this.captured = this.shared.profiler ? undefined : [];
    this.capturing = true;
    try {
      fn();
      this.flush();
      return this.captured;
    } finally {
      this.captured = undefined;
      this.capturing = false;
    }
  }

  /**
   * Record and submit captured commands again, each dispatch's parameters advanced by `steps` times its `step`,
   * without the ops that made them: the host cost of a dispatch drops to the three calls that record it.
   */
  replay(commands: readonly Captured[], steps: number): void {
    this.flush();
    let encoder = this.device.createCommandEncoder();
    let pass: GPUComputePassEncoder | undefined;
    let pipeline: GPUComputePipeline | undefined;
    let ringEnd = 0;
    for (const c of commands) {
      if (c.kind === 'dispatch') {
        if (c.slot >= 0) {
          const at = c.slot / 4, { params, step } = c;
          for (let i = 0; i < params.length; i++) this.ringU32[at + i] = step ? (params[i]! + Math.imul(steps, step[i]!)) >>> 0 : params[i]!;
          ringEnd = Math.max(ringEnd, c.slot + PARAM_SLOT);
        }
        pass ??= encoder.beginComputePass();
        if (pipeline !== c.pipeline) pass.setPipeline((pipeline = c.pipeline));
        pass.setBindGroup(0, c.group);
        pass.dispatchWorkgroups(c.groups[0], c.groups[1], c.groups[2]);
        continue;
      }
      pass?.end();
      pass = pipeline = undefined;
      if (c.kind === 'copy') {
        encoder.copyBufferToBuffer(c.src, c.srcOffset, c.dst, c.dstOffset, c.bytes);
        continue;
      }
      if (ringEnd > 0) this.device.queue.writeBuffer(this.ring, 0, this.ringData, 0, ringEnd);
      this.device.queue.submit([encoder.finish()]);
      encoder = this.device.createCommandEncoder();
      ringEnd = 0;
    }
    pass?.end();
  }

  /**
   * Take those of `buffers` that are free out of the pool, so that nothing else is given them (a replayed step's
   * intermediates); `free` gives them back. Returns the ones taken.
   */
  reserve(buffers: Iterable<GPUBuffer>): GPUBuffer[] {
    const taken: GPUBuffer[] = [];
    for (const buffer of new Set(buffers)) {
      const list = this.pool.get(buffer.size);
      const at = list?.indexOf(this.bufferId(buffer)) ?? -1;
      if (at < 0) continue;
      list!.splice(at, 1);
      taken.push(buffer);
    }
    return taken;
  }

  /**
   * Hold back the recording of one op, so that the op after it may fold it into its own kernel (`takeHeld`); anything
   * else recorded first records the held op, in program order. (Decode is bound by dispatches on the host; its fusions
   * are listed at WebGpuBackend's `Held`.)
   */
  hold<T extends HeldOp>(op: T): void {
    this.settle();
    this.held = op;
  }

  /** The held op, if `match` accepts it; it is then no longer held, and the caller records its work. */
  takeHeld(match: (op: HeldOp) => boolean): HeldOp | undefined {
    const op = this.held;
    if (!op || !match(op)) return undefined;
    this.held = undefined;
    return op;
  }

  /** Record the held op, if any. */
  private settle(): void {
    const op = this.held;
    this.held = undefined;
    op?.record();
  }

  /** Throw if an allocation failed, or the device was lost or reported an error. */
  check(): void {
    const failure = this.failure ?? this.shared.failure;
    if (failure) throw failure;
  }

  private pipeline(wgsl: string): Kernel {
    let k = this.shared.pipelines.get(wgsl);
    if (!k) {
      const module = this.device.createShaderModule({ code: wgsl });
      const pipeline = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      k = { id: this.shared.pipelines.size, pipeline, layout: pipeline.getBindGroupLayout(0) };
      this.shared.pipelines.set(wgsl, k);
    }
    return k;
  }

  private pushParams(params: Param[]): number {
    if (this.ringUsed + PARAM_SLOT > this.ringData.byteLength) this.flush();
    const offset = this.ringUsed;
    const at = offset / 4; // ring words are host-endian, as the GPU reads them (WebGPU hosts are little-endian)
    for (let i = 0; i < params.length; i++) {
      const v = params[i]!;
      if (typeof v === 'number') this.ringU32[at + i] = v;
      else this.ringF32[at + i] = v.f32;
    }
    this.ringUsed += PARAM_SLOT;
    return offset;
  }

  private commandEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    this.pass ??= this.commandEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
    this.passPipeline = undefined;
  }
}

/** Sizes round up to 16 bytes, then to 1/8 of their power of two, so pooled buffers fit many requests. */
function sizeClass(bytes: number): number {
  const size = Math.max(16, Math.ceil(bytes / 16) * 16);
  const step = Math.max(16, 2 ** (Math.floor(Math.log2(size)) - 3));
  return Math.ceil(size / step) * step;
}
