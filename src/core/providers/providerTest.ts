/**
 * The provider test (`relay provider test`, "Relay: Test Provider"): a tiny continuation
 * sent to the configured provider, reported as latency, tokens and cost, or as the error
 * and what to do about it; then, where the service counts tokens for free, its count of
 * Relay's sample text. The lines quote the server (its continuation, error bodies): an
 * adapter that prints them to a terminal makes them safe first.
 */
import { settingRef } from '../settingNames';
import { CALIBRATION_TEXT } from '../relay/tokenCalibration';
import { ProviderError, fixHint, formatSeconds, type ProviderFix } from './errors';
import { spanSpentOnReasoning, spanSpentOnReasoningMessage, unavoidableReasoningWarning, unavoidableThinkingWarning } from './modelCapabilities';
import { costOf, priceAtTime } from './pricing';
import type { ContinueRequest, LlmProvider, ModelPrice, Usage } from './types';
import { WaitClock, type WaitTick } from './waitClock';

/** A continuation any model can do in a few tokens. */
export const PROVIDER_TEST_REQUEST: ContinueRequest = {
  messages: [{ role: 'user', content: 'Count from 1 to 10, separated by commas.' }],
  partialAnswer: '1, 2, 3,',
  maxTokens: 8,
  temperature: 0,
};

export interface ProviderTestOptions {
  signal?: AbortSignal;
  now?: () => number;
  /** The time the call's cost is priced at, for a price by time of day (ms since the epoch; default Date.now). */
  pricedAt?: () => number;
  /** While no byte (for a model that reasons first: no output) has come, about once a second, and when a retry is coming (waitClock.ts). */
  onWait?: (tick: WaitTick) => void;
}

export interface ProviderTestResult {
  ok: boolean;
  /** One line for a notification: what answered and how fast, or what failed. */
  summary: string;
  /** The button that helps, where it failed. */
  fix?: ProviderFix;
  /** Where it passed with a catch (a model whose hidden reasoning cannot be turned off): a few words for the notification. */
  warning?: string;
}

export async function runProviderTest(
  provider: LlmProvider,
  prices: ModelPrice | null,
  write: (line: string) => void,
  options: ProviderTestOptions = {},
): Promise<ProviderTestResult> {
  const now = options.now ?? (() => performance.now());
  const failed = (summary: string, fix?: ProviderFix): ProviderTestResult => testFailed(write, summary, fix);
  write(`Testing ${provider.kind} model ${provider.model} at ${provider.host} (continuation: ${provider.continuation})...`);
  // Said before the wait, which may be all there is: the stream sends nothing while the model reasons.
  if (provider.quietUntilOutputMs !== undefined)
    write(`${provider.model} reasons for minutes before it writes: this test may take up to ${formatSeconds(provider.quietUntilOutputMs)}.`);
  const waiting = options.onWait ? new WaitClock(options.onWait, provider.model) : undefined;
  const request: ContinueRequest = waiting ? { ...PROVIDER_TEST_REQUEST, onTransport: (event) => waiting.onTransport(event) } : PROVIDER_TEST_REQUEST;
  const started = now();
  let firstText: number | undefined;
  let text = '';
  let usage: Usage | undefined;
  let finish = '';
  let reasoned = false;
  try {
    for await (const chunk of provider.continue(request, options.signal)) {
      waiting?.chunkArrived(chunk);
      if (chunk.type === 'text') {
        firstText ??= now();
        text += chunk.text;
      } else if (chunk.type === 'reasoning') {
        reasoned = true;
      } else if (chunk.type === 'usage') {
        usage = chunk.usage;
      } else if (chunk.type === 'done') {
        // Streamed reasoning is no text of the continuation; its tokens are in the usage.
        finish = chunk.finishReason;
      }
    }
  } catch (error) {
    if (!(error instanceof ProviderError)) return failed(`FAILED: ${(error as Error).message ?? String(error)}`);
    const result = failed(`FAILED (${error.code}): ${error.message}`, error.fix);
    if (error.fix) write(`Fix: ${fixHint(error.fix)}.`);
    return result;
  } finally {
    waiting?.stop();
  }
  const total = now() - started;
  if (finish === 'cancelled') return failed('Cancelled.');
  write(`Continuation: ${JSON.stringify(PROVIDER_TEST_REQUEST.partialAnswer)} + ${JSON.stringify(text)} (finish: ${finish})`);
  const latency = `first text ${firstText === undefined ? 'none' : `${Math.round(firstText - started)} ms`}, total ${Math.round(total)} ms`;
  write(`Latency: ${latency}`);
  let costText = '';
  if (usage) {
    const cached = usage.cachedInputTokens > 0 ? `, ${usage.cachedInputTokens} cached` : '';
    const written = usage.cacheWriteTokens > 0 ? `, ${usage.cacheWriteTokens} written to cache` : '';
    write(
      `Tokens: ${usage.inputTokens} in${cached}${written}, ${usage.outputTokens} out${usage.estimated ? ' (estimated: the server did not report usage)' : ''}`,
    );
    const cost = costOf(usage, prices && priceAtTime(prices, new Date((options.pricedAt ?? Date.now)())));
    write(cost === null ? `Cost: unknown (no price for this model; set ${settingRef('prices')})` : `Cost: $${cost.toFixed(6)}`);
    if (cost !== null) costText = `, cost $${cost.toFixed(6)}`;
  } else {
    write('Tokens: not reported');
  }
  // The tokens asked as the provider asks them (/responses: at least 16), as the engine says them.
  const asked = Math.max(request.maxTokens, provider.minOutputTokens ?? 0);
  const spent = spanSpentOnReasoning({ finish, wroteText: text.length > 0, span: asked, usage });
  if (spent) return failed(`FAILED: ${spanSpentOnReasoningMessage(provider.model, spent)}`, 'llm-model');
  if (text.length === 0 && finish !== 'stop') {
    // Reasoning that took part of the span (or an unreported count of it): named, though not proven to be all of it.
    const thought = reasoned || (usage?.reasoningTokens ?? 0) > 0;
    const cause = thought ? `: ${provider.model} thought (hidden reasoning, billed as output) within the ${asked} tokens asked for` : '';
    return failed(`FAILED: the provider answered but wrote no text${cause}.`, thought ? 'llm-model' : undefined);
  }
  if (provider.countInputTokens) write(await tokenCountLine(provider.countInputTokens.bind(provider), options.signal));
  // The model tables shape the requests of their own kinds only (openai.ts chat, anthropic.ts): other kinds' ids say nothing about reasoning.
  const reasoning =
    provider.kind === 'openai-chat'
      ? unavoidableReasoningWarning(provider.model)
      : provider.kind === 'anthropic'
        ? unavoidableThinkingWarning(provider.model)
        : undefined;
  const slow = silentForMinutesWarning(provider, reasoning !== undefined);
  if (reasoning || slow) write([reasoning, slow?.line].filter(Boolean).join(' '));
  const summary = `${provider.model} at ${provider.host} answered: ${latency}${costText}.`;
  const short = [reasoning && 'Its hidden reasoning cannot be turned off: short spans may come back empty and still be billed.', slow?.short].filter(Boolean);
  return short.length > 0 ? { ok: true, summary, warning: short.join(' ') } : { ok: true, summary };
}

/**
 * For a model that may send nothing for minutes before its text (LlmProvider.quietUntilOutputMs:
 * OpenAI's pro models reason first): the report's sentence, after the reasoning warning where
 * there is one, and the notification's.
 */
function silentForMinutesWarning(provider: LlmProvider, afterReasoningWarning: boolean): { line: string; short: string } | undefined {
  const quietMs = provider.quietUntilOutputMs;
  if (quietMs === undefined) return undefined;
  const subject = afterReasoningWarning ? 'It also reasons' : `Warning: ${provider.model} reasons`;
  return {
    line:
      `${subject} for minutes before it writes, sending nothing meanwhile: Relay waits for its text up to ${settingRef('callTimeout')}, now ${formatSeconds(quietMs)}, ` +
      'so each call, and this test, may take minutes.',
    short: 'It reasons for minutes before it writes: each call may take minutes.',
  };
}

/** A failed test: its summary written as the report's last line, and the button that helps. */
export function testFailed(write: (line: string) => void, summary: string, fix?: ProviderFix): ProviderTestResult {
  write(summary);
  return { ok: false, summary, ...(fix ? { fix } : {}) };
}

/**
 * Whether the service counts tokens for free, as a new pair's first answer asks it to
 * (tokenCalibration.ts): the count of the same sample text, or why there is none. Not a
 * failure of the test: the relay works without it.
 */
async function tokenCountLine(count: (text: string, signal?: AbortSignal) => Promise<number>, signal?: AbortSignal): Promise<string> {
  try {
    const tokens = await count(CALIBRATION_TEXT, signal);
    return `Token count: ${tokens} input tokens for Relay's sample text (free; it prices a new model pair's first call)`;
  } catch (error) {
    const reason = error instanceof ProviderError ? `${error.code}: ${error.message}` : String((error as Error).message ?? error);
    return `Token count: none (${reason}); a new model pair's first call is priced from the small model's count`;
  }
}
