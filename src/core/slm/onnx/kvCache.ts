/**
 * The KV cache of one session in buffers we own, for graphs that return only each run's
 * new keys and values, in one of two layouts:
 * - head-major (onnx/newTokenKvOutputs.ts): laid out exactly as the exports declare
 *   `past_key_values`, [1, heads, length, headDim], contiguous, so it is fed to ONNX
 *   Runtime without a copy. Appending n rows moves each head's block to its new offset (in
 *   place, last head first) and writes the rows after it: a memmove of the cache in memory
 *   that is already mapped, where the whole-cache path had ONNX Runtime's binding
 *   allocate, zero and fill a new copy of it every step.
 * - token-major (onnx/attentionInPlace.ts): [1, length, heads, headDim], so appending is
 *   writing the rows after the last ones, and the graph reads it through strides.
 */
import type * as Ort from 'onnxruntime-node';
import type { KvType } from './decoderSession';

type KvArray = Float32Array | Uint16Array;

/** Capacity grows to the next multiple of this many tokens, times 1.5. */
const CAPACITY_STEP = 256;

interface BufferSet {
  capacity: number;
  /** One buffer per cache slot (layer * 2 + 0 key / 1 value). */
  buffers: KvArray[];
}

/**
 * One spare buffer set per model, handed from a disposed cache to the next one: sessions
 * come and go per answer, and waiting for the garbage collector to free hundreds of MB of
 * typed arrays would let peak memory pile up. It stays between answers, so it is held to the
 * KV cache budget beside the kept caches (kvPrefixCache.ts), which let the spare go first
 * when together they exceed it; while a session runs, beside its buffers too (all of them at 0).
 */
export class KvBufferPool {
  private spare: BufferSet | undefined;
  private keptBytes: () => number = () => 0;

  constructor(private readonly budgetBytes = Infinity) {}

  /** Counts the kept caches' bytes (of the store this pool serves) against the budget beside the spare set. */
  shareBudgetWith(keptBytes: () => number): void {
    this.keptBytes = keptBytes;
  }

  /** The spare set when it has room for `minCapacity` tokens and not far more: a short cache in a long one's buffers would hold (and be charged) all of them. */
  take(minCapacity: number): BufferSet | undefined {
    if (!this.spare || this.spare.capacity < minCapacity || this.spare.capacity > 2 * nextCapacity(minCapacity, 0)) return undefined;
    const set = this.spare;
    this.spare = undefined;
    return set;
  }

  /**
   * Keeps the larger of the spare set and `set` that fits the budget beside the kept caches and
   * `liveBytes`, the buffers of a session still running (one that outgrew `set`): it can never
   * take a smaller set back, so one held beyond that only piles memory up until it ends.
   */
  give(set: BufferSet, liveBytes = 0): void {
    const room = this.budgetBytes - this.keptBytes() - liveBytes;
    const fitting = [set, this.spare].filter((s): s is BufferSet => s !== undefined && bufferBytes(s) <= room);
    this.spare = fitting.reduce<BufferSet | undefined>((larger, s) => (larger && larger.capacity >= s.capacity ? larger : s), undefined);
  }

  /** Bytes of the spare set (0 when there is none). */
  get spareBytes(): number {
    return this.spare ? bufferBytes(this.spare) : 0;
  }

  /** Lets the spare set go (the garbage collector frees it). */
  dropSpare(): void {
    this.spare = undefined;
  }
}

/** What a decoder session needs from its cache, whatever the layout. */
export interface KvCacheStore {
  /** Tokens in the cache. */
  readonly length: number;
  /** The cache of one slot as a `past_key_values` input (no copy). */
  pastTensor(slot: number): Ort.Tensor;
  /** Appends a run's new rows (`rows[slot]`, n tokens each, in the layout's order). */
  append(rows: ArrayLike<number>[], n: number): void;
  /** Makes room for `tokens` in all before a run, so neither its feeds nor its append reallocate. */
  reserve(tokens: number): void;
  /** Hands the buffers to the pool for the next session. */
  release(): void;
  /** Lets the buffers go without pooling them (a cache evicted to keep the budget must not live on as the pool's spare). */
  discard(): void;
  /** Moves the cache into buffers sized for its length when it holds more than twice that room (a cache cut short, or grown in a long one's buffers). */
  fitCapacity(): void;
  /** Moves the cache into buffers of its length rounded up to the capacity step, without room to grow, when it holds more (a kept cache under the budget's pressure). */
  rightSize(): void;
  /** Bytes that rightSize() leaves a cache of `length` tokens. */
  rightSizedBytes(length: number): number;
  /** Forgets every token after the first `length` (a kept cache reused up to where a new prompt departs from it). */
  truncate(length: number): void;
  /** A new cache holding a copy of the first `length` tokens, in buffers sized for them (this one is left as it was). */
  clonePrefix(length: number): KvCacheStore;
  /** Bytes of the buffers this cache holds (its capacity, not only its length). */
  readonly bytes: number;
}

/** Checks a run's new rows before anything is written, so a bad output leaves the cache as it was. */
function checkRows(rows: ArrayLike<number>[], n: number, slots: number, heads: number, headDim: number): void {
  if (rows.length !== slots) throw new Error(`internal: ${rows.length} new KV tensors for ${slots} cache slots`);
  for (const r of rows) {
    if (r.length !== heads * headDim * n) {
      throw new Error(`internal: a new KV tensor holds ${r.length} values, expected ${heads} heads x ${n} tokens x ${headDim}`);
    }
  }
}

function allocateRows(type: KvType, tokens: number, rowSize: number): KvArray {
  const n = tokens * rowSize;
  return type === 'float16' ? new Uint16Array(n) : new Float32Array(n);
}

function bufferBytes(set: BufferSet): number {
  return set.buffers.reduce((sum, b) => sum + b.byteLength, 0);
}

/** Room for exactly `length` tokens, in whole capacity steps. */
function rightSizedCapacity(length: number): number {
  return Math.ceil(length / CAPACITY_STEP) * CAPACITY_STEP;
}

/** Room for half as many tokens again: a prefill must not be followed by a regrowth (a copy of the cache) at the first generated token. */
function nextCapacity(total: number, current: number): number {
  return Math.ceil(Math.max(total * 1.5, current * 1.5) / CAPACITY_STEP) * CAPACITY_STEP;
}

/** Buffers from the pool, grown by a prefix copy: both layouts keep `length` tokens at the start of each slot's buffer. */
abstract class PooledKvCache implements KvCacheStore {
  protected set: BufferSet = { capacity: 0, buffers: [] };
  length = 0;
  protected readonly rowSize: number;

  constructor(
    protected readonly ort: typeof Ort,
    protected readonly slots: number,
    protected readonly heads: number,
    protected readonly headDim: number,
    protected readonly type: KvType,
    protected readonly pool = new KvBufferPool(),
  ) {
    this.rowSize = heads * headDim;
  }

  abstract pastTensor(slot: number): Ort.Tensor;
  abstract append(rows: ArrayLike<number>[], n: number): void;
  abstract truncate(length: number): void;
  protected abstract copyPrefixInto(target: KvArray[], length: number, slot: number): void;
  protected abstract sameKind(): PooledKvCache;

  get bytes(): number {
    return bufferBytes(this.set);
  }

  rightSizedBytes(length: number): number {
    return rightSizedCapacity(length) * this.rowSize * this.slots * (this.type === 'float16' ? 2 : 4);
  }

  clonePrefix(length: number): KvCacheStore {
    if (length > this.length) throw new RangeError(`internal: cannot copy ${length} tokens of a cache holding ${this.length}`);
    const copy = this.sameKind();
    copy.set = this.allocate(nextCapacity(length, 0));
    for (let slot = 0; slot < this.slots; slot++) this.copyPrefixInto(copy.set.buffers, length, slot);
    copy.length = length;
    return copy;
  }

  release(): void {
    if (this.set.capacity > 0) this.pool.give(this.set);
    this.discard();
  }

  discard(): void {
    this.set = { capacity: 0, buffers: [] };
    this.length = 0;
  }

  fitCapacity(): void {
    const fitting = nextCapacity(this.length, 0);
    // Its own buffers are let go, not pooled: the pool would hand them to the next short cache.
    if (this.set.capacity > 2 * fitting) this.set = this.moved(this.allocate(fitting));
  }

  rightSize(): void {
    const fitting = rightSizedCapacity(this.length);
    if (this.set.capacity > fitting) this.set = this.moved(this.allocate(fitting));
  }

  protected tensor(data: KvArray, dims: number[]): Ort.Tensor {
    return this.type === 'float16' ? new this.ort.Tensor('float16', data as Uint16Array, dims) : new this.ort.Tensor('float32', data as Float32Array, dims);
  }

  reserve(tokens: number): void {
    if (tokens > this.set.capacity) this.grow(tokens);
  }

  private allocate(capacity: number): BufferSet {
    return { capacity, buffers: Array.from({ length: this.slots }, () => allocateRows(this.type, capacity, this.rowSize)) };
  }

  /** `next` holding this cache's tokens (both layouts keep `length` tokens at the start of each slot's buffer). */
  private moved(next: BufferSet): BufferSet {
    const used = this.length * this.rowSize;
    if (used > 0) this.set.buffers.forEach((buffer, slot) => next.buffers[slot].set(buffer.subarray(0, used)));
    return next;
  }

  /** Moves the cache into buffers with room for `total` tokens (same layout, same length). */
  private grow(total: number): void {
    const next = this.moved(this.pool.take(total) ?? this.allocate(nextCapacity(total, this.set.capacity)));
    if (this.set.capacity > 0) this.pool.give(this.set, bufferBytes(next));
    this.set = next;
  }
}

/**
 * Token-major cache: [1, length, heads, headDim] per slot. Key slots (even ones) are fed
 * with at least one row, since the rewritten graph's FusedMatMul crashes ONNX Runtime on an
 * empty tensor; the graph cuts the scores of that row off (it takes the past length from
 * the value input), so its content never matters.
 */
export class TokenMajorKvCache extends PooledKvCache {
  pastTensor(slot: number): Ort.Tensor {
    this.reserve(1); // the key inputs' spare row
    const rows = slot % 2 === 0 ? Math.max(this.length, 1) : this.length;
    return this.tensor(this.set.buffers[slot].subarray(0, rows * this.rowSize), [1, rows, this.heads, this.headDim]);
  }

  /** Appends a run's new rows: `rows[slot]` holds [1, n, heads, headDim], written after the last ones. */
  append(rows: ArrayLike<number>[], n: number): void {
    checkRows(rows, n, this.slots, this.heads, this.headDim);
    const total = this.length + n;
    this.reserve(total);
    rows.forEach((r, slot) => this.set.buffers[slot].set(r as KvArray, this.length * this.rowSize));
    this.length = total;
  }

  truncate(length: number): void {
    this.length = Math.min(this.length, length);
  }

  protected copyPrefixInto(target: KvArray[], length: number, slot: number): void {
    target[slot].set(this.set.buffers[slot].subarray(0, length * this.rowSize));
  }

  protected sameKind(): PooledKvCache {
    return new TokenMajorKvCache(this.ort, this.slots, this.heads, this.headDim, this.type, this.pool);
  }
}

/** Head-major cache, as the exports declare `past_key_values`: [1, heads, length, headDim] per slot. */
export class CompactKvCache extends PooledKvCache {
  pastTensor(slot: number): Ort.Tensor {
    const data = this.set.buffers[slot]?.subarray(0, this.length * this.rowSize) ?? allocateRows(this.type, 0, this.rowSize);
    return this.tensor(data, [1, this.heads, this.length, this.headDim]);
  }

  /**
   * Appends a run's new rows: `rows[slot]` holds [1, heads, n, headDim]. Checks the
   * sizes first, so a graph that returned something else leaves the cache as it was.
   */
  append(rows: ArrayLike<number>[], n: number): void {
    const rowSize = this.headDim * n;
    checkRows(rows, n, this.slots, this.heads, this.headDim);
    const old = this.length;
    const total = old + n;
    this.reserve(total);
    const dh = this.headDim;
    for (let slot = 0; slot < this.slots; slot++) {
      const buffer = this.set.buffers[slot];
      const fresh = rows[slot] as KvArray;
      // Last head first: a block only ever moves right, onto space no later head needs.
      for (let h = this.heads - 1; h >= 0; h--) {
        if (h > 0 && old > 0) buffer.copyWithin(h * total * dh, h * old * dh, (h * old + old) * dh);
        buffer.set(fresh.subarray(h * rowSize, (h + 1) * rowSize), (h * total + old) * dh);
      }
    }
    this.length = total;
  }

  /** Each head's first `length` rows move left to where a cache of that length keeps them (first head first: a block only moves left). */
  truncate(length: number): void {
    const old = this.length;
    if (length >= old) return;
    const dh = this.headDim;
    for (const buffer of this.set.buffers) {
      for (let h = 1; h < this.heads; h++) buffer.copyWithin(h * length * dh, h * old * dh, (h * old + length) * dh);
    }
    this.length = length;
  }

  protected copyPrefixInto(target: KvArray[], length: number, slot: number): void {
    const dh = this.headDim;
    const source = this.set.buffers[slot];
    for (let h = 0; h < this.heads; h++) target[slot].set(source.subarray(h * this.length * dh, (h * this.length + length) * dh), h * length * dh);
  }

  protected sameKind(): PooledKvCache {
    return new CompactKvCache(this.ort, this.slots, this.heads, this.headDim, this.type, this.pool);
  }
}
