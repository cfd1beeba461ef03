/**
 * A price by time of day holds each call to the dearest rate in force until it may have
 * ended: its provider's own call timeout (relay.provider.callTimeoutSeconds), not the default
 * 300 s. A user who raised it to 20 minutes is covered: at 00:45 UTC the USD ceiling already
 * prices the 01:00 peak. The hour is set by the clock the engine is given.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProvider } from '../../../src/core/providers/factory';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { ModelPrice } from '../../../src/core/providers/types';
import { collectRelay, type RelayOptions } from '../../../src/core/relay/engine';
import { DEFAULT_CALL_TIMEOUT_MS } from '../../../src/core/providers/callDefaults';
import { chars, DoubleProvider, DoubleRuntime, usage, type ScriptedReply } from './doubles';

const at = (time: string) => Date.parse(`2026-10-01T${time}Z`);
const TWENTY_MINUTES_MS = 20 * 60_000;

/** A provider double whose calls may take `callTimeoutMs` (LlmProvider.callTimeoutMs), or the default where undefined. */
class TimedProvider extends DoubleProvider {
  constructor(
    replies: ScriptedReply[],
    readonly callTimeoutMs: number | undefined,
  ) {
    super(replies);
  }
}

// $1 a token, $2 in the 01:00-04:00 window: the first call's worst case is 66 input tokens (a
// token per byte, framing included) and 1 output token: $67 at the standard rate, $134 at the peak's.
const price: ModelPrice = {
  inputPerMTok: 1_000_000,
  outputPerMTok: 1_000_000,
  hours: [{ fromUtcSecond: 3600, toUtcSecond: 4 * 3600, inputPerMTok: 2_000_000, outputPerMTok: 2_000_000 }],
};

async function answerAt(time: string, callTimeoutMs: number | undefined) {
  const llm = new TimedProvider(
    Array.from({ length: 20 }, () => ({ chunks: ['X'], usage: usage(30, 1) })),
    callTimeoutMs,
  );
  const options: RelayOptions = {
    mode: 'confidence',
    slm: new DoubleRuntime(chars('abcdefghijkl', 0.1)),
    llm,
    messages: [{ role: 'user', content: 'Q' }],
    slmSampling: { temperature: 0 },
    confidence: { threshold: 0.9, maxLlmShare: 1, spanTokens: 1 },
    price,
    maxCostUsd: 100,
    now: () => at(time),
  };
  const { stats } = await collectRelay(options);
  return { finish: stats.finishReason, calls: llm.requests.length };
}

test('a provider whose calls may take 20 minutes: at 00:45 UTC the USD ceiling prices the 01:00 peak and refuses the call', async () => {
  const long = await answerAt('00:45', TWENTY_MINUTES_MS);
  assert.equal(long.finish, 'cost_limit');
  assert.equal(long.calls, 0, 'not made: a 20-minute call may be billed at the peak rate');
});

test('the same call at 00:45 with the default call timeout (300 s), or at 00:30 with 20 minutes, ends before the peak: made', async () => {
  for (const [time, timeout] of [
    ['00:45', undefined],
    ['00:45', DEFAULT_CALL_TIMEOUT_MS],
    ['00:30', TWENTY_MINUTES_MS],
  ] as const) {
    const { calls } = await answerAt(time, timeout);
    assert.ok(calls > 0, `${time}, ${timeout ?? 'default'} ms: made`);
  }
});

test("an HTTP provider tells its call timeout, the setting's or the default", () => {
  const keys = new MemoryKeySource({ 'openai-chat': 'sk-test-timeout-0123456789abcdef' });
  const make = (callTimeoutMs?: number) =>
    createProvider({ kind: 'openai-chat', baseUrl: 'http://127.0.0.1:9/v1', model: 'deepseek-v4-flash', callTimeoutMs }, keys);
  assert.equal(make(TWENTY_MINUTES_MS).callTimeoutMs, TWENTY_MINUTES_MS);
  assert.equal(make().callTimeoutMs, DEFAULT_CALL_TIMEOUT_MS);
});
