/**
 * A reasoning model whose hidden reasoning takes the whole span it is asked for (OpenAI:
 * max_completion_tokens bounds reasoning too) writes no text and is still billed. The
 * answer then ends as any run of empty calls does, but with an error that names that cause
 * and what avoids it. The real openai-chat provider against a 127.0.0.1 server that
 * reasons per model as OpenAI documents (servers/openai.ts); the SLM is the in-memory double.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { forgetLearnedFacts } from '../../../src/core/providers/modelCapabilities';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import { collectRelay } from '../../../src/core/relay/engine';
import type { RelayEvent } from '../../../src/core/relay/events';
import { FakeServer, startFakeServer } from '../providers/servers/harness';
import { openAiStream } from '../providers/servers/openai';
import { FAST } from '../providers/servers/collect';
import { chars, DoubleRuntime } from './doubles';

let server: FakeServer;
before(async () => {
  server = await startFakeServer(openAiStream({ pieces: [' Paris', ' is', ' a', ' city'] }));
});
after(() => server.close());
beforeEach(() => {
  forgetLearnedFacts();
  server.queue.length = 0;
});

/** Confidence mode at its default 2-token span; every SLM token is unsure, so each position is handed off. */
async function answerWith(model: string) {
  const provider = createProvider(
    { kind: 'openai-chat', baseUrl: `${server.url}/v1`, model, maxRetries: 0, ...FAST },
    new MemoryKeySource({ 'openai-chat': 'sk-test-hidden-reasoning-0123456789' }),
  );
  const before = server.requests.length;
  const run = await collectRelay({
    mode: 'confidence',
    slm: new DoubleRuntime(chars('abcdefgh', 0.1)),
    llm: provider,
    messages: [{ role: 'user', content: 'Q' }],
    slmSampling: { temperature: 0 },
    confidence: { threshold: 0.9, maxLlmShare: 1, spanTokens: 2 },
  });
  return { ...run, sent: server.requests.slice(before).map((r) => r.body) };
}

const errors = (events: RelayEvent[]) => events.filter((e): e is Extract<RelayEvent, { type: 'error' }> => e.type === 'error');

test('o4-mini at a 2-token span: reasoning takes both tokens twice, the answer ends with an error naming hidden reasoning, the bill and the fixes', async () => {
  const { answer, stats, events, sent } = await answerWith('o4-mini');
  assert.equal(sent.length, 2, 'two calls, as for any empty continuation: not a loop');
  assert.ok(
    sent.every((body) => body.reasoning_effort === 'low' && body.max_completion_tokens === 2),
    'the lowest effort o4-mini takes, and the span as its limit',
  );
  assert.equal(answer, 'a', 'what was written is kept');
  assert.equal(stats.finishReason, 'error');
  const [error] = errors(events);
  assert.equal(error.code, 'llm_hidden_reasoning');
  assert.equal(error.fix, 'llm-model', 'the button: pick another large model');
  assert.match(
    error.message,
    /^The large model \(o4-mini\) spent all 2 tokens it was asked for on hidden reasoning and wrote no text \(2 reasoning tokens, billed as output\)\./,
  );
  assert.match(error.message, /lowest effort it takes \("low"\)/);
  assert.match(error.message, /does not reason .* or gpt-5\.1 or later \(Relay sends them reasoning effort "none", which turns reasoning off\)/);
  assert.match(error.message, /longer spans \(relay\.confidence\.spanTokens \(CLI: --span-tokens\), up to 64/);
  assert.deepEqual([stats.llmUsage.outputTokens, stats.llmUsage.reasoningTokens], [4, 4], 'both calls are booked as billed');
});

test('the fixes it names work: gpt-5.1 (sent effort "none") writes the span; an empty call without reasoning still ends as llm_no_progress', async () => {
  const fixed = await answerWith('gpt-5.1');
  assert.ok(fixed.sent.every((body) => body.reasoning_effort === 'none'));
  assert.match(fixed.answer, /Paris/);
  assert.equal(errors(fixed.events).length, 0);

  server.enqueue(
    ...Array.from({ length: 4 }, () =>
      openAiStream({ pieces: [], finishReason: 'length', usage: { prompt_tokens: 20, completion_tokens: 2, reasoning_tokens: 0 } }),
    ),
  );
  const empty = await answerWith('gpt-4o-mini');
  assert.equal(empty.sent.length, 2);
  assert.equal(empty.stats.finishReason, 'llm_no_progress', 'no reasoning reported: the cause is not claimed');
  assert.equal(errors(empty.events).length, 0);
});
