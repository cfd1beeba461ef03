// The CLI's lines for a silent server, the exit status of an answer, a served SLM's waste and the LLM-alone figure's basis on the stats lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exitCodeOf, readingReporter, statsJson, statsLine, waitLines, waitReporter } from '../../../src/cli/render';
import type { AnswerStats, RelayEvent } from '../../../src/core/relay/events';
import { collectRelay, type RelayOptions } from '../../../src/core/relay/engine';
import { chars, DoubleProvider, DoubleRuntime, usage, type ScriptedReply } from '../relay/doubles';

test('a first tick that comes late (a busy machine) is still told: the first wait is always shown, then every 5 s', () => {
  const lines: string[] = [];
  const tell = waitLines('api.example.com', (line) => lines.push(line));
  for (const ms of [2_100, 3_000, 4_000, 5_000]) tell({ waitedMs: ms, state: 'waiting' });
  assert.deepEqual(lines, ['waiting for api.example.com... 2 s', 'waiting for api.example.com... 5 s']);
});

test('a wait is told at 1 s and then every 5 s, a retry at once, and nothing once bytes came', () => {
  const lines: string[] = [];
  const tell = waitLines('api.example.com', (line) => lines.push(line));
  for (let s = 1; s <= 11; s++) tell({ waitedMs: s * 1000 + 3, state: 'waiting' });
  tell({ waitedMs: 11_500, state: 'retrying', note: 'HTTP 503' });
  tell({ waitedMs: 12_000, state: 'retrying', note: 'HTTP 503' });
  tell({ waitedMs: 15_000, state: 'retrying', note: 'HTTP 503' });
  tell({ waitedMs: 15_200, state: 'receiving' });
  assert.deepEqual(lines, [
    'waiting for api.example.com... 1 s',
    'waiting for api.example.com... 5 s',
    'waiting for api.example.com... 10 s',
    'api.example.com: HTTP 503; trying again (11 s so far)',
    'waiting for api.example.com... 15 s',
  ]);
});

test("a retry's note is said once, not on every tick after it: the wait goes back to a line every 5 s", () => {
  // The clock ticks every second with the retry's note until bytes come (a server that accepts and never answers).
  const lines: string[] = [];
  const tell = waitLines('127.0.0.1:18006', (line) => lines.push(line));
  for (let s = 1; s < 60; s++) tell({ waitedMs: s * 1000, state: 'waiting' });
  tell({ waitedMs: 60_004, state: 'retrying', note: 'no response for 60 s' });
  for (let s = 61; s <= 72; s++) tell({ waitedMs: s * 1000, state: 'retrying', note: 'no response for 60 s' });
  tell({ waitedMs: 72_300, state: 'retrying', note: 'HTTP 503' });
  for (let s = 73; s <= 80; s++) tell({ waitedMs: s * 1000, state: 'retrying', note: 'HTTP 503' });
  assert.deepEqual(lines.slice(-7), [
    'waiting for 127.0.0.1:18006... 55 s',
    '127.0.0.1:18006: no response for 60 s; trying again (60 s so far)',
    'waiting for 127.0.0.1:18006... 65 s',
    'waiting for 127.0.0.1:18006... 70 s',
    '127.0.0.1:18006: HTTP 503; trying again (72 s so far)',
    'waiting for 127.0.0.1:18006... 75 s',
    'waiting for 127.0.0.1:18006... 80 s',
  ]);
  assert.equal(lines.length, 18, lines.join('\n'));

  // Retries numbered by the wait clock: a second one for the same reason is a second line.
  const numbered: string[] = [];
  const tellNumbered = waitLines('h', (line) => numbered.push(line));
  for (let s = 60; s <= 62; s++) tellNumbered({ waitedMs: s * 1000, state: 'retrying', note: 'no response for 60 s', retry: 1 });
  for (let s = 120; s <= 122; s++) tellNumbered({ waitedMs: s * 1000, state: 'retrying', note: 'no response for 60 s', retry: 2 });
  assert.deepEqual(
    numbered.filter((line) => line.includes('trying again')),
    ['h: no response for 60 s; trying again (60 s so far)', 'h: no response for 60 s; trying again (120 s so far)'],
  );
});

test('a model reasoning before it writes is said at once when its response begins, then every 5 s, until its text comes', () => {
  const lines: string[] = [];
  const tell = waitLines('api.openai.com', (line) => lines.push(line));
  tell({ waitedMs: 1000, state: 'waiting' });
  tell({ waitedMs: 1400, state: 'reasoning', model: 'gpt-5-pro' });
  for (let s = 2; s <= 11; s++) tell({ waitedMs: s * 1000, state: 'reasoning', model: 'gpt-5-pro' });
  tell({ waitedMs: 11_200, state: 'receiving' });
  assert.deepEqual(lines, [
    'waiting for api.openai.com... 1 s',
    'api.openai.com: gpt-5-pro is reasoning... 1 s (it can take minutes)',
    'api.openai.com: gpt-5-pro is reasoning... 5 s (it can take minutes)',
    'api.openai.com: gpt-5-pro is reasoning... 10 s (it can take minutes)',
  ]);
});

test("each call's wait is reported on stderr with its host", () => {
  let err = '';
  const report = waitReporter({ write: (text) => void (err += text), isTTY: false });
  const events: RelayEvent[] = [
    { type: 'call-start', callIndex: 0, requestedTokens: 2, model: 'm', host: 'a.test', continuation: 'raw-completion' },
    { type: 'call-wait', callIndex: 0, host: 'a.test', waitedMs: 1000, state: 'waiting' },
    { type: 'call-start', callIndex: 1, requestedTokens: 2, model: 'm', host: 'a.test', continuation: 'raw-completion' },
    { type: 'call-wait', callIndex: 1, host: 'a.test', waitedMs: 1001, state: 'waiting' },
  ];
  for (const event of events) report(event);
  assert.equal(err, 'relay: waiting for a.test... 1 s\nrelay: waiting for a.test... 1 s\n', 'every call starts its own count');
});

test('a long prompt being read is reported on stderr, a line per step', () => {
  let err = '';
  const report = readingReporter({ write: (text) => void (err += text), isTTY: false });
  report({ type: 'prompt-reading', done: 0, total: 2730, reusedTokens: 0, atMs: 5 });
  report({ type: 'prompt-reading', done: 1092, total: 2730, reusedTokens: 0, atMs: 1500 });
  report({ type: 'prompt-reading', done: 512, total: 600, reusedTokens: 1800, atMs: 900 });
  report({ type: 'span', source: 'slm', text: 'x', tokens: 1 });
  report({ type: 'prompt-reading', done: 256, total: 1024, reusedTokens: 0, atMs: 2000, reader: 'large' });
  assert.equal(
    err,
    'relay: reading 2,730 tokens of context... 0%\nrelay: reading 2,730 tokens of context... 40%\nrelay: reading 600 tokens of context (1,800 more already read)... 85%\n' +
      'relay: the large model is reading 1,024 tokens of context... 25%\n',
  );
});

test('exit status: 0 at an end or a limit the user set, 1 when the answer failed or could not go on, 130 when stopped', () => {
  for (const ok of ['eos', 'llm_eos', 'budget', 'turn_limit', 'context_full', 'call_limit', 'cost_limit'] as const) assert.equal(exitCodeOf(ok), 0, ok);
  for (const bad of ['error', 'stalled', 'llm_no_progress', 'slm_no_progress'] as const) assert.equal(exitCodeOf(bad), 1, bad);
  assert.equal(exitCodeOf('cancelled'), 130);
});

test("a served SLM's waste: said on the stats line and in the JSON line, absent for the ONNX runtime", () => {
  const stats: AnswerStats = {
    mode: 'confidence',
    slmTokens: 40,
    llmTokens: 2,
    llmTokenShare: 2 / 42,
    calls: 2,
    llmUsage: { inputTokens: 100, outputTokens: 2, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false },
    costUsd: null,
    llmOnlyCostUsd: null,
    savedUsd: null,
    elapsedMs: 1000,
    finishReason: 'eos',
  };
  assert.doesNotMatch(statsLine(stats, false), /discarded/);
  assert.equal(statsJson(stats).slm_discarded_tokens, 0);
  const served = { ...stats, slmDiscardedTokens: 3 };
  assert.match(
    statsLine(served, false),
    /^\[relay confidence\] 40 SLM \+ 2 LLM tokens \(4\.8% LLM\) \+ 3 the SLM's server wrote past the gate \(discarded\) \| 2 calls/,
  );
  assert.equal(statsJson(served).slm_discarded_tokens, 3);
  assert.equal(statsJson(stats).reused_prompt_tokens, 0);
  assert.equal(statsJson({ ...stats, reusedPromptTokens: 1813 }).reused_prompt_tokens, 1813, 'prompt tokens a kept KV cache held');
});

test('an answer the small model wrote alone (slm-only) costs $0 and says its saving is not applicable, not unknown', async () => {
  const { stats } = await collectRelay({
    mode: 'slm-only',
    slm: new DoubleRuntime(chars('Hi')),
    messages: [{ role: 'user', content: 'Q' }],
    slmSampling: { temperature: 0 },
  } as RelayOptions);
  const line = statsLine(stats, false);
  assert.match(line, /\| cost \$0 \| saving not applicable \(only the small model wrote it\) \|/);
  assert.doesNotMatch(line, /unknown/);
});

test('"as billed" only for an answer the LLM wrote whole and delivered; a failed, stopped or empty one\'s LLM-alone figure is nothing, not its bill', async () => {
  const answer = async (replies: ScriptedReply[], signal?: AbortSignal): Promise<AnswerStats> => {
    const llm = new DoubleProvider(replies);
    const o = { mode: 'llm-only', slm: new DoubleRuntime([]), llm, messages: [{ role: 'user', content: 'Q' }], slmSampling: { temperature: 0 } };
    return (await collectRelay({ ...o, tokenBudget: 100, price: { inputPerMTok: 2, outputPerMTok: 10 }, signal } as RelayOptions)).stats;
  };
  const delivered = await answer([{ chunks: ['Whole ', 'answer.'], finish: 'stop', usage: usage(40, 13) }]);
  assert.match(statsLine(delivered, false), /\| cost \$0\.000210 \| LLM-only \$0\.000210 \(as billed\) \| saved \$0 \|/);
  assert.equal(statsJson(delivered).llm_only_cost_is_estimate, false);
  const stop = new AbortController();
  stop.abort();
  const ends = {
    empty: await answer([{ chunks: [], finish: 'stop', usage: usage(40, 0) }]),
    noProgress: await answer([{ chunks: [], finish: 'length', usage: usage(40, 0) }]),
    stopped: await answer([], stop.signal),
  };
  assert.deepEqual(
    Object.values(ends).map((stats) => stats.finishReason),
    ['llm_eos', 'llm_no_progress', 'cancelled'],
  );
  for (const [name, stats] of Object.entries(ends)) {
    assert.match(statsLine(stats, false), /\| LLM-only \$0 \(estimate\) \|/, name);
    assert.equal(statsJson(stats).llm_only_cost_is_estimate, true, name);
  }
  assert.match(statsLine(ends.noProgress, false), /\| cost \$0\.0000800 \| LLM-only \$0 \(estimate\) \| lost \$0\.0000800 \|/, 'the bill is a loss');
});
