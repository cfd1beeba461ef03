/**
 * The caching rule a call is priced under before it is made (relay.provider.caching), as the
 * composition chooses it from the settings, with the built-in price catalog: a rule that
 * predicts reads the service never makes quotes calls low and lets them past the money
 * ceilings (billing.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { composeLlm, type RelaySetup } from '../../../src/core/compose';
import { DEEPSEEK_CACHE, NO_CACHE, OPENAI_CACHE, OPENAI_WRITING_CACHE, predictUsage, type CachingChoice } from '../../../src/core/providers/billing';
import { createProvider } from '../../../src/core/providers/factory';
import { isProviderError } from '../../../src/core/providers/errors';
import { costOf, type PriceOverrides } from '../../../src/core/providers/pricing';
import type { ProviderKind } from '../../../src/core/providers/registry';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import { FAST, REQUEST, collect } from './servers/collect';
import { startFakeServer } from './servers/harness';
import { openAiStream } from './servers/openai';

const OPENROUTER = 'https://openrouter.ai/api/v1';

async function composed(kind: ProviderKind, baseUrl: string, model: string, caching: CachingChoice = 'auto', prices: PriceOverrides = {}) {
  const setup: RelaySetup = {
    provider: { kind, baseUrl, model, templateFolder: '', timeouts: { connect: 5, firstByte: 5, idle: 5, call: 5 }, caching },
    prices,
    mode: 'money-aware',
    thinking: false,
    confidence: { threshold: 0.5, spanTokens: 2, maxLlmShare: 1 },
    maxTurns: 5,
    tokenBudget: 256,
    temperature: 0,
    limits: { maxLlmCalls: 8, maxCostUsd: 1, maxStallSeconds: 60 },
  };
  const deps = { keys: new MemoryKeySource(), openLocalLlm: async () => assert.fail('no local LLM here') };
  return composeLlm(setup, deps, () => 'prompt');
}

/** The predicted cost of an answer's next call, sending `sent` tokens after one that sent `previous`, against every input token at full price. */
async function quoted(kind: ProviderKind, baseUrl: string, model: string, previous: number, sent: number, caching: CachingChoice = 'auto') {
  const llm = await composed(kind, baseUrl, model, caching);
  assert.ok(llm.price, `${model} is priced by the catalog`);
  const usage = predictUsage(llm.cacheRule, { sent, previous, output: 8 });
  const uncached = costOf({ ...usage, cachedInputTokens: 0, cacheWriteTokens: 0 }, llm.price)!;
  return { rule: llm.cacheRule, usage, predicted: costOf(usage, llm.price)!, uncached, price: llm.price };
}

test('on OpenRouter the rule is the model vendor\'s, never "every repeated token cached" because the catalog lists a cached price', async () => {
  // openai-chat never sends cache_control: Claude through OpenRouter reads nothing from a cache.
  const claude = await quoted('openai-chat', OPENROUTER, 'anthropic/claude-sonnet-4.6', 3000, 3050);
  assert.ok(claude.price.cachedInputPerMTok !== undefined, 'the catalog has a cached price for it (what auto used to go by)');
  assert.deepEqual(claude.rule, NO_CACHE);
  assert.equal(claude.predicted, claude.uncached, 'quoted at the full input price');
  // OpenAI's models there: OpenAI's rule, nothing below 1,024 shared tokens, then 128-token steps.
  const mini = await quoted('openai-chat', OPENROUTER, 'openai/gpt-5-mini', 800, 850);
  assert.deepEqual(mini.rule, OPENAI_CACHE);
  assert.equal(mini.usage.cachedInputTokens, 0);
  assert.equal(mini.predicted, mini.uncached);
  assert.equal((await quoted('openai-chat', OPENROUTER, 'openai/gpt-5-mini', 3000, 3050)).usage.cachedInputTokens, 1024 + 15 * 128);
  assert.deepEqual((await composed('openai-chat', OPENROUTER, 'deepseek/deepseek-chat')).cacheRule, DEEPSEEK_CACHE);
  assert.deepEqual((await composed('openai-chat', OPENROUTER, 'meta-llama/llama-3.3-70b-instruct')).cacheRule, NO_CACHE, 'a vendor whose caching is unknown');
  // The user's word still goes.
  assert.deepEqual((await composed('openai-chat', OPENROUTER, 'meta-llama/llama-3.3-70b-instruct', 'prefix')).cacheRule, { kind: 'server-prefix' });
  // The services Relay knows by address keep their documented rules.
  assert.deepEqual((await composed('openai-chat', 'https://api.openai.com/v1', 'gpt-5-mini')).cacheRule, OPENAI_CACHE);
});

test('a prefix cache is assumed only of a self-hosted server with a cached price, not of a hosted service Relay does not know', async () => {
  const prices = { inputPerMTok: 1, outputPerMTok: 2, cachedInputPerMTok: 0.1 };
  const rule = async (kind: ProviderKind, baseUrl: string, withPrices: PriceOverrides = prices) =>
    (await composed(kind, baseUrl, 'qwen3-32b', 'auto', withPrices)).cacheRule;
  for (const address of [
    'http://127.0.0.1:8000/v1',
    'http://localhost:8000/v1',
    'http://192.168.1.20:8000/v1',
    'http://10.0.0.5:8000/v1',
    'http://vllm:8000/v1',
  ]) {
    assert.deepEqual(await rule('openai-chat', address), { kind: 'server-prefix' }, address);
  }
  assert.deepEqual(
    await rule('openai-chat', 'http://127.0.0.1:8000/v1', { inputPerMTok: 1, outputPerMTok: 2 }),
    NO_CACHE,
    'no cached price: nothing to predict',
  );
  assert.deepEqual(await rule('openai-chat', 'https://llm.example.com/v1'), NO_CACHE, "a hosted proxy: its caching is the user's to say");
  // A completions server is priced by the user alone: its cached price says it caches, wherever it is.
  assert.deepEqual(await rule('openai-completions', 'https://vllm.example.com/v1'), { kind: 'server-prefix' });
});

test('Anthropic: a cache read is predicted only from the highest reported minimum (Sonnet 4.6: 2,048 observed), writes from where breakpoints go', async () => {
  for (const caching of ['auto', 'anthropic'] as const) {
    // 1,500 shared tokens: below the 2,048 observed, so no 0.1x read is counted on.
    const short = await quoted('anthropic', 'https://api.anthropic.com', 'claude-sonnet-4-6', 1500, 1550, caching);
    assert.equal(short.usage.cachedInputTokens, 0, caching);
    assert.ok(short.predicted >= short.uncached, `${caching}: never quoted under the full input price (${short.predicted} < ${short.uncached})`);
    const long = await quoted('anthropic', 'https://api.anthropic.com', 'claude-sonnet-4-6', 3000, 3050, caching);
    assert.deepEqual([long.usage.cachedInputTokens, long.usage.cacheWriteTokens], [3000, 50], caching);
  }
  // A model whose minimum is not disputed: read from it.
  const sonnet45 = await quoted('anthropic', 'https://api.anthropic.com', 'claude-sonnet-4-5', 1500, 1550);
  assert.deepEqual([sonnet45.usage.cachedInputTokens, sonnet45.usage.cacheWriteTokens], [1500, 50]);
});

test('caching "anthropic" uses the model\'s minimum, and is refused where the provider sends no cache_control', async () => {
  // Opus 4.6 caches from 4,096 tokens, not 1,024.
  const opus = await quoted('anthropic', 'https://api.anthropic.com', 'claude-opus-4-6', 3000, 3050, 'anthropic');
  assert.deepEqual([opus.usage.cachedInputTokens, opus.usage.cacheWriteTokens], [0, 0]);
  assert.equal(opus.predicted, opus.uncached);
  await assert.rejects(
    () => composed('openai-chat', OPENROUTER, 'anthropic/claude-sonnet-4.6', 'anthropic'),
    (error: unknown) => {
      assert.ok(isProviderError(error));
      assert.equal(error.fix, 'open-settings');
      assert.match(error.message, /relay\.provider\.caching \(CLI: --caching\) is "anthropic", but the openai-chat provider never sends/);
      assert.match(error.message, /Set it to auto/);
      return true;
    },
  );
});

test('OpenAI from GPT-5.6 on bills cache writes (1.25x input): a quote counts them, never under what the server reports', async () => {
  const openai = 'https://api.openai.com/v1';
  const sol = await composed('openai-chat', openai, 'gpt-5.6-sol');
  assert.equal(sol.price!.cacheWritePerMTok, sol.price!.inputPerMTok * 1.25, "the catalog's write price, as OpenAI's prompt-caching guide gives it");
  // Two calls of one answer, reported as OpenAI reports them (prompt_tokens_details.cache_write_tokens):
  // the first writes its whole prompt, the second reads 1,024 + 15 * 128 tokens and writes the rest.
  const server = await startFakeServer(openAiStream({ pieces: [' ok'] }));
  try {
    server.enqueue(
      openAiStream({ pieces: [' ok'], usage: { prompt_tokens: 3000, completion_tokens: 8, cached_tokens: 0, cache_write_tokens: 3000 } }),
      openAiStream({ pieces: [' ok'], usage: { prompt_tokens: 3050, completion_tokens: 8, cached_tokens: 2944, cache_write_tokens: 106 } }),
    );
    const provider = createProvider({ kind: 'openai-chat', baseUrl: `${server.url}/v1`, model: 'gpt-5.6-sol', ...FAST }, new MemoryKeySource());
    const bills = [(await collect(provider, REQUEST)).usage!, (await collect(provider, REQUEST)).usage!];
    const quotes = [
      predictUsage(sol.cacheRule, { sent: 3000, previous: 0, output: 8 }),
      predictUsage(sol.cacheRule, { sent: 3050, previous: 3000, output: 8 }),
    ];
    bills.forEach((bill, i) => {
      assert.equal(bill.cacheWriteTokens, [3000, 106][i], 'the write the server reported is read');
      assert.ok(
        costOf(quotes[i], sol.price)! >= costOf(bill, sol.price)!,
        `call ${i + 1}: quoted ${costOf(quotes[i], sol.price)} < billed ${costOf(bill, sol.price)}`,
      );
    });
  } finally {
    await server.close();
  }
  assert.deepEqual(sol.cacheRule, OPENAI_WRITING_CACHE);
  // Models before the family write for free: no write is predicted (nor priced by the catalog).
  for (const model of ['gpt-5.5', 'gpt-5-mini', 'gpt-4o', 'o4-mini', 'ft:gpt-4o-mini-2024-07-18:org::abc']) {
    assert.deepEqual((await composed('openai-chat', openai, model)).cacheRule, OPENAI_CACHE, model);
  }
  // Later families, and ids Relay cannot place (an Azure deployment name), are counted as writing; so is GPT-5.6 through OpenRouter.
  assert.deepEqual((await composed('openai-chat', openai, 'gpt-6')).cacheRule, OPENAI_WRITING_CACHE);
  assert.deepEqual((await composed('openai-chat', 'https://team.openai.azure.com/openai', 'team-deployment')).cacheRule, OPENAI_WRITING_CACHE);
  assert.deepEqual((await composed('openai-chat', OPENROUTER, 'openai/gpt-5.6-terra')).cacheRule, OPENAI_WRITING_CACHE);
  assert.deepEqual(
    (await composed('openai-chat', 'https://example.com/v1', 'gpt-5.6-sol', 'openai')).cacheRule,
    OPENAI_WRITING_CACHE,
    'caching "openai" by the model too',
  );
});
