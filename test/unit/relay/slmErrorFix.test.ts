// A model's runtime that fails says which fix helps (processRuntime.ts: a model that runs out of
// memory, or whose process dies again and again, needs another model): the answer's error keeps
// that fix, for the small model (Select Model) as for an onnx-local large model (its setting),
// rather than none or Retry, which would only fail again. Real child processes (the fake worker).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { collectRelay } from '../../../src/core/relay/engine';
import type { RelayEvent } from '../../../src/core/relay/events';
import { isProviderError, type ProviderError } from '../../../src/core/providers/errors';
import { OnnxLocalProvider } from '../../../src/core/providers/onnxLocal';
import { createProcessRuntime, type ProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import type { ChatMessage } from '../../../src/core/slm/types';
import { useFakeWorker, within } from '../slm/fakeWorkerSetup';
import { DoubleRuntime, chars } from './doubles';

const QUESTION: ChatMessage[] = [{ role: 'user', content: 'Say hello.' }];
const PROMPT = 'user: Say hello.\nassistant: ';
const posixOnly = process.platform === 'win32' && 'POSIX signals';

const fake = useFakeWorker('relay-slm-error-fix-');

async function model(name: string, role: 'slm' | 'llm' = 'slm'): Promise<ProcessRuntime> {
  return createProcessRuntime(fake.modelFolder(name), { workerPath: fake.worker, role });
}

/** The one error event of an answer of the small model `slm` alone. */
async function answerError(slm: ProcessRuntime): Promise<Extract<RelayEvent, { type: 'error' }>> {
  const { stats, events } = await within(collectRelay({ mode: 'slm-only', slm, messages: QUESTION, prompt: PROMPT }), 'the answer');
  assert.equal(stats.finishReason, 'error');
  const errors = events.filter((e): e is Extract<RelayEvent, { type: 'error' }> => e.type === 'error');
  assert.equal(errors.length, 1);
  return errors[0]!;
}

describe("the small model's error in an answer", () => {
  test('out of memory while it reads the prompt: the small model failed, and Select Model is the fix', async () => {
    const slm = await model('oom-prefill');
    try {
      const error = await answerError(slm);
      assert.equal(error.code, 'slm');
      assert.match(error.message, /^The small model failed: The model ran out of memory \(Failed to allocate memory/);
      assert.equal(error.fix, 'pick-model');
    } finally {
      await slm.dispose();
    }
  });

  test('its process dies while it writes, a second time in a row: Select Model is the fix (the first time, none: ask again)', { skip: posixOnly }, async () => {
    const slm = await model('crash-generate');
    try {
      const first = await answerError(slm);
      assert.equal(first.code, 'slm');
      assert.equal(first.fix, undefined);
      const second = await answerError(slm);
      assert.equal(second.code, 'slm');
      assert.match(second.message, /^The small model failed: The small model's process was killed by SIGKILL, 2 times in a row; /);
      assert.equal(second.fix, 'pick-model');
    } finally {
      await slm.dispose();
    }
  });
});

describe('an onnx-local large model that fails', () => {
  /** The error of one call of the large model `runtime`. */
  async function callError(runtime: ProcessRuntime): Promise<ProviderError> {
    const call = new OnnxLocalProvider(runtime, 'my-7b-llm').continue({ messages: QUESTION, partialAnswer: '', maxTokens: 8 });
    try {
      await within(
        (async () => {
          for await (const chunk of call) void chunk;
        })(),
        'the call',
      );
    } catch (error) {
      assert.ok(isProviderError(error), String(error));
      return error;
    }
    assert.fail('the call was expected to fail');
  }

  test('its process dies again and again: its setting is the fix (a model that fits), not Retry', { skip: posixOnly }, async () => {
    const runtime = await model('crash-prefill', 'llm');
    try {
      const first = await callError(runtime);
      assert.equal(first.fix, 'retry');
      const second = await callError(runtime);
      assert.match(second.message, /^The local LLM model \(my-7b-llm\) stopped: The large model's process was killed by SIGKILL, 2 times in a row; /);
      assert.equal(second.fix, 'open-settings');
      assert.equal(second.retryable, false);
    } finally {
      await runtime.dispose();
    }
  });

  test('out of memory while it reads the prompt: its setting is the fix, in the answer too', async () => {
    const runtime = await model('oom-prefill', 'llm');
    try {
      const error = await callError(runtime);
      assert.match(error.message, /The model ran out of memory/);
      assert.equal(error.fix, 'open-settings');
      const llm = new OnnxLocalProvider(runtime, 'my-7b-llm', { renderPrompt: async (request) => PROMPT + request.partialAnswer });
      const { events } = await within(collectRelay({ mode: 'llm-only', slm: new DoubleRuntime(chars('x')), llm, messages: QUESTION }), 'the answer');
      const errors = events.filter((e): e is Extract<RelayEvent, { type: 'error' }> => e.type === 'error');
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.fix, 'open-settings');
    } finally {
      await runtime.dispose();
    }
  });
});
