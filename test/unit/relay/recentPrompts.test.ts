/**
 * The LLM-alone estimate of a chat turn or a Retry reads from the provider's cache what an
 * earlier prompt of the conversation sent: the saving shown is not inflated by pricing the
 * whole history as fresh input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conversationCacheKey, PROMPT_CACHE_TTL_MS, RecentPrompts } from '../../../src/core/relay/recentPrompts';
import { MoneyLedger, TokenRatios } from '../../../src/core/relay/money';
import { OPENAI_CACHE, NO_CACHE } from '../../../src/core/providers/billing';
import { RelayComposition } from '../../../src/core/compose';
import { collectRelay } from '../../../src/core/relay/engine';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { ChatMessage } from '../../../src/core/slm/types';
import { chars, DoubleProvider, DoubleRuntime } from './doubles';
import { gpt4oSetup } from './gpt4oSetup';

const PRICE = { inputPerMTok: 2, outputPerMTok: 10, cachedInputPerMTok: 1 };

test('recent prompts: the prefix a prompt shares with one answered (LLM alone) or a request sent (relay) to the same LLM within the TTL', () => {
  let now = 0;
  const recent = new RecentPrompts(() => now);
  const none = { llmOnly: 0, relay: 0, relayBreakpoint: 0 };
  assert.deepEqual(recent.note('a', 'system. history. question one'), none, 'nothing sent before');
  now += 60_000;
  // The first answer made no call: only the LLM alone would have sent its prompt.
  assert.deepEqual(recent.note('a', 'system. history. question two'), { ...none, llmOnly: 'system. history. question '.length });
  recent.sent('a', 'system. history. question two', '. The answer so far');
  assert.deepEqual(recent.note('b', 'system. history. question two'), none, 'another LLM has its own cache');
  const retry = 'system. history. question two'.length;
  assert.deepEqual(recent.note('a', 'system. history. question two'), { ...none, llmOnly: retry, relay: retry }, 'a Retry: the whole prompt');
  now += PROMPT_CACHE_TTL_MS + 1;
  assert.deepEqual(recent.note('a', 'system. history. question two'), none, 'expired');
});

test("recent prompts: a request the new prompt repeats whole brings the provider's count of it, where the provider reported one", () => {
  const recent = new RecentPrompts(() => 0);
  const prompt1 = '[user]What is a monad?[assistant]';
  recent.sent('a', prompt1, 'A monad is', [], 412);
  const prompt2 = '[user]What is a monad?[assistant]A monad is a pattern.[user]An example?[assistant]';
  assert.deepEqual(recent.note('a', prompt2).relayReported, { chars: (prompt1 + 'A monad is').length, providerTokens: 412 });
  // Repeated only in part (an edited question): the count is of text this prompt does not send.
  assert.equal(recent.note('a', '[user]What is a monoid?[assistant]').relayReported, undefined);
  // A request sent without a count (its usage was estimated, or it added an instruction turn) brings none.
  const other = new RecentPrompts(() => 0);
  other.sent('a', prompt1, 'A monad is');
  assert.equal(other.note('a', prompt2).relayReported, undefined);
  assert.equal(other.note('a', prompt2).relay, (prompt1 + 'A monad is').length);
});

test("recent prompts under Anthropic's breakpoints: the conversation of a request sent before, message for message, at most 20 messages back", () => {
  const recent = new RecentPrompts(() => 0);
  const turn1 = ['system\nBe brief.', 'user\nWhat is a monad?'];
  const prompt1 = '[system]Be brief.[user]What is a monad?[assistant]';
  recent.sent('a', prompt1, 'A monad is', turn1);
  // The next turn: its conversation begins with the first's, so the first request's breakpoint at its end is read
  // (not its answer so far, which went in blocks of its own); a prefix cache serves that too.
  const turn2 = [...turn1, 'assistant\nA monad is a pattern.', 'user\nAn example?'];
  const prompt2 = '[system]Be brief.[user]What is a monad?[assistant]A monad is a pattern.[user]An example?[assistant]';
  const next = recent.note('a', prompt2, turn2);
  assert.equal(next.relayBreakpoint, prompt1.length);
  assert.equal(next.relay, (prompt1 + 'A monad is').length);
  // An edited question shares a text prefix but no conversation: nothing at a breakpoint.
  const edited = ['system\nBe brief.', 'user\nWhat is a monoid?'];
  assert.equal(recent.note('a', '[system]Be brief.[user]What is a monoid?[assistant]', edited).relayBreakpoint, 0);
  // More than 20 messages later the breakpoint is out of the lookback.
  const long = [...turn1, ...Array.from({ length: 21 }, (_, i) => `user\nmore ${i}`)];
  assert.equal(recent.note('a', prompt1 + long.slice(2).join(''), long).relayBreakpoint, 0);
  const twenty = [...turn1, ...Array.from({ length: 20 }, (_, i) => `user\nmore ${i}`)];
  assert.equal(recent.note('a', prompt1 + twenty.slice(2).join(''), twenty).relayBreakpoint, prompt1.length);
});

test("the ledger prices the LLM alone with the warm prefix read from the cache, under the provider's rule", () => {
  const ratios = new TokenRatios();
  const cold = new MoneyLedger(PRICE, OPENAI_CACHE, {}, ratios);
  const warm = new MoneyLedger(PRICE, OPENAI_CACHE, {}, ratios, { llmOnly: 1500, relay: 0 });
  const answer = 100;
  assert.ok(Math.abs(cold.llmOnlyUsd(2000, answer) - (2000 * 2 + answer * 10) / 1e6) < 1e-15);
  // OpenAI: 1,024 tokens, then whole 128-token steps of the 1,500 shared: 1,408 cached.
  const cached = 1024 + 3 * 128;
  assert.ok(Math.abs(warm.llmOnlyUsd(2000, answer) - ((2000 - cached) * 2 + cached * 1 + answer * 10) / 1e6) < 1e-15);
  // The relay's own earlier request: its first call is predicted with that prefix cached.
  assert.equal(new MoneyLedger(PRICE, OPENAI_CACHE, {}, ratios, { llmOnly: 0, relay: 1500 }).predict(2000, 5).cachedInputTokens, cached);
  assert.equal(cold.predict(2000, 5).cachedInputTokens, 0);
  // A token count that teaches the ratio after the answer began (it runs beside the SLM's prefill) prices the warm prefix too:
  // 1,500 local tokens are 1,200 of the provider's, not 1,500 at the ratio of 1 known when the ledger was made.
  const counted = new TokenRatios();
  const early = new MoneyLedger(PRICE, OPENAI_CACHE, {}, counted, { llmOnly: 0, relay: 1500 });
  assert.ok(counted.addCount({ localInput: 100, reportedInput: 80 }));
  assert.deepEqual([early.predict(2000, 5).inputTokens, early.predict(2000, 5).cachedInputTokens], [1600, 1024 + 128]);
  // Where the warm prefix is a request the provider reported on, its count is the provider's own: this text has 1,300 of
  // its tokens in those 1,500 local ones, not the 1,200 the ratio learned on another text says (1,280 cached, not 1,152).
  const reported = new MoneyLedger(PRICE, OPENAI_CACHE, {}, counted, { llmOnly: 0, relay: 1500, relayReported: { local: 1500, providerTokens: 1300 } });
  assert.deepEqual([reported.predict(2000, 5).inputTokens, reported.predict(2000, 5).cachedInputTokens], [1300 + 500 * 0.8, 1024 + 2 * 128]);
  // Shared beyond that request (another one without a count shares more): the rest at the ratio.
  const beyond = new MoneyLedger(PRICE, OPENAI_CACHE, {}, counted, { llmOnly: 0, relay: 1500, relayReported: { local: 1400, providerTokens: 1250 } });
  assert.deepEqual([beyond.predict(2000, 5).inputTokens, beyond.predict(2000, 5).cachedInputTokens], [1250 + 600 * 0.8, 1024 + 2 * 128]);
  // Anthropic's breakpoints: only the earlier request's conversation, which its breakpoint wrote, is read; the rest written.
  const breakpoints = { kind: 'breakpoints', minTokens: 1024 } as const;
  const anthropic = new MoneyLedger(PRICE, breakpoints, {}, ratios, { llmOnly: 0, relay: 1500, relayBreakpoint: 1200 });
  assert.deepEqual([anthropic.predict(2000, 5).cachedInputTokens, anthropic.predict(2000, 5).cacheWriteTokens], [1200, 800]);
  const noConversation = new MoneyLedger(PRICE, breakpoints, {}, ratios, { llmOnly: 0, relay: 1500 });
  assert.deepEqual([noConversation.predict(2000, 5).cachedInputTokens, noConversation.predict(2000, 5).cacheWriteTokens], [0, 2000]);
  // No caching at the provider: the same as cold.
  assert.equal(new MoneyLedger(PRICE, NO_CACHE, {}, ratios, { llmOnly: 1500, relay: 0 }).llmOnlyUsd(2000, answer), cold.llmOnlyUsd(2000, answer));
});

test("a second chat turn through the composition: its LLM-alone estimate reads the first turn's prompt from the cache, and says so", async () => {
  const slm = new DoubleRuntime([...chars('An answer.')]);
  const llm = new DoubleProvider([]);
  const recentPrompts = new RecentPrompts();
  const history = 'x'.repeat(3000);
  const turn1: ChatMessage[] = [{ role: 'user', content: history }];
  const turn2: ChatMessage[] = [...turn1, { role: 'assistant', content: 'An answer.' }, { role: 'user', content: 'And then?' }];
  const setup = gpt4oSetup('slm-only');
  const deps = { slm, slmFolder: '/nonexistent', keys: new MemoryKeySource(), renderTemplate: async () => '', openLocalLlm: async () => slm, recentPrompts };
  const turn = async (messages: ChatMessage[]) => {
    const composition = await RelayComposition.open(setup, deps, 'money-aware');
    const prompt = await composition.prepare(messages);
    const options = { ...composition.options(messages, prompt), llm };
    return { options, run: await collectRelay({ ...options, slm: new DoubleRuntime([...chars('More.')]) }) };
  };
  const first = await turn(turn1);
  assert.deepEqual(first.options.warmTokens, { llmOnly: 0, relay: 0, relayBreakpoint: 0 });
  const second = await turn(turn2);
  // DoubleRuntime counts one token per character: the shared prefix is the first turn's rendered prompt up to where the turns differ.
  const rendered1 = await slm.renderChat(turn1);
  const rendered2 = await slm.renderChat(turn2);
  let shared = 0;
  while (rendered1[shared] === rendered2[shared]) shared += 1;
  assert.deepEqual(second.options.warmTokens, { llmOnly: shared, relay: 0, relayBreakpoint: 0 }, "the first turn made no call: the relay's cache is cold");
  assert.ok(shared > 3000);
  assert.match(second.run.stats.llmOnlyEstimateNote ?? '', new RegExp(`first ${shared} prompt tokens are priced as the provider's cache would serve them`));
  // A call of the second turn went out: a third turn (a Retry of the second) finds it for the relay too.
  const composition = await RelayComposition.open(setup, deps, 'money-aware');
  await composition.prepare(turn2);
  composition.noteSent(turn2, { sentPartialAnswer: 'Mo' });
  const retry = await turn(turn2);
  assert.deepEqual(retry.options.warmTokens, { llmOnly: rendered2.length, relay: rendered2.length, relayBreakpoint: rendered2.length });
  // Priced as cached, so routed where it is: one prompt-cache key for the conversation's turns and its Retry.
  assert.ok(first.options.promptCacheKey && first.options.promptCacheKey.length <= 64, first.options.promptCacheKey);
  assert.equal(second.options.promptCacheKey, first.options.promptCacheKey);
  assert.equal(retry.options.promptCacheKey, first.options.promptCacheKey);
  // A request the next prompt repeats whole brings the provider's count of it, where its call-end had one.
  const turn3 = [...turn2, { role: 'assistant' as const, content: 'More.' }, { role: 'user' as const, content: 'And?' }];
  const counted = await RelayComposition.open(setup, deps, 'money-aware');
  await counted.prepare(turn2);
  counted.noteSent(turn2, { sentPartialAnswer: '', sentTextTokens: 2345 });
  assert.deepEqual((await turn(turn3)).options.warmTokens?.relayReported, { local: rendered2.length, providerTokens: 2345 });
  // Against the same answer priced cold, the estimate is lower: less saving claimed.
  const cold = await collectRelay({ ...second.options, warmTokens: { llmOnly: 0, relay: 0 }, slm: new DoubleRuntime([...chars('More.')]) });
  assert.ok((second.run.stats.llmOnlyCostUsd ?? Infinity) < (cold.stats.llmOnlyCostUsd ?? 0));
});

test("a conversation's prompt-cache key: the same for its later turns, another for another opening question or model, never its text", () => {
  const opening: ChatMessage[] = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'What is 2+3?' },
  ];
  const key = conversationCacheKey(opening, 'gpt-5-mini@https://api.openai.com');
  assert.match(key, /^relay-[\w-]{32}$/);
  const later = [...opening, { role: 'assistant' as const, content: '5' }, { role: 'user' as const, content: 'And 2+4?' }];
  assert.equal(conversationCacheKey(later, 'gpt-5-mini@https://api.openai.com'), key);
  assert.notEqual(conversationCacheKey([opening[0], { role: 'user', content: 'What is 2+4?' }], 'gpt-5-mini@https://api.openai.com'), key);
  assert.notEqual(conversationCacheKey(opening, 'gpt-5@https://api.openai.com'), key);
  assert.notEqual(conversationCacheKey(opening.slice(1), 'gpt-5-mini@https://api.openai.com'), key, 'no system prompt: another opening');
  assert.ok(!key.includes('2+3'));
});

test("every call of an answer carries the conversation's prompt-cache key the adapter gives, else one of the answer's own", async () => {
  const answer = async (promptCacheKey?: string) => {
    const llm = new DoubleProvider([{ chunks: ['xy'] }]);
    await collectRelay({
      mode: 'command',
      slm: new DoubleRuntime([...chars('A'), ...chars('<call>2</call>'), ...chars('B')]),
      llm,
      messages: [{ role: 'user', content: 'Q' }],
      slmSampling: { temperature: 0 },
      ...(promptCacheKey ? { promptCacheKey } : {}),
    });
    return llm.requests.map((request) => request.cacheKey);
  };
  assert.deepEqual(await answer('relay-conversation'), ['relay-conversation']);
  const [own] = await answer();
  assert.match(own ?? '', /^relay-[0-9a-f-]{36}$/);
});
