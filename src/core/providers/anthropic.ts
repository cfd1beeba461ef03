/**
 * Anthropic Messages API. Two ways to continue an answer, chosen per model:
 * - prefill (exact up to the API's turn rendering): the partial answer is the final
 *   assistant turn and Claude continues it. It must not end in whitespace, so it is trimmed
 *   and the same whitespace is dropped from the head of the reply (the joined answer stays
 *   exact). Claude 3.x and 4.0 to 4.5 take it.
 * - instructed (approximate): Opus 4.6, Sonnet 4.6 and every later model refuse a final
 *   assistant turn (HTTP 400 "This model does not support assistant message prefill"), so
 *   the partial answer is an assistant turn followed by a user turn asking for only the
 *   continuation, and the head of the reply is cleaned as for openai-chat.
 * The model table (modelCapabilities.ts) decides first; an id it cannot place tries
 * prefill, and the refusal switches that model to instructed for the rest of the process
 * (the refused request is sent again at once, instructed, and was not billed). Sampling
 * fields a model refuses are handled the same way.
 *
 * Thinking: max_tokens bounds thinking and text together, so a relay span spent thinking
 * writes nothing and is billed. Claude 5 and later think when the request does not say:
 * Opus and Sonnet are sent thinking "disabled", Fable and Mythos (which cannot turn it off,
 * and refuse "disabled") effort "low" (modelCapabilities.ts). A refusal of thinking is learned
 * as for the sampling fields, and the model is then asked for effort "low". Thinking that
 * arrives is streamed as reasoning (empty where the API omits it), and a call that thought
 * and wrote no text books its output as reasoning tokens, so the cause can be named.
 *
 * Prompt caching: every relay call re-sends the conversation and a longer partial answer.
 * Cache breakpoints (at most 4) go where the next call can read what this one wrote: the
 * system prompt, the end of the conversation, the end of what the previous call of the
 * same answer sent (read now), and the end of this call's partial answer (written now, read
 * by the next call). For the last two to line up, the partial answer is sent as text
 * blocks split where earlier calls ended. A breakpoint whose prefix is shorter than the
 * model's minimum cacheable length is a silent miss that costs nothing, so each is placed
 * whatever the length: a local count of it cannot say (CJK text and code run far above
 * chars/4), and one left out above the minimum loses the cache the quote counts on.
 */
import {
  HttpProvider,
  badResponseError,
  errorFromStreamObject,
  finishReasonOf,
  streamReadError,
  unfinishedStreamError,
  type AttemptContext,
  type TokenCountRequest,
} from './base';
import { ProviderError } from './errors';
import { postStream } from './http';
import { anthropicModelTraits, learnedFacts, type AnthropicModelTraits, type LearnedFacts } from './modelCapabilities';
import { sendAdapting, type Refusal } from './refusals';
import { CONTINUE_INSTRUCTION, InstructedSeamCleaner, WhitespaceSeam, splitTrailingWhitespace } from './seam';
import { SseParser } from './sse';
import type { ContinuationMethod, ContinueRequest, ProviderChunk, ProviderConfig, ProviderOptions, KeySource, ProviderEntry } from './types';
import { cancelledUsage, completeUsage, type ReportedUsage } from './usage';

export const ANTHROPIC_DEFAULT_BASE_URL = 'https://api.anthropic.com';

export const anthropicEntry: ProviderEntry = {
  label:
    'Anthropic Messages API: the partial answer as a prefilled assistant turn where the model takes it (Claude 3.x to 4.5), by instruction from Claude 4.6 on; prompt caching.',
  defaultBaseUrl: ANTHROPIC_DEFAULT_BASE_URL,
  keyEnv: ['RELAY_API_KEY', 'ANTHROPIC_API_KEY'],
  keyHome: 'https://api.anthropic.com',
  usesKey: true,
  keyRequired: () => true,
  pricedByHost: true,
  // Breakpoints (Relay sets them), read at 0.1x, written at 1.25x, from the model's minimum length on.
  cacheRule: (_url, model) => ({ kind: 'breakpoints', minTokens: anthropicModelTraits(model).minCacheTokens }),
  create: (config, keys, options) => new AnthropicProvider(config, keys, options),
  prompt: 'messages',
};
export const ANTHROPIC_VERSION = '2023-06-01';
/** The API takes at most this many cache_control blocks per request. */
export const MAX_CACHE_BREAKPOINTS = 4;
/** Past this many blocks in the partial answer the split starts over (one cache write). */
const MAX_PARTIAL_BLOCKS = 64;
/** Answers whose block boundaries are remembered (by cacheKey). */
const MAX_REMEMBERED_ANSWERS = 8;

type TextBlock = { type: 'text'; text: string; cache_control?: { type: 'ephemeral' } };
type Turn = { role: 'user' | 'assistant'; content: TextBlock[] };
type Mode = 'prefill' | 'instructed';

interface Plan {
  body: Record<string, unknown>;
  mode: Mode;
  /** The partial answer as sent (trailing whitespace trimmed), for the boundary memory. */
  sentPartial: string;
}

/** Where the calls of one answer ended: each is a prefix of the next, and of the partial answer. */
interface Boundaries {
  conversation: string;
  ends: string[];
}

export class AnthropicProvider extends HttpProvider {
  readonly kind = 'anthropic' as const;
  /** What the model table says about this model (before anything was learned at run time). */
  readonly traits: AnthropicModelTraits;
  private readonly boundaries = new Map<string, Boundaries>();
  /** max_tokens bounds thinking and text together: a call bills at most the span asked for, unless a host was seen billing past it. */
  get limitBoundsReasoning(): boolean {
    return !this.facts().limitIgnored;
  }

  billedPastLimit(): void {
    this.facts().limitIgnored = true;
  }

  constructor(config: ProviderConfig, keys: KeySource, options: ProviderOptions) {
    super(config, keys, options, anthropicEntry);
    this.traits = anthropicModelTraits(this.model);
  }

  /**
   * How the next call continues: 'assistant-prefix' (prefill) or 'instructed'. For a model
   * the table cannot place it starts as 'assistant-prefix' and turns 'instructed' when the
   * API refuses prefill; each call's done chunk says how that call was made.
   */
  get continuation(): ContinuationMethod {
    return this.mode() === 'prefill' ? 'assistant-prefix' : 'instructed';
  }

  private facts(): LearnedFacts {
    return learnedFacts(this.kind, this.baseUrl.origin, this.model);
  }

  private mode(): Mode {
    return this.traits.prefill === 'no' || this.facts().noPrefill ? 'instructed' : 'prefill';
  }

  protected inputText(request: ContinueRequest, mode: Mode = this.mode()): string {
    const parts = [...request.messages.map((m) => m.content), request.partialAnswer.trimEnd()];
    if (mode === 'instructed' && request.partialAnswer.trim().length > 0) parts.push(CONTINUE_INSTRUCTION);
    return parts.join('\n');
  }

  /** A model not known to take prefill may refuse it: the call is then made again by instruction. */
  override sentText(request: ContinueRequest): string {
    return this.inputText(request, this.traits.prefill === 'yes' ? this.mode() : 'instructed');
  }

  sentTemperature(asked: number): number | null {
    // Anthropic accepts temperatures in [0, 1] only.
    return this.traits.sampling !== 'none' && !this.facts().dropped.has('temperature') ? Math.min(1, Math.max(0, asked)) : null;
  }

  /** The request body for the model as far as we know it now (exposed for tests and the docs). */
  buildBody(request: ContinueRequest): Record<string, unknown> {
    return this.plan(request).body;
  }

  private plan(request: ContinueRequest): Plan {
    const mode = this.mode();
    const facts = this.facts();
    const caching = !facts.dropped.has('cache_control');
    let breakpoints = 0;
    /** Marks a block as a cache breakpoint (system, conversation end, the last two partial blocks: never more than the API takes). */
    const mark = (block: TextBlock | undefined) => {
      if (!block || !caching || breakpoints >= MAX_CACHE_BREAKPOINTS) return;
      block.cache_control = { type: 'ephemeral' };
      breakpoints++;
    };

    const systemText = request.messages
      .filter((m) => m.role === 'system')
      .map((m) => m.content)
      .join('\n\n');
    const system: TextBlock[] = systemText.length > 0 ? [{ type: 'text', text: systemText }] : [];
    mark(system[0]);

    const turns: Turn[] = request.messages
      .filter((m) => m.role !== 'system' && m.content.length > 0)
      .map((m) => ({ role: m.role as 'user' | 'assistant', content: [{ type: 'text', text: m.content }] }));
    // The end of the stable prefix (system + conversation): the same on every call of the answer.
    mark(turns[turns.length - 1]?.content[0]);

    const { body: partial } = splitTrailingWhitespace(request.partialAnswer);
    if (partial.trim().length > 0) {
      const pieces = this.partialBlocks(request, partial);
      const blocks: TextBlock[] = pieces.map((text) => ({ type: 'text', text }));
      blocks.forEach((block, i) => {
        // The end of the previous call (its cache is read here) and the end of this one (written for the next).
        if (i === blocks.length - 2 || i === blocks.length - 1) mark(block);
      });
      turns.push({ role: 'assistant', content: blocks });
      if (mode === 'instructed') turns.push({ role: 'user', content: [{ type: 'text', text: CONTINUE_INSTRUCTION }] });
    }

    const body: Record<string, unknown> = {
      model: this.model,
      max_tokens: request.maxTokens,
      messages: turns,
      stream: true,
    };
    if (system.length > 0) body.system = system;
    const sampling = this.traits.sampling;
    const keep = (field: string) => sampling !== 'none' && !facts.dropped.has(field);
    const temperature = request.temperature === undefined ? null : this.sentTemperature(request.temperature);
    if (temperature !== null) body.temperature = temperature;
    // From Opus 4.1 / Sonnet 4.5 on, not both: the temperature (the engine's knob) wins.
    if (request.topP !== undefined && keep('top_p') && !(sampling === 'one' && body.temperature !== undefined)) body.top_p = request.topP;
    Object.assign(body, this.thinkingFields(facts));
    return { body, mode, sentPartial: partial };
  }

  /**
   * So that a short span is spent on text: thinking turned off where the model takes that, the
   * lowest effort where it cannot be (a model that refused "disabled" is one of those).
   */
  private thinkingFields(facts: LearnedFacts): Record<string, unknown> {
    const thinking = facts.dropped.has('thinking') ? 'always' : this.traits.thinking;
    if (thinking === 'disable') return { thinking: { type: 'disabled' } };
    if (thinking === 'always' && !facts.dropped.has('output_config')) return { output_config: { effort: 'low' } };
    return {};
  }

  /**
   * The partial answer split where earlier calls of the same answer ended, so the prefix a
   * call wrote to the cache is, block for block, a prefix of the next call's request.
   */
  private partialBlocks(request: ContinueRequest, partial: string): string[] {
    const remembered = this.boundaries.get(request.cacheKey ?? '');
    const conversation = JSON.stringify(request.messages);
    const ends: string[] = [];
    if (remembered && remembered.conversation === conversation) {
      for (const end of remembered.ends) {
        if (!partial.startsWith(end) || end.length >= partial.length) break;
        ends.push(end);
      }
    }
    if (ends.length >= MAX_PARTIAL_BLOCKS) ends.length = 0;
    const pieces: string[] = [];
    let at = 0;
    for (const end of ends) {
      pieces.push(partial.slice(at, end.length));
      at = end.length;
    }
    pieces.push(partial.slice(at));
    return pieces;
  }

  /** Remembers where this call's partial answer ended, for the next call of the same answer. */
  private rememberBoundary(request: ContinueRequest, sentPartial: string): void {
    if (sentPartial.trim().length === 0) return;
    const key = request.cacheKey ?? '';
    const conversation = JSON.stringify(request.messages);
    const remembered = this.boundaries.get(key);
    const ends =
      remembered && remembered.conversation === conversation
        ? remembered.ends.filter((end) => sentPartial.startsWith(end) && end.length < sentPartial.length)
        : [];
    if (ends.length >= MAX_PARTIAL_BLOCKS) ends.length = 0;
    ends.push(sentPartial);
    this.boundaries.delete(key);
    if (this.boundaries.size >= MAX_REMEMBERED_ANSWERS) this.boundaries.delete(this.boundaries.keys().next().value!);
    this.boundaries.set(key, { conversation, ends });
  }

  /** Records what a refusal taught; false when there is nothing new to change (the error then stands). */
  private learn(refusal: Refusal, plan: Plan): boolean {
    const facts = this.facts();
    if (refusal.type === 'no-prefill') {
      if (plan.mode !== 'prefill') return false;
      facts.noPrefill = true;
      return true;
    }
    if (refusal.type !== 'drop' || facts.dropped.has(refusal.field)) return false;
    if (refusal.field !== 'cache_control' && plan.body[refusal.field] === undefined) return false;
    facts.dropped.add(refusal.field);
    return true;
  }

  private messagesUrl(suffix = ''): URL {
    return /\/v1\/?$/.test(this.baseUrl.pathname) ? this.endpoint(`/messages${suffix}`) : this.endpoint(`/v1/messages${suffix}`);
  }

  private headers(key: string | undefined): Record<string, string> {
    return { ...(key ? { 'x-api-key': key } : {}), 'anthropic-version': ANTHROPIC_VERSION };
  }

  /** The Messages API's own count (POST /v1/messages/count_tokens, free): a request's body without max_tokens. */
  protected override tokenCountRequest(text: string): TokenCountRequest {
    const body = { model: this.model, messages: [{ role: 'user', content: text }] };
    return { url: this.messagesUrl('/count_tokens'), body, headers: (key) => this.headers(key) };
  }

  protected async *attempt(request: ContinueRequest, context: AttemptContext): AsyncGenerator<ProviderChunk> {
    const url = this.messagesUrl();
    const headers = this.headers(context.key);
    const { response, plan } = await sendAdapting(
      () => this.plan(request),
      (p) => postStream(this.streamRequest(context, url, p.body, headers)),
      (refusal, p) => this.learn(refusal, p),
    );
    this.rememberBoundary(request, plan.sentPartial);

    const instructed = plan.mode === 'instructed' && plan.sentPartial.trim().length > 0;
    const seam: { push(text: string): string; end?(): string } = instructed
      ? new InstructedSeamCleaner(request.partialAnswer, request.seam)
      : new WhitespaceSeam(splitTrailingWhitespace(request.partialAnswer).whitespace);
    const parser = new SseParser();
    // Shared with the base class: a call cancelled mid-stream keeps what message_start said.
    const reported: ReportedUsage = context.reported;
    const requestText = this.inputText(request, plan.mode);
    const countTokens = this.countTokens;
    const counts: AnthropicCounts = {};
    let rawStop: unknown;
    let stopped = false;
    let output = '';
    let thought = false;

    const handle = function* (data: string): Generator<ProviderChunk> {
      let event: any;
      try {
        event = JSON.parse(data);
      } catch {
        throw badResponseError(url, 'an event that is not JSON', context.secrets);
      }
      switch (event?.type) {
        case 'message_start':
          readUsage(event.message?.usage, counts, reported);
          // The input and its cache split are billed now, before any text: said at once, so a
          // caller that stops reading early (the SLM agreed, a call past its room) books them as
          // billed, a 1.25x write included. The output is only what was written so far; the
          // final usage replaces it. A count of 0 is no report (no request has no input).
          if ((reported.inputTokens ?? 0) > 0) yield { type: 'usage', usage: cancelledUsage(reported, requestText, '', countTokens, request.maxTokens) };
          break;
        case 'content_block_start':
          if (THINKING_BLOCKS.includes(event.content_block?.type)) thought = true;
          break;
        case 'content_block_delta':
          if (event.delta?.type === 'text_delta' && typeof event.delta.text === 'string') {
            output += event.delta.text;
            const text = seam.push(event.delta.text);
            if (text.length > 0) yield { type: 'text', text };
          } else if (event.delta?.type === 'thinking_delta' || event.delta?.type === 'signature_delta') {
            thought = true;
            // Never the answer: billed as output, shown nowhere (display "omitted" sends it empty).
            const text = event.delta.thinking;
            if (typeof text === 'string' && text.length > 0) yield { type: 'reasoning', text };
          }
          break;
        case 'message_delta':
          if (event.delta?.stop_reason) rawStop = event.delta.stop_reason;
          readUsage(event.usage, counts, reported);
          break;
        case 'message_stop':
          stopped = true;
          break;
        case 'error':
          throw errorFromStreamObject(event, url, context.secrets, anthropicEntry.keyEnv);
        default:
          break; // ping, content_block_stop
      }
    };

    try {
      for await (const bytes of response.body) {
        for (const event of parser.push(bytes)) if (!stopped) yield* handle(event.data);
        if (stopped) {
          response.endOfStream();
          break;
        }
      }
    } catch (thrown) {
      const error = streamReadError(thrown, url, context.secrets);
      // Once message_delta has said why the text ended and what it cost, only the closing
      // message_stop is missing: a connection lost there loses nothing (the usage is kept).
      if (!rawStop || !(error instanceof ProviderError) || error.code !== 'network') throw error;
    }
    try {
      if (!stopped) for (const event of parser.end()) if (!stopped) yield* handle(event.data);
    } catch (error) {
      throw streamReadError(error, url, context.secrets);
    }
    // The same for a stream that ends there (as one that says its finish_reason without [DONE]);
    // message_stop alone does not say why the text ended, so without a stop_reason it is truncated too.
    if (!rawStop) throw unfinishedStreamError(parser, url, context.secrets);

    const rest = seam.end?.() ?? '';
    if (rest.length > 0) yield { type: 'text', text: rest };
    // The API does not split thinking from text in output_tokens; with no text it was all thinking.
    if (thought && output.length === 0 && counts.output !== undefined) reported.reasoningTokens = counts.output;
    yield { type: 'usage', usage: completeUsage(reported, requestText, output, countTokens, request.maxTokens) };
    yield {
      type: 'done',
      finishReason: finishReasonOf(rawStop, url, context.secrets),
      continuation: plan.mode === 'prefill' ? 'assistant-prefix' : 'instructed',
    };
  }
}

/** Content blocks of the model's thinking (redacted: encrypted, no text at all). */
const THINKING_BLOCKS: unknown[] = ['thinking', 'redacted_thinking'];

/** Anthropic's usage fields as sent, each the largest seen so far in the stream. */
interface AnthropicCounts {
  input?: number;
  cacheRead?: number;
  cacheWrite?: number;
  output?: number;
}

/**
 * Anthropic's input_tokens leaves out cached and cache-written tokens; ours counts all
 * input, so they are added back. message_delta carries cumulative counts, so none of them
 * can shrink: a smaller one (SGLang sends input_tokens: 0 there) is not a correction, and
 * each field keeps the largest value seen.
 */
function readUsage(usage: any, counts: AnthropicCounts, into: ReportedUsage): void {
  if (!usage || typeof usage !== 'object') return;
  counts.input = larger(counts.input, num(usage.input_tokens));
  counts.cacheRead = larger(counts.cacheRead, num(usage.cache_read_input_tokens));
  counts.cacheWrite = larger(counts.cacheWrite, num(usage.cache_creation_input_tokens));
  counts.output = larger(counts.output, num(usage.output_tokens));
  if (counts.cacheRead !== undefined) into.cachedInputTokens = counts.cacheRead;
  if (counts.cacheWrite !== undefined) into.cacheWriteTokens = counts.cacheWrite;
  if (counts.input !== undefined) into.inputTokens = counts.input + (counts.cacheRead ?? 0) + (counts.cacheWrite ?? 0);
  if (counts.output !== undefined) into.outputTokens = counts.output;
}

function larger(kept: number | undefined, sent: number | undefined): number | undefined {
  return sent === undefined ? kept : Math.max(kept ?? 0, sent);
}

/** A token count: a whole number of 0 or more, no larger than a double holds exactly. */
function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}
