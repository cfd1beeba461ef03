/**
 * The served check finds a server whose log-probabilities follow the sampling temperature
 * (SGLang without SGLANG_RETURN_ORIGINAL_LOGPROB: log(softmax(logits / T))), which the
 * confidence gate would misread, with one request more; a server that reports the raw ones at
 * any temperature (vLLM) gets no such line.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServedRuntime } from '../../../src/core/slm/served/servedRuntime';
import { checkServedSlm } from '../../../src/core/slm/served/serverCheck';
import { ensureScriptedModel } from '../../fixtures/fixtures';
import { startJsonBodyServer, type JsonBodyServer } from '../../fixtures/servedSlmServers';

/** The model's own distribution at every position: top-1 0.6, three times the second (log-odds 1.1, which the probe reads). */
const RAW: Record<string, number> = { ' five': 0.6, ' four': 0.2, ' six': 0.12, ' 5': 0.08 };

/** Top log-probabilities as reported: of softmax(logits / T) where the server scales by the request's temperature T above 0. */
function reported(temperature: number, scales: boolean): Record<string, number> {
  const t = scales && temperature > 0 ? temperature : 1;
  const weights = Object.entries(RAW).map(([token, p]) => [token, Math.pow(p, 1 / t)] as const);
  const total = weights.reduce((sum, [, w]) => sum + w, 0);
  return Object.fromEntries(weights.map(([token, w]) => [token, Math.log(w / total)]));
}

let folder: string;
let server: JsonBodyServer;
let scales = true;
/** The server fails a request at a temperature above 0 (one refusing the probe's temperature or seed). */
let failsAboveZero = false;
const requests: Record<string, any>[] = [];

before(async () => {
  folder = await ensureScriptedModel({ prompt: 'x', timeline: [{ text: ' y' }], endWithEos: true });
  // SGLang's /v1/completions stream: legacy logprobs spelled as text (no token ids), max_tokens tokens, then its end.
  server = await startJsonBodyServer((_req, res, body) => {
    requests.push(body);
    if (failsAboveZero && Number(body.temperature) > 0) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"error":"boom"}');
      return;
    }
    const top = reported(Number(body.temperature), scales);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const event = (e: unknown) => res.write(`data: ${JSON.stringify(e)}\n\n`);
    for (let i = 0; i < Math.min(Number(body.max_tokens), 8); i++)
      event({
        choices: [{ index: 0, text: ' five', logprobs: { tokens: [' five'], token_logprobs: [top[' five']], top_logprobs: [top] }, finish_reason: null }],
      });
    event({ choices: [{ index: 0, text: '', logprobs: null, finish_reason: 'length' }] });
    res.end('data: [DONE]\n\n');
  });
});

after(() => server.close());

async function check(): Promise<Awaited<ReturnType<typeof checkServedSlm>>> {
  requests.length = 0;
  const runtime = await createServedRuntime({ kind: 'completions-server', url: `${server.origin}/v1`, model: 'm', folder });
  try {
    return await checkServedSlm(runtime);
  } finally {
    await runtime.dispose();
  }
}

test('log-probabilities scaled by the temperature (SGLang): the check says the gate would read them wrong and names SGLANG_RETURN_ORIGINAL_LOGPROB, with one request more', async () => {
  scales = true;
  const result = await check();
  assert.equal(result.logprobs, true);
  assert.match(
    result.logprobsWarning ?? '',
    /temperature-scaled: .*confidence gate would read them wrong.*SGLang: start it with SGLANG_RETURN_ORIGINAL_LOGPROB=1/,
  );
  assert.equal(requests.length, 3, 'the two requests of the check and one at another temperature');
  assert.deepEqual(
    requests.map((r) => r.temperature),
    [0, 0, 0.5],
  );
});

test('raw log-probabilities at any temperature (vLLM): no such line', async () => {
  scales = false;
  const result = await check();
  assert.equal(result.logprobs, true);
  assert.equal(result.logprobsWarning, undefined);
  assert.equal(requests.length, 3);
});

test('a probe the server fails gives no verdict: the check passes on what it found (it threw away every check before)', async () => {
  scales = true;
  failsAboveZero = true;
  try {
    const result = await check();
    assert.equal(result.logprobs, true);
    assert.equal(result.logprobsWarning, undefined);
    assert.deepEqual(
      requests.map((r) => r.temperature),
      [0, 0, 0.5],
      'the probe was sent, and failed',
    );
  } finally {
    failsAboveZero = false;
  }
});
