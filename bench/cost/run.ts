/**
 * One row of bench:cost: a trace answered through the real engine (collectRelay) with a
 * real provider class talking HTTP to a billing server, and what it measured: money
 * against the LLM-only estimate, calls, the LLM's token share, the cache hit rate, and
 * the share of the SLM's low-confidence positions the LLM wrote (from the 'span' events:
 * each span is lined up with the reference, so every position knows who wrote it).
 *
 * Token ratios: as the product keeps one TokenRatios per SLM and LLM pair for the life of
 * the process (src/core/compose.ts), a target keeps one for its billing model (one server,
 * one tokenizer pair) and passes it to every answer it runs; a probe of the uncalibrated
 * first call passes a fresh one instead.
 */
import { collectRelay, instructionTurnTokens, type RelayOptions } from '../../src/core/relay/engine';
import type { AnswerStats, RelayEvent, RelayMode } from '../../src/core/relay/events';
import { QUOTE_MARGIN, TokenRatios, type WarmTokens } from '../../src/core/relay/money';
import { conversationOf, RecentPrompts, warmTokensOf } from '../../src/core/relay/recentPrompts';
import type { ChatMessage } from '../../src/core/slm/types';
import { loopbackAgent } from '../../test/unit/providers/servers/harness';
import { createProvider } from '../../src/core/providers/factory';
import { OPENAI_DEFAULT_BASE_URL } from '../../src/core/providers/openai';
import { MemoryKeySource } from '../../src/core/providers/secrets';
import { NO_CACHE, OPENAI_CACHE, predictUsage, type CacheRule } from '../../src/core/providers/billing';
import { costOf } from '../../src/core/providers/pricing';
import type { LlmProvider, ModelPrice, ProviderKind, Usage } from '../../src/core/providers/types';
import { callPredictionsOf, type CallPrediction } from './callPredictions';
import { BillingServer, type BillingRule, type WireFormat } from './servers';
import { ScriptedSlm } from './slm';
import { alignEnd, slmCount } from './text';
import type { Trace } from './traces';

export interface BillingModel {
  id: string;
  label: string;
  format: WireFormat;
  rule: BillingRule;
  kind: ProviderKind;
  model: string;
  price: ModelPrice;
  /** The rule the engine is told (RelayOptions.cacheRule). */
  cacheRule: CacheRule;
}

/** gpt-4o's prices ($2.50 in, $10 out per million); Claude Sonnet 4.5's ($3 in, $15 out, reads 0.1x, 5-minute writes 1.25x). */
export const BILLING_MODELS: BillingModel[] = [
  {
    id: 'auto-50',
    label: 'automatic prefix cache, 50% off',
    format: 'openai',
    rule: 'openai-prefix',
    kind: 'openai-chat',
    model: 'gpt-4o',
    price: { inputPerMTok: 2.5, outputPerMTok: 10, cachedInputPerMTok: 1.25 },
    cacheRule: OPENAI_CACHE,
  },
  {
    id: 'auto-90',
    label: 'automatic prefix cache, 90% off',
    format: 'openai',
    rule: 'openai-prefix',
    kind: 'openai-chat',
    model: 'gpt-4o',
    price: { inputPerMTok: 2.5, outputPerMTok: 10, cachedInputPerMTok: 0.25 },
    cacheRule: OPENAI_CACHE,
  },
  {
    id: 'breakpoints',
    label: 'Anthropic breakpoints, read 0.1x, write 1.25x',
    format: 'anthropic',
    rule: 'breakpoints',
    kind: 'anthropic',
    model: 'claude-sonnet-4-5',
    price: { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75 },
    cacheRule: { kind: 'breakpoints', minTokens: 1024 },
  },
  {
    id: 'no-cache',
    label: 'no caching',
    format: 'openai',
    rule: 'none',
    kind: 'openai-chat',
    model: 'gpt-4o',
    price: { inputPerMTok: 2.5, outputPerMTok: 10 },
    cacheRule: NO_CACHE,
  },
];

export interface Policy {
  id: string;
  mode: string;
  maxCostRatio?: number;
  /** Fixed spans: the LLM share cap (1 = none). */
  maxLlmShare?: number;
  /** A per-answer USD ceiling (RelayOptions.maxCostUsd). */
  maxCostUsd?: number;
  /** The most calls (default MAX_LLM_CALLS); 1 probes the first call alone. */
  maxLlmCalls?: number;
  /** money-aware: end a call once the SLM agrees with this many LLM tokens in a row (confidence.agreeStopTokens). */
  agreeStopTokens?: number;
}

/** The policies' shared knobs: the shipped gate and span, no share cap, ceilings a normal answer never meets. */
export const GATE = { threshold: 0.5, spanTokens: 2 };
export const MAX_LLM_CALLS = 1000;

export interface RowResult {
  trace: string;
  billing: string;
  policy: string;
  stats: AnswerStats;
  /** costUsd / llmOnlyCostUsd of the done event. */
  ratio: number | null;
  cacheHit: number;
  /** Low-confidence positions the LLM wrote, of all scripted ones. */
  covered: number;
  lowTotal: number;
  declined: number;
  /** What the server billed for this answer, at the billing model's prices. */
  serverUsd: number;
  /** Calls the server saw cancelled by the client. */
  cancelledCalls: number;
  /** Calls the engine ended because the SLM agreed (call-end slmAgreed). */
  agreedCalls: number;
  /**
   * The displayed answer against the reference: the same; different in whitespace only (a
   * seam added or dropped a space); a beginning of it (a ceiling ended the answer), up to
   * whitespace; or different.
   */
  exact: 'yes' | 'spaces' | 'cut' | 'no';
  /** Requests whose partial answer did not line up with the reference without a search. */
  misaligned: number;
  /** Calls whose reported usage had taught the token ratios before this answer began (0: its first call was uncalibrated). */
  ratioCallsBefore: number;
  /** Each reported call's prediction against its report (stats.billing is their sum). */
  callPredictions: CallPrediction[];
  elapsedMs: number;
}

export class BenchTarget {
  private constructor(
    readonly billing: BillingModel,
    readonly server: BillingServer,
    readonly provider: LlmProvider,
  ) {}

  /** The token ratios of this billing model's tokenizer pair, shared by every answer run with the default (as compose.ts tokenRatiosOf). */
  readonly ratios = new TokenRatios();

  static async start(billing: BillingModel): Promise<BenchTarget> {
    const server = await BillingServer.start({ format: billing.format, rule: billing.rule });
    // A dummy key: the provider is talking to 127.0.0.1, and the key source answers for any origin.
    const keys = new MemoryKeySource({ [billing.kind]: 'sk-bench-dummy-key-0000' });
    // The OpenAI-format servers stand for api.openai.com (the provider then sends what it sends
    // there, and asks its free token count); every connection goes to the server on 127.0.0.1.
    const asOpenAi = billing.format === 'openai';
    const provider = createProvider(
      {
        kind: billing.kind,
        baseUrl: asOpenAi ? OPENAI_DEFAULT_BASE_URL.replace('https:', 'http:') : server.baseUrl,
        model: billing.model,
        maxRetries: 0,
        idleTimeoutMs: 20_000,
        firstByteTimeoutMs: 20_000,
      },
      keys,
      // As the extension does: the provider counts (where a server reports no usage) in the SLM's tokenizer.
      { countTokens: slmCount, ...(asOpenAi ? { agents: { http: loopbackAgent(server.origin, { keepAlive: true }) } } : {}) },
    );
    return new BenchTarget(billing, server, provider);
  }

  async close(): Promise<void> {
    await this.server.close();
  }

  /**
   * Answers `trace` under `policy` with `ratios` (default: the target's shared ones); rows
   * run one at a time per target (the server's cache is per answer).
   */
  async run(trace: Trace, policy: Policy, ratios: TokenRatios = this.ratios): Promise<RowResult> {
    this.server.begin(trace.reference);
    const slm = new ScriptedSlm(trace);
    // The provider's count of the text the previous turn's last relay call continued, as its call-end
    // gave it to the extension's RecentPrompts (sentTextTokens: its input less an instruction turn).
    let warmReported: number | undefined;
    // The previous turn fills the cache as it was answered: by the relay, its last call (the
    // answer so far as input); by the LLM alone, its prompt only (its answer was output, which
    // no prompt cache holds). Its bill belongs to that turn.
    const previousTurn = trace.warm && policy.mode === 'llm-only' ? { messages: trace.warm.messages, partialAnswer: '' } : trace.warm;
    if (trace.warm && previousTurn) {
      let input: number | undefined;
      let continuation = this.provider.continuation;
      for await (const chunk of this.provider.continue({ ...previousTurn, maxTokens: 1, temperature: 0, cacheKey: `warm-${trace.id}` })) {
        if (chunk.type === 'usage' && !chunk.usage.estimated) input = chunk.usage.inputTokens;
        if (chunk.type === 'done') continuation = chunk.continuation ?? continuation;
      }
      this.server.ledger.length = 0;
      const instruction = continuation === 'instructed' ? (await instructionTurnTokens(slm)) * ratios.input : 0;
      if (previousTurn === trace.warm && input !== undefined) warmReported = Math.max(0, input - instruction);
    }
    const ratioCallsBefore = ratios.calls;
    // As the extension's chat keeps them (RecentPrompts): the previous turn's prompt, answered (for the LLM alone), and what it sent.
    const warm = previousTurn ? await warmPrefixTokens(slm, trace.messages, previousTurn, warmReported) : { llmOnly: 0, relay: 0, relayBreakpoint: 0 };
    const options: RelayOptions = {
      mode: policy.mode as string as RelayMode,
      slm,
      llm: this.provider,
      messages: trace.messages,
      tokenBudget: 8192,
      maxLlmCalls: policy.maxLlmCalls ?? MAX_LLM_CALLS,
      maxCostUsd: policy.maxCostUsd ?? 10,
      slmSampling: { temperature: 0 },
      llmTemperature: 0,
      confidence: { ...GATE, maxLlmShare: policy.maxLlmShare ?? 1, ...(policy.agreeStopTokens ? { agreeStopTokens: policy.agreeStopTokens } : {}) },
      price: this.billing.price,
      cacheRule: this.billing.cacheRule,
      tokenRatios: ratios,
      warmTokens: warm,
      ...(policy.maxCostRatio !== undefined ? { maxCostRatio: policy.maxCostRatio } : {}),
    };
    const { answer, stats, events } = await collectRelay(options);
    const predictions = callPredictionsOf(events);
    const error = events.find((e) => e.type === 'error');
    if (error && error.type === 'error') throw new Error(`${trace.id} / ${this.billing.id} / ${policy.id}: the answer failed: ${error.code}: ${error.message}`);
    const ledger = [...this.server.ledger];
    const serverUsd = ledger.reduce(
      (sum, c) =>
        sum +
        (costOf(
          {
            inputTokens: c.inputTokens,
            outputTokens: c.outputTokens,
            cachedInputTokens: c.cachedTokens,
            cacheWriteTokens: c.cacheWriteTokens,
            estimated: false,
          },
          this.billing.price,
        ) ?? 0),
      0,
    );
    const { covered } = coverage(trace, events);
    const usage = stats.llmUsage;
    return {
      trace: trace.id,
      billing: this.billing.id,
      policy: policy.id,
      stats,
      ratio: stats.costUsd !== null && stats.llmOnlyCostUsd ? stats.costUsd / stats.llmOnlyCostUsd : null,
      cacheHit: usage.inputTokens > 0 ? usage.cachedInputTokens / usage.inputTokens : 0,
      covered,
      lowTotal: trace.low.length,
      declined: events.filter((e) => e.type === 'call-declined').length,
      serverUsd,
      cancelledCalls: ledger.filter((c) => c.finish === 'cancelled').length,
      agreedCalls: events.filter((e) => e.type === 'call-end' && e.slmAgreed).length,
      exact:
        answer === trace.reference
          ? 'yes'
          : squeeze(answer) === squeeze(trace.reference)
            ? 'spaces'
            : squeeze(trace.reference).startsWith(squeeze(answer))
              ? 'cut'
              : 'no',
      misaligned: ledger.filter((c) => !c.alignedExactly).length,
      ratioCallsBefore,
      callPredictions: predictions,
      elapsedMs: stats.elapsedMs,
    };
  }
}

/**
 * What a user calling the LLM once pays for an llm-only answer's usage: the cheaper of the
 * bill as sent and the same bill without its cache write (the written tokens at the input
 * price, what it read from an earlier turn's cache still read). Relay's llm-only call sets
 * breakpoints, so under Anthropic's rule it pays a 1.25x write on a prompt no later call of
 * the answer reads; a single call need not.
 */
export function llmAloneBilledUsd(price: ModelPrice, usage: Usage): number {
  const asSent = costOf(usage, price) ?? 0;
  const withoutWrite = costOf({ ...usage, cacheWriteTokens: 0 }, price) ?? 0;
  return Math.min(asSent, withoutWrite);
}

const squeeze = (text: string): string => text.replace(/\s+/g, '');

/**
 * Who wrote each low-confidence position: the spans, in order, are lined up with the
 * reference; a position counts as the LLM's when the first visible character of its SLM
 * token lies in text an LLM span wrote.
 */
export function coverage(trace: Pick<Trace, 'reference' | 'pieces' | 'low'>, events: RelayEvent[]): { covered: number; byLlm: boolean[] } {
  const llmChars = new Uint8Array(trace.reference.length + 1);
  let at = 0;
  for (const event of events) {
    if (event.type !== 'span') continue;
    const { end } = alignEnd(trace.reference, at, event.text);
    if (event.source === 'llm') llmChars.fill(1, at, Math.max(at, end));
    at = Math.max(at, end);
  }
  const byLlm = trace.low.map((index) => {
    const piece = trace.pieces[index];
    const lead = piece.text.length - piece.text.trimStart().length;
    return llmChars[piece.start + Math.min(lead, piece.text.length - 1)] === 1;
  });
  return { covered: byLlm.filter(Boolean).length, byLlm };
}

export interface ColdCall {
  /** One call at the prompt's length (no cache; written where the rule writes), writing `span` tokens, over the LLM-only estimate of the whole answer. */
  share: number;
  /**
   * Per ratio: the share of the answer the SLM must have written before such a call fits
   * the ratio as the engine holds it (the quote, with its calibrated margin, against the
   * ratio times the LLM-only estimate of the answer so far); null: not within the answer.
   */
  fitsFrom: Map<number, number | null>;
}

/**
 * Why money-aware does or does not call: one cold call at a trace's prompt length against
 * the LLM-only estimate, in the server's counts (`promptTokens`: what the llm-only request
 * sent; `answerTokens`: the whole answer), priced by the billing model's rule.
 */
export function coldCall(
  billing: Pick<BillingModel, 'price' | 'cacheRule'>,
  promptTokens: number,
  answerTokens: number,
  span: number,
  ratios: readonly number[],
  margin = QUOTE_MARGIN,
): ColdCall {
  const { price } = billing;
  const call = (answerSoFar: number): number =>
    costOf(predictUsage(billing.cacheRule, { sent: promptTokens + answerSoFar, previous: 0, output: span }), price) ?? 0;
  const llmOnly = (answerSoFar: number): number => (promptTokens * price.inputPerMTok + answerSoFar * price.outputPerMTok) / 1_000_000;
  const fitsFrom = new Map<number, number | null>();
  for (const ratio of ratios) {
    let at: number | null = null;
    for (let k = 0; k <= answerTokens; k++) {
      if (call(k) * (1 + margin) <= ratio * llmOnly(k)) {
        at = answerTokens > 0 ? k / answerTokens : 0;
        break;
      }
    }
    fitsFrom.set(ratio, at);
  }
  return { share: call(0) / llmOnly(answerTokens), fitsFrom };
}

/**
 * SLM tokens of the prompt `messages` that the cache likely holds after the previous turn,
 * whose prompt rendered `warm.messages` and whose last relay call also sent
 * `warm.partialAnswer`, as the product's RecentPrompts finds them (WarmTokens).
 */
async function warmPrefixTokens(
  slm: ScriptedSlm,
  messages: ChatMessage[],
  warm: { messages: ChatMessage[]; partialAnswer: string },
  reportedInput: number | undefined,
): Promise<WarmTokens> {
  const recent = new RecentPrompts();
  const previous = await slm.renderChat(warm.messages);
  recent.note('llm', previous, conversationOf(warm.messages));
  recent.sent('llm', previous, warm.partialAnswer, conversationOf(warm.messages), reportedInput);
  const prompt = await slm.renderChat(messages);
  return warmTokensOf(recent.note('llm', prompt, conversationOf(messages)), prompt, slmCount);
}
