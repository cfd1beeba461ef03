/**
 * The in-process SLM runtime: model folder + tokenizer + chat template + ONNX decoder.
 * The child process (worker/) wraps exactly this; tests, benchmarks and the CLI may use
 * it directly.
 */
import { basename, dirname, join } from 'node:path';
import { readdirSync, statSync } from 'node:fs';
import { markModelInUse } from '../../models/storedModels';
import { ChatTemplate } from '../chatTemplate';
import { KvBufferPool } from './kvCache';
import { DEFAULT_KV_CACHE_BUDGET_MB, KvPrefixCache } from './kvPrefixCache';
import { AsyncLock, KvDecoderSession, type DecoderModel } from './kvDecoder';
import { filesFingerprint, ModelFolderError, readModelFolder, type VariantChoice } from '../modelFolder';
import { kvLayoutOf, loadDecoderSession, type KvOutputsMode } from './decoderSession';
import { loadOnnxRuntime } from './onnxRuntimeLoader';
import { SlmTokenizer } from '../tokenizer';
import type { ChatMessage, Float16Compute, ModelInfo, OnnxVariant, Q4Compute, RenderOptions, SlmRuntime } from '../types';
import { textPromptBos } from '../../providers/chatTemplate';

/**
 * q4f16 files run with float32 activations unless asked otherwise (faster on CPU and closer
 * to the float64 reference, README Performance; its float16 weights other than the embedding
 * are small next to the 4-bit ones, so their float32 copies cost little). fp16 files run as
 * exported: there every weight is float16, and float32 copies would double the memory.
 */
export function defaultFloat16Compute(variant: OnnxVariant): Float16Compute {
  return variant === 'q4f16' ? 'float32' : 'as-exported';
}

export interface LocalRuntimeOptions {
  /** Which ONNX file to run; `auto` (default) = the variant with the fewest bytes. */
  variant?: VariantChoice;
  /** Compute logits only for the last position of a prefill (graph rewrite). Default true. */
  lastPositionLogits?: boolean;
  /** ONNX Runtime intra-op threads; default (0) is ONNX Runtime's own: one per physical core. */
  intraOpThreads?: number;
  /** q4 files: compute as exported (default) or with int8 activations (faster decode, approximate; matMulNBitsAccuracy.ts). */
  q4Compute?: Q4Compute;
  /**
   * Files that compute in float16 (q4f16): with float32 activations and cache (default,
   * onnx/float32Compute.ts) or as exported, on ONNX Runtime's CPU float16 kernels.
   */
  float16Compute?: Float16Compute;
  /**
   * 'in-place' (default where the graph allows it): runs return only their new keys and
   * values, the session keeps the cache token-major and attention reads it where it lies
   * (onnx/attentionInPlace.ts, kvCache.ts); 'new-tokens': only the new rows come back, the
   * cache is kept head-major (onnx/newTokenKvOutputs.ts); 'whole-cache': the `present`
   * tensors come back whole and are fed back as `past`.
   */
  kvOutputs?: KvOutputsMode;
  /**
   * Megabytes of KV caches of finished sessions kept so a new prompt that starts the same way
   * (the next chat turn, Retry, another question on the same text) computes only what differs
   * (kvPrefixCache.ts); 0 keeps none. Default DEFAULT_KV_CACHE_BUDGET_MB.
   */
  kvCacheBudgetMb?: number;
  /**
   * Tokens per prefill forward pass (default 512): memory of the attention scratch, and the
   * step of progress and Stop. int8 files quantise activations per pass, so the step also
   * decides their rounding (README Performance).
   */
  prefillChunkTokens?: number;
  /**
   * Profile every forward pass with ONNX Runtime's profiler (per-node times, input shapes);
   * `endProfiling()` writes the file and returns its path (ortProfile.ts reads it). For
   * benchmarks and diagnostics: it slows every run a little.
   */
  profileFilePrefix?: string;
}

export interface LocalRuntime extends SlmRuntime {
  createSession(): Promise<KvDecoderSession>;
  /** Tokenises like prefill/append do (no special tokens added). */
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  /** Whether prefill computes logits for the last position only, and why not if not. */
  readonly lastPositionLogits: { enabled: boolean; reason?: string };
  /** 4-bit MatMulNBits nodes switched to int8 compute at load (0: none, or q4Compute 'as-exported'). */
  readonly int8ComputeNodes: number;
  /** How the KV cache comes back from a run and is read, and why not a faster way where not. */
  readonly kvOutputs: { mode: KvOutputsMode; reason?: string };
  /** Whether a float16 file runs with float32 activations, and why not where not. */
  readonly float16Compute: { mode: Float16Compute; reason?: string };
  /** KV caches kept for reuse, most recently used first (empty when reuse is off). */
  readonly keptKvCaches: { tokens: number; bytes: number }[];
  /** Bytes of the spare KV buffer set kept for the next session (counted in the cache budget: none at 0). */
  readonly spareKvBufferBytes: number;
  /** With `profileFilePrefix`: ends the profile and returns the file ONNX Runtime wrote (undefined without it). */
  endProfiling(): string | undefined;
}

export async function createLocalRuntime(folder: string, options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const chunk = options.prefillChunkTokens;
  if (chunk !== undefined && !(Number.isInteger(chunk) && chunk > 0)) throw new RangeError(`prefillChunkTokens must be a positive integer (got ${chunk}).`);
  const model = readModelFolder(folder, options.variant ?? 'auto');
  // Said in the folder while loaded: Remove Downloaded Models in another window (or the CLI's process) warns before it removes a model in use.
  const releaseMark = markModelInUse(folder);
  let loaded: Awaited<ReturnType<typeof loadDecoderSession>>;
  let tokenizer: SlmTokenizer;
  let template: Awaited<ReturnType<typeof ChatTemplate.ofFolder>>;
  try {
    tokenizer = await SlmTokenizer.create(model.tokenizerJson, model.tokenizerConfig, join(folder, 'tokenizer.json'));
    template = await ChatTemplate.ofFolder(model);
    loaded = await loadDecoderSession(
      model.chosen.path,
      { kvHeads: model.config.numKeyValueHeads, headDim: model.config.headDim },
      {
        lastPositionLogits: options.lastPositionLogits,
        intraOpThreads: options.intraOpThreads,
        q4Compute: options.q4Compute,
        kvOutputs: options.kvOutputs,
        float16Compute: options.float16Compute ?? defaultFloat16Compute(model.chosen.variant),
        profileFilePrefix: options.profileFilePrefix,
      },
    );
  } catch (error) {
    releaseMark();
    throw error;
  }
  const ort = await loadOnnxRuntime();
  const budgetBytes = (options.kvCacheBudgetMb ?? DEFAULT_KV_CACHE_BUDGET_MB) * 1024 * 1024;
  // Its spare set stays between answers, so it is held to the budget too (none at 0).
  const kvPool = new KvBufferPool(budgetBytes);
  const maxPositions = model.config.raw.max_position_embeddings;
  const decoderModel: DecoderModel = {
    ort,
    session: loaded.session,
    io: loaded.io,
    tokenizer,
    eosTokenIds: model.eosTokenIds,
    maxPositions: typeof maxPositions === 'number' && maxPositions > 0 ? maxPositions : undefined,
    lock: new AsyncLock(),
    newTokenKvOutputs: loaded.newTokenKvOutputs,
    kvLayout: kvLayoutOf(loaded.kvOutputs.mode),
    kvPool,
    prefillChunk: options.prefillChunkTokens,
  };
  // Only where sessions own their cache buffers (not the whole-cache path, whose tensors ONNX Runtime owns).
  if (loaded.newTokenKvOutputs && budgetBytes > 0) decoderModel.prefixCache = new KvPrefixCache(budgetBytes, kvPool);
  let weightsFingerprint = loaded.weightsFingerprint;
  const info: ModelInfo = {
    folder,
    modelType: model.config.modelType,
    vocabSize: model.config.vocabSize,
    eosTokenIds: model.eosTokenIds,
    hasChatTemplate: template !== undefined,
    contextWindow: decoderModel.maxPositions,
    promptBos: textPromptBos(model.tokenizerConfig, model.tokenizerJson),
    backend: {
      kind: 'onnx',
      variant: model.chosen.variant,
      onnxFile: model.chosen.path,
      numLayers: loaded.io.layers.length,
      numKeyValueHeads: loaded.io.kvHeads,
      headDim: loaded.io.headDim,
      keepsKvCaches: decoderModel.prefixCache !== undefined,
    },
  };
  const sessions = new Set<KvDecoderSession>();
  let disposed = false;
  const alive = () => {
    if (disposed) throw new Error('The SLM runtime was disposed; create a new one.');
  };

  return {
    info,
    lastPositionLogits: { enabled: loaded.lastPositionOnly, reason: loaded.rewriteSkipped },
    int8ComputeNodes: loaded.int8ComputeNodes,
    kvOutputs: loaded.kvOutputs,
    float16Compute: { mode: loaded.float16Compute.mode, reason: loaded.float16Compute.reason },
    get keptKvCaches() {
      return decoderModel.prefixCache?.entries ?? [];
    },
    get spareKvBufferBytes() {
      return kvPool.spareBytes;
    },
    endProfiling() {
      if (!options.profileFilePrefix) return undefined;
      loaded.session.endProfiling();
      return newestProfileFile(options.profileFilePrefix);
    },
    async renderChat(messages: ChatMessage[], opts?: RenderOptions) {
      alive();
      if (!template) {
        throw new ModelFolderError(join(folder, 'tokenizer_config.json'), 'has no chat_template, so conversations cannot be rendered for this model.');
      }
      return template.render(messages, { addGenerationPrompt: opts?.addGenerationPrompt ?? true, variables: { enable_thinking: opts?.thinking ?? false } });
    },
    async countTokens(text: string) {
      alive();
      return tokenizer.encode(text).length;
    },
    encode: (text) => tokenizer.encode(text),
    decode: (ids) => tokenizer.decode(ids),
    async createSession() {
      alive();
      let keptCachesDropped: string | undefined;
      // Weights written over in place change what the loaded model computes (ONNX Runtime maps
      // external data files), and kept caches hold what the old weights computed: they go.
      const weightsNow = decoderModel.prefixCache ? filesFingerprint(loaded.weightFiles) : weightsFingerprint;
      if (weightsNow !== weightsFingerprint) {
        weightsFingerprint = weightsNow;
        decoderModel.prefixCache?.clear();
        keptCachesDropped = `the model's files (${loaded.weightFiles.join(', ')}) changed since it was loaded; load it again to run the new ones`;
      }
      const session = new KvDecoderSession(decoderModel, { keptCachesDropped });
      sessions.add(session);
      const dispose = session.dispose.bind(session);
      session.dispose = async () => {
        sessions.delete(session);
        await dispose();
      };
      return session;
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      decoderModel.prefixCache?.close();
      for (const s of [...sessions]) await s.dispose();
      await loaded.session.release();
      releaseMark();
    },
  };
}

/** ONNX Runtime names the profile `<prefix>_<date>.json`: the newest such file. */
function newestProfileFile(prefix: string): string | undefined {
  const dir = dirname(prefix);
  const stem = `${basename(prefix)}_`;
  return readdirSync(dir)
    .filter((f) => f.startsWith(stem) && f.endsWith('.json'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}
