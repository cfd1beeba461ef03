/**
 * KV caches of finished sessions, kept so that a new answer starts from the longest run of
 * token ids it shares with one of them: a chat turn computes only the new message, Retry
 * nothing, a second question about the same selection only the question. One store per
 * loaded model (a LocalRuntime), so caches never cross models, variants or load options.
 *
 * Matching is on token ids, never text: a cache that holds an LLM's spliced text holds the
 * ids its re-tokenisation gave, and is reused only as far as the new prompt has the same ids.
 * Within a memory budget, least recently used first out.
 */
import type { KvCacheStore } from './kvCache';

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

function sharedPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export class KvPrefixCache {
  private readonly kept: KeptCache[] = [];
  private clock = 0;
  private closed = false;

  constructor(private readonly budgetBytes: number) {}

  /** Bytes held by kept caches. */
  get bytes(): number {
    return this.kept.reduce((sum, c) => sum + c.kv.bytes + c.checkpoints.reduce((n, k) => n + k.logits.byteLength, 0), 0);
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
   * redundant (a prefix of it) go; then the least recently used ones until the budget holds.
   */
  keep(ids: number[], kv: KvCacheStore, checkpoints: LogitsCheckpoint[] = []): void {
    if (this.closed || ids.length === 0 || kv.length !== ids.length) {
      kv.release();
      return;
    }
    const valid = checkpoints.filter((k) => k.length <= ids.length).slice(-MAX_CHECKPOINTS);
    for (const c of [...this.kept]) {
      const covered = c.checkpoints.every((k) => valid.some((v) => v.length === k.length));
      if (covered && sharedPrefix(c.ids, ids) === c.ids.length) this.evict(c);
    }
    this.kept.push({ ids, kv, checkpoints: valid, lastUsed: ++this.clock });
    while (this.kept.length > 0 && this.bytes > this.budgetBytes) {
      this.evict(this.kept.reduce((oldest, c) => (c.lastUsed < oldest.lastUsed ? c : oldest)));
    }
  }

  /** Frees every kept cache; later ones are released at once (the model is going away). */
  close(): void {
    this.closed = true;
    for (const c of [...this.kept]) this.evict(c);
  }

  private evict(c: KeptCache): void {
    this.kept.splice(this.kept.indexOf(c), 1);
    c.kv.release();
  }
}
