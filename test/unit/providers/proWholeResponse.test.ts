/**
 * A pro model's answer that comes back whole (one JSON body: the server ignored `stream`)
 * arrives when the model is done: nothing is left to reason, so the wait must not flip to
 * 'reasoning' as the finished answer lands (a false "gpt-5-pro is reasoning..." line on the
 * CLI, a flicker in the view, a screen reader announcing it). A streamed answer's silent
 * reasoning is still told. The servers hold their answer until the clock told what the test
 * waits for (bounded), so no timing is asserted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitLines } from '../../../src/cli/render';
import { createAgents, postStream } from '../../../src/core/providers/http';
import type { TransportEvent } from '../../../src/core/providers/types';
import { WaitClock, type WaitTick } from '../../../src/core/providers/waitClock';
import { sendJson } from './servers/harness';
import { REQUEST, collect, within } from './servers/collect';
import { Gate, PRO_USAGE, countingTokens, reasonsUntil, useOpenAiServer } from './servers/proReasoning';

const MODEL = 'gpt-5-pro';
const HOST = 'api.openai.com';
/** How long a server holds its answer at most when what it waits for never comes (a failure guard, not a timing). */
const HOLD_BOUND_MS = 15_000;

// Each test queues its Responses answer; a token count is answered, anything else is not scripted.
const openAi = useOpenAiServer(countingTokens((_request, res) => sendJson(res, 404, { error: { message: 'not scripted' } })));

interface ProCall {
  text: string;
  ticks: WaitTick[];
  lines: string[];
  transport: TransportEvent[];
}

/**
 * The call of a pro model on OpenAI's API, its wait told to a WaitClock and written as the CLI
 * writes it; `gate` (which its server waits on) opens at the first tick in state `opensOn`.
 */
async function proCall(gate: Gate, opensOn: WaitTick['state']): Promise<ProCall> {
  const provider = openAi.provider(MODEL, {
    connectTimeoutMs: 10_000,
    firstByteTimeoutMs: 60_000,
    idleTimeoutMs: 60_000,
    callTimeoutMs: 60_000,
    maxRetries: 0,
  });
  const ticks: WaitTick[] = [];
  const lines: string[] = [];
  const transport: TransportEvent[] = [];
  const write = waitLines(HOST, (line) => lines.push(line));
  const clock = new WaitClock((tick) => {
    ticks.push(tick);
    if (tick.state === opensOn) gate.open();
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
    return { text: out.text, ticks, lines, transport };
  } finally {
    clock.stop();
  }
}

test('a pro model answering whole (JSON) after a told wait: no reasoning tick, no reasoning line; the wait just ends', async () => {
  const gate = new Gate();
  openAi.server.enqueue(async (_request, res) => {
    // The answer comes only once the wait was told ("waiting for api.openai.com... 1 s"), so its landing is seen.
    await gate.opened(HOLD_BOUND_MS);
    sendJson(res, 200, {
      id: 'resp_1',
      object: 'response',
      status: 'completed',
      output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: ' Paris' }] }],
      usage: PRO_USAGE,
    });
  });
  const out = await proCall(gate, 'waiting');
  const ticks = out.ticks;
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
  const gate = new Gate();
  openAi.server.enqueue(reasonsUntil(gate, [' Paris']));
  const out = await proCall(gate, 'reasoning');
  const ticks = out.ticks;
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
  openAi.server.enqueue((_request, res) => {
    res.writeHead(200, contentType === undefined ? {} : { 'content-type': contentType });
    res.end(contentType?.toLowerCase().includes('application/json') ? '{"ok":true}' : 'data: {}\n\n');
  });
  let pending: boolean | undefined;
  const response = await postStream({
    url: new URL(`${openAi.server.url}/v1/responses`),
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
