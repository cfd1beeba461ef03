/**
 * A host that bills past the output limit said to bound the reasoning (a proxy ignoring
 * Anthropic's max_tokens or OpenAI's max_completion_tokens) is learned for the model at its
 * origin: the next answer's first call is priced and held back as unbounded, not trusted
 * again. The real anthropic and openai-chat providers against a 127.0.0.1 server that bills
 * 1,004 output tokens for the 4 asked, reasoning not split out; the SLM is the double.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { NO_CACHE } from '../../../src/core/providers/billing';
import { createProvider } from '../../../src/core/providers/factory';
import { forgetLearnedFacts } from '../../../src/core/providers/modelCapabilities';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { ProviderKind } from '../../../src/core/providers/types';
import { collectRelay } from '../../../src/core/relay/engine';
import { TokenRatios } from '../../../src/core/relay/money';
import { anthropicCountTokens, anthropicStream } from '../providers/servers/anthropic';
import { openAiStream } from '../providers/servers/openai';
import { startFakeServer, type FakeServer, type RecordedRequest, type Responder } from '../providers/servers/harness';
import { FAST } from '../providers/servers/collect';
import { chars, DoubleRuntime } from './doubles';

const PROMPT = 'Explain the relay in one short paragraph, please. '.repeat(4);
const PRICE = { inputPerMTok: 2, outputPerMTok: 10 };
const BILLED_OUTPUT = 1004;
/** Below one call's bill ($0.01 of output alone): a call priced with its 1,000 unbounded tokens cannot fit. */
const MAX_COST_USD = 0.008;

/** Input tokens as the SLM double counts them (a token a character), so the pair's ratios are learned from each report. */
function inputOf(body: any): number {
  const texts = [body.system ?? '', ...(body.messages ?? []).map((m: any) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content)))];
  return [...texts.join('')].length;
}

/** Bills 1,004 output tokens whatever the limit said: four of text and 1,000 the report does not call reasoning. */
const pastTheLimit: Responder = (request: RecordedRequest, res) => {
  if (request.path.endsWith('/count_tokens')) return anthropicCountTokens(inputOf)(request, res);
  if (request.path.includes('/messages')) {
    return anthropicStream({ pieces: ['ABCD'], stopReason: 'max_tokens', usage: { input_tokens: inputOf(request.body), output_tokens: BILLED_OUTPUT } })(
      request,
      res,
    );
  }
  return openAiStream({ pieces: ['ABCD'], finishReason: 'length', usage: { prompt_tokens: inputOf(request.body), completion_tokens: BILLED_OUTPUT } })(
    request,
    res,
  );
};

let server: FakeServer;
before(async () => {
  server = await startFakeServer(pastTheLimit);
});
after(() => server.close());
beforeEach(() => forgetLearnedFacts());

/** One command-mode answer with one 4-token call, under a USD ceiling alone; the pair's ratios shared across answers. */
async function answer(kind: ProviderKind, model: string, ratios: TokenRatios) {
  const baseUrl = kind === 'anthropic' ? server.url : `${server.url}/v1`;
  const llm = createProvider(
    { kind, baseUrl, model, maxRetries: 0, ...FAST },
    new MemoryKeySource({ [kind]: kind === 'anthropic' ? 'sk-ant-test-limit-ignored-0123456789' : 'sk-test-limit-ignored-0123456789abcd' }),
  );
  const before = server.requests.filter((r) => !r.path.endsWith('/count_tokens')).length;
  const run = await collectRelay({
    mode: 'command',
    slm: new DoubleRuntime([...chars('A: '), ...chars('<call>4</call>'), ...chars(' done.')]),
    llm,
    messages: [{ role: 'user', content: PROMPT }],
    prompt: PROMPT,
    slmSampling: { temperature: 0 },
    price: PRICE,
    cacheRule: NO_CACHE,
    tokenRatios: ratios,
    maxCostUsd: MAX_COST_USD,
  });
  return { ...run, limitBoundsReasoning: llm.limitBoundsReasoning, sent: server.requests.filter((r) => !r.path.endsWith('/count_tokens')).length - before };
}

for (const [kind, model, limit] of [
  ['anthropic', 'claude-sonnet-4-5', 'max_tokens'],
  ['openai-chat', 'gpt-5-mini', 'max_completion_tokens'],
] as const) {
  test(`${kind}: a host that billed past ${limit} once prices the next answer's first call as unbounded, and the USD ceiling keeps it from being made`, async () => {
    const ratios = new TokenRatios();
    const first = await answer(kind, model, ratios);
    // The first call of a new pair trusts the limit: it is made and billed 1,000 tokens past it.
    assert.equal(first.sent, 1);
    assert.equal(first.stats.llmUsage.outputTokens, BILLED_OUTPUT);
    assert.equal(ratios.reasoningPerCall, BILLED_OUTPUT - 4, 'the pair keeps what was billed past the span as reasoning');

    const second = await answer(kind, model, ratios);
    // Trusted again, the call would be quoted at the 4 tokens asked and billed $0.01, past the $0.008 ceiling.
    assert.equal(second.sent, 0, 'input, span and 1,000 unbounded tokens could pass the ceiling: not made');
    assert.equal(second.stats.finishReason, 'cost_limit');
    assert.equal(second.stats.costUsd, 0);
    assert.equal(first.limitBoundsReasoning, false, 'learned for the model at its origin');
  });
}

test('a limit that never claimed to bound the reasoning (max_tokens on a server of its own) learns nothing from output billed past it', async () => {
  const ratios = new TokenRatios();
  const first = await answer('openai-chat', 'qwen3-32b', ratios);
  assert.equal(first.sent, 1);
  assert.equal(first.limitBoundsReasoning, false);
  // Its bound did not change: were it to switch field, it would not carry a fact about max_tokens.
  const llm = createProvider(
    { kind: 'openai-chat', baseUrl: `${server.url}/v1`, model: 'qwen3-32b', maxTokensField: 'max_completion_tokens', maxRetries: 0, ...FAST },
    new MemoryKeySource({ 'openai-chat': 'sk-test-limit-ignored-0123456789abcd' }),
  );
  assert.equal(llm.limitBoundsReasoning, true);
});
