/**
 * The KV cache of one session in buffers we own, handed to ONNX Runtime as pre-allocated
 * outputs: each step reads `past` from one buffer and ORT writes `present` straight into
 * the other (ping-pong), so the cache is never copied out of ORT into fresh JS arrays and
 * nothing the size of the cache is allocated per token. Layout per layer and K/V:
 * [1, heads, length, headDim], contiguous, as the exports declare it.
 */
import type * as Ort from 'onnxruntime-node';
import type { KvType } from './onnx/decoderSession';

type KvArray = Float32Array | Uint16Array;

/** Capacity grows to the next multiple of this many tokens, times 1.5. */
const CAPACITY_STEP = 256;

interface BufferSet {
  capacity: number;
  /** [layer * 2 + (0 key | 1 value)] -> [current, next] */
  buffers: [KvArray, KvArray][];
}

/**
 * One spare buffer set per model, handed from a disposed (or grown) cache to the next
 * one: sessions come and go per answer, and waiting for the garbage collector to free
 * hundreds of MB of typed arrays would let peak memory pile up.
 */
export class KvBufferPool {
  private spare: BufferSet | undefined;

  take(minCapacity: number): BufferSet | undefined {
    if (!this.spare || this.spare.capacity < minCapacity) return undefined;
    const set = this.spare;
    this.spare = undefined;
    return set;
  }

  give(set: BufferSet): void {
    if (!this.spare || this.spare.capacity < set.capacity) this.spare = set;
  }
}

export class PingPongKvCache {
  private set: BufferSet = { capacity: 0, buffers: [] };
  length = 0;

  constructor(
    private readonly ort: typeof Ort,
    private readonly slots: number,
    private readonly heads: number,
    private readonly headDim: number,
    private readonly type: KvType,
    private readonly pool = new KvBufferPool(),
  ) {}

  private get capacity(): number {
    return this.set.capacity;
  }

  private get buffers(): [KvArray, KvArray][] {
    return this.set.buffers;
  }

  private allocate(tokens: number): KvArray {
    const n = tokens * this.heads * this.headDim;
    return this.type === 'float16' ? new Uint16Array(n) : new Float32Array(n);
  }

  /** Makes room for `total` tokens, keeping the current cache. */
  reserve(total: number): void {
    if (total <= this.capacity) return;
    const capacity = Math.ceil(Math.max(total, this.capacity * 1.5) / CAPACITY_STEP) * CAPACITY_STEP;
    const next: BufferSet = this.pool.take(total) ?? {
      capacity,
      buffers: Array.from({ length: this.slots }, () => [this.allocate(capacity), this.allocate(capacity)] as [KvArray, KvArray]),
    };
    const used = this.length * this.heads * this.headDim;
    if (used > 0) this.buffers.forEach((pair, slot) => next.buffers[slot][0].set(pair[0].subarray(0, used)));
    if (this.capacity > 0) this.pool.give(this.set);
    this.set = next;
  }

  /** The cache as `past` inputs (length tokens). */
  pastTensor(slot: number): Ort.Tensor {
    return this.view(this.buffers[slot][0], this.length);
  }

  /** Where the step writes `present` (total tokens). */
  presentTensor(slot: number, total: number): Ort.Tensor {
    return this.view(this.buffers[slot][1], total);
  }

  /** After a step wrote `present`: it becomes the cache. */
  commit(total: number): void {
    for (const pair of this.buffers) pair.reverse();
    this.length = total;
  }

  /** Hands the buffers to the pool for the next session. */
  release(): void {
    if (this.capacity > 0) this.pool.give(this.set);
    this.set = { capacity: 0, buffers: [] };
    this.length = 0;
  }

  private view(buffer: KvArray, tokens: number): Ort.Tensor {
    const dims = [1, this.heads, tokens, this.headDim];
    const data = buffer.subarray(0, tokens * this.heads * this.headDim);
    return this.type === 'float16'
      ? new this.ort.Tensor('float16', data as Uint16Array, dims)
      : new this.ort.Tensor('float32', data as Float32Array, dims);
  }
}
