/** The onnx-local provider (a second local model as the LLM) on the scripted ONNX fixture. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxLocalProvider } from '../../../src/core/providers/onnxLocal';
import { isProviderError } from '../../../src/core/providers/errors';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { createProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import type { ProviderChunk } from '../../../src/core/providers/types';
import { disposeRuntimes, QUESTION, renderedQuestion, scriptedSlm, type ScriptedSlm } from './realParts';
import { writeFakeWorker } from '../slm/fakeWorker';
import { chars, DoubleRuntime, DoubleSession } from './doubles';
import type { SlmSession } from '../../../src/core/slm/types';
import { within } from '../providers/servers/collect';

let llm: ScriptedSlm;

before(async () => {
  // As an LLM it continues prompt + partial answer: the script starts after 'The sum is'.
  const prompt = await renderedQuestion();
  llm = await scriptedSlm([{ text: 'The sum is', source: 'external' }, { text: ' five.' }]);
  assert.equal(llm.prompt, prompt);
});

after(disposeRuntimes);

async function collect(provider: OnnxLocalProvider, maxTokens: number, signal?: AbortSignal): Promise<ProviderChunk[]> {
  const chunks: ProviderChunk[] = [];
  for await (const chunk of provider.continue({ messages: QUESTION, partialAnswer: 'The sum is', maxTokens, temperature: 0 }, signal)) chunks.push(chunk);
  return chunks;
}

test('continues the partial answer; end-of-sequence is finish stop; usage counted exactly', async () => {
  const provider = new OnnxLocalProvider(llm.runtime, 'scripted');
  const chunks = await collect(provider, 50);
  const text = chunks.flatMap((c) => (c.type === 'text' ? [c.text] : [])).join('');
  assert.equal(text, ' five.');
  const usage = chunks.find((c) => c.type === 'usage');
  const promptTokens = llm.expectation.promptIds.length + llm.expectation.entries[0].ids.length;
  assert.deepEqual(usage?.type === 'usage' && usage.usage, {
    inputTokens: promptTokens,
    outputTokens: llm.expectation.entries[1].ids.length,
    cachedInputTokens: 0,
    cacheWriteTokens: 0,
    estimated: false,
  });
  assert.deepEqual(chunks[chunks.length - 1], { type: 'done', finishReason: 'stop' });
});

test('maxTokens is honoured with finish length; an aborted call says cancelled', async () => {
  const provider = new OnnxLocalProvider(llm.runtime, 'scripted');
  const chunks = await collect(provider, 1);
  assert.deepEqual(
    chunks.filter((c) => c.type === 'text'),
    [{ type: 'text', text: ' five' }],
  );
  assert.deepEqual(chunks[chunks.length - 1], { type: 'done', finishReason: 'length' });
  const controller = new AbortController();
  controller.abort();
  assert.deepEqual(await collect(provider, 5, controller.signal), [{ type: 'done', finishReason: 'cancelled' }]);
  await assert.rejects(collect(provider, 0), /maxTokens must be a positive integer/);
});

test('the trained demo LLM continues the demo SLM prompt; a prompt past its context is a clear bad_request', async () => {
  const runtime = await createLocalRuntime(join(__dirname, '..', '..', '..', 'models', 'relay-demo-llm'));
  try {
    const provider = new OnnxLocalProvider(runtime, 'relay-demo-llm');
    const messages = [{ role: 'user' as const, content: '47*6+28=?' }];
    let text = '';
    let finish: ProviderChunk | undefined;
    for await (const chunk of provider.continue({ messages, partialAnswer: '47*6=', maxTokens: 3, temperature: 0 })) {
      if (chunk.type === 'text') text += chunk.text;
      if (chunk.type === 'done') finish = chunk;
    }
    assert.equal(text, '282', 'the LLM writes the product, N = 3 characters');
    assert.deepEqual(finish, { type: 'done', finishReason: 'length' });
    const tooLong = provider.continue({ messages, partialAnswer: '1'.repeat(200), maxTokens: 1, temperature: 0 });
    await assert.rejects(
      (async () => {
        for await (const chunk of tooLong) void chunk;
      })(),
      (error: Error & { code?: string }) => error.code === 'bad_request' && /relay-demo-llm.*cannot read the prompt.*at most 128/.test(error.message),
    );
  } finally {
    await runtime.dispose();
  }
});

test('Stop while the session opens (a process loading the model again) ends the call at once: done with cancelled; the session that opens late is let go', async () => {
  const late = new DoubleSession(chars('x'), true);
  const letGo = new Promise<void>((resolve) => (late.dispose = async () => resolve()));
  let open!: (session: SlmSession) => void;
  const runtime = new DoubleRuntime(chars('x'));
  const asked = new Promise<void>((resolve) => {
    runtime.createSession = () => {
      resolve();
      return new Promise<SlmSession>((opened) => (open = opened));
    };
  });
  const stop = new AbortController();
  const chunks: ProviderChunk[] = [];
  const call = (async () => {
    for await (const chunk of new OnnxLocalProvider(runtime, 'big-local-llm').continue({ messages: QUESTION, partialAnswer: '', maxTokens: 8 }, stop.signal))
      chunks.push(chunk);
  })();
  await within(asked, 30_000, 'HUNG: the call asking for its session');
  stop.abort();
  await within(call, 30_000, 'HUNG: the call stopped while its session opened');
  assert.deepEqual(chunks, [{ type: 'done', finishReason: 'cancelled' }]);
  open(late);
  await within(letGo, 30_000, 'HUNG: the session that opened late being let go');
  assert.equal(late.context, '', 'nothing was read into it');
});

// In its own process (as Relay runs it), with the stand-in worker (test/unit/slm/fakeWorker.ts) for what a real model cannot be made to do on demand.
describe('the large model in its process', () => {
  /** Far longer than any of these takes; reached only by a call that hangs. */
  const ENDS_WITHIN_MS = 30_000;
  let dir: string;
  let fake: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'relay-onnx-local-'));
    fake = join(dir, 'fakeWorker.js');
    writeFakeWorker(fake);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A runtime of the stand-in, as the large model (its behaviour is chosen by the folder's name). */
  async function largeModel(name: string) {
    const folder = join(dir, name);
    mkdirSync(folder, { recursive: true });
    return createProcessRuntime(folder, { workerPath: fake, role: 'llm' });
  }

  test('Stop while it reads a long prompt ends the call at once: done with cancelled, not an error', async () => {
    const runtime = await largeModel('endless-prefill');
    try {
      const stop = new AbortController();
      const call = new OnnxLocalProvider(runtime, 'big-local-llm').continue({ messages: QUESTION, partialAnswer: '', maxTokens: 8 }, stop.signal);
      const chunks: ProviderChunk[] = [];
      const reading = (async () => {
        for await (const chunk of call) chunks.push(chunk);
      })();
      // The call has begun (past its first check) and goes on to read the prompt, which never ends unless stopped.
      stop.abort();
      await within(reading, ENDS_WITHIN_MS, 'HUNG: the call stopped while the prompt was read');
      assert.deepEqual(chunks, [{ type: 'done', finishReason: 'cancelled' }]);
    } finally {
      await runtime.dispose();
    }
  });

  test("its process dies while it reads the prompt: a server error with Retry that names the large model's process, not a bad request", async () => {
    const runtime = await largeModel('crash-prefill');
    try {
      const call = new OnnxLocalProvider(runtime, 'my-7b-llm').continue({ messages: QUESTION, partialAnswer: '', maxTokens: 8 });
      await assert.rejects(
        within(
          (async () => {
            for await (const chunk of call) void chunk;
          })(),
          ENDS_WITHIN_MS,
          'HUNG: the call whose process died',
        ),
        (error: unknown) => {
          assert.ok(isProviderError(error), String(error));
          assert.equal(error.code, 'server');
          assert.equal(error.retryable, true);
          assert.equal(error.fix, 'retry');
          assert.match(error.message, /^The local LLM model \(my-7b-llm\) stopped: The large model's process was killed by SIGKILL; .* ask again \(or Retry\)/);
          return true;
        },
      );
    } finally {
      await runtime.dispose();
    }
  });
});
