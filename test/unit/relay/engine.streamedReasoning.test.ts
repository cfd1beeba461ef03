/**
 * A reasoning model behind an OpenAI-compatible host that takes max_tokens (DeepSeek's
 * reasoner, vLLM or SGLang with a reasoning parser, OpenRouter...): max_tokens bounds only the
 * text, and the reasoning streams visibly in delta.reasoning_content before it. Those bytes are
 * billed as output, so they count toward the call's money room: a call whose reasoning passes
 * it is cut and booked as one whose text passes it. The real engine and openai-chat provider
 * against a 127.0.0.1 server; the SLM is the in-memory double (a token per character).
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import { collectRelay } from '../../../src/core/relay/engine';
import type { RelayEvent } from '../../../src/core/relay/events';
import { FAST, within } from '../providers/servers/collect';
import { FakeServer, startFakeServer, type Responder } from '../providers/servers/harness';
import { chars, DoubleRuntime } from './doubles';

const THOUGHT = 'thinking about it ';
const PRICE = { inputPerMTok: 1, outputPerMTok: 60 };
const CEILING_USD = 0.5;
/** What the call writes past its room before the cut: the chunk that crossed it, at a token per byte (the bound before the output ratio is known). */
const ONE_CHUNK_USD = (Buffer.byteLength(THOUGHT) * PRICE.outputPerMTok) / 1_000_000;
/**
 * How long the server holds its end back after the reasoning, waiting for the client to close:
 * a guard, not a timing. A client that counts the reasoning closes long before; one that does
 * not waits, and then gets the text and the usage (the idle timeout below is longer).
 */
const HOLD_MS = 10_000;

interface Script {
  thoughts: number;
  text: string;
  finish: 'length' | 'stop';
  /** The usage block; false: none (the provider estimates). */
  usage: false | Record<string, unknown>;
}

/** What the server saw of one response: whether the client closed it before its end was written. */
interface Seen {
  closedBeforeEnd: Promise<boolean>;
}

function reasoningStream(script: Script, seen: Seen[]): Responder {
  return async (_request, res: ServerResponse) => {
    let closed = false;
    let onClose = (): void => undefined;
    const closing = new Promise<void>((resolve) => (onClose = resolve));
    seen.push({
      closedBeforeEnd: new Promise<boolean>((resolve) =>
        res.on('close', () => {
          closed = true;
          onClose();
          resolve(!res.writableEnded);
        }),
      ),
    });
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const event = (body: unknown): void => void res.write(`data: ${JSON.stringify(body)}\n\n`);
    for (let i = 0; i < script.thoughts && !closed; i++) event({ choices: [{ index: 0, delta: { reasoning_content: THOUGHT } }] });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closing, new Promise<void>((resolve) => (timer = setTimeout(resolve, script.usage === false ? 0 : HOLD_MS)))]);
    clearTimeout(timer);
    if (closed) return;
    event({ choices: [{ index: 0, delta: { content: script.text } }] });
    event({ choices: [{ index: 0, delta: {}, finish_reason: script.finish }] });
    if (script.usage) event({ choices: [], usage: script.usage });
    res.end('data: [DONE]\n\n');
  };
}

let server: FakeServer;
const seen: Seen[] = [];
before(async () => {
  // A request past the scripted ones fails the test that made it (it counts the requests).
  server = await startFakeServer((_request, res) => void res.writeHead(500).end());
});
after(() => server.close());

/** Confidence mode at a 2-token span, every SLM token unsure: the first position goes to the LLM. */
async function answer(script: Script) {
  server.enqueue(reasoningStream(script, seen));
  const sent = server.requests.length;
  const llm = createProvider(
    // A host other than api.openai.com, a model the table does not know: N goes as max_tokens.
    { kind: 'openai-chat', baseUrl: `${server.url}/v1`, model: 'deepseek-reasoner', maxRetries: 0, ...FAST, idleTimeoutMs: 3 * HOLD_MS },
    new MemoryKeySource({ 'openai-chat': 'sk-test-streamed-reasoning-0123' }),
  );
  const run = await collectRelay({
    mode: 'confidence',
    slm: new DoubleRuntime(chars('abcdefgh', 0.1)),
    llm,
    messages: [{ role: 'user', content: 'Q' }],
    slmSampling: { temperature: 0 },
    confidence: { threshold: 0.9, maxLlmShare: 1, spanTokens: 2 },
    price: PRICE,
    maxCostUsd: CEILING_USD,
  });
  const ends = run.events.filter((e): e is Extract<RelayEvent, { type: 'call-end' }> => e.type === 'call-end');
  assert.equal(server.requests.length, sent + 1, 'one call');
  return { ...run, ends, body: server.requests[sent].body, seen: seen[seen.length - 1] };
}

test('reasoning streamed past the money room is cut there and booked within the ceiling (it was booked at $3.60 of $0.50)', async () => {
  // 2,000 thoughts of 18 bytes are 36,000 tokens at most; $0.50 at $60/M leaves about 8,300.
  const run = await answer({
    thoughts: 2000,
    text: 'XY',
    finish: 'length',
    usage: { prompt_tokens: 40, completion_tokens: 60_002, completion_tokens_details: { reasoning_tokens: 60_000 } },
  });
  assert.equal(run.body.max_tokens, 2, 'the host was asked for 2 tokens, which do not bound the reasoning');
  const cost = run.stats.costUsd ?? Infinity;
  assert.ok(cost <= CEILING_USD + ONE_CHUNK_USD, `booked $${cost}: within $${CEILING_USD} and the one chunk that crossed the room`);
  assert.equal(run.ends.length, 1);
  const [end] = run.ends;
  assert.equal(end.finishReason, 'length', 'cut, as a call whose text passes its room');
  assert.equal(end.tokens, 0, 'no text arrived');
  // The estimate holds the reasoning it read (at a token per character here), not the text's nothing.
  assert.ok(cost > 0.9 * CEILING_USD, `booked $${cost}: the reasoning read is billed`);
  assert.equal(end.usage.reasoningTokens, end.usage.outputTokens, 'all the output it booked is reasoning');
  assert.equal(await within(run.seen.closedBeforeEnd, 10_000, 'the server seeing the connection close'), true, 'the client closed the request mid-reasoning');
  assert.equal(run.stats.finishReason, 'cost_limit');
  assert.doesNotMatch(run.answer, /thinking/, 'reasoning is never shown');
});

test('reasoning within the room of a host that reports no usage is booked with the text', async () => {
  const run = await answer({ thoughts: 10, text: 'XY', finish: 'stop', usage: false });
  assert.equal(await within(run.seen.closedBeforeEnd, 10_000, 'the server closing'), false, 'read to its end');
  const [end] = run.ends;
  assert.equal(end.finishReason, 'stop');
  assert.equal(end.tokens, 2);
  const read = 10 * THOUGHT.length;
  assert.equal(end.usage.estimated, true);
  assert.equal(end.usage.reasoningTokens, read, 'the reasoning read, in the local count');
  assert.ok(end.usage.outputTokens >= read + 1, `output ${end.usage.outputTokens}: the text's estimate and the reasoning`);
  assert.equal(run.answer, 'XY', 'the text is the answer (its end ended it)');
  assert.doesNotMatch(run.answer, /thinking/);
});
