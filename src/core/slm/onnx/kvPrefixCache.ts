/**
 * KV caches of finished sessions, kept so that a new answer starts from the longest run of
 * token ids it shares with one of them: a chat turn computes only the new message, Retry
 * nothing, a second question about the same selection only the question. One store per
 * loaded model (a LocalRuntime), so caches never cross models, variants or load options.
 *
 * Matching is on token ids, never text: a cache that holds an LLM's spliced text holds the
 * ids its re-tokenisation gave, and is reused only as far as the new prompt has the same ids.
 * Within a memory budget, least recently used first out; the budget also holds the spare
 * buffer set of the model's pool (kvCache.ts), so what stays between answers is at most it.
 */
import type { KvBufferPool, KvCacheStore } from './kvCache';

/**
 * Default budget for kept caches. A Qwen3-0.6B (or 1.7B) float32 cache takes 224 KB a token,
 * so with the buffers' room to grow, Explain Selection on 200 lines (about 3,000 tokens) keeps
 * about 1.06 GB and the 6-turn chat of `npm run bench:chat` 672 MB: this holds either with room
 * to spare (README "Performance").
 */
export const DEFAULT_KV_CACHE_BUDGET_MB = 1536;

/** Logits of the next position after the first `length` tokens (what a Retry needs to sample at once). */
export interface LogitsCheckpoint {
  length: number;
  logits: Float32Array;
}

/** Logits kept per cache: its own prompt's end, and the one it was started from (a Retry of either computes nothing). */
export const MAX_CHECKPOINTS = 2;

interface KeptCache {
  ids: number[];
  kv: KvCacheStore;
  checkpoints: LogitsCheckpoint[];
  lastUsed: number;
}

/** A cache a new session starts from: its first `ids.length` tokens are the new prompt's. */
export interface ReusedCache {
  kv: KvCacheStore;
  ids: number[];
  /** Logits of the position after `ids`, when the kept cache had them: nothing needs computing. */
  logits?: Float32Array;
  /** The kept cache's checkpoints within `ids` (still valid). */
  checkpoints: LogitsCheckpoint[];
}

function keptBytes(c: KeptCache): number {
  return c.kv.bytes + c.checkpoints.reduce((n, k) => n + k.logits.byteLength, 0);
}

function sharedPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** Whether `longer` serves every prompt `shorter` would: its ids begin with all of `shorter`'s, and it holds the logits `shorter` holds (a Retry of either computes nothing). */
function serves(longer: KeptCache, shorter: KeptCache): boolean {
  return (
    sharedPrefix(longer.ids, shorter.ids) === shorter.ids.length && shorter.checkpoints.every((k) => longer.checkpoints.some((v) => v.length === k.length))
  );
}

export class KvPrefixCache {
  private readonly kept: KeptCache[] = [];
  private clock = 0;
  private closed = false;
  /** Counts clear()s: a session opened before one holds KV of the old weights, and keep() refuses it. */
  private weightsGeneration = 0;

  /** What a session notes when it opens and gives back to keep(). */
  get generation(): number {
    return this.weightsGeneration;
  }

  constructor(
    private readonly budgetBytes: number,
    /** The pool whose spare set counts against the budget too (it is let go before any kept cache). */
    private readonly pool?: KvBufferPool,
  ) {
    pool?.shareBudgetWith(() => this.bytes);
  }

  /** Bytes held by kept caches. */
  get bytes(): number {
    return this.kept.reduce((sum, c) => sum + keptBytes(c), 0);
  }

  /** Kept caches, most recently used first (for tests and diagnostics). */
  get entries(): { tokens: number; bytes: number }[] {
    return [...this.kept].sort((a, b) => b.lastUsed - a.lastUsed).map((c) => ({ tokens: c.ids.length, bytes: c.kv.bytes }));
  }

  /**
   * The cache sharing the longest prefix with `ids`, cut to that prefix, or undefined when
   * none shares a token. A cache the new prompt covers for at least half of its length is
   * handed over (no copy: the chat turn that continues it, Retry of a short answer); a
   * shorter shared prefix is copied out and the kept cache stays for whoever needs the rest.
   */
  take(ids: readonly number[]): ReusedCache | undefined {
    let best: KeptCache | undefined;
    let bestLength = 0;
    for (const c of this.kept) {
      const n = sharedPrefix(c.ids, ids);
      if (n > bestLength || (n === bestLength && n > 0 && best !== undefined && c.lastUsed > best.lastUsed)) {
        best = c;
        bestLength = n;
      }
    }
    if (!best) return undefined;
    let length = bestLength;
    let logits: Float32Array | undefined;
    if (length === ids.length) {
      // The whole prompt is cached: sampling needs the logits after it, kept or computed from its last token.
      const kept = best.checkpoints.find((k) => k.length === length);
      if (kept) logits = Float32Array.from(kept.logits);
      else length -= 1;
    }
    if (length === 0) return undefined;
    best.lastUsed = ++this.clock;
    const checkpoints = best.checkpoints.filter((k) => k.length <= length);
    if (length * 2 >= best.ids.length) {
      this.kept.splice(this.kept.indexOf(best), 1);
      best.kv.truncate(length);
      return { kv: best.kv, ids: best.ids.slice(0, length), logits, checkpoints };
    }
    return {
      kv: best.kv.clonePrefix(length),
      ids: best.ids.slice(0, length),
      logits,
      checkpoints: checkpoints.map((k) => ({ ...k, logits: Float32Array.from(k.logits) })),
    };
  }

  /**
   * Keeps a finished session's cache (`ids` are exactly the tokens in `kv`). Caches it makes
   * redundant (a prefix of it) go, and it is not kept where a kept cache makes it redundant
   * (that one counts as just used). Where the budget does not hold it beside the others, what
   * goes is, in this order: the pool's spare set, its buffers' room to grow (it moves into
   * right-sized ones), the least recently used caches, and last its own later tokens (a cache
   * whose length alone exceeds the budget keeps its longest prefix that fits, and a long chat
   * goes on from there): as the most recently used it never evicts the others and then itself.
   */
  keep(ids: number[], kv: KvCacheStore, checkpoints: LogitsCheckpoint[] = [], generation = this.weightsGeneration): void {
    // A session that was open while the weights changed computed its KV with the old ones.
    if (this.closed || generation !== this.weightsGeneration || ids.length === 0 || kv.length !== ids.length) {
      kv.release();
      this.fitBudget();
      return;
    }
    let entry: KeptCache = {
      ids,
      kv,
      checkpoints: checkpoints.filter((k) => k.length <= ids.length).slice(-MAX_CHECKPOINTS),
      lastUsed: ++this.clock,
    };
    for (const c of [...this.kept]) {
      if (serves(entry, c)) this.evict(c);
    }
    // A prefix of a kept cache (a Retry's copy that wrote the same tokens again): the longer one serves every prompt it would, take() cutting or copying its prefix.
    const longer = this.kept.find((c) => serves(c, entry));
    if (longer) {
      longer.lastUsed = entry.lastUsed;
      entry.kv.release();
      this.fitBudget(longer);
      return;
    }
    // The spare set goes first, and before the cache moves into new buffers: not beside them.
    if (keptBytes(entry) + this.bytes + (this.pool?.spareBytes ?? 0) > this.budgetBytes) this.pool?.dropSpare();
    if (keptBytes(entry) + this.bytes <= this.budgetBytes) {
      kv.fitCapacity();
    } else {
      const length = this.longestPrefixWithin(entry);
      if (length === 0) {
        kv.discard();
        this.fitBudget();
        return;
      }
      if (length < ids.length) {
        kv.truncate(length);
        entry = { ...entry, ids: ids.slice(0, length), checkpoints: entry.checkpoints.filter((k) => k.length <= length) };
      }
      kv.rightSize();
    }
    this.kept.push(entry);
    this.fitBudget(entry);
  }

  /** Frees every kept cache; later ones are released at once (the model is going away). */
  close(): void {
    this.closed = true;
    for (const c of [...this.kept]) this.evict(c);
  }

  /** Frees every kept cache (they were computed by weights that are no longer the model's); later ones are kept again. */
  clear(): void {
    this.weightsGeneration++;
    for (const c of [...this.kept]) this.evict(c);
  }

  /** Tokens of the longest prefix of `c` that the whole budget holds in right-sized buffers (all of them where it fits, 0 where not even one does). */
  private longestPrefixWithin(c: KeptCache): number {
    const room = this.budgetBytes;
    const bytesOf = (n: number) => c.kv.rightSizedBytes(n) + c.checkpoints.reduce((sum, k) => sum + (k.length <= n ? k.logits.byteLength : 0), 0);
    let low = 0;
    let high = c.ids.length;
    while (low < high) {
      const mid = Math.ceil((low + high) / 2);
      if (bytesOf(mid) <= room) low = mid;
      else high = mid - 1;
    }
    return low;
  }

  /**
   * Lets the pool's spare go, then moves caches with room to grow into right-sized buffers
   * (the most room first: a copy costs less than recomputing an evicted cache), then evicts
   * the least recently used caches other than `keeping`, until the budget holds.
   */
  private fitBudget(keeping?: KeptCache): void {
    const room = (c: KeptCache) => c.kv.bytes - c.kv.rightSizedBytes(c.kv.length);
    for (;;) {
      const spare = this.pool?.spareBytes ?? 0;
      if (this.bytes + spare <= this.budgetBytes) return;
      if (spare > 0) {
        this.pool!.dropSpare();
        continue;
      }
      const roomiest = this.kept.reduce<KeptCache | undefined>((most, c) => (room(c) > (most ? room(most) : 0) ? c : most), undefined);
      if (roomiest) {
        roomiest.kv.rightSize();
        continue;
      }
      const others = this.kept.filter((c) => c !== keeping);
      if (others.length === 0) return;
      this.evict(others.reduce((oldest, c) => (c.lastUsed < oldest.lastUsed ? c : oldest)));
    }
  }

  /** Its buffers are let go, not pooled: pooled, they would be held on top of the budget. */
  private evict(c: KeptCache): void {
    this.kept.splice(this.kept.indexOf(c), 1);
    c.kv.discard();
  }
}
