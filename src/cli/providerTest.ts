/**
 * `relay provider test`: sends a tiny continuation to the configured provider and
 * prints latency, tokens and cost, or the error and what to do about it. While nothing
 * has come back it says so once a second, so a cold server does not look like a hang.
 * Then, where the service counts tokens for free, its count of Relay's sample text.
 */
import { settingRef } from '../core/settingNames';
import { ProviderError, fixHint } from '../core/providers/errors';
import { costOf } from '../core/providers/pricing';
import { CALIBRATION_TEXT } from '../core/relay/tokenCalibration';
import type { ContinueRequest, LlmProvider, ModelPrice, Usage } from '../core/providers/types';
import { WaitClock } from '../core/providers/waitClock';
import { terminalSafe, waitLines } from './render';

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
  /** Progress lines while no byte has come ("waiting for api.openai.com... 3 s") and retries (e.g. stderr). */
  progress?: (line: string) => void;
}

export async function runProviderTest(
  provider: LlmProvider,
  prices: ModelPrice | null,
  writeLine: (line: string) => void,
  options: ProviderTestOptions = {},
): Promise<boolean> {
  // Lines quote the server (its continuation, finish reason, error bodies): print them terminal-safe.
  const write = (line: string): void => writeLine(terminalSafe(line));
  const now = options.now ?? (() => performance.now());
  write(`Testing ${provider.kind} model ${provider.model} at ${provider.host} (continuation: ${provider.continuation})...`);
  const waiting = options.progress ? new WaitClock(waitLines(provider.host, options.progress)) : undefined;
  const request: ContinueRequest = waiting ? { ...PROVIDER_TEST_REQUEST, onTransport: (event) => waiting.onTransport(event) } : PROVIDER_TEST_REQUEST;
  const started = now();
  let firstText: number | undefined;
  let text = '';
  let usage: Usage | undefined;
  let finish = '';
  try {
    for await (const chunk of provider.continue(request, options.signal)) {
      // Providers without a wire (onnx-local) send no transport events: their first chunk ends the wait.
      waiting?.receiving();
      if (chunk.type === 'text') {
        firstText ??= now();
        text += chunk.text;
      } else if (chunk.type === 'usage') {
        usage = chunk.usage;
      } else {
        finish = chunk.finishReason;
      }
    }
  } catch (error) {
    if (error instanceof ProviderError) {
      write(`FAILED (${error.code}): ${error.message}`);
      if (error.fix) write(`Fix: ${fixHint(error.fix)}.`);
    } else {
      write(`FAILED: ${(error as Error).message ?? String(error)}`);
    }
    return false;
  } finally {
    waiting?.stop();
  }
  const total = now() - started;
  if (finish === 'cancelled') {
    write('Cancelled.');
    return false;
  }
  write(`Continuation: ${JSON.stringify(PROVIDER_TEST_REQUEST.partialAnswer)} + ${JSON.stringify(text)} (finish: ${finish})`);
  write(`Latency: first text ${firstText === undefined ? 'none' : `${Math.round(firstText - started)} ms`}, total ${Math.round(total)} ms`);
  if (usage) {
    const cached = usage.cachedInputTokens > 0 ? `, ${usage.cachedInputTokens} cached` : '';
    const written = usage.cacheWriteTokens > 0 ? `, ${usage.cacheWriteTokens} written to cache` : '';
    write(
      `Tokens: ${usage.inputTokens} in${cached}${written}, ${usage.outputTokens} out${usage.estimated ? ' (estimated: the server did not report usage)' : ''}`,
    );
    const cost = costOf(usage, prices);
    write(cost === null ? `Cost: unknown (no price for this model; set ${settingRef('prices')})` : `Cost: $${cost.toFixed(6)}`);
  } else {
    write('Tokens: not reported');
  }
  if (text.length === 0 && finish !== 'stop') {
    write('FAILED: the provider answered but wrote no text.');
    return false;
  }
  if (provider.countInputTokens) write(await tokenCountLine(provider.countInputTokens.bind(provider), options.signal));
  return true;
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
