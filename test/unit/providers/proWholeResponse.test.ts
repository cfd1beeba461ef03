/**
 * A pro model's answer that comes back whole (one JSON body: the server ignored `stream`)
 * arrives when the model is done: nothing is left to reason, so the wait must not flip to
 * 'reasoning' as the finished answer lands (a false "gpt-5-pro is reasoning..." line on the
 * CLI, a flicker in the view, a screen reader announcing it). A streamed answer's silent
 * reasoning is still told. The servers hold their answer until the clock told what the test
 * waits for (bounded), so no timing is asserted.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, test } from 'node:test';
import { waitLines } from '../../../src/cli/render';
import { createProvider } from '../../../src/core/providers/factory';
import { createAgents, postStream } from '../../../src/core/providers/http';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { TransportEvent } from '../../../src/core/providers/types';
import { WaitClock, type WaitTick } from '../../../src/core/providers/waitClock';
import { loopbackAgent, sendJson, startFakeServer, type FakeServer, type Responder } from './servers/harness';
import { REQUEST, collect, within } from './servers/collect';

const MODEL = 'gpt-5-pro';
const HOST = 'api.openai.com';
/** How long a server holds its answer at most when what it waits for never comes (a failure guard, not a timing). */
const HOLD_BOUND_MS = 15_000;

let server: FakeServer;
before(async () => {
  server = await startFakeServer((_request, res) => sendJson(res, 404, { error: { message: 'not scripted' } }));
});
after(() => server.close());

/** Resolves once `seen` holds, or after HOLD_BOUND_MS; polls every 20 ms. */
async function until(seen: () => boolean): Promise<void> {
  for (let waited = 0; waited < HOLD_BOUND_MS && !seen(); waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
}

const USAGE = { input_tokens: 40, output_tokens: 300, output_tokens_details: { reasoning_tokens: 296 } };
const event = (data: Record<string, unknown>) => `event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`;
/** What OpenAI sends at once on a pro model's stream: then silence while it reasons. */
const PRELUDE =
  event({ type: 'response.created', response: { id: 'resp_1', status: 'in_progress' } }) +
  event({ type: 'response.output_item.added', output_index: 0, item: { id: 'rs_1', type: 'reasoning', summary: [] } });
const TEXT_AND_END =
  event({ type: 'response.output_item.added', output_index: 1, item: { id: 'msg_1', type: 'message', role: 'assistant', content: [] } }) +
  event({ type: 'response.output_text.delta', item_id: 'msg_1', output_index: 1, content_index: 0, delta: ' Paris' }) +
  event({ type: 'response.completed', response: { id: 'resp_1', status: 'completed', usage: USAGE } });

/** The call of a pro model on OpenAI's API, its wait told to a WaitClock (into `ticks`, which its server reads) and written as the CLI writes it. */
async function proCall(ticks: WaitTick[]): Promise<{ text: string; lines: string[]; transport: TransportEvent[] }> {
  const provider = createProvider(
    {
      kind: 'openai-chat',
      baseUrl: `http://${HOST}/v1`,
      model: MODEL,
      connectTimeoutMs: 10_000,
      firstByteTimeoutMs: 60_000,
      idleTimeoutMs: 60_000,
      callTimeoutMs: 60_000,
      maxRetries: 0,
    },
    new MemoryKeySource({ 'openai-chat': 'sk-test-0123456789abcdef' }),
    { agents: { http: loopbackAgent(server.url) } },
  );
  const lines: string[] = [];
  const transport: TransportEvent[] = [];
  const write = waitLines(HOST, (line) => lines.push(line));
  const clock = new WaitClock((tick) => {
    ticks.push(tick);
    write(tick);
  }, MODEL);
  try {
    const request = {
      ...REQUEST,
      maxTokens: 100,
      onTransport: (e: TransportEvent) => {
        transport.push(e);
        clock.onTransport(e);
      },
    };
    const out = await within(
      collect(provider, request, undefined, (chunk) => clock.chunkArrived(chunk)),
      HOLD_BOUND_MS * 2,
      'the call',
    );
    return { text: out.text, lines, transport };
  } finally {
    clock.stop();
  }
}

/** Answers the Responses call with `respond`; anything else (a token count) is not scripted. */
function onResponses(respond: (res: ServerResponse) => Promise<void>): Responder {
  return (request, res) => (request.path.endsWith('/responses') ? respond(res) : sendJson(res, 404, { error: { message: 'not scripted' } }));
}

test('a pro model answering whole (JSON) after a told wait: no reasoning tick, no reasoning line; the wait just ends', async () => {
  const ticks: WaitTick[] = [];
  server.fallback = onResponses(async (res) => {
    // The answer comes only once the wait was told ("waiting for api.openai.com... 1 s"), so its landing is seen.
    await until(() => ticks.some((tick) => tick.state === 'waiting'));
    sendJson(res, 200, {
      id: 'resp_1',
      object: 'response',
      status: 'completed',
      output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: ' Paris' }] }],
      usage: USAGE,
    });
  });
  const out = await proCall(ticks);
  assert.equal(out.text, ' Paris');
  assert.ok(
    ticks.some((tick) => tick.state === 'waiting'),
    'the wait was told before the answer came',
  );
  assert.deepEqual(
    ticks.filter((tick) => tick.state === 'reasoning'),
    [],
    'no reasoning told',
  );
  assert.deepEqual(
    out.lines.filter((line) => /reasoning/.test(line)),
    [],
    'no reasoning line',
  );
  assert.ok(!out.transport.some((e) => e.phase === 'receiving' && e.outputPending), 'a whole body is no pending output');
  assert.equal(ticks.at(-1)?.state, 'receiving', 'the wait ends when the answer lands');
});

test('a pro model streaming (SSE), silent while it reasons: the reasoning is told, on the CLI too', async () => {
  const ticks: WaitTick[] = [];
  server.fallback = onResponses(async (res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    res.write(PRELUDE);
    await until(() => ticks.some((tick) => tick.state === 'reasoning'));
    if (!res.destroyed) res.end(TEXT_AND_END);
  });
  const out = await proCall(ticks);
  assert.equal(out.text, ' Paris');
  assert.ok(
    ticks.some((tick) => tick.state === 'reasoning' && tick.model === MODEL),
    'the reasoning was told',
  );
  assert.ok(
    out.lines.some((line) => line.startsWith(`${HOST}: ${MODEL} is reasoning...`)),
    `a reasoning line: ${JSON.stringify(out.lines)}`,
  );
});

/** Whether postStream told the first byte of a quiet-wait call's body with its output pending, for a body of this content type. */
async function pendingFor(contentType: string | undefined): Promise<boolean | undefined> {
  server.fallback = (_request, res) => {
    res.writeHead(200, contentType === undefined ? {} : { 'content-type': contentType });
    res.end(contentType?.toLowerCase().includes('application/json') ? '{"ok":true}' : 'data: {}\n\n');
  };
  let pending: boolean | undefined;
  const response = await postStream({
    url: new URL(`${server.url}/v1/responses`),
    headers: {},
    body: {},
    keyEnv: [],
    timeouts: { connectTimeoutMs: 10_000, firstByteTimeoutMs: 10_000, idleTimeoutMs: 10_000 },
    secrets: [],
    agents: createAgents(),
    quietUntilOutputMs: 60_000,
    onFirstByte: (outputPending) => (pending = outputPending),
  });
  for await (const _bytes of response.body) void _bytes;
  return pending;
}

test('the one rule: a JSON body (any charset) is whole, nothing pending; an event stream (SSE, NDJSON) or an untyped body streams', async () => {
  assert.equal(await pendingFor('application/json'), false);
  assert.equal(await pendingFor('Application/JSON; charset=utf-8'), false);
  assert.equal(await pendingFor('text/event-stream; charset=utf-8'), true);
  assert.equal(await pendingFor('application/x-ndjson'), true);
  assert.equal(await pendingFor(undefined), true);
});
