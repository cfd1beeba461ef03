/**
 * How provider errors are read from the services' real bodies: a 429 by its code first (OpenAI's
 * rate-limit text links to its billing page), a prompt over the model's context and an empty
 * credit balance by what the server said. Each is checked through a real call to a server on
 * 127.0.0.1 speaking the wire format: whether it was retried, and which fix the message names.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import { anthropicError, anthropicStream } from './servers/anthropic';
import { FakeServer, sendJson, startFakeServer, type Responder } from './servers/harness';
import { openAiError, openAiStream, openRouterError } from './servers/openai';
import { FAST, REQUEST, collect, collectError } from './servers/collect';

const ANTHROPIC_KEY = 'sk-ant-api03-test-0123456789';

/** OpenAI's 429 for a request rate: its advice links to the billing page. */
const OPENAI_RATE_LIMIT =
  'Rate limit reached for gpt-5-mini in organization org-abc on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits to learn more. You can increase your rate limit by adding a payment method to your account at https://platform.openai.com/account/billing.';
const OPENAI_QUOTA =
  'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.';
const OPENAI_CONTEXT =
  "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages.";
const ANTHROPIC_RATE_LIMIT =
  "This request would exceed your organization's rate limit of 50,000 input tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.";
const ANTHROPIC_TOO_LONG = 'prompt is too long: 215000 tokens > 200000 maximum';
const ANTHROPIC_NO_CREDIT = 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.';

let openai: FakeServer;
let anthropic: FakeServer;
before(async () => {
  openai = await startFakeServer(openAiStream({ pieces: [' Paris'] }));
  anthropic = await startFakeServer(anthropicStream({ pieces: [' Paris'] }, ANTHROPIC_KEY));
});
after(async () => {
  await openai.close();
  await anthropic.close();
});

const openAiProvider = (extra: Record<string, unknown> = {}) =>
  createProvider({ kind: 'openai-chat', baseUrl: `${openai.url}/v1`, model: 'gpt-4o-mini', maxRetries: 2, ...FAST, ...extra }, new MemoryKeySource());
const anthropicProvider = () =>
  createProvider(
    { kind: 'anthropic', baseUrl: anthropic.url, model: 'claude-3-5-haiku-latest', maxRetries: 2, ...FAST },
    new MemoryKeySource({ anthropic: ANTHROPIC_KEY }),
  );

/** Runs one call against `server` and returns the requests it made with what it returned or threw. */
async function call(server: FakeServer, run: () => Promise<unknown>): Promise<{ requests: number; result: any }> {
  const before = server.requests.length;
  let result: any;
  try {
    result = await run();
  } catch (error) {
    result = error;
  }
  server.queue.length = 0;
  return { requests: server.requests.length - before, result };
}

test('429: OpenAI rate limit whose text names the billing page is a rate limit, retried after Retry-After', async () => {
  const rateLimited = (retryAfter: string) => openAiError(429, OPENAI_RATE_LIMIT, 'requests', 'rate_limit_exceeded', { 'retry-after': retryAfter });
  openai.enqueue(rateLimited('0'), openAiStream({ pieces: [' ok'] }));
  const retried = await call(openai, () => collect(openAiProvider(), REQUEST));
  assert.equal(retried.requests, 2, 'the 429 was tried again');
  assert.equal(retried.result.text, ' ok');

  // A wait longer than Relay's most is reported with the server's wait: Retry-After was read.
  openai.enqueue(rateLimited('120'));
  const { requests, result } = await call(openai, () => collectError(openAiProvider(), REQUEST));
  assert.equal(requests, 1);
  assert.equal(result.code, 'rate_limit');
  assert.equal(result.fix, 'retry');
  assert.match(result.message, /rate-limiting requests/);
  assert.match(result.message, /wait 120 s/);
  assert.doesNotMatch(result.message, /out of credit/);
});

test('429: the same rate limit passed on by OpenRouter (upstream body in metadata.raw) is a rate limit too', async () => {
  const upstream = { error: { message: OPENAI_RATE_LIMIT, type: 'requests', param: null, code: 'rate_limit_exceeded' } };
  openai.enqueue(openRouterError(429, upstream), openAiStream({ pieces: [' ok'] }));
  const { requests, result } = await call(openai, () => collect(openAiProvider(), REQUEST));
  assert.equal(requests, 2);
  assert.equal(result.text, ' ok');
});

test('429: a gateway body with no error code Relay knows is read without its links (LiteLLM passing on OpenAI)', async () => {
  const litellm: Responder = (_request, res) =>
    sendJson(
      res,
      429,
      { error: { message: `litellm.RateLimitError: OpenAIException - ${OPENAI_RATE_LIMIT}`, type: 'None', param: 'None', code: '429' } },
      { 'retry-after': '0' },
    );
  openai.enqueue(litellm, openAiStream({ pieces: [' ok'] }));
  const { requests, result } = await call(openai, () => collect(openAiProvider(), REQUEST));
  assert.equal(requests, 2);
  assert.equal(result.text, ' ok');
});

test('429: OpenAI insufficient_quota is out of credit: not retried, and says to add credit', async () => {
  openai.enqueue(openAiError(429, OPENAI_QUOTA, 'insufficient_quota', 'insufficient_quota', { 'retry-after': '0' }), openAiStream({ pieces: [' never'] }));
  const { requests, result } = await call(openai, () => collectError(openAiProvider(), REQUEST));
  assert.equal(requests, 1);
  assert.equal(result.code, 'quota');
  assert.equal(result.retryable, false);
  assert.match(result.message, /out of credit or quota \(HTTP 429\)\. Add credit/);
});

test('429: Anthropic rate_limit_error is retried after Retry-After', async () => {
  anthropic.enqueue(anthropicError(429, 'rate_limit_error', ANTHROPIC_RATE_LIMIT, { 'retry-after': '0' }), anthropicStream({ pieces: [' ok'] }, ANTHROPIC_KEY));
  const { requests, result } = await call(anthropic, () => collect(anthropicProvider(), REQUEST));
  assert.equal(requests, 2);
  assert.equal(result.text, ' ok');
});

/** Asserts the error of a prompt over the model's context: not retried, says to send less text, not to check the settings. */
function assertPromptTooLong(requests: number, error: any, status: number): void {
  assert.equal(requests, 1, 'not retried: the same prompt would not fit again');
  assert.equal(error.code, 'bad_request');
  assert.equal(error.status, status);
  assert.equal(error.fix, 'llm-model');
  assert.match(error.message, /prompt is too long for the model/);
  assert.match(error.message, /Send less text .*or pick a model with a longer context in relay\.provider\.model/);
  assert.doesNotMatch(error.message, /baseUrl/);
}

test('400: OpenAI context_length_exceeded says to send less text or pick a longer-context model', async () => {
  openai.enqueue(openAiError(400, OPENAI_CONTEXT, 'invalid_request_error', 'context_length_exceeded'), openAiStream({ pieces: [' never'] }));
  const { requests, result } = await call(openai, () => collectError(openAiProvider(), REQUEST));
  assertPromptTooLong(requests, result, 400);
});

test('a llama.cpp server over its context (sent as HTTP 500, code 500 in the body) is not retried', async () => {
  const overContext: Responder = (_request, res) =>
    sendJson(res, 500, {
      error: {
        code: 500,
        message: 'the request exceeds the available context size. try increasing the context size or enable context shift',
        type: 'exceed_context_size_error',
        n_prompt_tokens: 1407,
        n_ctx: 256,
      },
    });
  openai.enqueue(overContext, openAiStream({ pieces: [' never'] }));
  const { requests, result } = await call(openai, () => collectError(openAiProvider(), REQUEST));
  assertPromptTooLong(requests, result, 500);
});

test('400: Anthropic "prompt is too long" says to send less text', async () => {
  anthropic.enqueue(anthropicError(400, 'invalid_request_error', ANTHROPIC_TOO_LONG), anthropicStream({ pieces: [' never'] }, ANTHROPIC_KEY));
  const { requests, result } = await call(anthropic, () => collectError(anthropicProvider(), REQUEST));
  assertPromptTooLong(requests, result, 400);
});

test('413: a request larger than the service takes says to send less text, and is not retried', async () => {
  anthropic.enqueue(
    anthropicError(413, 'request_too_large', 'Request exceeds the maximum allowed number of bytes.'),
    anthropicStream({ pieces: [' never'] }, ANTHROPIC_KEY),
  );
  const { requests, result } = await call(anthropic, () => collectError(anthropicProvider(), REQUEST));
  assert.equal(requests, 1);
  assert.equal(result.code, 'bad_request');
  assert.equal(result.retryable, false);
  assert.match(result.message, /larger than .* accepts \(HTTP 413\)\. Send less text/);
  assert.doesNotMatch(result.message, /baseUrl/);
});

test('400: Anthropic "credit balance is too low" is out of credit, not a refused request', async () => {
  anthropic.enqueue(anthropicError(400, 'invalid_request_error', ANTHROPIC_NO_CREDIT), anthropicStream({ pieces: [' never'] }, ANTHROPIC_KEY));
  const { requests, result } = await call(anthropic, () => collectError(anthropicProvider(), REQUEST));
  assert.equal(requests, 1);
  assert.equal(result.code, 'quota');
  assert.equal(result.retryable, false);
  assert.match(result.message, /out of credit or quota \(HTTP 400\)\. Add credit/);
  assert.doesNotMatch(result.message, /refused the request/);
});

// ---- A request for more output than the model writes in one response.

/** Asserts the error of a max_tokens over the model's output limit: not retried, names the token budget and the model, not the prompt's length. */
function assertOutputLimit(requests: number, error: any): void {
  assert.equal(requests, 1, 'not retried: the same max_tokens would be refused again');
  assert.equal(error.code, 'bad_request');
  assert.equal(error.fix, 'open-settings');
  assert.match(error.message, /for more output tokens \(max_tokens\) than it writes in one response/);
  assert.match(error.message, /Lower relay\.tokenBudget \(CLI: --budget\)/);
  assert.match(error.message, /pick a model with a larger output limit in relay\.provider\.model/);
  assert.doesNotMatch(error.message, /prompt is too long|Check the provider settings/);
}

test('400: OpenAI "max_tokens is too large" names the token budget and a model with a larger output limit', async () => {
  const tooLarge = (field: string) =>
    openAiError(
      400,
      `${field} is too large: 20480. This model supports at most 16384 completion tokens, whereas you provided 20480.`,
      'invalid_request_error',
      'invalid_value',
    );
  for (const field of ['max_tokens', 'max_completion_tokens']) {
    openai.enqueue(tooLarge(field), openAiStream({ pieces: [' never'] }));
    const { requests, result } = await call(openai, () => collectError(openAiProvider(), { ...REQUEST, maxTokens: 20480 }));
    assertOutputLimit(requests, result);
  }
});

test("400: vLLM's max_tokens over what the context leaves, and Anthropic's over the model's output limit, say the same", async () => {
  const vllm: Responder = (_request, res) =>
    sendJson(res, 400, {
      object: 'error',
      message:
        "'max_tokens' or 'max_completion_tokens' is too large: 64000. This model's maximum context length is 64001 tokens and your request has 24235 input tokens (64000 > 64001 - 24235). None",
      type: 'BadRequestError',
      param: null,
      code: 400,
    });
  openai.enqueue(vllm, openAiStream({ pieces: [' never'] }));
  const fromVllm = await call(openai, () => collectError(openAiProvider(), REQUEST));
  assertOutputLimit(fromVllm.requests, fromVllm.result);
  anthropic.enqueue(
    anthropicError(400, 'invalid_request_error', 'max_tokens: 8192 > 4096, which is the maximum allowed number of output tokens for claude-3-haiku-20240307'),
    anthropicStream({ pieces: [' never'] }, ANTHROPIC_KEY),
  );
  const fromAnthropic = await call(anthropic, () => collectError(anthropicProvider(), REQUEST));
  assertOutputLimit(fromAnthropic.requests, fromAnthropic.result);
});

// ---- Gemini's OpenAI-compatible endpoint: Google's error object in a one-element list, every 429 RESOURCE_EXHAUSTED.

const GEMINI_QUOTA_WORDS =
  'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.';

/** Gemini's 429 as its OpenAI-compatible endpoint sends it (n4ze3m/page-assist#406): Google's error model, in a list. */
function geminiExhausted(message: string, details: unknown[]): Responder {
  return (_request, res) => sendJson(res, 429, [{ error: { code: 429, message, status: 'RESOURCE_EXHAUSTED', ...(details.length ? { details } : {}) } }]);
}
const violation = (quotaId: string, quotaValue = '10') => ({
  '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
  violations: [
    {
      quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
      quotaId,
      quotaDimensions: { location: 'global', model: 'gemini-2.5-flash' },
      quotaValue,
    },
  ],
});
const retryAfter = (retryDelay: string) => ({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay });

test('429: Gemini per-minute RESOURCE_EXHAUSTED (quota words, QuotaFailure per minute) is a rate limit, retried after its retryDelay', async () => {
  const perMinute = (delay: string) =>
    geminiExhausted(GEMINI_QUOTA_WORDS, [violation('GenerateRequestsPerMinutePerProjectPerModel-FreeTier'), retryAfter(delay)]);
  openai.enqueue(perMinute('0.01s'), openAiStream({ pieces: [' ok'] }));
  const retried = await call(openai, () => collect(openAiProvider(), REQUEST));
  assert.equal(retried.requests, 2, 'the 429 was tried again');
  assert.equal(retried.result.text, ' ok');
  // RetryInfo is read as the wait: one longer than Relay's most is reported with it.
  openai.enqueue(perMinute('43s'));
  const { requests, result } = await call(openai, () => collectError(openAiProvider(), REQUEST));
  assert.equal(requests, 1);
  assert.equal(result.code, 'rate_limit');
  assert.match(result.message, /rate-limiting requests .*wait 43 s/);
  assert.doesNotMatch(result.message, /out of credit/);
  // A delay too long for a number is no wait: retried after the usual backoff, not "wait Infinity s".
  openai.enqueue(perMinute(`${'9'.repeat(400)}s`), openAiStream({ pieces: [' ok'] }));
  assert.equal((await call(openai, () => collect(openAiProvider(), REQUEST))).requests, 2);
  // No details at all ("Resource has been exhausted (e.g. check quota).") is Google's rate limit too.
  openai.enqueue(geminiExhausted('Resource has been exhausted (e.g. check quota).', []), openAiStream({ pieces: [' ok'] }));
  assert.equal((await call(openai, () => collect(openAiProvider(), REQUEST))).requests, 2);
});

test('429: Gemini daily quota or none on the tier (limit 0) is out of quota: not retried, and says so', async () => {
  for (const exhausted of [
    geminiExhausted(GEMINI_QUOTA_WORDS, [violation('GenerateRequestsPerDayPerProjectPerModel-FreeTier', '250'), retryAfter('0.01s')]),
    geminiExhausted(GEMINI_QUOTA_WORDS, [violation('GenerateRequestsPerMinutePerProjectPerModel-FreeTier', '0'), retryAfter('0.01s')]),
  ]) {
    openai.enqueue(exhausted, openAiStream({ pieces: [' never'] }));
    const { requests, result } = await call(openai, () => collectError(openAiProvider(), REQUEST));
    assert.equal(requests, 1);
    assert.equal(result.code, 'quota');
    assert.equal(result.retryable, false);
    assert.match(result.message, /out of credit or quota \(HTTP 429\)\. Add credit or raise the limit/);
    assert.match(result.message, /The server said: You exceeded your current quota/, "Google's own words, read out of the list");
  }
});
