/**
 * The merge loop that both BPE families share: a word's symbols (code points for SentencePiece, bytes for byte-level
 * BPE) merge pairwise, best pair first, until no adjacent pair forms a token. Each symbol waits in an indexed heap
 * keyed by the merge with its right neighbour and is re-keyed when a neighbour changes, so a word of n symbols costs
 * O(n log n), not a rescan of every pair after each of up to n merges.
 */

/**
 * A word's symbols as a doubly linked list over parallel arrays, in text order; a symbol merged into its left
 * neighbour is unlinked. `id` -1 marks a symbol that never merges. `start` is free for the caller (SentencePiece
 * keeps each symbol's UTF-16 offset there).
 */
export interface Symbols {
  start: Int32Array;
  id: Int32Array;
  prev: Int32Array;
  next: Int32Array;
  /** Symbols in use: 0..length-1, linked in order before merging. */
  length: number;
}

/**
 * How pairs merge: `find(left, right)` is the merge of two adjacent symbol ids (-1 if they do not merge), and a
 * merge has a `score` (higher merges first; ties go to the leftmost pair) and a `result` id.
 */
export interface MergeRules {
  find(left: number, right: number): number;
  score(merge: number): number;
  result(merge: number): number;
}

/**
 * Working arrays reused from word to word (allocating them per word dominated the time). One per tokenizer is safe:
 * encoding is synchronous. `heapSteps` counts heap moves, for tests that check the O(n log n) bound.
 */
export class MergeScratch {
  symbols: Symbols = newSymbols(0);
  heap: PairHeap = newPairHeap(0);
  heapSteps = 0;

  /** Symbols with room for n, linked 0..n-1 in order, all ids 0 (the caller fills them). */
  reset(n: number): Symbols {
    if (this.symbols.id.length < n) {
      this.symbols = newSymbols(2 * n);
      this.heap = newPairHeap(2 * n);
    }
    const s = this.symbols;
    for (let i = 0; i < n; i++) {
      s.prev[i] = i - 1;
      s.next[i] = i + 1;
    }
    if (n > 0) s.next[n - 1] = -1;
    s.length = n;
    return s;
  }
}

function newSymbols(n: number): Symbols {
  const size = Math.max(n, 64);
  return { start: new Int32Array(size), id: new Int32Array(size), prev: new Int32Array(size), next: new Int32Array(size), length: 0 };
}

/** Merge the symbols of `scratch.symbols` by `rules` until no adjacent pair merges. The heap is left empty. */
export function mergeSymbols(scratch: MergeScratch, rules: MergeRules): void {
  const s = scratch.symbols, heap = scratch.heap;
  if (s.length === 0) return;
  const update = (left: number): void => {
    const right = s.next[left]!;
    const merge = right >= 0 && s.id[left]! >= 0 && s.id[right]! >= 0 ? rules.find(s.id[left]!, s.id[right]!) : -1;
    if (merge < 0) removePair(scratch, left);
    else setPair(scratch, left, rules.score(merge), rules.result(merge));
  };
  for (let i = 0; i >= 0; i = s.next[i]!) update(i);
  for (let left = popBest(scratch); left >= 0; left = popBest(scratch)) {
    const right = s.next[left]!;
    s.id[left] = heap.merged[left]!;
    removePair(scratch, right);
    const after = s.next[right]!;
    s.next[left] = after;
    if (after >= 0) s.prev[after] = left;
    update(left);
    if (s.prev[left]! >= 0) update(s.prev[left]!);
  }
}

/**
 * Rules from an explicit merge list (Hugging Face, GGUF): merge k joins its pair into `join(left, right, k)` (the
 * caller's lookup, which throws for a pair that makes no token); earlier merges first.
 */
export function mergeListRules(merges: readonly (readonly [number, number])[], join: (left: number, right: number, k: number) => number): MergeRules {
  const pairs = new PairMap(merges.length);
  const results = new Int32Array(merges.length);
  merges.forEach(([left, right], k) => {
    results[k] = join(left, right, k);
    pairs.setIfAbsent(left, right, k);
  });
  return { find: (left, right) => pairs.get(left, right), score: (k) => -k, result: (k) => results[k]! };
}

/** The ids of the symbols left after merging, in order, appended to `out`. */
export function pushSymbolIds(s: Symbols, out: number[]): void {
  if (s.length === 0) return;
  for (let i = 0; i >= 0; i = s.next[i]!) out.push(s.id[i]!);
}

/**
 * An indexed binary max-heap of symbols, keyed by the score of merging each symbol with its right neighbour
 * (ties: the leftmost symbol first). `pos` finds a symbol in the heap so that its key can change in place.
 */
interface PairHeap {
  heap: Int32Array;
  size: number;
  /** Heap position of each symbol, -1 when it has no merge waiting. */
  pos: Int32Array;
  score: Float64Array;
  /** The id that the waiting merge would make. */
  merged: Int32Array;
}

function newPairHeap(n: number): PairHeap {
  const size = Math.max(n, 64);
  return { heap: new Int32Array(size), size: 0, pos: new Int32Array(size).fill(-1), score: new Float64Array(size), merged: new Int32Array(size) };
}

function before(h: PairHeap, a: number, b: number): boolean {
  return h.score[a]! > h.score[b]! || (h.score[a] === h.score[b] && a < b);
}

function setPair(scratch: MergeScratch, sym: number, score: number, merged: number): void {
  const h = scratch.heap;
  h.score[sym] = score;
  h.merged[sym] = merged;
  if (h.pos[sym]! < 0) {
    h.pos[sym] = h.size;
    h.heap[h.size++] = sym;
  }
  sift(scratch, h.pos[sym]!);
}

function removePair(scratch: MergeScratch, sym: number): void {
  const h = scratch.heap;
  const i = h.pos[sym]!;
  if (i < 0) return;
  h.pos[sym] = -1;
  const last = h.heap[--h.size]!;
  if (last === sym) return;
  h.heap[i] = last;
  h.pos[last] = i;
  sift(scratch, i);
}

/** The symbol with the best waiting merge, taken out of the heap; -1 when none is left. */
function popBest(scratch: MergeScratch): number {
  const h = scratch.heap;
  if (h.size === 0) return -1;
  const best = h.heap[0]!;
  removePair(scratch, best);
  return best;
}

/** Restore heap order around position i after its key changed: move it up, else down. */
function sift(scratch: MergeScratch, i: number): void {
  const h = scratch.heap;
  const sym = h.heap[i]!;
  let steps = 0;
  while (i > 0 && before(h, sym, h.heap[(i - 1) >> 1]!)) {
    i = moveInto(h, i, (i - 1) >> 1);
    steps++;
  }
  for (;;) {
    let child = 2 * i + 1;
    if (child >= h.size) break;
    if (child + 1 < h.size && before(h, h.heap[child + 1]!, h.heap[child]!)) child++;
    if (!before(h, h.heap[child]!, sym)) break;
    i = moveInto(h, i, child);
    steps++;
  }
  h.heap[i] = sym;
  h.pos[sym] = i;
  scratch.heapSteps += steps + 1;
}

/** Move the symbol at heap position `from` into position `to`; returns `from`, the hole left behind. */
function moveInto(h: PairHeap, to: number, from: number): number {
  const sym = h.heap[from]!;
  h.heap[to] = sym;
  h.pos[sym] = to;
  return from;
}

/**
 * A hash map from a pair of ids (each below 2^31) to a non-negative int, open addressing over typed arrays: the
 * pair lookups of BPE are the hot loop of encoding, and a Map keyed by `left * n + right` (beyond small integers
 * for large vocabularies) was several times slower.
 */
export class PairMap {
  private left: Int32Array;
  private right: Int32Array;
  private values: Int32Array;
  private mask: number;
  private count = 0;

  constructor(expected = 1024) {
    const capacity = 2 ** Math.ceil(Math.log2(Math.max(16, expected * 2)));
    this.left = new Int32Array(capacity).fill(-1);
    this.right = new Int32Array(capacity);
    this.values = new Int32Array(capacity);
    this.mask = capacity - 1;
  }

  /** The value of (a, b), or -1. */
  get(a: number, b: number): number {
    for (let i = this.slot(a, b); ; i = (i + 1) & this.mask) {
      const l = this.left[i]!;
      if (l === -1) return -1;
      if (l === a && this.right[i] === b) return this.values[i]!;
    }
  }

  /** Set (a, b) to `value` unless it has one already (the first setting wins). */
  setIfAbsent(a: number, b: number, value: number): void {
    if (2 * (this.count + 1) > this.left.length) this.grow();
    for (let i = this.slot(a, b); ; i = (i + 1) & this.mask) {
      const l = this.left[i]!;
      if (l === a && this.right[i] === b) return;
      if (l === -1) {
        this.left[i] = a;
        this.right[i] = b;
        this.values[i] = value;
        this.count++;
        return;
      }
    }
  }

  private slot(a: number, b: number): number {
    return (Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca77)) >>> 0 & this.mask;
  }

  private grow(): void {
    const { left, right, values } = this;
    const capacity = left.length * 2;
    this.left = new Int32Array(capacity).fill(-1);
    this.right = new Int32Array(capacity);
    this.values = new Int32Array(capacity);
    this.mask = capacity - 1;
    this.count = 0;
    for (let i = 0; i < left.length; i++) if (left[i] !== -1) this.setIfAbsent(left[i]!, right[i]!, values[i]!);
  }
}
