// Stop and the silence ceiling end an answer whose model process hangs in a call the answer
// awaits without a cancel of its own: the small model's append of the LLM's text (a forward pass
// that never returns), and an onnx-local LLM whose process ended between answers and reloads
// inside the call (minutes for a large model). Real child processes (the fake worker); the
// bounds (30 s) only tell "ends" from "hangs for ever".
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { collectRelay } from '../../../src/core/relay/engine';
import { OnnxLocalProvider } from '../../../src/core/providers/onnxLocal';
import { createProcessRuntime, type ProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import type { ChatMessage } from '../../../src/core/slm/types';
import { fakeWorkerStarts, HANDOFF_TOKEN } from '../slm/fakeWorker';
import { alive, until, useFakeWorker, within } from '../slm/fakeWorkerSetup';
import { chars, DoubleProvider, DoubleRuntime } from './doubles';

/** The grace of a cancelled call before its process is stopped: short, so that the tests do not wait the default 10 s. */
const CANCEL_GRACE_MS = 200;
const QUESTION: ChatMessage[] = [{ role: 'user', content: 'Say hello.' }];
const PROMPT = 'user: Say hello.\nassistant: ';
/** What the SLM shows of HANDOFF_TOKEN (its command is hidden). */
const SLM_TEXT = HANDOFF_TOKEN.slice(0, HANDOFF_TOKEN.indexOf('<call>'));
const skip = process.platform !== 'linux' && 'reads /proc';

const fake = useFakeWorker('relay-engine-hung-calls-');

/** A model of the fake worker in its process (its behaviour is chosen by the folder's name). */
async function model(name: string, role: 'slm' | 'llm' = 'slm'): Promise<{ runtime: ProcessRuntime; folder: string }> {
  const folder = fake.modelFolder(name);
  return { runtime: await createProcessRuntime(folder, { workerPath: fake.worker, cancelGraceMs: CANCEL_GRACE_MS, role }), folder };
}

describe("the small model's append of the LLM's text never returns (command mode)", { skip }, () => {
  test('Stop ends the answer, cancelled, with what was written; the hung process is stopped', async () => {
    const { runtime: slm, folder } = await model('hands-off-hang-append-a');
    try {
      const pid = slm.pid as number;
      const stop = new AbortController();
      const llm = new DoubleProvider([{ chunks: ['World'], finish: 'length' }]);
      const answering = collectRelay({ mode: 'command', slm, llm, messages: QUESTION, prompt: PROMPT, signal: stop.signal });
      await until(() => existsSync(join(folder, 'append-pending')), "the small model reading the LLM's text");
      stop.abort();
      const { answer, stats } = await within(answering, 'the answer stopped while its append hung');
      assert.equal(stats.finishReason, 'cancelled');
      assert.equal(answer, `${SLM_TEXT}World`, 'what was written is kept');
      assert.equal(slm.running, false);
      await until(() => !alive(pid), 'the hung process ending');
    } finally {
      await slm.dispose();
    }
  });

  test('without Stop (relay eval), the silence ceiling ends it: stalled', async () => {
    const { runtime: slm } = await model('hands-off-hang-append-b');
    try {
      const llm = new DoubleProvider([{ chunks: ['World'], finish: 'length' }]);
      const answering = collectRelay({ mode: 'command', slm, llm, messages: QUESTION, prompt: PROMPT, maxStallMs: 2000 });
      const { stats } = await within(answering, 'the answer whose append hung');
      assert.equal(stats.finishReason, 'stalled');
      assert.equal(slm.running, false);
    } finally {
      await slm.dispose();
    }
  });
});

describe('an onnx-local LLM whose process ended between answers (llm-only)', { skip }, () => {
  test("Stop while the call waits on the large model's reload ends the answer, cancelled", async () => {
    const { runtime } = await model('hang-reload-llm', 'llm');
    try {
      process.kill(runtime.pid as number, 'SIGKILL');
      await until(() => !runtime.running, 'the runtime seeing its process gone');
      const starts = fakeWorkerStarts(fake.worker);
      const llm = new OnnxLocalProvider(runtime, 'big-local-llm', { renderPrompt: async (request) => PROMPT + request.partialAnswer });
      const stop = new AbortController();
      const answering = collectRelay({ mode: 'llm-only', slm: new DoubleRuntime(chars('x')), llm, messages: QUESTION, signal: stop.signal });
      await until(() => fakeWorkerStarts(fake.worker) > starts, "the large model's reload");
      stop.abort();
      const { stats, events } = await within(answering, 'the answer stopped while the large model reloaded');
      assert.equal(stats.finishReason, 'cancelled');
      assert.deepEqual(
        events.filter((e) => e.type === 'error'),
        [],
      );
    } finally {
      await runtime.dispose();
    }
  });
});
