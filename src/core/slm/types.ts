/**
 * Contracts of the small-model (SLM) runtime. The relay engine depends only on these;
 * the in-process ONNX decoder, its child-process client and the served runtime
 * (served/) implement them.
 */
import { FIXES, type Fix } from '../fixes';

/**
 * The ONNX files of an export, by their onnx-community names: q4 (model_q4.onnx, 4-bit
 * MatMulNBits, float32 activations), q4f16 (model_q4f16.onnx, 4-bit MatMulNBits with
 * float16 activations, cache and logits), bnb4 (model_bnb4.onnx, NF4/FP4 MatMulBnb4), int8
 * (model_int8.onnx / model_quantized.onnx / model_uint8.onnx), fp16 and fp32.
 */
export const ONNX_VARIANTS = ['q4', 'q4f16', 'bnb4', 'int8', 'fp16', 'fp32'] as const;
export type OnnxVariant = (typeof ONNX_VARIANTS)[number];

/** What a user may ask for: a variant, or `auto` (the one with the fewest bytes). */
export const VARIANT_CHOICES = ['auto', ...ONNX_VARIANTS] as const;

/** How a q4 file's 4-bit products are computed: the export's own arithmetic, or with int8 activations (onnx/matMulNBitsAccuracy.ts). */
export type Q4Compute = 'as-exported' | 'int8';

/**
 * How a file that computes in float16 (q4f16) is run: with float32 activations and cache
 * (onnx/float32Compute.ts), or as exported, on ONNX Runtime's CPU float16 kernels.
 */
export type Float16Compute = 'float32' | 'as-exported';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface SamplingOptions {
  /** 0 or undefined = greedy. */
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Seed of the RNG used for sampling; same seed, same text. */
  seed?: number;
}

/** Confidence signals of the distribution a token was drawn from. */
export interface TokenConfidence {
  /** Probability of the most likely token. */
  top1: number;
  /** Shannon entropy of the distribution, in nats. */
  entropy: number;
  /** top1 probability minus the second most likely token's probability. */
  margin: number;
}

export interface GeneratedToken extends TokenConfidence {
  id: number;
  /** Text this token adds to the decoded stream (may be '' while a UTF-8 character is incomplete). */
  text: string;
}

export type GenerationStopReason =
  | 'eos' // an end-of-sequence id was generated (not added to the context)
  | 'stop_string' // a stop string appeared in the decoded text (kept in the context)
  | 'max_tokens' // the token budget of this call is spent
  | 'context_full' // the context holds as many tokens as the model reads (max_position_embeddings)
  | 'low_confidence' // the confidence gate refused the next token (not added to the context)
  | 'cancelled';

export interface GenerateOptions {
  maxTokens: number;
  sampling?: SamplingOptions;
  /** Generation stops right after the decoded text contains one of these (kept). */
  stopStrings?: string[];
  /** Extra end-of-sequence ids on top of the model's own. */
  eosTokenIds?: number[];
  /**
   * Confidence gate: stop *before* committing a token whose top-1 probability is below
   * this value. The refused token is reported in `GenerateResult.refusedToken`.
   */
  minTop1?: number;
}

export interface GenerateResult {
  tokens: GeneratedToken[];
  text: string;
  stopReason: GenerationStopReason;
  refusedToken?: GeneratedToken;
  /** Total tokens in the session's KV cache after this call. */
  contextLength: number;
  /**
   * Tokens a server generated that the answer does not keep: a server cannot refuse a
   * token before writing it, so the stream is read up to the gate's refused token or the
   * stop string and what came after is dropped (counted as far as it arrived). Absent or 0
   * for the local runtime.
   */
  discardedTokens?: number;
}

/**
 * Where the SLM runs: an ONNX folder decoded by Relay itself, or a model on a server
 * (served/servedKinds.ts declares each server kind's wire form).
 */
export const SLM_KINDS = ['onnx', 'completions-server', 'ollama'] as const;
export type SlmKind = (typeof SLM_KINDS)[number];
export type ServedSlmKind = Exclude<SlmKind, 'onnx'>;

/** What only the ONNX backend knows: the file it runs and the shape of its KV cache. */
export interface OnnxBackendInfo {
  kind: 'onnx';
  variant: OnnxVariant;
  onnxFile: string;
  numLayers: number;
  numKeyValueHeads: number;
  headDim: number;
  /**
   * Whether finished sessions' KV caches are kept for a later prompt that starts the same way
   * (onnx/kvPrefixCache.ts): not with a budget of 0, nor on the whole-cache path. Where none
   * are kept, reading a prompt ahead is work the answer does again. Absent: none kept.
   */
  keepsKvCaches?: boolean;
}

/** A model on a server: where, and under which name. */
export interface ServedBackendInfo {
  kind: ServedSlmKind;
  /** The server's origin and path prefix as configured (no credentials ever go here). */
  url: string;
  model: string;
}

export type SlmBackendInfo = OnnxBackendInfo | ServedBackendInfo;

/** The ONNX part of a model's info; throws for a served model (callers that need a file run only ONNX). */
export function onnxBackendOf(info: ModelInfo): OnnxBackendInfo {
  if (info.backend.kind !== 'onnx') throw new Error(`The small model runs on a server (${info.backend.kind}), not from an ONNX file.`);
  return info.backend;
}

/** Whether the runtime keeps KV caches for later prompts, so that a prompt read ahead serves the next answer (a server's prefix cache is its own). */
export function keepsKvCaches(info: ModelInfo): boolean {
  return info.backend.kind === 'onnx' && info.backend.keepsKvCaches === true;
}

/** What any SLM backend tells the engine; backend specifics are in `backend`. */
export interface ModelInfo {
  /** The folder whose tokenizer and chat template the SLM uses. */
  folder: string;
  modelType: string;
  vocabSize: number;
  eosTokenIds: number[];
  hasChatTemplate: boolean;
  /** Most tokens the model reads at once (prompt and answer together); undefined when the folder does not say. */
  contextWindow?: number;
  /**
   * The BOS its chat template renders and its tokenizer adds again (tokenizer_config.json's
   * add_bos_token, else tokenizer.json's post-processor: textPromptBos): a server given the
   * prompt as text adds its own, so it is sent without this one. Undefined: none.
   */
  promptBos?: string;
  backend: SlmBackendInfo;
}

export interface RenderOptions {
  addGenerationPrompt?: boolean;
  thinking?: boolean;
}

/** How far a long prompt has been read (for a progress display). */
export interface PrefillProgress {
  /** Tokens computed so far, of `total` to compute (the prompt less the reused tokens). */
  done: number;
  total: number;
  /** Tokens of the prompt a kept cache already held (not computed). */
  reusedTokens: number;
}

export interface PrefillOptions {
  /** Stops reading between chunks (the call rejects; what was read stays in the cache). */
  signal?: AbortSignal;
  /** Called while a prompt too long for one step is read: before the first step and after each. */
  onProgress?: (progress: PrefillProgress) => void;
  /**
   * A text read ahead of the prompt it is for (readAhead.ts), not one about to be answered:
   * 'start', text the next prompt starts with, whose end keeps no logits (no prompt ends there,
   * and they would push the answered prompt's out: a kept cache holds two, and Retry needs
   * that one); 'whole', that whole prompt. Only the ONNX runtime keeps caches.
   */
  readAhead?: 'start' | 'whole';
}

export interface PrefillResult {
  /** Tokens of the prompt. */
  tokenCount: number;
  /**
   * Leading tokens of the prompt not computed again because the backend still held them
   * (the ONNX runtime keeps the KV caches of recent sessions; a server, its prefix cache
   * when it reports one). 0 or absent: the whole prompt was computed.
   */
  reusedTokens?: number;
  /** Why the kept KV caches were dropped before this prompt (the model's files changed on disk since it was loaded); absent when they were not. */
  keptCachesDropped?: string;
}

/** One conversation's decoding state (its KV cache lives with the model). */
export interface SlmSession {
  readonly id: string;
  /** Feed text (already rendered by the chat template, if any) to the cache. */
  prefill(text: string, options?: PrefillOptions): Promise<PrefillResult>;
  /** Generate from the current context, streaming tokens. */
  generate(options: GenerateOptions, onToken?: (token: GeneratedToken) => void, signal?: AbortSignal): Promise<GenerateResult>;
  /**
   * Append externally written text (e.g. the LLM's tokens), re-tokenised, by prefilling
   * only the new tokens; the existing cache is never recomputed. It has no signal (the text
   * enters whole); `onProgress` is told as prefill's is, for a text longer than one step.
   */
  append(text: string, options?: Pick<PrefillOptions, 'onProgress'>): Promise<{ tokenCount: number; recomputedTokens: number }>;
  dispose(): Promise<void>;
}

export interface SlmRuntime {
  readonly info: ModelInfo;
  /**
   * Render a conversation with the model's chat template, ready for the assistant to answer.
   * `thinking`: the template's enable_thinking (Qwen3 and others think in <think>...</think>
   * first when it is on); off unless asked, as in the paper's relay runs.
   */
  renderChat(messages: ChatMessage[], options?: RenderOptions): Promise<string>;
  /**
   * `signal`: the answer the count (or the session's opening) is for. Neither can be cancelled
   * midway (a tokenizer's regex runs to its end), but once it aborts a runtime in a child process
   * stops a process that says nothing for its grace (processRuntime.ts), rather than keep it
   * hung for ever.
   */
  countTokens(text: string, signal?: AbortSignal): Promise<number>;
  createSession(signal?: AbortSignal): Promise<SlmSession>;
  dispose(): Promise<void>;
}

/**
 * The fix a runtime's error carries, where it has one the views know (processRuntime.ts: a
 * process that ran out of memory or died again and again says which model to change).
 */
export function runtimeErrorFix(error: unknown): Fix | undefined {
  const fix = (error as { fix?: unknown } | null | undefined)?.fix;
  return (FIXES as readonly unknown[]).includes(fix) ? (fix as Fix) : undefined;
}

/**
 * Whether the SLM counts without starting anything: a runtime in a child process
 * (processRuntime.ts) says `running: false` once its process ended and while a new one loads,
 * when a count would wait on the model's load (minutes). Others always count.
 */
export function slmCanCount(slm: SlmRuntime): boolean {
  return (slm as { readonly running?: unknown }).running !== false;
}
