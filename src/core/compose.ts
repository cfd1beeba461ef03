/**
 * The one composition root: from a settings object it builds what an answer needs (the
 * mode, the LLM provider with its price and destination, the prompts, the engine's
 * options), for the extension and the CLI alike. What differs between them is injected:
 * where the SLM runs, where keys come from, how another folder's chat template renders,
 * how a local LLM folder is opened.
 */
import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { basename, join } from 'node:path';
import { withoutLeadingBos } from './providers/chatTemplate';
import { baseUrlOf } from './providers/endpoints';
import { createProvider } from './providers/factory';
import { ProviderError } from './providers/errors';
import { OnnxLocalProvider } from './providers/onnxLocal';
import { priceNote, resolvePriceWithSource, type PriceOverrides } from './providers/pricing';
import { providerOf, type ProviderKind } from './providers/registry';
import { cacheRuleOf, type CacheRule, type CachingChoice } from './providers/billing';
import type { KeySource, LlmProvider, ModelPrice, PromptRenderer, SentRequest } from './providers/types';
import type { RelayOptions } from './relay/engine';
import { LLM_SILENT_TRIES, stallCeilingMs } from './relay/limits';
import { PROCESS_TOKEN_RATIOS, type TokenRatioStore } from './relay/tokenRatioStore';
import { conversationCacheKey, conversationOf, warmTokensOf, type RecentPrompts } from './relay/recentPrompts';
import type { WarmTokens } from './relay/money';
import type { RelayMode } from './relay/events';
import { readSlmRelayTraits, resolveRelayMode, type RequestedMode, type SlmRelayTraits } from './relay/modeResolution';
import { policyOf } from './relay/policies/registry';
import type { ChatMessage, SlmRuntime } from './slm/types';
import { SERVED_SLM_SILENT_TRIES, SERVED_SLM_TIMEOUTS } from './slm/served/timeouts';
import { settingRef } from './settingNames';

/** The settings an answer is built from (the extension's relay.* settings, the CLI's flags and config file). */
export interface RelaySetup {
  provider: {
    kind: ProviderKind;
    /** Empty: the kind's default address. */
    baseUrl: string;
    model: string;
    /** Another folder whose chat template renders the LLM's raw prompt; empty: the SLM's. */
    templateFolder: string;
    /** Seconds. */
    timeouts: { connect: number; firstByte: number; idle: number; call: number };
    /** How the service caches re-sent input, for pricing calls before they are made. */
    caching: CachingChoice;
  };
  prices: PriceOverrides;
  mode: RequestedMode;
  /** Never contact an LLM (the SLM answers alone). */
  localOnly?: boolean;
  thinking: boolean;
  confidence: { threshold: number; spanTokens: number; maxLlmShare: number; agreeStopTokens?: number };
  maxTurns: number;
  tokenBudget: number;
  temperature: number;
  seed?: number;
  router?: { llmProbability: number };
  /** maxCostRatio: the most an answer may cost relative to the LLM alone (undefined: no such ceiling). */
  limits: { maxLlmCalls: number; maxCostUsd: number; maxStallSeconds: number; maxCostRatio?: number };
}

export interface CompositionDeps {
  /** The SLM, opened by the adapter (in this process, or in the SLM process). */
  slm: SlmRuntime;
  slmFolder: string;
  keys: KeySource;
  /** Renders another folder's chat template (the extension renders it in the SLM process: a template is a program). */
  renderTemplate(path: string, messages: ChatMessage[], thinking: boolean): Promise<string>;
  /** Opens (or returns the already open) runtime of an onnx-local LLM folder; the adapter disposes it. */
  openLocalLlm(folder: string): Promise<SlmRuntime>;
  /** Told every HTTP request (the privacy view). */
  onRequest?(request: SentRequest): void;
  /** Told when the request last told of never went out (ProviderOptions.onRequestNotSent). */
  onRequestNotSent?(reason: string): void;
  /** Counts tokens where a server reports no usage (the SLM's tokenizer, when it is in this process). */
  countTokens?(text: string): number;
  /** The prompts this adapter sent recently (chat turns, Retry): the LLM-alone estimate reads what they share from the cache. */
  recentPrompts?: RecentPrompts;
  /** Token ratios per SLM and LLM pair; the extension's outlive the session. Default: kept for the life of the process. */
  tokenRatios?: TokenRatioStore;
  /**
   * Keep-alive HTTP agents the adapter owns and destroys: every answer's provider uses the same
   * connection pool. Default: each provider its own, which nobody closes (fine for one answer).
   */
  agents?: { http: HttpAgent; https: HttpsAgent };
}

export interface ComposedLlm {
  provider: LlmProvider;
  price: ModelPrice | undefined;
  /** Where the price came from, shown beside the savings. */
  priceNote: string | undefined;
  /** Key of the running totals: kind and model. */
  modelKey: string;
  /** Where requests go (an origin), or 'this machine'. */
  destination: string;
  /** How the service bills re-sent input (billing.ts). */
  cacheRule: CacheRule;
}

/**
 * The prompt of each conversation, rendered once before its answer: the SLM's, and the
 * LLM's when another folder's template renders it. A provider renders synchronously, so
 * it looks its prompt up here (the paper's set-up: the LLM continues the very prompt
 * string the SLM saw).
 */
class PromptBook {
  readonly slm = new Map<string, string>();
  readonly llm = new Map<string, string>();

  /** `slmBos`: the BOS the SLM's template renders and its tokenizer adds again (textPromptBos), left out where the LLM gets the SLM's prompt as text. */
  constructor(private readonly slmBos: string | undefined) {}

  /** The prompt as a server gets it: it tokenises the text adding the tokenizer's BOS itself (vLLM, llama.cpp, Ollama raw), so one is left out. */
  readonly llmRenderer: PromptRenderer = (messages, partialAnswer) => this.render(messages, partialAnswer, true);
  /** The prompt exactly as rendered (an LLM run in this process tokenises it as the SLM does). */
  readonly exactRenderer: PromptRenderer = (messages, partialAnswer) => this.render(messages, partialAnswer, false);

  private render(messages: ChatMessage[], partialAnswer: string, forServer: boolean): string {
    const key = PromptBook.key(messages);
    const own = this.llm.get(key);
    const slm = this.slm.get(key);
    const prompt = own ?? (slm === undefined ? undefined : forServer ? withoutLeadingBos(slm, this.slmBos) : slm);
    if (prompt === undefined) throw new Error('Internal error: the prompt of this conversation was not prepared before the LLM call.');
    return prompt + partialAnswer;
  }

  static key(messages: ChatMessage[]): string {
    return JSON.stringify(messages);
  }
}

export class RelayComposition {
  private constructor(
    private readonly setup: RelaySetup,
    private readonly deps: CompositionDeps,
    private readonly prompts: PromptBook,
    readonly mode: RelayMode,
    readonly traits: SlmRelayTraits,
    /** Undefined when the mode needs no LLM. */
    readonly llm: ComposedLlm | undefined,
  ) {}

  /** Per conversation: leading prompt tokens the LLM's cache likely holds, for the LLM alone and for the relay (deps.recentPrompts). */
  private readonly warm = new Map<string, WarmTokens>();

  /** Builds the composition; `mode` overrides the setting's (relay eval rows). */
  static async open(setup: RelaySetup, deps: CompositionDeps, mode?: RelayMode): Promise<RelayComposition> {
    const traits = readSlmRelayTraits(deps.slmFolder);
    const chosen = mode ?? (setup.localOnly ? 'slm-only' : resolveRelayMode(setup.mode, traits));
    const prompts = new PromptBook(deps.slm.info.promptBos);
    const llm = policyOf(chosen).needsLlm ? await composeLlm(setup, deps, prompts.llmRenderer, prompts.exactRenderer) : undefined;
    // 'auto' picks the money-aware relay for a model not trained to call once the price is known.
    const resolved = mode ?? (setup.localOnly ? 'slm-only' : resolveRelayMode(setup.mode, traits, { priceKnown: llm?.price !== undefined }));
    return new RelayComposition(setup, deps, prompts, resolved, traits, llm);
  }

  /** The SLM's prompt of a conversation, rendered once (prepare() and any trial rendering share it); nothing else is noted. */
  async slmPrompt(messages: ChatMessage[]): Promise<string> {
    const key = PromptBook.key(messages);
    let prompt = this.prompts.slm.get(key);
    if (prompt === undefined) {
      prompt = await this.deps.slm.renderChat(messages, { addGenerationPrompt: true, thinking: this.setup.thinking });
      this.prompts.slm.set(key, prompt);
    }
    return prompt;
  }

  /**
   * Renders a conversation's prompts (the SLM's, and the LLM's template when it is another) and
   * returns the SLM's. `signal`: the answer's Stop, given to the SLM's token counts (a runtime in
   * a child process stops one that does not answer a count after its grace, SlmRuntime.countTokens).
   */
  async prepare(messages: ChatMessage[], signal?: AbortSignal): Promise<string> {
    const key = PromptBook.key(messages);
    const prompt = await this.slmPrompt(messages);
    if (this.llm && this.deps.recentPrompts && !this.warm.has(key)) {
      const shared = this.deps.recentPrompts.note(this.cacheKey(), prompt, conversationOf(messages));
      this.warm.set(key, await warmTokensOf(shared, prompt, (text) => this.deps.slm.countTokens(text, signal)));
    }
    const { templateFolder, kind } = this.setup.provider;
    if (this.llm && templateFolder && !providerOf(kind).inProcess && !this.prompts.llm.has(key)) {
      this.prompts.llm.set(key, await this.deps.renderTemplate(templateFolder, messages, this.setup.thinking));
    }
    return prompt;
  }

  /**
   * A call of this conversation's answer went out (an adapter's event loop gives its call-end):
   * its prefix is in the provider's cache now, with the provider's count of it where reported.
   */
  noteSent(messages: ChatMessage[], call: { sentPartialAnswer: string; sentTextTokens?: number }): void {
    const prompt = this.prompts.slm.get(PromptBook.key(messages));
    if (this.llm && this.deps.recentPrompts && prompt !== undefined)
      this.deps.recentPrompts.sent(this.cacheKey(), prompt, call.sentPartialAnswer, conversationOf(messages), call.sentTextTokens);
  }

  /** One cache per model at one destination. */
  private cacheKey(): string {
    return `${this.llm?.modelKey}@${this.llm?.destination}`;
  }

  /** The engine's options for one conversation whose prompt was prepared. */
  options(messages: ChatMessage[], prompt: string): RelayOptions {
    const s = this.setup;
    return {
      mode: this.mode,
      slm: this.deps.slm,
      llm: this.llm?.provider,
      price: this.llm?.price,
      priceNote: this.llm?.priceNote,
      messages,
      prompt,
      thinking: s.thinking,
      commandReplacement: this.traits.commandReplacement,
      maxTurns: s.maxTurns,
      tokenBudget: s.tokenBudget,
      maxLlmCalls: s.limits.maxLlmCalls,
      maxCostUsd: s.limits.maxCostUsd,
      maxCostRatio: s.limits.maxCostRatio,
      cacheRule: this.llm?.cacheRule,
      tokenRatios: this.llm ? (this.deps.tokenRatios ?? PROCESS_TOKEN_RATIOS).of(`${this.deps.slmFolder}|${this.llm.modelKey}`) : undefined,
      warmTokens: this.warm.get(PromptBook.key(messages)),
      promptCacheKey: conversationCacheKey(messages, this.cacheKey()),
      // A provider in this process has no connection to time out; the SLM on a server has its own waits.
      maxStallMs: Math.max(
        stallCeilingMs(
          s.limits.maxStallSeconds * 1000,
          this.llm && !providerOf(s.provider.kind).inProcess
            ? {
                connectTimeoutMs: s.provider.timeouts.connect * 1000,
                firstByteTimeoutMs: s.provider.timeouts.firstByte * 1000,
                tries: LLM_SILENT_TRIES,
                // A model that reasons silently for minutes (OpenAI's pro models) is waited for up to its call timeout.
                quietUntilOutputMs: this.llm.provider.quietUntilOutputMs,
              }
            : undefined,
        ),
        stallCeilingMs(
          s.limits.maxStallSeconds * 1000,
          this.deps.slm.info.backend.kind !== 'onnx' ? { ...SERVED_SLM_TIMEOUTS, tries: SERVED_SLM_SILENT_TRIES } : undefined,
        ),
      ),
      slmSampling: { temperature: s.temperature, seed: s.seed },
      llmTemperature: s.temperature,
      llmSeed: s.seed,
      confidence: s.confidence,
      router: { llmProbability: s.router?.llmProbability ?? 0.5, seed: s.seed ?? 0 },
    };
  }
}

/**
 * The LLM provider of the settings, its price and destination. `llmPrompt` renders the raw
 * prompt (raw-completion providers) as a server is sent it, `exactPrompt` as an LLM in this
 * process reads it; the composition passes its prompt book, `relay provider test` a template
 * of its own.
 */
export async function composeLlm(
  setup: RelaySetup,
  deps: Omit<CompositionDeps, 'slm' | 'slmFolder' | 'renderTemplate'>,
  llmPrompt: PromptRenderer,
  exactPrompt: PromptRenderer = llmPrompt,
): Promise<ComposedLlm> {
  const { kind, baseUrl, model } = setup.provider;
  const resolved = resolvePriceWithSource(kind, model, setup.prices, baseUrl);
  const price = { price: resolved.price ?? undefined, priceNote: priceNote(resolved) };
  const url = baseUrlOf(kind, baseUrl);
  const entry = providerOf(kind);
  const cacheRule = cacheRuleOf(setup.provider.caching, {
    kind,
    url,
    model,
    byProvider: entry.cacheRule?.(url ?? new URL('http://localhost'), model),
    // A raw-prompt server is mostly self-hosted: its user prices it, unless the catalog knows its host (Together).
    userPriced: !entry.pricedByHost || (kind === 'openai-completions' && resolved.catalog === undefined),
    cachedPriceSet: price.price?.cachedInputPerMTok !== undefined,
  });
  if (providerOf(kind).inProcess) {
    refuseCallTrainedLlm(model);
    const runtime = await deps.openLocalLlm(model);
    const name = basename(model);
    const provider = new OnnxLocalProvider(runtime, name, { renderPrompt: async (request) => exactPrompt(request.messages, request.partialAnswer) });
    return { provider, ...price, modelKey: `${kind}:${name}`, destination: 'this machine', cacheRule };
  }
  const t = setup.provider.timeouts;
  const provider = createProvider(
    {
      kind,
      baseUrl: baseUrl || undefined,
      model,
      // Raw-completion providers render the prompt; chat ones take the messages.
      templateRenderer: providerOf(kind).prompt !== 'messages' ? llmPrompt : undefined,
      connectTimeoutMs: t.connect * 1000,
      firstByteTimeoutMs: t.firstByte * 1000,
      idleTimeoutMs: t.idle * 1000,
      callTimeoutMs: t.call * 1000,
    },
    deps.keys,
    { onRequest: deps.onRequest, onRequestNotSent: deps.onRequestNotSent, countTokens: deps.countTokens, agents: deps.agents },
  );
  return { provider, ...price, modelKey: `${kind}:${model}`, destination: url?.origin ?? baseUrl, cacheRule };
}

/**
 * A folder trained to call (config.json relay_trained: true) is a small model: as the large one it
 * would write its `<call>` commands into the answer, where nothing reads them. Refused before it loads.
 */
function refuseCallTrainedLlm(folder: string): void {
  if (!readSlmRelayTraits(folder).trainedToCall) return;
  throw new ProviderError(
    'bad_request',
    `${join(folder, 'config.json')} says relay_trained: true: that model is trained to call a large model, so as the large model (onnx-local) ` +
      `it would write its call commands into the answer. Set ${settingRef('model')} to a large model not trained to call (such as the demo's relay-demo-llm).`,
    { fix: 'llm-model' },
  );
}
