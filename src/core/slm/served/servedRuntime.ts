/**
 * The SLM on a server (relay.slm.kind 'completions-server' or 'ollama'): Relay renders the
 * prompt with the model's chat template and counts tokens with its tokenizer (from the
 * configured folder), the server decodes. A session is the context's text and token ids;
 * prefill and append add to them and cost nothing here, because the server's prefix cache
 * does the work of the local KV cache (each request sends the whole context, and the
 * server reuses what it evaluated before). Generation streams tokens with their top
 * log-probabilities for the confidence gate.
 *
 * A server cannot refuse a token before writing it: the stream is read up to the first
 * token whose top-1 probability is below the gate (or up to the stop string) and closed;
 * what had arrived after it is counted as discarded (GenerateResult.discardedTokens).
 * Stop strings are detected here on the decoded stream, as the local runtime does, and
 * not sent to the server, whose stop handling differs (most drop the stop string from
 * the text): the same tokens come back either way.
 */
import { join } from 'node:path';
import { ChatTemplate } from '../chatTemplate';
import { ModelFolderError, readTokenizerFolder } from '../modelFolder';
import { StreamingDetokenizer } from '../streamingDetokenizer';
import { SlmTokenizer } from '../tokenizer';
import type {
  ChatMessage,
  GenerateOptions,
  GenerateResult,
  GeneratedToken,
  GenerationStopReason,
  ModelInfo,
  RenderOptions,
  ServedSlmKind,
  SlmRuntime,
  SlmSession,
  TokenConfidence,
} from '../types';
import { createAgents, describeErrorBody, isPromptTooLong, postStream, type HttpTimeouts } from '../../providers/http';
import { textPromptBos, withoutLeadingBos } from '../../providers/chatTemplate';
import { isProviderError, type ProviderError } from '../../providers/errors';
import type { SentRequest } from '../../providers/types';
import { NdjsonParser } from '../../providers/ndjson';
import { SseParser } from '../../providers/sse';
import { settingRef } from '../../settingNames';
import { wireFormOf } from './registry';
import { confidenceOf, shownServerText, type ServedChunk, type ServedToken, type ServedWireForm } from './wireForm';
import { servedModels, type ServedModelList } from './servedModels';
import { formatSeconds } from '../../providers/errors';
import { quotedAddress } from '../../http/shownUrl';
import { SERVED_SLM_TIMEOUTS } from './timeouts';
import { LineCutter } from './lineCutter';

export interface ServedRuntimeOptions {
  kind: ServedSlmKind;
  /** The server's address; empty: the kind's default. */
  url: string;
  /** The model's name on the server. */
  model: string;
  /** The folder with the model's tokenizer.json and tokenizer_config.json (its chat template). */
  folder: string;
  timeouts?: Partial<HttpTimeouts>;
  /** Alternatives asked per position (default 5). */
  topLogprobs?: number;
  /** Told every HTTP request just before it is sent (Show What Was Sent); in the process that sends it, so never sent over the protocol. */
  onRequest?: (request: SentRequest) => void;
}

/** Prompt tokens the server reported, and how many of them its prefix cache served. */
export interface PrefixCacheReport {
  requests: number;
  promptTokens: number;
  cachedPromptTokens: number;
  /** Requests whose response reported cached tokens (0: the server does not say). */
  reported: number;
}

export interface ServedRuntime extends SlmRuntime {
  /** Tokenises like prefill/append do (no special tokens added). */
  encode(text: string): number[];
  readonly wireForm: ServedWireForm;
  readonly prefixCache: PrefixCacheReport;
  /** Whether the context goes to the server as token ids and its tokens come back with their ids (as of the last response). */
  readonly exactTokens: boolean;
  /**
   * Pieces of the stream whose token ids were not kept because they are not the folder's
   * tokenizer's: they did not spell the piece's text, or are past its vocabulary (another
   * model behind the server than the folder's). Counted since the runtime was created.
   */
  readonly idMismatches: number;
}

/** Bounded waits: a cold server may load its model before the first byte; a busy one queues. */
const DEFAULT_TIMEOUTS: HttpTimeouts = SERVED_SLM_TIMEOUTS;
const DEFAULT_TOP_LOGPROBS = 5;
/**
 * Tokens read past max_tokens (or an end of sequence) waiting for the server's end of stream
 * before the request is closed; events read after the server said it ended (its usage
 * comes in one or two), and reads of the body once the answer has its stop, before the
 * request is closed, where the server goes on writing.
 */
const LIMIT_OVERRUN = 8;
/**
 * Events of the stream (SSE events, empty `data:` ones included; NDJSON lines) without a
 * token in a row that close the request: a server that sends keep-alive events or
 * empty pieces and never generates would hold the answer for ever, since bytes keep the
 * transport's idle timeout from firing. Counted as the parser reads them, not as the
 * transport splits the bytes. Lines the parsers drop count as one event each (SSE comments,
 * field lines other than data, blank lines that end no event; blank NDJSON lines), or a
 * server that sends only those would be ended by the time bound alone (minutes). Far above what a generating
 * server sends between two tokens (an event or two).
 */
const QUIET_EVENT_LIMIT = 1000;

export async function createServedRuntime(options: ServedRuntimeOptions): Promise<ServedRuntime> {
  const wireForm = wireFormOf(options.kind);
  if (!options.model) throw new Error(`No model name is set for the small model's server. Set ${settingRef('slmServerModel')}.`);
  const url = parseServerUrl(options.url || wireForm.defaultUrl);
  const files = readTokenizerFolder(options.folder);
  const tokenizer = await SlmTokenizer.create(files.tokenizerJson, files.tokenizerConfig, join(options.folder, 'tokenizer.json'));
  const template = await ChatTemplate.ofFolder(files);
  const maxPositions = files.configRaw.max_position_embeddings;
  const vocabSize = files.configRaw.vocab_size;
  const info: ModelInfo = {
    folder: options.folder,
    modelType: typeof files.configRaw.model_type === 'string' ? files.configRaw.model_type : 'unknown',
    vocabSize: typeof vocabSize === 'number' ? vocabSize : 0,
    eosTokenIds: files.eosTokenIds,
    hasChatTemplate: template !== undefined,
    contextWindow: typeof maxPositions === 'number' && maxPositions > 0 ? maxPositions : undefined,
    promptBos: textPromptBos(files.tokenizerConfig, files.tokenizerJson),
    backend: { kind: options.kind, url: url.href, model: options.model },
  };
  const server: Server = {
    wireForm,
    url,
    model: options.model,
    tokenizer,
    eos: new Set(files.eosTokenIds),
    eosTexts: new Set(files.eosTokenIds.map((id) => tokenizer.decode([id])).filter((t) => t.length > 0)),
    textBos: info.promptBos,
    // The model's vocabulary (config.json) may be padded past the tokenizer's ids; the model can still write those.
    vocabSize: Math.max(tokenizerSize(files.tokenizerJson), typeof vocabSize === 'number' ? vocabSize : 0),
    longestTokenText: longestTokenText(files.tokenizerJson),
    contextWindow: info.contextWindow,
    timeouts: { ...DEFAULT_TIMEOUTS, ...options.timeouts },
    topLogprobs: options.topLogprobs ?? DEFAULT_TOP_LOGPROBS,
    agents: createAgents(),
    prefixCache: { requests: 0, promptTokens: 0, cachedPromptTokens: 0, reported: 0 },
    refusesTokenIds: false,
    idsReported: false,
    idMismatches: 0,
    onRequest: options.onRequest,
  };
  let disposed = false;
  const alive = (): void => {
    if (disposed) throw new Error('The SLM runtime was disposed; create a new one.');
  };
  return {
    info,
    wireForm,
    prefixCache: server.prefixCache,
    get exactTokens() {
      return wireForm.sendsTokenIds && !server.refusesTokenIds && server.idsReported;
    },
    get idMismatches() {
      return server.idMismatches;
    },
    async renderChat(messages: ChatMessage[], opts?: RenderOptions) {
      alive();
      if (!template)
        throw new ModelFolderError(join(options.folder, 'tokenizer_config.json'), 'has no chat_template, so conversations cannot be rendered for this model.');
      return template.render(messages, { addGenerationPrompt: opts?.addGenerationPrompt ?? true, variables: { enable_thinking: opts?.thinking ?? false } });
    },
    async countTokens(text: string) {
      alive();
      return tokenizer.encode(text).length;
    },
    encode: (text) => tokenizer.encode(text),
    async createSession() {
      alive();
      return new ServedSession(server);
    },
    async dispose() {
      disposed = true;
      server.agents.http.destroy();
      server.agents.https.destroy();
    },
  };
}

/** One past the highest id of a tokenizer.json (its model's vocabulary and its added tokens). */
function tokenizerSize(tokenizerJson: Record<string, unknown>): number {
  const vocab = (tokenizerJson.model as { vocab?: unknown } | undefined)?.vocab;
  const added = Array.isArray(tokenizerJson.added_tokens) ? (tokenizerJson.added_tokens as { id?: unknown }[]).map((t) => t.id) : [];
  const ids = Array.isArray(vocab) ? [vocab.length - 1] : vocab && typeof vocab === 'object' ? Object.values(vocab) : [];
  let highest = -1;
  for (const id of [...ids, ...added]) if (typeof id === 'number' && id > highest) highest = id;
  return highest >= 0 ? highest + 1 : Number.MAX_SAFE_INTEGER;
}

/** Characters of a token whose text tokenizer.json does not let be measured: far above any real vocabulary's. */
const UNMEASURED_TOKEN_TEXT = 1024;

/**
 * The most characters one token of a tokenizer.json writes: its longest vocabulary entry or
 * added token. An entry is spelled as long as the text it writes or longer (byte-level BPE
 * spells each byte as one character, SentencePiece a space as one ▁, a byte as <0xNN>).
 */
function longestTokenText(tokenizerJson: Record<string, unknown>): number {
  const vocab = (tokenizerJson.model as { vocab?: unknown } | undefined)?.vocab;
  // BPE and WordPiece: {entry: id}; Unigram: [[entry, score], ...].
  const entries = Array.isArray(vocab) ? vocab.map((v) => (Array.isArray(v) ? v[0] : undefined)) : vocab && typeof vocab === 'object' ? Object.keys(vocab) : [];
  const added = Array.isArray(tokenizerJson.added_tokens) ? (tokenizerJson.added_tokens as { content?: unknown }[]).map((t) => t.content) : [];
  let longest = 0;
  for (const entry of [...entries, ...added]) if (typeof entry === 'string' && entry.length > longest) longest = entry.length;
  return longest > 0 ? longest : UNMEASURED_TOKEN_TEXT;
}

function parseServerUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`The small model's server address ${quotedAddress(text)} is not a URL (e.g. http://127.0.0.1:8000/v1). Fix ${settingRef('slmServerUrl')}.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`The small model's server address must be http:// or https:// (got ${url.protocol}). Fix ${settingRef('slmServerUrl')}.`);
  if (url.username || url.password) throw new Error(`The small model's server address must not carry credentials. Fix ${settingRef('slmServerUrl')}.`);
  return url;
}

interface Server {
  wireForm: ServedWireForm;
  url: URL;
  model: string;
  tokenizer: SlmTokenizer;
  eos: Set<number>;
  /** The end-of-sequence tokens as a server that gives no ids spells them. */
  eosTexts: Set<string>;
  /**
   * The BOS text a prompt sent as text leaves out: the server's tokenizer adds BOS itself
   * (vLLM's add_special_tokens, llama.cpp's add_special, Ollama raw), and the chat template
   * rendered one. Ids go as they are (one BOS, from the rendered text).
   */
  textBos?: string;
  /** Ids at or above this are not the folder's model's (its config's vocab_size, or the tokenizer's when larger). */
  vocabSize: number;
  /** The most characters one token of the folder's tokenizer writes (bounds the text a piece's tokens may carry). */
  longestTokenText: number;
  contextWindow?: number;
  timeouts: HttpTimeouts;
  topLogprobs: number;
  agents: ReturnType<typeof createAgents>;
  prefixCache: PrefixCacheReport;
  /** The server answered a prompt of token ids with HTTP 400/422 and took it as text (or named the prompt's type): prompts go as text. */
  refusesTokenIds: boolean;
  /** Whether the tokens of the last response came with their ids, and those were kept (they spelled the text). */
  idsReported: boolean;
  /** ServedRuntime.idMismatches. */
  idMismatches: number;
  onRequest?: (request: SentRequest) => void;
}

/** A refusal that is about the prompt being a list (a server that wants a string), not about what it holds. */
const PROMPT_TYPE_REFUSAL = /\b(?:string|str)\b/i;

/** One token of a piece of the stream, with how it spells its text. */
interface ServedPiece {
  served: ServedToken;
  id?: number;
  /** Spelled through the detokenizer by its id (else by the server's text, not seen by the detokenizer). */
  viaIds: boolean;
  push(): string;
  peek(): string;
}

/** Context tokens decoded before a piece's ids to check their text: room for a character's held bytes and a leading-space seed. */
const SPELL_CONTEXT_TOKENS = 8;

/** Unknown confidence (a server that sent no log-probabilities); only a gate could misread it, and a gate refuses to run without them. */
const UNKNOWN_CONFIDENCE: TokenConfidence = { top1: 1, entropy: 0, margin: 1 };

class ServedSession implements SlmSession {
  private static next = 0;
  readonly id = `served-${++ServedSession.next}`;
  private text = '';
  private readonly ids: number[] = [];
  /** Whether `ids` are the very tokens of the context (false once a server token came without its id). */
  private exactIds = true;
  /** Tokens of this generation whose text the server may still hold (idsSpell), after `seed`, the context before them. */
  private spelling: { seed: number[]; ids: number[]; text: string } | undefined;
  /** Whether every token of this generation so far came with an id that was kept; undefined before its first token. */
  private idsKept: boolean | undefined;
  /** The last generation's detokenizer, while nothing was added after it: a character it began ends in the next one (as kvDecoder.ts). */
  private carried: StreamingDetokenizer | undefined;
  /** This generation began partway through a character (its first bytes in the prompt): the server may write leftovers of it (heldAfter). */
  private startedInsideCharacter = false;
  private busy = false;
  private disposed = false;

  constructor(private readonly server: Server) {}

  async prefill(text: string): Promise<{ tokenCount: number }> {
    return { tokenCount: this.add(text) };
  }

  async append(text: string): Promise<{ tokenCount: number; recomputedTokens: number }> {
    return { tokenCount: this.add(text), recomputedTokens: 0 };
  }

  private add(text: string): number {
    this.check();
    const ids = this.server.tokenizer.encode(text);
    const window = this.server.contextWindow;
    if (window !== undefined && this.ids.length + ids.length > window) {
      throw new RangeError(`The context would hold ${this.ids.length + ids.length} tokens; this model supports at most ${window}. Start a new session.`);
    }
    this.text += text;
    // One by one: a spread of a long text's ids would pass more arguments than the stack holds.
    for (const id of ids) this.ids.push(id);
    if (ids.length > 0) this.carried = undefined;
    return ids.length;
  }

  private check(): void {
    if (this.disposed) throw new Error(`Session ${this.id} was disposed; create a new session.`);
    if (this.busy) throw new Error(`Session ${this.id} is generating; wait for it to finish.`);
  }

  async generate(options: GenerateOptions, onToken?: (token: GeneratedToken) => void, signal?: AbortSignal): Promise<GenerateResult> {
    if (!Number.isInteger(options.maxTokens) || options.maxTokens < 0)
      throw new RangeError(`maxTokens must be a non-negative integer (got ${options.maxTokens}).`);
    this.check();
    if (this.ids.length === 0) throw new Error('generate() needs a context: call prefill() first.');
    const room = (this.server.contextWindow ?? Infinity) - this.ids.length;
    const maxTokens = Math.min(options.maxTokens, room);
    if (maxTokens <= 0) return { tokens: [], text: '', stopReason: options.maxTokens === 0 ? 'max_tokens' : 'context_full', contextLength: this.ids.length };
    if (signal?.aborted) return { tokens: [], text: '', stopReason: 'cancelled', contextLength: this.ids.length };
    this.busy = true;
    try {
      return await this.stream(options, maxTokens, maxTokens < options.maxTokens, onToken, signal);
    } finally {
      this.busy = false;
    }
  }

  private async stream(
    options: GenerateOptions,
    maxTokens: number,
    clampedByWindow: boolean,
    onToken: ((token: GeneratedToken) => void) | undefined,
    signal: AbortSignal | undefined,
  ): Promise<GenerateResult> {
    const { server } = this;
    const { wireForm } = server;
    const eos = new Set([...server.eos, ...(options.eosTokenIds ?? [])]);
    const stopStrings = (options.stopStrings ?? []).filter((s) => s.length > 0);
    // Only where the server continues these very ids: given the text, it writes the whole character again.
    const continuesIds = wireForm.sendsTokenIds && this.exactIds && !server.refusesTokenIds;
    this.startedInsideCharacter = continuesIds && server.tokenizer.decode(this.ids.slice(-SPELL_CONTEXT_TOKENS)).endsWith('\uFFFD');
    let detokenizer = (continuesIds ? this.carried : undefined) ?? new StreamingDetokenizer(server.tokenizer, this.ids);
    this.carried = undefined;
    this.spelling = undefined;
    this.idsKept = undefined;
    const sampling = options.sampling ?? {};
    /** The context's tokens as sent, before this generation's are added to it. */
    const promptTokens = this.ids.length;
    const tokens: GeneratedToken[] = [];
    let text = '';
    let refusedToken: GeneratedToken | undefined;
    let stopReason: GenerationStopReason | undefined;
    let discarded = 0;
    let serverEnded = false;
    /** Events of the stream read since the server said it ended. */
    let afterEnd = 0;
    /** Events of the stream read since the last token (or the server's end), and since when: keep-alives and empty pieces are no progress. */
    let quietEvents = 0;
    let quietSince = Date.now();
    /** Reads of the body since the answer had its stop. */
    let readsAfterStop = 0;
    const endpoint = wireForm.endpoint(server.url);
    const bodyOf = (asIds: boolean) =>
      wireForm.body({
        model: server.model,
        prompt: { text: withoutLeadingBos(this.text, server.textBos), ids: asIds ? this.ids : undefined },
        maxTokens,
        temperature: sampling.temperature ?? 0,
        seed: sampling.seed,
        topP: sampling.topP,
        topK: sampling.topK,
        topLogprobs: server.topLogprobs,
      });
    const asIds = continuesIds;
    const call = new AbortController();
    const onAbort = (): void => call.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const send = (ids: boolean) => {
        const body = bodyOf(ids);
        quietSince = Date.now();
        server.onRequest?.({ url: String(endpoint), body });
        return postStream({
          url: endpoint,
          headers: {},
          body,
          keyEnv: [],
          timeouts: server.timeouts,
          signal: call.signal,
          secrets: [],
          agents: server.agents,
        });
      };
      let response;
      try {
        response = await send(asIds);
      } catch (error) {
        // HTTP 400 or 422 to a list of ids: a server that takes only text as the prompt, or one
        // that refuses this request for another reason (vLLM, SGLang and llama.cpp take ids and
        // answer 400 to more logprobs than --max-logprobs). Sent again as text: prompts go as
        // text from now on only where that is taken, or where the server's words name the
        // prompt's type. Not where they say the prompt is longer than the model's context: as
        // text it would not fit either.
        if (!asIds || !isProviderError(error) || (error.status !== 400 && error.status !== 422)) throw error;
        if (isPromptTooLong(serverSaid(error) ?? '')) throw error;
        const namesType = PROMPT_TYPE_REFUSAL.test(serverSaid(error) ?? '');
        try {
          response = await send(false);
        } catch (again) {
          if (namesType) server.refusesTokenIds = true;
          // Both refused: the server's reason as it gave it for the prompt of ids (the one it takes).
          throw namesType || !isProviderError(again) || again.code === 'cancelled' ? again : error;
        }
        server.refusesTokenIds = true;
      }
      // The same waits for a token as the transport gives bytes (connect and first byte, then idle); the bound on events is the reading loop's.
      const { timeouts } = server;
      const progressing = async function* (body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
        for await (const bytes of body) {
          const quietMs = Date.now() - quietSince;
          const tooLong = quietMs > (tokens.length === 0 ? timeouts.connectTimeoutMs + timeouts.firstByteTimeoutMs : timeouts.idleTimeoutMs);
          // Once the answer has its stop, only the server's end (and usage) is waited for: a read or two, whatever they hold.
          const stopped = serverEnded || stopReason !== undefined;
          if (tooLong || (stopped && ++readsAfterStop > LIMIT_OVERRUN)) {
            // Thrown, not returned: the parsers would read a piece cut short as a whole one.
            throw new ReadingStopped({ events: quietEvents, ms: quietMs, beforeFirstToken: tokens.length === 0, byCount: false });
          }
          yield bytes;
        }
      };
      const body = progressing(response.body);
      const reader = wireForm.framing === 'sse' ? sseEvents(body, `${wireForm.label} at ${endpoint.host}`) : ndjsonEvents(body);
      reading: for await (const event of reader) {
        // A server that goes on writing after it ended (tokens, keep-alives) would hold the answer: what comes after its usage is not read.
        if (serverEnded && ++afterEnd > LIMIT_OVERRUN) break reading;
        const chunk = wireForm.parse(event);
        if (chunk?.error !== undefined)
          throw new Error(`${wireForm.label} at ${endpoint.host} reported an error in its stream: ${shownServerText(chunk.error)}`);
        if (chunk) this.noteCache(chunk);
        const cut = chunk && wireForm.promptCut?.(chunk, promptTokens, maxTokens);
        if (cut) throw new Error(`${wireForm.label} at ${endpoint.host} ${cut}`);
        const pieces = chunk ? this.piecesOf(chunk, detokenizer) : [];
        if (pieces.length > 0 || chunk?.finish !== undefined) {
          quietEvents = 0;
          quietSince = Date.now();
        } else if (++quietEvents >= QUIET_EVENT_LIMIT) {
          throw new ReadingStopped({ events: quietEvents, ms: Date.now() - quietSince, beforeFirstToken: tokens.length === 0, byCount: true });
        }
        if (!chunk) continue;
        // Tokens kept without going through the detokenizer: it is seeded again from the context after them.
        let reseed = false;
        for (let i = 0; i < pieces.length; i++) {
          const piece = pieces[i];
          if (stopReason === undefined && signal?.aborted) stopReason = 'cancelled';
          if (stopReason !== undefined) {
            discarded++;
            continue;
          }
          const confidence = confidenceOf(piece.served.topLogprobs);
          if (options.minTop1 !== undefined && confidence === undefined) throw noLogprobsError(wireForm, endpoint);
          const signals = confidence ?? UNKNOWN_CONFIDENCE;
          if (options.minTop1 !== undefined && signals.top1 < options.minTop1) {
            refusedToken = { id: piece.id ?? -1, text: piece.peek(), ...signals };
            stopReason = 'low_confidence';
            discarded++;
            continue;
          }
          if (
            (piece.id !== undefined && eos.has(piece.id)) ||
            (piece.id === undefined && piece.served.piece !== undefined && server.eosTexts.has(piece.served.piece))
          ) {
            stopReason = 'eos';
            continue;
          }
          const tokenText = piece.push();
          if (!piece.viaIds) reseed = true;
          const token: GeneratedToken = { id: piece.id ?? -1, text: tokenText, ...signals };
          tokens.push(token);
          text += tokenText;
          this.text += tokenText;
          if (piece.id !== undefined) this.ids.push(piece.id);
          else {
            // Counted by re-tokenising; from here on the context goes to the server as text.
            this.exactIds = false;
            for (const id of server.tokenizer.encode(tokenText)) this.ids.push(id);
          }
          onToken?.(token);
          if (tokenText && stopStrings.some((s) => text.includes(s, Math.max(0, text.length - tokenText.length - s.length + 1)))) stopReason = 'stop_string';
          else if (tokens.length >= maxTokens) stopReason = clampedByWindow ? 'context_full' : 'max_tokens';
        }
        if (reseed) detokenizer = new StreamingDetokenizer(server.tokenizer, this.ids);
        if (chunk.finish !== undefined) {
          if (stopReason === undefined && chunk.finish === 'length') {
            const full = contextFull(wireForm, chunk.completionTokens ?? tokens.length, promptTokens, maxTokens);
            if (full) throw new Error(`${wireForm.label} at ${endpoint.host} ${full}`);
          }
          // The server ended: read on to the end of the stream for its usage (a piece or two; at most LIMIT_OVERRUN).
          stopReason ??= chunk.finish === 'length' ? (clampedByWindow ? 'context_full' : 'max_tokens') : 'eos';
          serverEnded = true;
        }
        // Where the answer stops reading before the server ended, the request is closed; at the
        // token limit or end of sequence the server's own end (and usage) comes next, unless it
        // ignores max_tokens.
        const endComing = (stopReason === 'max_tokens' || stopReason === 'context_full' || stopReason === 'eos') && discarded <= LIMIT_OVERRUN;
        if (stopReason !== undefined && !serverEnded && !endComing) break reading;
      }
      if (stopReason === undefined) {
        if (signal?.aborted) stopReason = 'cancelled';
        else throw new Error(`${wireForm.label} at ${endpoint.host} ended its stream without saying why it stopped.`);
      }
    } catch (error) {
      if (error instanceof ReadingStopped) {
        // Without its stop, the answer was starved: the server sent keep-alives or empty pieces and no token.
        if (stopReason === undefined) throw starvedError(wireForm, server.url, error.quiet);
      } else if (signal?.aborted || (isProviderError(error) && error.code === 'cancelled')) stopReason = 'cancelled';
      else if (!isProviderError(error)) throw error;
      else {
        const served = error.code === 'model_not_found' ? await servedModels(wireForm, server.url, { signal }) : undefined;
        // A Stop while the model list was asked for: cancelled, as a Stop anywhere else.
        if (signal?.aborted) stopReason = 'cancelled';
        else throw serverError(error, wireForm, endpoint, server.model, served, wireForm.longerContext?.(promptTokens, maxTokens));
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      // Closes the request where the answer stopped reading: the server stops generating when it notices.
      call.abort();
    }
    this.carried = detokenizer;
    return { tokens, text, stopReason, refusedToken, contextLength: this.ids.length, ...(discarded > 0 ? { discardedTokens: discarded } : {}) };
  }

  private noteCache(chunk: ServedChunk): void {
    const report = this.server.prefixCache;
    if (chunk.promptTokens !== undefined) {
      report.requests++;
      report.promptTokens += chunk.promptTokens;
    }
    if (chunk.cachedPromptTokens !== undefined) {
      report.reported++;
      report.cachedPromptTokens += chunk.cachedPromptTokens;
    }
  }

  /**
   * The tokens of one piece of the stream with how each spells its text: by its id through
   * the folder's tokenizer where the server gave ids that spell the piece's text (exactly as
   * the local runtime detokenises), else by the server's own spelling where it adds up to
   * the piece's text, else the piece's text on its last token. A piece with text and no
   * tokens (no log-probabilities) is re-tokenised.
   *
   * Ids that do not spell the piece's text are not kept: llama.cpp sends no piece for a
   * token that ends partway through a UTF-8 character (send_partial_response is inside
   * `if (!incomplete)` in tools/server/server-context.cpp) and the next piece carries the
   * held bytes with only its own token, so the ids would lose a token (the server's prefix
   * cache misses on the next request; a lone continuation byte decodes to U+FFFD). Such a
   * piece is kept by its text and re-tokenised, and the context goes as text from then on.
   */
  private piecesOf(chunk: ServedChunk, detokenizer: StreamingDetokenizer): ServedPiece[] {
    // One token's text more than the tokens write: what a server held back from the tokens before (a character split across them).
    const room = (chunk.tokens.length + 1) * this.server.longestTokenText + HELD_CHARACTER_ROOM;
    if (chunk.tokens.length > 0 && chunk.text.length > room) throw tooMuchTextError(this.server, chunk);
    // An id the folder's tokenizer does not have (another model behind the server, or junk) is no id.
    const known = (id: number | undefined) => (id !== undefined && Number.isInteger(id) && id >= 0 && id < this.server.vocabSize ? id : undefined);
    let served: ServedToken[] =
      chunk.tokens.length > 0
        ? chunk.tokens.map((t) => ({ ...t, id: known(t.id) }))
        : this.server.tokenizer.encode(chunk.text).map((id) => ({ id, topLogprobs: [] }));
    const withIds = served.every((t) => t.id !== undefined);
    // Tokens taken from the text, or by their text: the next check starts from the context after them.
    if (!withIds || chunk.tokens.length === 0) this.spelling = undefined;
    const kept =
      withIds &&
      (chunk.tokens.length === 0 ||
        this.idsSpell(
          served.map((t) => t.id as number),
          chunk.text,
        ));
    if (chunk.tokens.length > 0) {
      this.idsKept = (this.idsKept ?? true) && kept;
      this.server.idsReported = this.idsKept;
      if (!kept && chunk.tokens.some((t) => t.id !== undefined)) this.server.idMismatches++;
    }
    if (kept) {
      return served.map((t) => ({
        served: t,
        id: t.id,
        viaIds: true,
        push: () => detokenizer.push(t.id as number),
        peek: () => detokenizer.peek(t.id as number),
      }));
    }
    // Ids that do not spell the text are no ids (nor is a spelling that is one token of the folder's tokenizer taken for one).
    const trusted = !withIds;
    if (!trusted) {
      served = served.map((t) => ({ ...t, id: undefined }));
      this.spelling = undefined;
    }
    const spelled = served.map((t) => t.piece ?? '').join('') === chunk.text && served.every((t) => t.piece !== undefined);
    return served.map((t, i) => {
      const own = spelled ? (t.piece as string) : i === served.length - 1 ? chunk.text : '';
      // Only a spelling that is the token's own: one that does not add up to the text may be part of a character (U+FFFD) whose whole the text holds.
      return { served: t, id: t.id ?? (trusted && spelled ? this.singleId(t.piece) : undefined), viaIds: false, push: () => own, peek: () => own };
    });
  }

  /**
   * Whether `ids` write `text` as a server's detokeniser does, after what came before them in
   * this generation: a server holds back text that ends partway through a character and
   * sends it with a later piece (vLLM sends such a token with no text, and the character
   * with the next), and writes special tokens or skips them (vLLM and llama.cpp skip them by
   * default). What is held is checked again with the next piece; once nothing is, the
   * check starts afresh from the context.
   */
  private idsSpell(ids: readonly number[], text: string): boolean {
    const { tokenizer } = this.server;
    const since = (this.spelling ??= { seed: this.ids.slice(-SPELL_CONTEXT_TOKENS), ids: [], text: '' });
    const all = [...since.ids, ...ids];
    const written = since.text + text;
    for (const skipSpecialTokens of [false, true]) {
      const before = tokenizer.decode(since.seed, { skipSpecialTokens });
      const after = tokenizer.decode([...since.seed, ...all], { skipSpecialTokens });
      const held = heldAfter(before, after, written, this.startedInsideCharacter);
      if (held === undefined) continue;
      if (held.length === 0) this.spelling = undefined;
      else if (held.endsWith('\uFFFD')) this.spelling = { seed: since.seed, ids: all, text: written };
      else continue;
      return true;
    }
    return false;
  }

  /** A server's spelling of a token that is one token of the folder's tokenizer: its id. */
  private singleId(piece: string | undefined): number | undefined {
    if (piece === undefined || piece.length === 0) return undefined;
    const ids = this.server.tokenizer.encode(piece);
    return ids.length === 1 ? ids[0] : undefined;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}

/**
 * A "length" end before `maxTokens`: the server's context length (not the token limit) ended
 * the answer. Where the wire form knows how to lengthen it (Ollama's num_ctx), what happened and
 * the fix, after the server's name; read as the token limit, the policy would ask again for
 * more of an answer that cannot grow. Else undefined.
 */
function contextFull(wireForm: ServedWireForm, generated: number, promptTokens: number, maxTokens: number): string | undefined {
  if (generated >= maxTokens || !wireForm.longerContext) return undefined;
  return (
    `stopped after ${generated} of the ${maxTokens} tokens asked: the prompt (${promptTokens} tokens) and the answer filled the model's context length. ` +
    wireForm.longerContext(promptTokens, maxTokens)
  );
}

/** Characters of one character a server held back (a surrogate pair, or U+FFFD for each of its bytes). */
const HELD_CHARACTER_ROOM = 4;

/** A piece whose text is longer than its tokens can write: not the folder's model's tokens, or a broken server (its memory would go on such text). */
function tooMuchTextError(server: Server, chunk: ServedChunk): Error {
  const tokens = chunk.tokens.length === 1 ? 'one token' : `${chunk.tokens.length} tokens`;
  return new Error(
    `${server.wireForm.label} at ${server.url.host} sent ${chunk.text.length} characters of text for ${tokens}, more than the model folder's tokenizer writes ` +
      `(at most ${server.longestTokenText} characters a token). ${settingRef('slmFolder')} is probably not the served model's folder: point it at the served model's own; ` +
      `otherwise the server is broken: check its log, or ${settingRef('slmServerUrl')} and ${settingRef('slmKind')} (another service may answer there).`,
  );
}

/** Half a surrogate pair (alone: `u` reads a whole pair as one character outside the range) or U+FFFD: how a server writes bytes of a character it did not see begin. */
const BROKEN_CHARACTER = /^[\uFFFD\uD800-\uDFFF]+/u;

/**
 * What the ids' text (`after` less the context's `before`) holds back past the server's
 * `written` text, or undefined where `written` is not how they begin. The context may end
 * partway through a character (an earlier call stopped inside it; `before` ends in U+FFFD):
 * the server was given its first bytes in the prompt, so it cannot spell it (vLLM leaves it
 * out, others write its rest, there or a piece later, as U+FFFD or half a surrogate pair).
 * Such leftovers are no text the ids lack; a real character they lack still fails.
 */
function heldAfter(before: string, after: string, written: string, leftoversExpected: boolean): string | undefined {
  let ours: string;
  let straddling = '';
  if (after.startsWith(before)) ours = after.slice(before.length);
  else {
    const whole = before.replace(/\uFFFD+$/, '');
    if (whole.length === before.length || !after.startsWith(whole)) return undefined;
    ours = after.slice(whole.length);
    const first = String.fromCodePoint(ours.codePointAt(0) ?? 0xfffd);
    if (first !== '\uFFFD') straddling = first;
  }
  // Leftovers only where a character straddled this generation's start: elsewhere a U+FFFD the ids do not spell is a token they lack.
  const unbroken = straddling || leftoversExpected ? written.replace(BROKEN_CHARACTER, '') : written;
  // The character the server could not spell first: its text may hold none of it yet.
  const readings = [...(straddling && !written.startsWith(straddling) ? [straddling + unbroken] : []), written, unbroken];
  const reading = readings.find((candidate) => ours.startsWith(candidate));
  return reading === undefined ? undefined : ours.slice(reading.length);
}

/** Bytes of a body kept to say what it was where it was no event stream. */
const NOT_A_STREAM_HEAD_BYTES = 4096;

/** An SSE line of the `data` field ("data" alone, or "data:" and its value). */
const isDataLine = (head: string): boolean => head === 'data' || head.startsWith('data:');

/** `where`: the server, as errors name it. */
async function* sseEvents(body: AsyncIterable<Buffer>, where: string): AsyncGenerator<unknown> {
  const parser = new SseParser();
  const lines = new LineCutter(true);
  const head: Buffer[] = [];
  let headBytes = 0;
  // An event with no data (a keep-alive) or [DONE] is still one: null, which no wire form reads, so that it counts as no token.
  const parsed = (events: { data: string }[]) => events.map((e) => (e.data === '[DONE]' || e.data.trim() === '' ? null : parseJson(e.data)));
  for await (const bytes of body) {
    if (headBytes < NOT_A_STREAM_HEAD_BYTES) {
      head.push(bytes);
      headBytes += bytes.length;
    }
    for (const piece of lines.cut(bytes)) {
      const events = parser.push(piece.bytes);
      yield* parsed(events);
      // A line that completes no event and adds no data to one (a comment, an event:, id: or retry: line, a blank line
      // that ends no event): one the parser drops, counted as an event with no token. A data line is its event's, counted with it.
      if (piece.endsLine && events.length === 0 && !isDataLine(piece.head ?? '')) yield null;
    }
  }
  yield* parsed(parser.end());
  if (parser.notAnEventStream) throw notAStreamError(Buffer.concat(head).toString('utf8'), where);
}

/**
 * A 200 whose body was no event stream: the server's error in a plain JSON body (vLLM and
 * llama.cpp answer some failures so, e.g. out of GPU memory), one whole completion (the
 * server or a proxy ignored stream: true), or another service's page.
 */
function notAStreamError(head: string, where: string): Error {
  let body: unknown;
  try {
    body = JSON.parse(head);
  } catch {
    body = undefined;
  }
  const fields = body && typeof body === 'object' ? (body as Record<string, unknown>) : undefined;
  if (fields && ('error' in fields || 'message' in fields || 'detail' in fields)) {
    const said = shownServerText(describeErrorBody(head).message);
    return new Error(`${where} answered with an error instead of a stream${said ? `: ${said}` : ' (it gave no reason)'}.`);
  }
  // A completion longer than the head kept is no JSON here, but still says what it is.
  if (fields ? 'choices' in fields : /^\s*\{[^]*"choices"\s*:/.test(head)) {
    return new Error(
      `${where} sent the whole completion at once, not a stream: it (or a proxy in front of it) ignored "stream": true, and Relay reads the tokens as they come. ` +
        `Use a server that streams, or check ${settingRef('slmServerUrl')} and ${settingRef('slmKind')}.`,
    );
  }
  const begins = shownServerText(head, 120);
  return new Error(
    `${where} sent a response that is not an event stream${begins ? ` (it begins: ${JSON.stringify(begins)})` : ''}: another service may answer at that address. ` +
      `Check ${settingRef('slmServerUrl')} and ${settingRef('slmKind')}.`,
  );
}

async function* ndjsonEvents(body: AsyncIterable<Buffer>): AsyncGenerator<unknown> {
  const parser = new NdjsonParser();
  const lines = new LineCutter(false);
  for await (const bytes of body) {
    for (const piece of lines.cut(bytes)) {
      const values = parser.push(piece.bytes);
      yield* values;
      // A line that gives no value is blank: a keep-alive the parser drops, counted as an event with no token.
      if (piece.endsLine && values.length === 0) yield null;
    }
  }
  yield* parser.end();
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`The small model's server sent a piece of its stream that is not JSON: ${text.slice(0, 120)}`);
  }
}

function noLogprobsError(wireForm: ServedWireForm, endpoint: URL): Error {
  const upgrade = wireForm.kind === 'ollama' ? ' (Ollama reports them from version 0.12.11)' : ' (vLLM and SGLang report them; llama.cpp with n_probs)';
  return new Error(
    `${wireForm.label} at ${endpoint.host} sent tokens without log-probabilities; confidence and money-aware modes gate on them${upgrade}. Use command mode (relay.mode), or a server that reports them.`,
  );
}

/** Where reading the body stopped without a token: `events` without one in a row, in `ms`; `byCount`: QUIET_EVENT_LIMIT ended it, else the time bound. */
interface QuietStretch {
  events: number;
  ms: number;
  beforeFirstToken: boolean;
  byCount: boolean;
}

/** Reading the body was stopped (the answer has its stop, or the server sends no tokens). */
class ReadingStopped extends Error {
  constructor(readonly quiet: QuietStretch) {
    super('reading stopped');
  }
}

/**
 * A server that answers but sends no token: what it sent, and what to look at. Before the
 * first token it may be reading a very long prompt, slowly, with keep-alives: the waits have
 * no setting, so less text or a faster server is the fix.
 */
function starvedError(wireForm: ServedWireForm, url: URL, quiet: QuietStretch): Error {
  const took = formatSeconds(quiet.ms);
  const sent = quiet.byCount
    ? `sent ${quiet.events} events in a row with no token (keep-alives or empty pieces) in ${took}`
    : `sent no ${quiet.beforeFirstToken ? '' : 'further '}token in ${took}, only keep-alives or empty pieces`;
  const longPrompt = quiet.beforeFirstToken
    ? 'It may still be reading a very long prompt (a slow server sends keep-alives until its first token): send less text, or use a faster server. Otherwise check'
    : 'Check';
  return new Error(
    `${wireForm.label} at ${url.href} ${sent}, so the request was closed. ` +
      `${longPrompt} the server's log: the model may be stuck or out of memory; restart the server, or check ${settingRef('slmServerUrl')} and ${settingRef('slmKind')} (another service may answer there).`,
  );
}

/**
 * A transport or HTTP error, worded for the small model's server and its settings (the
 * provider's wording names the LLM's). `served`: the models the server lists, where it said
 * it does not serve the one set and its list could be had. `longerContext`: the fix where the
 * server says the prompt is longer than the model's context (ServedWireForm.longerContext).
 */
function serverError(error: ProviderError, wireForm: ServedWireForm, endpoint: URL, model: string, served?: ServedModelList, longerContext?: string): Error {
  const said = serverSaid(error);
  const server = said ? ` The server said: ${said.slice(0, 300)}` : '';
  const where = `${wireForm.label} at ${endpoint.host}`;
  if (longerContext && isPromptTooLong(said ?? ''))
    return new Error(`${where} refused the prompt as longer than the model's context length (${error.summary}). ${longerContext}${server}`);
  switch (error.code) {
    case 'network':
      return new Error(`${where} could not be reached (${error.summary}). Start the server, or fix ${settingRef('slmServerUrl')}.`);
    case 'timeout':
      return new Error(`${where}: ${error.summary}. The server may be overloaded or still loading the model; try again.`);
    case 'model_not_found': {
      if (served === undefined || served.names.length === 0)
        return new Error(`${where} does not serve the model '${model}'. Set ${settingRef('slmServerModel')} to a model it serves.${server}`);
      const more = served.more > 0 ? ` (and ${served.more} more)` : '';
      return new Error(
        `${where} does not serve the model '${model}'; it serves: ${served.names.join(', ')}${more}. Set ${settingRef('slmServerModel')} to one of them.${server}`,
      );
    }
    default:
      if (error.status === 401)
        return new Error(
          `${where} refused the request (HTTP 401): it asks for an API key, and Relay sends the small model's server none, by design. ` +
            `Run the server on this machine without --api-key, or put it behind a local proxy that adds the key.${server}`,
        );
      if (error.status === 404)
        return new Error(`${where} has no ${endpoint.pathname} (HTTP 404). Check ${settingRef('slmServerUrl')} and ${settingRef('slmKind')}.${server}`);
      return new Error(`${where} refused the request (${error.summary}).${server}`);
  }
}

/** The server's own words in an HTTP error, where it gave any. */
function serverSaid(error: ProviderError): string | undefined {
  return /The server said: (.*)$/s.exec(error.message)?.[1]?.trim();
}
