/**
 * What each hosted model accepts, as far as the public record goes (late 2026), and what
 * a server told us at run time. The tables give the first request its shape; a refusal
 * (an HTTP 400 that names what it refuses, see refusals.ts) corrects the shape once and is
 * remembered here for that model at that origin for the life of the process, so a model
 * id the tables do not know (or place wrongly) costs one unbilled 400, not a broken call.
 * Hard-coded lists of model names go stale (livekit/agents#7217): the tables decide by
 * version where the vendors' naming allows it, and the refusals have the last word.
 *
 * Sources, by fact (see also /work/shared/notes/llm-apis-late-2026.md):
 * - Anthropic prefill: refused by Claude Opus 4.6, Sonnet 4.6 and later models (Anthropic
 *   release notes 2026-02-05; the 400 text is in langchain-ai/deepagents#1585,
 *   vercel/ai#12296, Kilo-Org/kilocode#8260); ids up to 4.5 accept it and 4.6, 4.7, 4.8
 *   refuse it (ericc-ch/copilot-api#261); Sonnet 5 refuses it (cortexkit/magic-context#511);
 *   Fable 5 refuses it (vybestack/llxprt-code#3695).
 * - Anthropic sampling: from Opus 4.1 / Sonnet 4.5 / Haiku 4.5 on, `temperature` and `top_p`
 *   together are refused ("cannot both be specified for this model",
 *   cloud-apim/otoroshi-llm-extension#140, BerriAI/litellm#15097; Sonnet 4.6:
 *   skydiscover-ai/skydiscover#15); from Opus 4.7 on (4.8, 5, 5.5, Sonnet 5, Fable 5...)
 *   `temperature`, `top_p` and `top_k` are refused ("`temperature` is deprecated for this
 *   model.", Anthropic's Opus 4.7 migration guide as quoted by earendil-works/pi#5251 and
 *   UKGovernmentBEIS/inspect_ai#3721; the later ids: yologdev/yoagent v0.27.3,
 *   aido-dev/aido v1.4.2).
 * - Anthropic minimum cacheable prefix: 1,024 tokens for Sonnet 3.7 / 4 / 4.5, Opus 3 / 4 /
 *   4.1, Opus 4.8 and Sonnet 5; 2,048 for Haiku 3 and 3.5; 4,096 for Haiku 4.5 and Opus 4.5,
 *   4.6 (and 4.7 on Bedrock); 512 for Opus 5, Fable 5 and Mythos 5 (docs.litellm.ai prompt
 *   caching table, 2026-10; docs.orq.ai prompt caching; truefoundry docs). Sonnet 4.6 is
 *   reported as 1,024 (docs quoted in anthropic-sdk-python#1194) and 2,048 (docs.orq.ai,
 *   observed): a breakpoint below the real minimum is a silent miss that costs nothing
 *   (no write is billed), so Relay places its breakpoints whatever the length (a local count
 *   of it can be far off: CJK and code run well above chars/4), and where the reports
 *   disagree a price counts on a write from the lower number and on a cache read only from
 *   the higher (billing.ts), as a read predicted that never happens quotes low.
 *   A model none of these lists (a new id, an alias) is counted on for reads only from the
 *   largest minimum of all (4,096).
 * - Anthropic thinking: Opus 5 and Sonnet 5 run adaptive thinking when the request has no
 *   `thinking` field (Opus 4.8 and earlier do not think unless asked: elgorro/aiquila#410,
 *   quoting Anthropic's Opus 5 migration guide), at the default effort "high", where "Claude
 *   almost always thinks", and max_tokens bounds thinking and text together; they take
 *   `thinking: {type: "disabled"}` (Podden/openwebui_anthropic_api_manifold_pipe#45; probed 200
 *   in lobehub/lobehub#19034; Opus 5 only at effort "high" or below, its default). Fable and
 *   Mythos always think and refuse it ("\"thinking.type.disabled\" is not supported for this
 *   model. Thinking defaults to adaptive mode when not specified": openclaw/openclaw#91805,
 *   ex-machina-co/opencode-anthropic-auth#159; Fable 5.1 too: lobehub/lobehub#19034); at a
 *   lower effort (`output_config: {effort: "low"}`) "Claude may skip thinking for simpler
 *   problems", and with display "omitted" (the default on these) a thinking block streams empty
 *   text and a signature (Anthropic's adaptive-thinking docs, quoted in checkmarble/llmberjack#14).
 * - OpenAI reasoning models: gpt-5, gpt-5-mini, gpt-5-nano and the o-series refuse
 *   `temperature` other than 1 and `top_p`, and `max_tokens` ("Use 'max_completion_tokens'
 *   instead"); gpt-5 takes reasoning_effort "minimal"; gpt-5.1 and later take "none" (their
 *   default) but not "minimal", and accept temperature/top_p with "none"; gpt-5-pro only
 *   "high"; models before gpt-5.1 do not take "none"; o-series: low/medium/high
 *   (OpenAI API reference of reasoning_effort, as mirrored on learn.microsoft.com
 *   @azure/ai-projects ReasoningEffort; langchain-ai/langchain#35424, vercel/ai#10942,
 *   BerriAI/litellm#16658 and #17011, openai/openai-agents-python#2089 for the 400 text).
 *   gpt-5-chat* is not a reasoning model (vercel/ai openai-language-model-capabilities.ts).
 * - OpenAI Responses-only models: /chat/completions answers them with HTTP 404 "This model
 *   is only supported in v1/responses and not in v1/chat/completions." The pro models
 *   (o1-pro, o3-pro: sigoden/aichat#1318, JocysCom/VsAiCompanion#26; gpt-5-pro and the later
 *   gpt-5.x-pro: docs.auriko.ai response_api_only) and the codex models (gpt-5-codex: OpenAI's
 *   gpt-5-codex prompting guide, quoted in CopilotC-Nvim/CopilotChat.nvim#1442;
 *   gpt-5.1-codex-max: promptfoo/promptfoo#6539; gpt-5.2-codex: iOfficeAI/AionUi#818; Azure
 *   answers gpt-5.1-codex on chat with "The chatCompletion operation does not work with the
 *   specified model": langgenius/dify-plugin-sdks#264; codex-mini-latest). Their efforts:
 *   gpt-5-pro only "high"; gpt-5.4-pro and gpt-5.5-pro medium to xhigh, gpt-5.3-codex low
 *   to xhigh (anomalyco/models.dev#2296); gpt-5.1-codex low/medium/high, not "none"
 *   (openai/codex#6647); gpt-5.1-codex-mini medium/high (router-for-me/CLIProxyAPI#249). They
 *   refuse temperature and top_p like the other reasoning models.
 * - OpenAI pro models reason for minutes, silently: gpt-5-pro's first output commonly comes
 *   after more than 60 s (lobehub/lobehub#9603), and a Responses stream without reasoning
 *   summaries sends nothing while the model thinks (BerriAI/litellm#36992). Plain gpt-5 showed
 *   a 32 s silence at its default effort (2389-research/tracker#577); Relay sends the lowest.
 */

import type { Usage } from './types';
import { settingRef } from '../settingNames';

/** The effort values OpenAI knows, lowest first. */
export const REASONING_EFFORTS = ['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max'] as const;

// ---------------------------------------------------------------- Anthropic

export interface ClaudeVersion {
  /** opus, sonnet, haiku, fable, mythos... */
  family: string;
  major: number;
  minor: number;
}

export interface AnthropicModelTraits {
  /** Parsed from the id; undefined when the id is not a Claude id we can read. */
  version?: ClaudeVersion;
  /** yes: continue by prefill; no: the model refuses it; unknown: try prefill and learn from a refusal. */
  prefill: 'yes' | 'no' | 'unknown';
  /** any: temperature and top_p as asked; one: not both (temperature is kept); none: neither is accepted. */
  sampling: 'any' | 'one' | 'none';
  /** Fewest prompt tokens before a cache breakpoint for the API to cache there (below: a silent miss); the lowest reported. */
  minCacheTokens: number;
  /**
   * The highest reported minimum: from here a breakpoint surely caches (Sonnet 4.6: 2,048
   * observed, 1,024 documented); for a model the sources do not list, the largest of any Claude.
   */
  sureMinCacheTokens: number;
  /**
   * What the model does about thinking when the request does not say, and so what Relay sends
   * (a 2-64-token span spent thinking writes nothing and is billed): off: it thinks only when
   * asked (Claude 4.8 and earlier): nothing; disable: it thinks by default (Claude 5 and later:
   * Opus, Sonnet): thinking {type: "disabled"}; always: it cannot be turned off (Fable, Mythos):
   * output_config {effort: "low"}, at which it skips thinking on simple requests.
   */
  thinking: 'off' | 'disable' | 'always';
}

/** Reads claude-3-5-haiku-20241022, claude-sonnet-4-5-20250929, claude-opus-4-6, claude-opus-4.6, anthropic.claude-opus-4-6-v1, claude-fable-5... */
export function parseClaudeVersion(model: string): ClaudeVersion | undefined {
  const id = model.toLowerCase();
  // Version first (up to Claude 3.7): claude-3-5-sonnet-20241022, claude-3-haiku-20240307.
  let m = /claude-(\d{1,2})(?:[-.](\d))?-(opus|sonnet|haiku)(?![a-z])/.exec(id);
  if (m) return { family: m[3], major: Number(m[1]), minor: m[2] ? Number(m[2]) : 0 };
  // Family first (Claude 4 on): claude-sonnet-4-20250514 (4.0), claude-opus-4-1-20250805, claude-opus-4.6, claude-fable-5.
  m = /claude-([a-z]+)-(\d{1,2})(?:[-.](\d{1,2}))?(?![0-9])/.exec(id);
  if (m) return { family: m[1], major: Number(m[2]), minor: m[3] ? Number(m[3]) : 0 };
  return undefined;
}

function atLeast(v: ClaudeVersion, major: number, minor: number): boolean {
  return v.major > major || (v.major === major && v.minor >= minor);
}

function is(v: ClaudeVersion, family: string, major: number, minor: number): boolean {
  return v.family === family && v.major === major && v.minor === minor;
}

export function anthropicModelTraits(model: string): AnthropicModelTraits {
  const version = parseClaudeVersion(model);
  if (!version) return { prefill: 'unknown', sampling: 'any', minCacheTokens: 1024, sureMinCacheTokens: LARGEST_MIN_CACHE_TOKENS, thinking: 'off' };
  const prefill = atLeast(version, 4, 6) ? 'no' : 'yes';
  const sampling = atLeast(version, 4, 7) ? 'none' : atLeast(version, 4, 1) ? 'one' : 'any';
  const listed = listedMinCacheTokens(version);
  // Unlisted: breakpoints go from a guess (one under the real minimum is a free miss), reads are counted on only from the largest.
  const minCacheTokens = listed?.lowest ?? (version.major >= 5 ? 512 : 1024);
  return { version, prefill, sampling, minCacheTokens, sureMinCacheTokens: listed?.highest ?? LARGEST_MIN_CACHE_TOKENS, thinking: claudeThinking(version) };
}

/** Families that always think (a refusal of "disabled" teaches the same of any other id). */
const ALWAYS_THINKING_FAMILIES = ['fable', 'mythos'];

function claudeThinking(v: ClaudeVersion): AnthropicModelTraits['thinking'] {
  if (ALWAYS_THINKING_FAMILIES.includes(v.family)) return 'always';
  return v.major >= 5 ? 'disable' : 'off';
}

/**
 * The largest minimum cacheable prefix of any Claude model (Haiku 4.5, Opus 4.5 to 4.7): where
 * reads are counted on for a model the sources do not list. Not its family's largest: the
 * minimum has moved within a family (Opus: 1,024 for 4.1, 4,096 for 4.5, 512 for 5), and a
 * read predicted that never happens quotes a call low, past the money ceilings.
 */
export const LARGEST_MIN_CACHE_TOKENS = 4096;

/** The minimum cacheable prefix the sources (above) give a Claude model, lowest and highest reported; undefined for one they do not list. */
function listedMinCacheTokens(v: ClaudeVersion): { lowest: number; highest: number } | undefined {
  const both = (tokens: number) => ({ lowest: tokens, highest: tokens });
  if (v.family === 'haiku') {
    if (v.major === 3 && (v.minor === 0 || v.minor === 5)) return both(2048);
    return is(v, 'haiku', 4, 5) ? both(4096) : undefined;
  }
  if (v.family === 'sonnet') {
    // Sonnet 4.6: 1,024 in the docs, 2,048 observed.
    if (is(v, 'sonnet', 4, 6)) return { lowest: 1024, highest: 2048 };
    const listed = ['3.7', '4.0', '4.5', '5.0'];
    return listed.includes(`${v.major}.${v.minor}`) ? both(1024) : undefined;
  }
  if (v.family === 'opus') {
    if (v.major === 4 && v.minor >= 5 && v.minor <= 7) return both(4096);
    if (is(v, 'opus', 5, 0)) return both(512);
    const listed = ['3.0', '4.0', '4.1', '4.8'];
    return listed.includes(`${v.major}.${v.minor}`) ? both(1024) : undefined;
  }
  if ((v.family === 'fable' || v.family === 'mythos') && v.major === 5 && v.minor === 0) return both(512);
  return undefined;
}

// ---------------------------------------------------------------- OpenAI

export type ReasoningEffort = (typeof REASONING_EFFORTS)[number];

export interface OpenAiModelTraits {
  /** The model reasons (hidden tokens billed as output, taken out of max_completion_tokens). */
  reasoning: boolean;
  /** The lowest reasoning_effort the model takes, sent on every call; undefined: send none. */
  lowestEffort?: ReasoningEffort;
  /**
   * any: temperature/top_p as asked; refused: never sent; with-effort-none: only while the
   * effort sent is "none" (gpt-5.1 and later).
   */
  sampling: 'any' | 'refused' | 'with-effort-none';
  /** The model refuses max_tokens (reasoning models): N goes in max_completion_tokens on every host. */
  needsMaxCompletionTokens: boolean;
  /**
   * Hidden reasoning cannot be turned off (no effort "none": the o-series, gpt-5, -mini, -nano
   * at "minimal", gpt-5-pro at "high" only): a span shorter than what it reasons comes back
   * empty and is still billed.
   */
  reasoningUnavoidable: boolean;
  /** Served on OpenAI's Responses API only (/v1/responses): /chat/completions answers HTTP 404. */
  responsesOnly: boolean;
  /**
   * Reasons for minutes before it writes, even at the lowest effort Relay sends, and its stream
   * is silent meanwhile (the pro models): the wait for its output is bounded by the call timeout,
   * not the first-byte and idle timeouts. The others reason briefly at that effort.
   */
  reasonsForMinutes: boolean;
}

const PLAIN: OpenAiModelTraits = {
  reasoning: false,
  sampling: 'any',
  needsMaxCompletionTokens: false,
  reasoningUnavoidable: false,
  responsesOnly: false,
  reasonsForMinutes: false,
};

/**
 * openai/gpt-5 (OpenRouter style) reads as gpt-5, and so do OpenRouter's variants of it
 * (openai/gpt-5:nitro, :floor, :online, :free, :extended, :thinking, :exacto): the same
 * model, routed or priced otherwise. Only an id with that one colon loses its suffix; a
 * fine-tuned id (ft:gpt-4o-mini:org::id) has several and is left as it is.
 */
export function normalizeOpenAiModel(model: string): string {
  const id = model.trim().toLowerCase();
  const name = id.slice(id.lastIndexOf('/') + 1);
  return name.replace(/^([^:]+):[a-z0-9-]+$/, '$1');
}

export function openAiModelTraits(model: string): OpenAiModelTraits {
  const id = normalizeOpenAiModel(model);
  const pro = /-pro(?=$|-)/.test(id);
  const reasoning = (lowestEffort: ReasoningEffort | undefined, sampling: OpenAiModelTraits['sampling'], responsesOnly = false): OpenAiModelTraits => ({
    reasoning: true,
    lowestEffort,
    sampling,
    needsMaxCompletionTokens: true,
    reasoningUnavoidable: lowestEffort !== 'none',
    responsesOnly,
    reasonsForMinutes: pro,
  });
  // codex-mini-latest (o4-mini tuned for Codex): low, medium, high.
  if (/^codex-mini/.test(id)) return reasoning('low', 'refused', true);
  // o-series: o1, o1-mini, o1-preview, o3, o3-mini, o3-pro, o4-mini...
  const o = /^o(\d+)(?:-|$)/.exec(id);
  if (o) {
    // o1-mini and o1-preview predate reasoning_effort (they refuse the parameter).
    if (/^o1-(mini|preview)/.test(id)) return reasoning(undefined, 'refused');
    return reasoning('low', 'refused', pro);
  }
  const gpt = /^gpt-(\d+)(?:\.(\d+))?(?=$|-)/.exec(id);
  if (!gpt) return PLAIN;
  const major = Number(gpt[1]);
  const minor = gpt[2] ? Number(gpt[2]) : 0;
  if (major < 5) return PLAIN;
  // gpt-5-chat-latest is the non-reasoning chat model.
  if (major === 5 && minor === 0 && /^gpt-5-chat/.test(id)) return PLAIN;
  // gpt-5-pro takes only "high"; the later pro models medium, high and xhigh.
  if (pro) return reasoning(major === 5 && minor === 0 ? 'high' : 'medium', 'refused', true);
  // The codex models reason always (no "none", no "minimal"); the -mini ones from "medium".
  if (/-codex(?=$|-)/.test(id)) return reasoning(/-codex-mini(?=$|-)/.test(id) ? 'medium' : 'low', 'refused', true);
  if (major === 5 && minor === 0) return reasoning('minimal', 'refused');
  // gpt-5.1 and later (and gpt-6...): "none" is the default and lets sampling through.
  return reasoning('none', 'with-effort-none');
}

/** The lowest of the efforts a server listed as supported; undefined if it listed none we know. */
export function lowestEffort(supported: readonly string[]): ReasoningEffort | undefined {
  for (const effort of REASONING_EFFORTS) if (supported.includes(effort)) return effort;
  return undefined;
}

// ---------------------------------------------------------------- Hidden reasoning, said to the user

/** A call whose hidden reasoning took the whole span it asked for. */
export interface SpanSpentOnReasoning {
  /** The tokens asked for (max_completion_tokens; on /responses at least its minimum). */
  span: number;
  /** The reasoning tokens, billed as output: the server's report, or what streamed where that is more. */
  reasoningTokens: number;
}

/**
 * max_completion_tokens bounds hidden reasoning too: a small limit can return no visible
 * text and still be billed (notes, OpenAI). Such a call ends with 'length', wrote nothing,
 * and reasoned at least as many tokens as it asked for: as the server reported, or as the
 * reasoning it streamed counts (`streamedReasoningTokens`: a host that streams it may report
 * none), up to the output reported; undefined for any other.
 */
export function spanSpentOnReasoning(call: {
  finish: string | undefined;
  wroteText: boolean;
  span: number;
  usage: Usage | undefined;
  streamedReasoningTokens?: number;
}): SpanSpentOnReasoning | undefined {
  const report = call.usage && !call.usage.estimated ? call.usage : undefined;
  // A local count of what streamed is no more than the output the server reported it billed.
  const streamed = Math.min(call.streamedReasoningTokens ?? 0, report?.outputTokens ?? Infinity);
  const reasoningTokens = Math.max(report?.reasoningTokens ?? 0, streamed);
  if (call.finish !== 'length' || call.wroteText || call.span <= 0 || reasoningTokens < call.span) return undefined;
  return { span: call.span, reasoningTokens };
}

/**
 * What sets how many tokens the large model is asked for, where the answer is made: the span
 * setting (confidence and money-aware modes, the provider test), the token budget (the large
 * model writing alone: one call asks for all of it), or nothing the user sets (command mode:
 * the small model's commands size each call).
 */
export type CallLength = 'spanTokens' | 'tokenBudget' | 'commands';

/** The advice to ask for more tokens per call, by what sets them; '' where no setting does. */
function longerCalls(length: CallLength): string {
  if (length === 'spanTokens')
    return `, or ask for longer spans (${settingRef('spanTokens')}, up to 64; they help only where the model reasons for fewer tokens than that)`;
  if (length === 'tokenBudget')
    return `, or raise the token budget (${settingRef('tokenBudget')}): the large model writing alone is asked for all of it in one call, which helps only where it reasons for fewer tokens than that`;
  return '';
}

/**
 * What avoids paying for spans spent on reasoning, as Relay supports it: OpenAI's gpt-5.1 and
 * later are sent effort "none" (openAiModelTraits); Claude 5 Opus and Sonnet thinking "disabled"
 * by provider kind anthropic (anthropicModelTraits), which has no such switch for Fable and Mythos;
 * any other model (self-hosted: qwen3, deepseek-r1, gpt-oss) is asked not to think, which not
 * every server or model honours.
 */
function hiddenReasoningFixes(model: string, length: CallLength = 'spanTokens'): string {
  // A Claude id the version parser cannot read (claude-opus-latest) still gets Claude's fixes.
  if (parseClaudeVersion(model) || /claude/i.test(model))
    return (
      'Pick a Claude model that thinks only when asked (e.g. claude-sonnet-4-6, claude-haiku-4-5) or Claude Opus or Sonnet 5 or later ' +
      `with provider kind anthropic (Relay sends them thinking "disabled")${longerCalls(length)}.`
    );
  if (openAiModelTraits(model).reasoning)
    return `Pick a model that does not reason (e.g. gpt-4.1-mini, gpt-5-chat-latest) or gpt-5.1 or later (Relay sends them reasoning effort "none", which turns reasoning off)${longerCalls(length)}.`;
  return (
    'Pick a model that does not think, or turn its thinking off where it is served (Relay asks for none: reasoning effort "none" on OpenAI-style servers, ' +
    `think: false on Ollama, which not every model honours; gpt-oss on Ollama does not)${longerCalls(length)}.`
  );
}

/** Why the model reasons although Relay asks for as little as it takes. */
function whyItReasons(model: string): string {
  if (parseClaudeVersion(model)) {
    const thinking = anthropicModelTraits(model).thinking;
    // The model alone: the same id may have come through openai-chat (OpenRouter), where Relay sends no thinking fields.
    if (thinking === 'always') return ' It always thinks: thinking cannot be turned off.';
    return thinking === 'disable' ? ' It thinks unless the request turns thinking off (Relay does with provider kind anthropic).' : '';
  }
  const traits = openAiModelTraits(model);
  if (!traits.reasoning) return '';
  if (traits.lowestEffort === undefined) return ' Its reasoning cannot be turned down.';
  if (traits.lowestEffort === 'none') return ' Relay sent it reasoning effort "none"; the server reasoned anyway.';
  return ` It reasons even at the lowest effort it takes ("${traits.lowestEffort}"), which Relay sends.`;
}

/** The error for calls that came back empty because reasoning took their span: the cause, the bill, and the fixes (`length`: what sets the span). */
export function spanSpentOnReasoningMessage(model: string, spent: SpanSpentOnReasoning, length: CallLength = 'spanTokens'): string {
  return (
    `The large model (${model}) spent all ${spent.span} token${spent.span === 1 ? '' : 's'} it was asked for on hidden reasoning and wrote no text ` +
    `(${spent.reasoningTokens} reasoning tokens, billed as output).${whyItReasons(model)} ${hiddenReasoningFixes(model, length)}`
  );
}

/** The provider test's warning for a model whose hidden reasoning cannot be turned off; undefined for any other. */
export function unavoidableReasoningWarning(model: string): string | undefined {
  const traits = openAiModelTraits(model);
  if (!traits.reasoningUnavoidable) return undefined;
  const effort = traits.lowestEffort ? ` (Relay sends the lowest effort it takes, "${traits.lowestEffort}")` : '';
  return (
    `Warning: ${model} reasons before it writes and that cannot be turned off${effort}. The hidden reasoning is billed as output and comes out of each span, ` +
    `so a short span (confidence mode asks for 2 tokens by default) can come back empty and still be billed. ${hiddenReasoningFixes(model)}`
  );
}

/** The provider test's warning for a Claude model (provider kind anthropic) whose thinking cannot be turned off; undefined for any other. */
export function unavoidableThinkingWarning(model: string): string | undefined {
  if (anthropicModelTraits(model).thinking !== 'always') return undefined;
  return (
    `Warning: ${model} thinks before it writes and that cannot be turned off (Relay asks for effort "low", at which it skips thinking only on simple requests). ` +
    `The thinking is billed as output and comes out of each span, so a short span (confidence mode asks for 2 tokens by default) can come back empty and still be billed. ${hiddenReasoningFixes(model)}`
  );
}

// ---------------------------------------------------------------- What servers told us

/** What refusals taught about one model at one origin; shared by every provider instance of the process. */
export interface LearnedFacts {
  /** Anthropic: the model refused a conversation that ends with an assistant turn. */
  noPrefill: boolean;
  /** Request fields the server refused: never sent again (temperature, top_p, seed, prompt_cache_key, stream_options, reasoning_effort, cache_control...). */
  dropped: Set<string>;
  /** OpenAI-style: the field that carries N, as the server asked for it. */
  tokenField?: 'max_tokens' | 'max_completion_tokens';
  /** OpenAI-style: the reasoning_effort to send, chosen from the values the server said it supports. */
  effort?: ReasoningEffort;
  /** OpenAI-style: the last reasoning_effort a call was taken with (a later catch-all refusal is not about it). */
  effortTaken?: ReasoningEffort;
  /** OpenAI-style: `effort` is Relay's guess (reasoning billed while none was sent), not yet taken by a call: a refusal Relay cannot read withdraws it. */
  effortGuessed?: true;
  /** OpenAI / Azure: /chat/completions refused the model as served on /responses only; it goes there. */
  responsesOnly?: boolean;
  /** A call was billed more output than its limit allowed (a proxy or host that ignores it): the limit bounds no reasoning here (LlmProvider.billedPastLimit). */
  limitIgnored?: true;
}

const LEARNED = new Map<string, LearnedFacts>();
/** Bounds the memory of a long-lived process that tries many models. */
const MAX_LEARNED = 256;

/** The facts learned about `model` at `origin` for provider `kind` (created empty on first use). */
export function learnedFacts(kind: string, origin: string, model: string): LearnedFacts {
  const key = `${kind} ${origin} ${model}`;
  let facts = LEARNED.get(key);
  if (!facts) {
    if (LEARNED.size >= MAX_LEARNED) LEARNED.delete(LEARNED.keys().next().value!);
    facts = { noPrefill: false, dropped: new Set() };
    LEARNED.set(key, facts);
  }
  return facts;
}

/** Forgets everything learned (tests; a settings change could call it too). */
export function forgetLearnedFacts(): void {
  LEARNED.clear();
}
