/**
 * Training a BPE vocabulary from word counts: start from single symbols, and repeatedly join the adjacent pair that
 * occurs most often (over every word, weighted by its count) into a new symbol. Pair counts are kept up to date
 * incrementally, with for each pair the words that hold it, so a merge touches only those words; a lazy max-heap
 * finds the most frequent pair. Both LLaMA families train here: SentencePiece-style (symbols are characters,
 * words start at '▁') and byte-level (symbols are bytes, words are Llama 3 pre-tokens); see tokenizer-trainer.ts.
 */

export interface WordSymbols {
  /** The word's symbol ids (merged in place as training goes). */
  symbols: number[];
  count: number;
}

export interface LearnOptions<P> {
  /** Ids 0..symbolCount-1 are the initial symbols; merge k makes id symbolCount + k. */
  symbolCount: number;
  merges: number;
  /**
   * Constraints on pieces: `describe` gives what `join` needs to know of an initial symbol, and `join` that of two
   * adjacent symbols joined, or null when they may not join (SentencePiece: scripts, digits, '▁' placement,
   * length). Without them any pair may join.
   */
  describe?: (symbol: number) => P | null;
  join?: (left: P, right: P) => P | null;
  onMerge?: (done: number) => void;
}

/** The merges, best first, as pairs of ids; stops early when no pair occurs any more. */
export function learnMerges<P = true>(words: WordSymbols[], o: LearnOptions<P>): [number, number][] {
  // What each symbol is, for `join`; null: it never joins anything.
  const props: (P | null)[] = Array.from({ length: o.symbolCount }, (_, s) => (o.describe ? o.describe(s) : (true as P)));
  const joined = (a: number, b: number): P | null => {
    const pa = props[a], pb = props[b];
    return pa === null || pb === null ? null : o.join ? o.join(pa!, pb!) : pa!;
  };
  const KEY = 2 ** 24; // pair key a * KEY + b: exact in a double for ids below 2^24
  const counts = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  const heap = new PairCountHeap();
  const add = (a: number, b: number, n: number, word: number) => {
    if (joined(a, b) === null) return;
    const key = a * KEY + b;
    const count = (counts.get(key) ?? 0) + n;
    counts.set(key, count);
    if (n > 0) {
      let set = where.get(key);
      if (!set) where.set(key, (set = new Set()));
      set.add(word);
    }
    // Every change gets an entry: the entry of the old count is stale from now on.
    if (count > 0) heap.push(count, key);
  };
  words.forEach((w, i) => {
    for (let k = 0; k + 1 < w.symbols.length; k++) add(w.symbols[k]!, w.symbols[k + 1]!, w.count, i);
  });

  const merges: [number, number][] = [];
  while (merges.length < o.merges) {
    const key = heap.popMax(counts);
    if (key < 0) break;
    const a = Math.floor(key / KEY), b = key % KEY;
    const z = o.symbolCount + merges.length;
    merges.push([a, b]);
    props.push(joined(a, b));
    for (const wi of where.get(key)!) {
      const w = words[wi]!, s = w.symbols, n = w.count;
      for (let i = 0; i + 1 < s.length; i++) {
        if (s[i] !== a || s[i + 1] !== b) continue;
        if (i > 0) {
          add(s[i - 1]!, a, -n, wi);
          add(s[i - 1]!, z, n, wi);
        }
        if (i + 2 < s.length) {
          add(b, s[i + 2]!, -n, wi);
          add(z, s[i + 2]!, n, wi);
        }
        add(a, b, -n, wi);
        s.splice(i, 2, z);
      }
    }
    where.delete(key);
    counts.delete(key);
    o.onMerge?.(merges.length);
  }
  return merges;
}

/**
 * A max-heap of (count, pair key) entries that may be stale: an entry is current only while its count is the
 * pair's count now. Ties go to the smaller key, so training is deterministic.
 */
class PairCountHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** The key of the most frequent pair whose entry is current, removed; -1 when none is left. */
  popMax(current: Map<number, number>): number {
    while (this.counts.length > 0) {
      const count = this.counts[0]!, key = this.keys[0]!;
      this.removeTop();
      if (count > 0 && current.get(key) === count) return key;
    }
    return -1;
  }

  private removeTop(): void {
    const lastCount = this.counts.pop()!, lastKey = this.keys.pop()!;
    if (this.counts.length === 0) return;
    this.counts[0] = lastCount;
    this.keys[0] = lastKey;
    for (let i = 0; ;) {
      let best = i;
      for (const child of [2 * i + 1, 2 * i + 2]) if (child < this.counts.length && this.before(child, best)) best = child;
      if (best === i) return;
      this.swap(i, best);
      i = best;
    }
  }

  private before(i: number, j: number): boolean {
    return this.counts[i]! > this.counts[j]! || (this.counts[i] === this.counts[j] && this.keys[i]! < this.keys[j]!);
  }

  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j]!, this.counts[i]!];
    [this.keys[i], this.keys[j]] = [this.keys[j]!, this.keys[i]!];
  }
}
