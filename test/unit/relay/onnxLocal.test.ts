/** The onnx-local provider (a second local model as the LLM) on the scripted ONNX fixture. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { OnnxLocalProvider } from '../../../src/core/providers/onnxLocal';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import type { ProviderChunk } from '../../../src/core/providers/types';
import { disposeRuntimes, QUESTION, renderedQuestion, scriptedSlm, type ScriptedSlm } from './realParts';

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
