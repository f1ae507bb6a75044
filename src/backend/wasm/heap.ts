import { LlamatsError } from '../../core/errors.js';

const PAGE = 65536;
/** Below this the kernel module keeps its own static data and stack. */
const HEAP_START = 1 << 20;
/** wasm32 addresses 4 GiB; one page short, so that every offset stays below 2^32 - 1. */
const MAX_PAGES = 65535;
const ALIGN = 64;
/** Bytes past the top that stay in memory: the decode kernels load up to 4 KiB ahead of their weights (simd.ts). */
const TAIL = 8192;

/** Raised when a tensor does not fit: names the size asked for and what the heap already holds. */
export class OutOfMemoryError extends LlamatsError {
  override name = 'OutOfMemoryError';
  constructor(readonly requested: number, readonly inUse: number) {
    super(`out of WebAssembly memory: asked for ${mb(requested)} with ${mb(inUse)} in use (the limit is 4 GiB)`);
  }
}

function mb(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/**
 * The one shared WebAssembly.Memory that every tensor of the WASM backend lives in, and its allocator. Tensors are
 * byte offsets into it, so kernels on any thread read them with no copy.
 *
 * Allocation: blocks are rounded up to 64 bytes and freed blocks go to a free list of their exact size, reused
 * first; otherwise the heap grows at its top. A model's step allocates the same sizes every time, so after the
 * first token the free lists serve every request and the heap stops growing.
 */
export class WasmHeap {
  readonly memory: WebAssembly.Memory;
  private top = HEAP_START;
  private readonly free = new Map<number, number[]>();
  private inUse = 0;

  constructor(initialBytes = 16 * 2 ** 20) {
    const initial = Math.ceil(Math.max(initialBytes, HEAP_START + PAGE) / PAGE);
    this.memory = new WebAssembly.Memory({ initial, maximum: MAX_PAGES, shared: true });
  }

  /** A 64-byte aligned block of at least `bytes` bytes (contents undefined). */
  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    this.inUse += size;
    const reused = this.free.get(size)?.pop();
    if (reused !== undefined) return reused;
    const ptr = this.top;
    if (ptr + size + TAIL > MAX_PAGES * PAGE) {
      this.inUse -= size;
      throw new OutOfMemoryError(bytes, this.inUse);
    }
    this.top += size;
    const have = this.memory.buffer.byteLength;
    if (this.top + TAIL > have) this.memory.grow(Math.ceil((this.top + TAIL - have) / PAGE));
    return ptr;
  }

  /** Return a block of `bytes` (the size it was allocated with) to its free list. */
  release(ptr: number, bytes: number): void {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    this.inUse -= size;
    const list = this.free.get(size);
    if (list) list.push(ptr);
    else this.free.set(size, [ptr]);
  }

  /** Bytes held by live tensors, and bytes the heap spans (live + free lists). */
  get stats(): { inUse: number; reserved: number } {
    return { inUse: this.inUse, reserved: this.top - HEAP_START };
  }

  // Views are made per call: growing a shared memory replaces its buffer object.
  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }

  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, length);
  }

  u8(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, length);
  }
}
