/**
 * Ollama as the small model's server when prompt and answer fill its context length (num_ctx,
 * 4,096 by default on small GPUs): Relay sends `shift: false`, so Ollama ends the answer with
 * done_reason "length" instead of dropping the question from its context and writing on; an
 * end at "length" before the tokens asked is the context, not the token limit, and the answer
 * ends with the error naming OLLAMA_CONTEXT_LENGTH.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { collectRelay } from '../../../src/core/relay/engine';
import { createServedRuntime } from '../../../src/core/slm/served/servedRuntime';
import { ensureScriptedModel } from '../../fixtures/fixtures';
import { startJsonBodyServer, type JsonBodyServer } from '../../fixtures/servedSlmServers';

/** Tokens of answer the fake Ollama's context holds after the prompt. */
const ROOM = 34;

let folder: string;
let server: JsonBodyServer;
const requests: Record<string, any>[] = [];

before(async () => {
  folder = await ensureScriptedModel({ prompt: 'x', timeline: [{ text: ' y' }], endWithEos: true });
  // As Ollama's runner at num_ctx: with shift off it ends as "length"; on (left out) it shifts its context and writes on (bounded by num_predict).
  server = await startJsonBodyServer((_req, res, body) => {
    requests.push(body);
    const asked = Math.min(Number(body.options?.num_predict), 200);
    const written = body.shift === false ? Math.min(ROOM, asked) : asked;
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    for (let i = 0; i < written; i++)
      res.write(`${JSON.stringify({ model: 'm', response: ' word', done: false, logprobs: [{ token: ' word', logprob: -0.01, top_logprobs: [] }] })}\n`);
    res.end(`${JSON.stringify({ model: 'm', response: '', done: true, done_reason: 'length', prompt_eval_count: 14, eval_count: written })}\n`);
  });
});

after(() => server.close());

const CONTEXT_FULL =
  /Ollama \(\/api\/generate, raw\) at 127\.0\.0\.1:\d+ stopped after 34 of the 100 tokens asked: .*filled the model's context length\. .*OLLAMA_CONTEXT_LENGTH=8192/;

test("an answer that fills Ollama's context length: the request says shift: false, and its 'length' end before the tokens asked is an error naming OLLAMA_CONTEXT_LENGTH", async () => {
  const runtime = await createServedRuntime({ kind: 'ollama', url: server.origin, model: 'm', folder });
  try {
    const session = await runtime.createSession();
    await session.prefill('Question: what is 2+2? Answer step by step.');
    await assert.rejects(session.generate({ maxTokens: 100, minTop1: 0.5 }), CONTEXT_FULL);
    assert.equal(requests.at(-1)?.shift, false);

    // At the token limit, "length" is the token limit.
    const atLimit = await runtime.createSession();
    await atLimit.prefill('Question: what is 2+2?');
    const result = await atLimit.generate({ maxTokens: ROOM });
    assert.equal(result.stopReason, 'max_tokens');
    assert.equal(result.tokens.length, ROOM);
  } finally {
    await runtime.dispose();
  }
});

test("an answer whose small model fills Ollama's context ends with that error, not as the token limit asked again", async () => {
  const runtime = await createServedRuntime({ kind: 'ollama', url: server.origin, model: 'm', folder });
  try {
    const answer = await collectRelay({
      mode: 'slm-only',
      slm: runtime,
      messages: [{ role: 'user', content: 'Q' }],
      prompt: 'Q:',
      slmSampling: { temperature: 0 },
      tokenBudget: 100,
    });
    assert.equal(answer.stats.finishReason, 'error');
    const error = answer.events.find((e) => e.type === 'error');
    assert.match(error?.type === 'error' ? error.message : '', CONTEXT_FULL);
  } finally {
    await runtime.dispose();
  }
});
