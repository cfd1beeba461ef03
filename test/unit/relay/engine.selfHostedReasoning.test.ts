/**
 * A thinking model served by the user (Ollama, vLLM) streams its reasoning in a field of its
 * own, or as `<think>` in the content, and reports no reasoning tokens. In a relay answer the
 * reasoning must not take every span without a word: the next call asks the server not to
 * reason, and where it reasons anyway the answer ends with llm_hidden_reasoning, which names
 * the cause and the fix, not a bare llm_no_progress. And the error states the span as asked
 * (/responses asks at least 16 tokens) with the fix that works in the mode (llm-only: the
 * budget). Real providers against 127.0.0.1 servers that speak each wire format; the SLM is
 * the in-memory double.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { forgetLearnedFacts } from '../../../src/core/providers/modelCapabilities';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { LlmProvider } from '../../../src/core/providers/types';
import { runProviderTest } from '../../../src/core/providers/providerTest';
import { collectRelay } from '../../../src/core/relay/engine';
import type { RelayEvent } from '../../../src/core/relay/events';
import { FakeServer, loopbackAgent, startFakeServer, writeFrames, type Responder } from '../providers/servers/harness';
import { openAiStream } from '../providers/servers/openai';
import { FAST } from '../providers/servers/collect';
import { chars, DoubleRuntime } from './doubles';

/** OpenAI's models as OpenAI serves them (servers/openai.ts); a test of a self-hosted server sets its own fallback. */
const openAiModels = openAiStream({ pieces: [' Paris', ' is', ' a', ' city'] });
let server: FakeServer;
before(async () => {
  server = await startFakeServer(openAiModels);
});
after(() => server.close());
beforeEach(() => {
  forgetLearnedFacts();
  server.queue.length = 0;
  server.fallback = openAiModels;
});

/**
 * A chat server with a thinking model (Ollama /v1 with qwen3; vLLM with --reasoning-parser):
 * the span goes to delta.reasoning unless the request says reasoning_effort "none" and the
 * server honours it; usage without completion_tokens_details.
 */
function thinkingChatServer(honoursNone: boolean, reportsUsage = true): Responder {
  return (request, res) => {
    const n = request.body.max_tokens ?? request.body.max_completion_tokens;
    const thinks = !(honoursNone && request.body.reasoning_effort === 'none');
    const frame = (choices: object[], extra: object = {}) =>
      `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', model: request.body.model, choices, ...extra })}\n\n`;
    const frames: string[] = [];
    for (let i = 0; i < n; i++)
      frames.push(frame([{ index: 0, delta: thinks ? { reasoning: i === 0 ? 'Okay' : ',' } : { content: i === 0 ? ' Paris' : ' is' }, finish_reason: null }]));
    frames.push(frame([{ index: 0, delta: {}, finish_reason: 'length' }]));
    if (reportsUsage) frames.push(frame([], { usage: { prompt_tokens: 20, completion_tokens: n, total_tokens: 20 + n } }));
    frames.push('data: [DONE]\n\n');
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    return writeFrames(res, frames);
  };
}

/** A chat server that writes the model's raw output: `<think>` first, in the content (vLLM without a reasoning parser). */
const thinkInContentServer: Responder = (request, res) => {
  const n = request.body.max_tokens ?? request.body.max_completion_tokens;
  const pieces = request.body.reasoning_effort === 'none' ? [' Paris', ' is'] : ['<think>', '\nOkay', ',', ' the', ' user'];
  const frame = (choices: object[], extra: object = {}) => `data: ${JSON.stringify({ id: 'c', model: request.body.model, choices, ...extra })}\n\n`;
  const frames = pieces.slice(0, n).map((content) => frame([{ index: 0, delta: { content }, finish_reason: null }]));
  frames.push(frame([{ index: 0, delta: {}, finish_reason: 'length' }]));
  frames.push(frame([], { usage: { prompt_tokens: 20, completion_tokens: n, total_tokens: 20 + n } }));
  frames.push('data: [DONE]\n\n');
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  return writeFrames(res, frames);
};

/** Ollama's /api/chat with gpt-oss, which thinks whatever `think` says: num_predict goes to message.thinking. */
const gptOssOnOllama: Responder = (request, res) => {
  const n = request.body.options.num_predict;
  const line = (value: object) => `${JSON.stringify({ model: request.body.model, created_at: '2026-10-01T00:00:00Z', ...value })}\n`;
  const frames: string[] = [];
  for (let i = 0; i < n; i++) frames.push(line({ message: { role: 'assistant', content: '', thinking: i ? ' user' : 'The' }, done: false }));
  frames.push(line({ message: { role: 'assistant', content: '' }, done: true, done_reason: 'length', prompt_eval_count: 20, eval_count: n }));
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  return writeFrames(res, frames);
};

const selfHosted = (kind: 'openai-chat' | 'ollama', model: string): LlmProvider =>
  createProvider(
    {
      kind,
      baseUrl: kind === 'ollama' ? server.url : `${server.url}/v1`,
      model,
      maxRetries: 0,
      ...(kind === 'ollama' ? { ollamaEndpoint: 'chat' } : {}),
      ...FAST,
    },
    new MemoryKeySource(),
  );
const onOpenAi = (model: string): LlmProvider =>
  createProvider(
    { kind: 'openai-chat', baseUrl: 'http://api.openai.com/v1', model, maxRetries: 0, ...FAST },
    new MemoryKeySource({ 'openai-chat': 'sk-test-streamed-reasoning-0123456789' }),
    { agents: { http: loopbackAgent(server.url) } },
  );

/** Confidence mode at a 2-token span; every SLM token is unsure, so each position is handed off. */
async function relay(llm: LlmProvider, mode: 'confidence' | 'llm-only' = 'confidence') {
  const before = server.requests.length;
  const run = await collectRelay({
    mode,
    slm: new DoubleRuntime(chars('abcdefgh', 0.1)),
    llm,
    messages: [{ role: 'user', content: 'Q' }],
    slmSampling: { temperature: 0 },
    confidence: { threshold: 0.9, maxLlmShare: 1, spanTokens: 2 },
    tokenBudget: 64,
  });
  const errors = run.events.filter((e): e is Extract<RelayEvent, { type: 'error' }> => e.type === 'error');
  return { ...run, errors, sent: server.requests.slice(before).map((r) => r.body) };
}

test('Ollama /v1 + qwen3 (openai-chat): after the first span goes to reasoning, the calls ask for effort "none" and the answer is written', async () => {
  server.fallback = thinkingChatServer(true);
  const { answer, stats, errors, sent } = await relay(selfHosted('openai-chat', 'qwen3:8b'));
  assert.equal(sent[0].reasoning_effort, undefined);
  assert.ok(sent.length > 2 && sent.slice(1).every((body) => body.reasoning_effort === 'none'), JSON.stringify(sent.map((b) => b.reasoning_effort)));
  assert.match(answer, /Paris is/);
  assert.deepEqual(errors, []);
  assert.notEqual(stats.finishReason, 'llm_no_progress');
});

test('a server that reasons whatever it is asked (vLLM, qwen3): the answer ends with llm_hidden_reasoning naming the cause and the fix, not llm_no_progress', async () => {
  server.fallback = thinkingChatServer(false);
  const { answer, stats, errors, sent } = await relay(selfHosted('openai-chat', 'Qwen/Qwen3-8B'));
  assert.equal(sent.length, 2, 'two empty calls, then the end: not a loop');
  assert.equal(answer, 'a');
  assert.equal(stats.finishReason, 'error');
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'llm_hidden_reasoning');
  assert.equal(errors[0].fix, 'llm-model');
  assert.match(
    errors[0].message,
    /^The large model \(Qwen\/Qwen3-8B\) spent all 2 tokens it was asked for on hidden reasoning and wrote no text \(2 reasoning tokens/,
  );
  assert.match(errors[0].message, /turn its thinking off where it is served/);
  assert.deepEqual([stats.llmUsage.outputTokens, stats.llmUsage.reasoningTokens], [4, 4]);
});

test('a server that sends no usage at all: the reasoning that streamed is what names the cause', async () => {
  server.fallback = thinkingChatServer(false, false);
  const { stats, errors } = await relay(selfHosted('openai-chat', 'Qwen/Qwen3-8B'));
  assert.equal(stats.llmUsage.estimated, true);
  assert.equal(errors[0]?.code, 'llm_hidden_reasoning', `finish ${stats.finishReason}`);
  assert.match(errors[0].message, /spent all 2 tokens it was asked for on hidden reasoning/);
});

test('Ollama /api/chat with gpt-oss (think: false not honoured): message.thinking takes the spans, and the answer says so', async () => {
  server.fallback = gptOssOnOllama;
  const { stats, errors, sent } = await relay(selfHosted('ollama', 'gpt-oss:20b'));
  assert.equal(sent.length, 2);
  assert.equal(errors[0]?.code, 'llm_hidden_reasoning', `finish ${stats.finishReason}`);
  assert.match(errors[0].message, /spent all 2 tokens it was asked for on hidden reasoning and wrote no text \(2 reasoning tokens/);
  assert.match(errors[0].message, /gpt-oss on Ollama does not/);
});

test('<think> in the content (vLLM without a reasoning parser): never written into the answer', async () => {
  server.fallback = thinkInContentServer;
  const { answer, events, sent } = await relay(selfHosted('openai-chat', 'Qwen/Qwen3-32B'));
  assert.doesNotMatch(answer, /think/);
  const llmSpans = events.filter((e) => e.type === 'span' && e.source === 'llm').map((e) => (e as { text: string }).text);
  assert.ok(llmSpans.length > 0 && llmSpans.every((text) => !text.includes('<')), JSON.stringify(llmSpans));
  assert.equal(sent[1].reasoning_effort, 'none', 'the reasoning was counted: the server is asked to stop');
});

test('the hidden-reasoning error states the span as asked: /responses asks for at least 16 tokens (gpt-5-pro at a 2-token span)', async () => {
  const { errors, sent } = await relay(onOpenAi('gpt-5-pro'));
  assert.ok(sent.every((body) => body.max_output_tokens === 16));
  assert.equal(errors[0]?.code, 'llm_hidden_reasoning');
  assert.match(errors[0].message, /spent all 16 tokens it was asked for on hidden reasoning and wrote no text \(16 reasoning tokens/);
  assert.match(errors[0].message, /longer spans \(relay\.confidence\.spanTokens/, 'confidence mode: the span setting');
});

test("Test Provider states the test's span as asked too: 16 tokens on /responses, not the 8 it asks elsewhere", async () => {
  const lines: string[] = [];
  const result = await runProviderTest(onOpenAi('gpt-5-pro'), null, (line) => lines.push(line));
  assert.equal(result.ok, false);
  assert.match(result.summary, /spent all 16 tokens it was asked for on hidden reasoning and wrote no text \(16 reasoning tokens/);
});

test('llm-only: the advice is the token budget (the span setting does nothing there)', async () => {
  // o4-mini reasoning past the budget at its lowest effort.
  server.fallback = openAiStream({ pieces: [' Paris', ' is'], reasoning: { low: 5000 } });
  const { errors, sent } = await relay(onOpenAi('o4-mini'), 'llm-only');
  assert.equal(sent[0].max_completion_tokens, 64);
  assert.equal(errors[0]?.code, 'llm_hidden_reasoning');
  assert.match(errors[0].message, /spent all 64 tokens/);
  assert.match(errors[0].message, /raise the token budget \(relay\.tokenBudget \(CLI: --budget\)\)/);
  assert.doesNotMatch(errors[0].message, /spanTokens|span-tokens/);
});
