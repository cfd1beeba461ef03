/**
 * One conversation's decoding state over a shared ONNX decoder: the KV cache (in our own
 * buffers, appended with each run's new rows, when the graph returns them; otherwise the
 * session's `present.*` tensors, fed back unchanged as the next `past_key_values.*`), the
 * token ids in it, and the logits of the next position.
 *
 * Tokens a generation commits are fed lazily: the last one waits until the next call
 * needs logits, so a generation that stops costs no extra forward pass, and a following
 * append() prefills that token together with the appended ones (still no recomputation).
 */
import type * as Ort from 'onnxruntime-node';
import { CompactKvCache, KvBufferPool, TokenMajorKvCache, type KvCacheStore } from './kvCache';
import { MAX_CHECKPOINTS, type KvPrefixCache, type LogitsCheckpoint } from './kvPrefixCache';
import type { DecoderIo } from './decoderSession';
import { SeededRng, TokenSampler } from './sampling';
import { StreamingDetokenizer } from '../streamingDetokenizer';
import type { TextTokenizer } from '../tokenizer';
import type { GenerateOptions, GenerateResult, GeneratedToken, GenerationStopReason, PrefillOptions, PrefillResult, SlmSession } from '../types';

/**
 * Longest run of tokens fed in one forward pass by default: bounds the attention scratch
 * memory, and is the step at which a long prompt reports progress and can be stopped.
 */
export const DEFAULT_PREFILL_CHUNK = 512;

export interface DecoderModel {
  ort: typeof Ort;
  session: Ort.InferenceSession;
  io: DecoderIo;
  tokenizer: TextTokenizer;
  eosTokenIds: number[];
  /** Longest context the model supports (max_position_embeddings), if known. */
  maxPositions?: number;
  /** Serialises forward passes of all sessions on this model. */
  lock: AsyncLock;
  /**
   * Per cache slot (layer * 2 + key 0 / value 1), the graph output with a run's new rows
   * (onnx/attentionInPlace.ts, onnx/newTokenKvOutputs.ts): the session keeps the cache, in
   * `kvLayout`. Undefined: the whole `present` tensors come back and are fed back.
   */
  newTokenKvOutputs?: string[];
  kvLayout?: 'token-major' | 'head-major';
  /** Spare KV buffers passed from one session to the next. */
  kvPool?: KvBufferPool;
  /** Caches of finished sessions that a new prompt may start from (only on the paths where the session owns its cache). */
  prefixCache?: KvPrefixCache;
  /** Tokens per prefill forward pass (default DEFAULT_PREFILL_CHUNK). */
  prefillChunk?: number;
}

/** Thrown by a prefill stopped through its signal; the tokens read so far stay in the cache. */
export class PrefillCancelledError extends Error {
  constructor() {
    super('The prompt was not read to the end: cancelled.');
    this.name = 'AbortError';
  }
}

/** A FIFO mutex: one forward pass (or whole session call) at a time. */
export class AsyncLock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** Reusable int64 [1, n] feeds: ones for the mask, a counter for positions. */
class Int64Scratch {
  private ones = new BigInt64Array(0);
  mask(length: number): BigInt64Array {
    if (this.ones.length < length) {
      this.ones = new BigInt64Array(Math.max(length, this.ones.length * 2, 256)).fill(1n);
    }
    return this.ones.subarray(0, length);
  }
}

function float16ToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

let nextSessionNumber = 1;

export class KvDecoderSession implements SlmSession {
  readonly id: string;
  /** The cache on the whole-cache path: last step's present tensors. */
  private past: Ort.Tensor[] | undefined;
  /** The cache in our own buffers (new-token outputs). */
  private kv: KvCacheStore | undefined;
  /** Logits where prompts ended: kept with the cache, so a Retry of the same prompt computes nothing. */
  private checkpoints: LogitsCheckpoint[] = [];
  private pastLength = 0;
  /** Ids in the context, fed or pending. */
  private readonly contextIds: number[] = [];
  private pendingIds: number[] = [];
  private logits: Float32Array | undefined;
  private logitsValid = false;
  private sampler: TokenSampler | undefined;
  private readonly scratch = new Int64Scratch();
  private readonly calls = new AsyncLock();
  private disposed = false;
  /** Told by the first prefill's result: why the kept caches were dropped as this session was created. */
  private keptCachesDropped: string | undefined;
  /** The kept caches' generation (KvPrefixCache.generation) when this session opened: its cache is kept only if the weights did not change since. */
  private readonly weightsGeneration: number;
  /**
   * The last generate's detokenizer, while nothing was fed after it: a character whose first
   * bytes that call wrote (a 1-token step, a refusal) ends in the next call, which must continue
   * where it stopped, or the held bytes are lost and the rest comes out as U+FFFD or half a
   * surrogate pair.
   */
  private carried: StreamingDetokenizer | undefined;

  constructor(
    private readonly model: DecoderModel,
    options: { keptCachesDropped?: string } = {},
  ) {
    this.id = `s${nextSessionNumber++}`;
    this.keptCachesDropped = options.keptCachesDropped;
    this.weightsGeneration = model.prefixCache?.generation ?? 0;
    const { io } = model;
    if (model.newTokenKvOutputs) {
      const Store = model.kvLayout === 'token-major' ? TokenMajorKvCache : CompactKvCache;
      this.kv = new Store(model.ort, io.layers.length * 2, io.kvHeads, io.headDim, io.kvType, model.kvPool);
    }
  }

  get contextLength(): number {
    return this.contextIds.length;
  }

  /** Token ids of the whole context (for tests and diagnostics). */
  get tokenIds(): readonly number[] {
    return this.contextIds;
  }

  /**
   * Reads a prompt into the cache. On an empty session it starts from the kept cache (of an
   * earlier session on this model) that shares the longest token prefix with the prompt,
   * and computes only the rest (`reusedTokens` says how many were not computed). The logits
   * at its end are kept with the cache (a Retry of it computes nothing), unless it is the
   * start of a prompt read ahead.
   */
  prefill(text: string, options: PrefillOptions = {}): Promise<PrefillResult> {
    return this.calls.run(async () => {
      const ids = this.model.tokenizer.encode(text);
      const reusedTokens = this.startFromKeptCache(ids);
      await this.feed(ids.slice(reusedTokens), options, reusedTokens);
      const length = this.contextIds.length;
      if (options.readAhead !== 'start' && this.model.prefixCache && this.logits && !this.checkpoints.some((k) => k.length === length)) {
        this.checkpoints = [...this.checkpoints, { length, logits: Float32Array.from(this.logits) }].slice(-MAX_CHECKPOINTS);
      }
      const dropped = this.keptCachesDropped;
      this.keptCachesDropped = undefined;
      return { tokenCount: ids.length, reusedTokens, ...(dropped ? { keptCachesDropped: dropped } : {}) };
    });
  }

  /** Adopts the kept cache sharing the longest prefix with `ids` (empty sessions only); returns how many ids it holds. */
  private startFromKeptCache(ids: readonly number[]): number {
    const { prefixCache } = this.model;
    if (!prefixCache || !this.kv || this.contextIds.length > 0 || this.pendingIds.length > 0) return 0;
    if (this.model.maxPositions !== undefined && ids.length > this.model.maxPositions) return 0; // refused by feed, untouched
    const reused = prefixCache.take(ids);
    if (!reused) return 0;
    this.kv.release();
    this.kv = reused.kv;
    this.contextIds.push(...reused.ids);
    this.pastLength = reused.ids.length;
    this.checkpoints = reused.checkpoints;
    if (reused.logits) this.setLogits(reused.logits);
    return reused.ids.length;
  }

  append(text: string, options: Pick<PrefillOptions, 'onProgress'> = {}): Promise<{ tokenCount: number; recomputedTokens: number }> {
    return this.calls.run(async () => {
      const ids = this.model.tokenizer.encode(text);
      await this.feed(ids, { onProgress: options.onProgress });
      return { tokenCount: ids.length, recomputedTokens: 0 };
    });
  }

  /** Feeds token ids directly (tests, and callers that tokenise themselves). */
  appendIds(ids: readonly number[]): Promise<{ tokenCount: number; recomputedTokens: number }> {
    return this.calls.run(async () => {
      await this.feed(ids);
      return { tokenCount: ids.length, recomputedTokens: 0 };
    });
  }

  /** Logits of the next position (a copy), feeding pending tokens first. */
  nextLogits(): Promise<Float32Array> {
    return this.calls.run(async () => {
      await this.ensureLogits();
      return Float32Array.from(this.logits!);
    });
  }

  generate(options: GenerateOptions, onToken?: (token: GeneratedToken) => void, signal?: AbortSignal): Promise<GenerateResult> {
    return this.calls.run(() => this.generateNow(options, onToken, signal));
  }

  async dispose(): Promise<void> {
    // A generation in flight stops at its next step; the buffers go back once it has.
    this.disposed = true;
    await this.calls.run(async () => {
      this.past = undefined;
      const kv = this.kv;
      this.kv = undefined;
      // What the cache holds (pending ids never reached it) is kept for a later prompt that starts the same way.
      if (kv && this.model.prefixCache) this.model.prefixCache.keep(this.contextIds.slice(0, this.pastLength), kv, this.checkpoints, this.weightsGeneration);
      else kv?.release();
      this.logits = undefined;
    });
  }

  private async generateNow(
    options: GenerateOptions,
    onToken: ((token: GeneratedToken) => void) | undefined,
    signal: AbortSignal | undefined,
  ): Promise<GenerateResult> {
    if (!Number.isInteger(options.maxTokens) || options.maxTokens < 0) {
      throw new RangeError(`maxTokens must be a non-negative integer (got ${options.maxTokens}).`);
    }
    if (this.contextIds.length === 0) throw new Error('generate() needs a context: call prefill() first.');
    const seed = options.sampling?.seed ?? Math.floor(Math.random() * 2 ** 32);
    const rng = new SeededRng(seed);
    const eos = new Set([...this.model.eosTokenIds, ...(options.eosTokenIds ?? [])]);
    const stopStrings = (options.stopStrings ?? []).filter((s) => s.length > 0);
    const detokenizer = this.carried ?? new StreamingDetokenizer(this.model.tokenizer, this.contextIds);
    this.carried = detokenizer;
    const tokens: GeneratedToken[] = [];
    let text = '';
    let refusedToken: GeneratedToken | undefined;
    let stopReason: GenerationStopReason;

    const room = this.model.maxPositions ?? Infinity;
    for (;;) {
      if (tokens.length >= options.maxTokens) {
        stopReason = 'max_tokens';
        break;
      }
      if (this.contextIds.length >= room) {
        stopReason = 'context_full';
        break;
      }
      if (signal?.aborted) {
        stopReason = 'cancelled';
        break;
      }
      await this.ensureLogits();
      // The forward pass yielded to the event loop: a cancel may have arrived meanwhile.
      if (signal?.aborted) {
        stopReason = 'cancelled';
        break;
      }
      const choice = this.sampler!.choose(this.logits!, options.sampling, rng);
      if (options.minTop1 !== undefined && choice.top1 < options.minTop1) {
        refusedToken = { ...choice, text: detokenizer.peek(choice.id) };
        stopReason = 'low_confidence';
        break;
      }
      if (eos.has(choice.id)) {
        stopReason = 'eos';
        break;
      }
      const tokenText = detokenizer.push(choice.id);
      const token: GeneratedToken = { ...choice, text: tokenText };
      tokens.push(token);
      text += tokenText;
      this.contextIds.push(choice.id);
      this.pendingIds.push(choice.id);
      this.logitsValid = false;
      onToken?.(token);
      if (tokenText && stopStrings.some((s) => text.includes(s, Math.max(0, text.length - tokenText.length - s.length + 1)))) {
        stopReason = 'stop_string';
        break;
      }
    }
    return { tokens, text, stopReason, refusedToken, contextLength: this.contextIds.length };
  }

  private async feed(ids: readonly number[], options: PrefillOptions = {}, reusedTokens = 0): Promise<void> {
    const { maxPositions } = this.model;
    if (maxPositions !== undefined && this.contextIds.length + ids.length > maxPositions) {
      throw new RangeError(
        `The context would hold ${this.contextIds.length + ids.length} tokens; this model supports at most ${maxPositions}. Start a new session.`,
      );
    }
    for (const id of ids) {
      this.contextIds.push(id);
      this.pendingIds.push(id);
    }
    if (ids.length > 0) {
      this.logitsValid = false;
      // Text from elsewhere follows what the model wrote: the next generate starts a detokenizer of its own.
      this.carried = undefined;
    }
    await this.ensureLogits(options, reusedTokens);
  }

  /**
   * Feeds pending ids in chunks. A prompt of more than one chunk reports progress before the
   * first and after every chunk, and stops between chunks when its signal aborts.
   */
  private async ensureLogits(options: PrefillOptions = {}, reusedTokens = 0): Promise<void> {
    if (this.disposed) throw new Error(`Session ${this.id} was disposed; create a new session.`);
    const total = this.pendingIds.length;
    const step = this.model.prefillChunk ?? DEFAULT_PREFILL_CHUNK;
    const report = total > step ? options.onProgress : undefined;
    try {
      report?.({ done: 0, total, reusedTokens });
      while (this.pendingIds.length > 0) {
        if (options.signal?.aborted) throw new PrefillCancelledError();
        const chunk = this.pendingIds.slice(0, step);
        await this.model.lock.run(() => this.forward(chunk));
        this.pendingIds = this.pendingIds.slice(chunk.length);
        report?.({ done: total - this.pendingIds.length, total, reusedTokens });
      }
    } catch (e) {
      // Ids that never reached the cache leave the context, so the session stays consistent.
      this.contextIds.length -= this.pendingIds.length;
      this.pendingIds = [];
      throw e;
    }
    if (!this.logitsValid) throw new Error('No logits: the session context is empty; call prefill() first.');
  }

  private async forward(ids: number[]): Promise<void> {
    const { ort, session, io } = this.model;
    const n = ids.length;
    const past = this.pastLength;
    const total = past + n;
    const feeds: Record<string, Ort.Tensor> = {};
    const inputIds = new BigInt64Array(n);
    for (let i = 0; i < n; i++) inputIds[i] = BigInt(ids[i]);
    feeds[io.inputIds] = new ort.Tensor('int64', inputIds, [1, n]);
    if (io.attentionMask) feeds[io.attentionMask] = new ort.Tensor('int64', this.scratch.mask(total), [1, total]);
    if (io.positionIds) {
      const positions = new BigInt64Array(n);
      for (let i = 0; i < n; i++) positions[i] = BigInt(past + i);
      feeds[io.positionIds] = new ort.Tensor('int64', positions, [1, n]);
    }
    if (io.logitsToKeep) feeds[io.logitsToKeep] = new ort.Tensor('int64', BigInt64Array.of(1n), []);
    const newRows = this.model.newTokenKvOutputs;
    if (this.kv && newRows) {
      this.kv.reserve(total);
      io.layers.forEach((layer, i) => {
        feeds[layer.pastKey] = this.kv!.pastTensor(2 * i);
        feeds[layer.pastValue] = this.kv!.pastTensor(2 * i + 1);
      });
      // Only the logits and the new rows come back: never the whole cache.
      const out = await session.run(feeds, [io.logits, ...newRows]);
      this.kv.append(
        newRows.map((name) => (out[name] as Ort.Tensor).data as Float32Array | Uint16Array),
        n,
      );
      this.pastLength = total;
      this.readLastLogits(out[io.logits] as Ort.Tensor);
      return;
    }
    const emptyDims = [1, io.kvHeads, 0, io.headDim];
    io.layers.forEach((layer, i) => {
      if (this.past) {
        feeds[layer.pastKey] = this.past[2 * i];
        feeds[layer.pastValue] = this.past[2 * i + 1];
      } else {
        const empty = io.kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0);
        feeds[layer.pastKey] = new ort.Tensor(io.kvType, empty, emptyDims);
        feeds[layer.pastValue] = new ort.Tensor(io.kvType, empty, emptyDims);
      }
    });
    const out = await session.run(feeds);
    const next: Ort.Tensor[] = [];
    for (const layer of io.layers) next.push(out[layer.presentKey] as Ort.Tensor, out[layer.presentValue] as Ort.Tensor);
    this.past = next;
    this.pastLength = total;
    this.readLastLogits(out[io.logits] as Ort.Tensor);
  }

  private setLogits(logits: Float32Array): void {
    if (!this.logits || this.logits.length !== logits.length) {
      this.logits = new Float32Array(logits.length);
      this.sampler = new TokenSampler(logits.length);
    }
    this.logits.set(logits);
    this.logitsValid = true;
  }

  /** Copies the last position's row of logits into the reused buffer. */
  private readLastLogits(logits: Ort.Tensor): void {
    const dims = logits.dims;
    const vocab = dims[dims.length - 1];
    const rows = logits.size / vocab;
    if (!this.logits || this.logits.length !== vocab) {
      this.logits = new Float32Array(vocab);
      this.sampler = new TokenSampler(vocab);
    }
    const start = (rows - 1) * vocab;
    if (logits.type === 'float16') {
      const data = logits.data as Uint16Array;
      for (let i = 0; i < vocab; i++) this.logits[i] = float16ToFloat32(data[start + i]);
    } else {
      this.logits.set((logits.data as Float32Array).subarray(start, start + vocab));
    }
    this.logitsValid = true;
  }
}
