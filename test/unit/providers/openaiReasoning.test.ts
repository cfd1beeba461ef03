/**
 * The OpenAI-style providers against servers that behave per model as OpenAI documents its
 * reasoning models (servers/openai.ts): no max_tokens, no temperature other than 1, the
 * efforts each model takes, hidden reasoning billed as output; prompt_cache_key on
 * api.openai.com and Azure; cached and written tokens read from each API's usage.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { printProviderTest } from '../../../src/cli/commands/providerTest';
import { createProvider } from '../../../src/core/providers/factory';
import { forgetLearnedFacts } from '../../../src/core/providers/modelCapabilities';
import { runProviderTest } from '../../../src/core/providers/providerTest';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { OpenAiChatProvider } from '../../../src/core/providers/openai';
import type { ContinueRequest, LlmProvider, ProviderConfig } from '../../../src/core/providers/types';
import { FakeServer, loopbackAgent, startFakeServer, type Responder } from './servers/harness';
import { openAiInputTokens, openAiStream, openRouterError, refusesFields } from './servers/openai';
import { FAST, REQUEST, collect, collectError } from './servers/collect';

const KEY = 'sk-test-reasoning-0123456789abcdef';
let server: FakeServer;
before(async () => {
  server = await startFakeServer(openAiStream({ pieces: [' Paris', ' is', ' a', ' city'] }));
});
after(() => server.close());
beforeEach(() => {
  forgetLearnedFacts();
  server.queue.length = 0;
});

const provider = (model: string, extra: Partial<ProviderConfig> = {}, kind: 'openai-chat' | 'openai-completions' = 'openai-chat'): LlmProvider =>
  createProvider(
    { kind, baseUrl: `${server.url}/v1`, model, templateRenderer: (_m, partial) => `prompt: ${partial}`, ...FAST, ...extra },
    new MemoryKeySource({ 'openai-chat': KEY, 'openai-completions': KEY }),
    extra.baseUrl && !extra.baseUrl.includes('127.0.0.1') ? { agents: { http: loopbackAgent(server.url) } } : {},
  );

async function call(p: LlmProvider, request: ContinueRequest = REQUEST) {
  const before = server.requests.length;
  const out = await collect(p, request);
  return { out, sent: server.requests.slice(before).map((r) => r.body) };
}

test('openai gpt-5-mini: the lowest effort (minimal), N in max_completion_tokens, no temperature/top_p: right at once, one request', async () => {
  const { out, sent } = await call(provider('gpt-5-mini'));
  assert.equal(sent.length, 1);
  assert.equal(sent[0].reasoning_effort, 'minimal');
  assert.equal(sent[0].max_completion_tokens, 4);
  assert.equal(sent[0].max_tokens, undefined);
  assert.equal(sent[0].temperature, undefined);
  assert.equal(sent[0].top_p, undefined);
  assert.equal(sent[0].seed, 42, 'what the model takes is still sent');
  assert.equal(out.text, ' Paris is a city');
  assert.deepEqual(out.usage, { inputTokens: 40, outputTokens: 4, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false, reasoningTokens: 0 });
});

test('a call is quoted with its hidden reasoning bounded by N only where N goes in max_completion_tokens (a max_tokens server may reason past it)', () => {
  assert.equal(provider('gpt-5-mini').limitBoundsReasoning, true, 'a reasoning model: max_completion_tokens on any host');
  assert.equal(provider('o4-mini').limitBoundsReasoning, true);
  assert.equal(provider('qwen3-32b').limitBoundsReasoning, false, 'a server of its own takes max_tokens');
  assert.equal(provider('gpt-5-mini', {}, 'openai-completions').limitBoundsReasoning ?? false, false, '/completions sends max_tokens');
});

test('openai gpt-5.1 / gpt-5.2: effort "none" (no reasoning), so temperature and top_p go as asked', async () => {
  for (const model of ['gpt-5.1', 'gpt-5.2']) {
    const { out, sent } = await call(provider(model));
    assert.equal(sent.length, 1, model);
    assert.equal(sent[0].reasoning_effort, 'none');
    assert.equal(sent[0].temperature, 0.7);
    assert.equal(sent[0].top_p, 0.9);
    assert.equal(sent[0].max_completion_tokens, 4);
    assert.equal(out.text, ' Paris is a city');
    assert.equal(out.usage?.reasoningTokens, 0);
  }
});

test('openai o4-mini: the lowest effort it takes is "low"; reasoning that eats max_completion_tokens leaves no text and is billed as output', async () => {
  const { out, sent } = await call(provider('o4-mini'));
  assert.equal(sent.length, 1);
  assert.equal(sent[0].reasoning_effort, 'low');
  assert.equal(out.text, '');
  assert.equal(out.finishReason, 'length');
  assert.deepEqual(out.usage, { inputTokens: 40, outputTokens: 4, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false, reasoningTokens: 4 });
});

test('openai gpt-5-nano: reasoning tokens at minimal effort are counted in the output (billed) and reported apart', async () => {
  server.enqueue(openAiStream({ pieces: [' Paris', ' is', ' a', ' city', ' of', ' light'], reasoning: { minimal: 2 } }));
  const { out } = await call(provider('gpt-5-nano'), { ...REQUEST, maxTokens: 6 });
  assert.equal(out.text, ' Paris is a city');
  assert.equal(out.usage?.outputTokens, 6);
  assert.equal(out.usage?.reasoningTokens, 2);
});

test('openai: a refused field is fixed by sending the same call again (the 400 is not billed), and the fix is remembered for the model', async () => {
  // A setting that is wrong for this model: max_tokens.
  const p = provider('gpt-5', { maxTokensField: 'max_tokens' });
  const first = await call(p);
  assert.equal(first.sent.length, 2);
  assert.equal(first.sent[0].max_tokens, 4);
  assert.equal(first.sent[1].max_completion_tokens, 4);
  assert.equal(first.sent[1].max_tokens, undefined);
  assert.equal(first.out.text, ' Paris is a city');
  assert.equal(first.out.usage?.outputTokens, 4, 'the usage of the one answered request');
  const second = await call(p);
  assert.equal(second.sent.length, 1);
  const third = await call(provider('gpt-5', { maxTokensField: 'max_tokens' }));
  assert.equal(third.sent.length, 1, 'a new provider for the same model knows it too');
  assert.equal(third.sent[0].max_completion_tokens, 4);
});

test('openai: a deployment name the table cannot place: refusals fix N, temperature and top_p; billed reasoning brings the lowest effort the model lists', async () => {
  const p = provider('team-gpt5-deployment');
  const first = await call(p);
  // max_tokens refused, then temperature, then top_p; then answered at the model's default effort (medium).
  assert.equal(first.sent.length, 4);
  assert.deepEqual(
    first.sent.map((b) => [b.max_tokens !== undefined, b.temperature !== undefined, b.top_p !== undefined]),
    [
      [true, true, true],
      [false, true, true],
      [false, false, true],
      [false, false, false],
    ],
  );
  assert.equal(first.out.text, '', 'the reasoning ate the 4 tokens');
  assert.equal(first.out.usage?.reasoningTokens, 4);

  // Reasoning was billed though no effort was sent: the next call asks for "none", is told the values the model takes, and uses the lowest.
  const second = await call(p);
  assert.equal(second.sent.length, 2);
  assert.equal(second.sent[0].reasoning_effort, 'none');
  assert.equal(second.sent[1].reasoning_effort, 'minimal');
  assert.equal(second.out.text, ' Paris is a city');

  const third = await call(p);
  assert.equal(third.sent.length, 1, 'the third call has the right shape at once');
  assert.deepEqual(
    { effort: third.sent[0].reasoning_effort, n: third.sent[0].max_completion_tokens, t: third.sent[0].temperature, p: third.sent[0].top_p },
    { effort: 'minimal', n: 4, t: undefined, p: undefined },
  );
});

/** An Azure OpenAI deployment of gpt-5-mini under its own name: the table cannot place it. */
const AZURE_DEPLOYMENT = () => provider('team-gpt5-deployment', { baseUrl: 'http://myres.openai.azure.com/openai/v1' });

/** OpenAI's invalid_value wording of a refused effort: the field is named in `param` only. */
const invalidEffortValue =
  (effort: string): Responder =>
  (_request, res) => {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        error: {
          message: `Invalid value: '${effort}'. Supported values are: 'minimal', 'low', 'medium', and 'high'.`,
          type: 'invalid_request_error',
          param: 'reasoning_effort',
          code: 'invalid_value',
        },
      }),
    );
  };

test('azure deployment: billed reasoning brings effort "none"; refused as "Invalid value: \'none\'" (the field in param only), the lowest listed is sent, once', async () => {
  const p = AZURE_DEPLOYMENT();
  const first = await call(p);
  assert.equal(first.out.usage?.reasoningTokens, 4, 'reasoning billed while no effort was sent');
  assert.equal(first.sent.at(-1)?.reasoning_effort, undefined);

  server.enqueue(invalidEffortValue('none'));
  const second = await call(p);
  assert.deepEqual(
    second.sent.map((b) => b.reasoning_effort),
    ['none', 'minimal'],
    'one extra request, with the lowest effort the server listed',
  );
  assert.equal(second.out.text, ' Paris is a city');

  const third = await call(p);
  assert.deepEqual(
    third.sent.map((b) => b.reasoning_effort),
    ['minimal'],
    'remembered',
  );
});

test('azure deployment: the guessed effort "none" refused in words Relay cannot read is withdrawn: the call goes again with no effort, and so do later ones', async () => {
  const p = AZURE_DEPLOYMENT();
  await call(p);
  server.enqueue((_request, res) => {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end('Bad request');
  });
  const second = await call(p);
  assert.deepEqual(
    second.sent.map((b) => b.reasoning_effort),
    ['none', undefined],
  );
  assert.equal(second.out.usage?.reasoningTokens, 4, 'answered as before the guess');
  for (let i = 0; i < 2; i++) {
    const later = await call(p);
    assert.deepEqual(
      later.sent.map((b) => b.reasoning_effort),
      [undefined],
      'not guessed again: billed reasoning no longer brings "none"',
    );
  }
});

test('the guessed effort "none" is kept where the call without it is refused the same: the 400 was about something else, and stands', async () => {
  const p = AZURE_DEPLOYMENT();
  await call(p);
  const badRequest: Responder = (_request, res) => {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end('Bad request');
  };
  server.enqueue(badRequest, badRequest);
  const before = server.requests.length;
  const error = await collectError(p, REQUEST);
  assert.equal(error.code, 'bad_request');
  assert.deepEqual(
    server.requests.slice(before).map((r) => r.body.reasoning_effort),
    ['none', undefined],
  );
  server.enqueue(invalidEffortValue('none'));
  assert.deepEqual(
    (await call(p)).sent.map((b) => b.reasoning_effort),
    ['none', 'minimal'],
    'the guess stands, and is corrected by the words of its refusal',
  );
});

test('a 400 that is not a refusal, after an effort the server took, stays the error: only a guess never taken is withdrawn', async () => {
  const p = AZURE_DEPLOYMENT();
  await call(p);
  server.enqueue(invalidEffortValue('none'));
  await call(p);
  server.enqueue((_request, res) => {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end('Bad request');
  });
  const error = await collectError(p, REQUEST);
  assert.equal(error.code, 'bad_request');
  assert.deepEqual(
    (await call(p)).sent.map((b) => b.reasoning_effort),
    ['minimal'],
    'the effort the server listed is kept',
  );
});

test('openai: a 400 about a value (not a refused field) is reported at once, as before', async () => {
  server.enqueue((_request, res) => {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        error: { message: "Invalid value for 'temperature': must be between 0 and 2.", type: 'invalid_request_error', param: 'temperature', code: null },
      }),
    );
  });
  const before = server.requests.length;
  await assert.rejects(collect(provider('gpt-4o-mini'), { ...REQUEST, temperature: 5 }), (error: any) => error.code === 'bad_request');
  assert.equal(server.requests.length - before, 1);
});

test('openrouter: an upstream refusal wrapped as "Provider returned error" (metadata.raw) is read: the call goes again once without the field', async () => {
  const upstream = {
    error: {
      message: "Unsupported parameter: 'temperature' is not supported with this model.",
      type: 'invalid_request_error',
      param: 'temperature',
      code: 'unsupported_parameter',
    },
  };
  const refusesTemperature: Responder = (request, res) =>
    request.body?.temperature !== undefined ? openRouterError(400, upstream)(request, res) : openAiStream({ pieces: [' Paris'] })(request, res);
  server.enqueue(refusesTemperature, refusesTemperature);
  const { out, sent } = await call(provider('acme/chat-model'));
  assert.equal(sent.length, 2);
  assert.equal(sent[0].temperature, 0.7);
  assert.equal(sent[1].temperature, undefined);
  assert.equal(sent[1].top_p, 0.9, 'only the refused field goes');
  assert.equal(out.text, ' Paris');
});

test("openrouter: a wrapped 400 that is not a refusal is reported once, in the upstream's words", async () => {
  server.enqueue(
    openRouterError(400, {
      error: { message: "Invalid value for 'temperature': must be between 0 and 2.", type: 'invalid_request_error', param: 'temperature', code: null },
    }),
  );
  const before = server.requests.length;
  const error = await collectError(provider('acme/chat-model'), { ...REQUEST, temperature: 5 });
  assert.equal(error.code, 'bad_request');
  assert.match(error.message, /The server said: Provider returned error \(OpenAI: Invalid value for 'temperature': must be between 0 and 2\.\)/);
  assert.equal(server.requests.length - before, 1);
  // An upstream that answered in plain text is named as it is.
  server.enqueue(openRouterError(400, 'model is warming up, not ready', 'Acme'));
  assert.match((await collectError(provider('acme/chat-model'), REQUEST)).message, /Provider returned error \(Acme: model is warming up, not ready\)/);
});

test('openrouter: a model variant (openai/gpt-5:nitro, :online...) is shaped as the model itself', () => {
  const body = (model: string) => {
    const { model: _sent, ...rest } = (provider(model) as OpenAiChatProvider).buildBody(REQUEST);
    return rest;
  };
  assert.equal(body('openai/gpt-5').reasoning_effort, 'minimal');
  for (const [variant, model] of [
    ['openai/gpt-5:nitro', 'openai/gpt-5'],
    ['openai/gpt-5.1:floor', 'openai/gpt-5.1'],
    ['openai/o3:online', 'openai/o3'],
    ['openai/gpt-5-mini:free', 'openai/gpt-5-mini'],
    ['openai/gpt-5:exacto', 'openai/gpt-5'],
  ]) {
    assert.deepEqual(body(variant), body(model), variant);
  }
  assert.equal((provider('openai/gpt-5:nitro') as OpenAiChatProvider).buildBody(REQUEST).model, 'openai/gpt-5:nitro', 'the id goes as given');
});

// ---- Prompt caching.

test("openai: prompt_cache_key (the answer's cacheKey) goes to api.openai.com, chat and completions; not to other servers", async () => {
  const request = { ...REQUEST, cacheKey: 'answer-7f3a' };
  const hosted = await call(provider('gpt-4.1-mini', { baseUrl: 'http://api.openai.com/v1' }), request);
  assert.equal(hosted.sent[0].prompt_cache_key, 'answer-7f3a');
  assert.equal(hosted.sent[0].max_completion_tokens, 4, 'api.openai.com takes N in max_completion_tokens');
  const completions = await call(provider('gpt-3.5-turbo-instruct', { baseUrl: 'http://api.openai.com/v1' }, 'openai-completions'), request);
  assert.equal(completions.sent[0].prompt_cache_key, 'answer-7f3a');
  const local = await call(provider('gpt-4.1-mini'), request);
  assert.equal(local.sent[0].prompt_cache_key, undefined);
  const noKey = await call(provider('gpt-4.1-mini', { baseUrl: 'http://api.openai.com/v1' }), REQUEST);
  assert.equal(noKey.sent[0].prompt_cache_key, undefined, 'no cacheKey, no field');
  // OpenAI refuses keys over 64 characters: a longer one goes as a digest, the same for every call of the answer.
  const long = 'answer-' + 'x'.repeat(80);
  const a = await call(provider('gpt-4.1-mini', { baseUrl: 'http://api.openai.com/v1' }), { ...REQUEST, cacheKey: long });
  const b = await call(provider('gpt-4.1-mini', { baseUrl: 'http://api.openai.com/v1' }), { ...REQUEST, cacheKey: long });
  assert.ok(a.sent[0].prompt_cache_key.length <= 64);
  assert.equal(a.sent[0].prompt_cache_key, b.sent[0].prompt_cache_key);
});

test('openai: a server that refuses prompt_cache_key gets the call again without it, and never again', async () => {
  const strict = refusesFields(['prompt_cache_key'], openAiStream({ pieces: [' Paris'] }));
  server.enqueue(strict, strict, strict);
  const p = provider('gpt-4.1-mini', { baseUrl: 'http://my-resource.openai.azure.com/openai/v1' });
  const request = { ...REQUEST, cacheKey: 'answer-1' };
  const first = await call(p, request);
  assert.equal(first.sent.length, 2);
  assert.equal(first.sent[0].prompt_cache_key, 'answer-1');
  assert.equal(first.sent[1].prompt_cache_key, undefined);
  assert.equal(first.out.text, ' Paris');
  const second = await call(p, request);
  assert.equal(second.sent.length, 1);
  assert.equal(second.sent[0].prompt_cache_key, undefined);
});

test('openai usage: cached reads (prompt_tokens_details.cached_tokens) and cache writes (cache_write_tokens, GPT-5.6 and later)', async () => {
  server.enqueue(openAiStream({ pieces: [' Paris'], usage: { prompt_tokens: 3000, completion_tokens: 1, cached_tokens: 2048, cache_write_tokens: 900 } }));
  const { out } = await call(provider('gpt-4.1-mini'));
  assert.deepEqual(out.usage, { inputTokens: 3000, outputTokens: 1, cachedInputTokens: 2048, cacheWriteTokens: 900, estimated: false });
});

test('deepseek usage: prompt_cache_hit_tokens are the cached part of prompt_tokens', async () => {
  server.enqueue(
    openAiStream({ pieces: [' Paris'], usage: { prompt_tokens: 1500, completion_tokens: 1, cached_tokens: 1280, reasoning_tokens: 0 }, deepseekUsage: true }),
  );
  const { out } = await call(provider('deepseek-chat', { assistantPrefix: 'on' }));
  assert.deepEqual(out.usage, { inputTokens: 1500, outputTokens: 1, cachedInputTokens: 1280, cacheWriteTokens: 0, estimated: false, reasoningTokens: 0 });
});

test('openai: the free token count (responses/input_tokens) on api.openai.com only; other chat services are not asked', async () => {
  const text = 'Explain this: const x = 1;';
  server.enqueue(openAiInputTokens((body) => 5 + body.input[0].content.length));
  const hosted = provider('gpt-5-mini', { baseUrl: 'http://api.openai.com/v1' });
  assert.equal(await hosted.countInputTokens!(text), 5 + text.length);
  const sent = server.lastRequest;
  assert.equal(sent.path, '/v1/responses/input_tokens');
  assert.deepEqual(sent.body, { model: 'gpt-5-mini', input: [{ role: 'user', content: text }] });
  assert.equal(sent.headers.authorization, `Bearer ${KEY}`);

  const before = server.requests.length;
  await assert.rejects(provider('gpt-5-mini').countInputTokens!(text), /no endpoint that counts tokens/);
  await assert.rejects(provider('gpt-3.5-turbo-instruct', {}, 'openai-completions').countInputTokens!(text), /no endpoint that counts tokens/);
  assert.equal(server.requests.length, before, 'a server that is not api.openai.com gets no count request');
});

// ---- The provider test (`relay provider test`, "Relay: Test Provider") on reasoning models.

const output = () => {
  const lines: string[] = [];
  return { lines, io: { stdout: { write: (text: string) => lines.push(text), isTTY: false }, stderr: { write: () => {}, isTTY: false } } };
};

test('provider test: a model whose reasoning took the whole test span fails naming the cause, the bill and the fixes Relay supports', async () => {
  // o4-mini at "low" reasons 16 tokens: all 8 of the test's span, no text.
  const lines: string[] = [];
  const result = await runProviderTest(provider('o4-mini'), null, (line) => lines.push(line));
  assert.equal(result.ok, false);
  assert.equal(result.fix, 'llm-model');
  assert.match(
    result.summary,
    /^FAILED: The large model \(o4-mini\) spent all 8 tokens it was asked for on hidden reasoning and wrote no text \(8 reasoning tokens, billed as output\)\./,
  );
  assert.match(result.summary, /It reasons even at the lowest effort it takes \("low"\), which Relay sends\./);
  assert.match(result.summary, /a model that does not reason .*gpt-5\.1 or later \(Relay sends them reasoning effort "none"/);
  assert.match(result.summary, /relay\.confidence\.spanTokens \(CLI: --span-tokens\)/);
  assert.equal(lines.at(-1), result.summary);
});

test('relay provider test: a model whose hidden reasoning cannot be turned off passes with a warning; gpt-5.1 and non-reasoning models get none', async () => {
  // gpt-5-mini at "minimal" reasons 0 tokens here: the test passes, and its catch is said.
  const mini = output();
  assert.equal(await printProviderTest(provider('gpt-5-mini'), null, mini.io), true);
  const report = mini.lines.join('');
  assert.match(report, /Continuation: "1, 2, 3," \+ " Paris is a city"/);
  assert.match(
    report,
    /Warning: gpt-5-mini reasons before it writes and that cannot be turned off \(Relay sends the lowest effort it takes, "minimal"\)\. The hidden reasoning is billed as output .* can come back empty and still be billed\. .*gpt-5\.1 or later/,
  );
  const result = await runProviderTest(provider('gpt-5-mini'), null, () => {});
  assert.equal(result.ok, true);
  assert.match(result.warning ?? '', /hidden reasoning cannot be turned off/, 'the notification says it too');

  for (const model of ['gpt-5.1', 'gpt-4o-mini']) {
    const quiet = output();
    assert.equal(await printProviderTest(provider(model), null, quiet.io), true, model);
    assert.doesNotMatch(quiet.lines.join(''), /Warning|reasoning/, model);
    assert.equal((await runProviderTest(provider(model), null, () => {})).warning, undefined, model);
  }
});
