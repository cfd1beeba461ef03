// The small model's process ends (a crash, the OOM killer) while the LLM writes, or after the
// adapter looked and before the engine opens its session. Its reload here never ends (a large
// model that takes minutes to load again): the answer ends, or Stop ends it, without waiting on
// it, and no process is started again to count the figures. Real child processes (the fake
// worker); the bounds (30 s) only tell "ends" from "hangs for ever".
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { collectRelay } from '../../../src/core/relay/engine';
import type { RelayEvent } from '../../../src/core/relay/events';
import { createProcessRuntime, type ProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import type { ChatMessage } from '../../../src/core/slm/types';
import { fakeWorkerStarts, HANDOFF_TOKEN } from '../slm/fakeWorker';
import { alive, until, useFakeWorker, within } from '../slm/fakeWorkerSetup';
import { DoubleProvider } from './doubles';

const QUESTION: ChatMessage[] = [{ role: 'user', content: 'Say hello.' }];
const PROMPT = 'user: Say hello.\nassistant: ';
/** What the SLM shows of HANDOFF_TOKEN (its command is hidden). */
const SLM_TEXT = HANDOFF_TOKEN.slice(0, HANDOFF_TOKEN.indexOf('<call>'));

const fake = useFakeWorker('relay-engine-slm-ends-');

/** The SLM in its process: it writes a command handing off to the LLM, and never finishes loading again once its process ended. */
async function smallModel(name: string): Promise<ProcessRuntime> {
  return createProcessRuntime(fake.modelFolder(name), { workerPath: fake.worker });
}

/** The OOM killer: the process dies, and the runtime sees it gone. */
async function kill(slm: ProcessRuntime): Promise<void> {
  assert.ok(slm.running && slm.pid !== undefined);
  process.kill(slm.pid, 'SIGKILL');
  await until(() => !slm.running, 'the runtime seeing its process gone');
  assert.equal(slm.pid, undefined);
}

describe('the SLM process ends while the LLM writes', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  test('the call ends with what the LLM wrote, counted without the SLM (estimated), and the answer fails at once saying so: no new process loads to count', async () => {
    const slm = await smallModel('hands-off-hang-reload-a');
    try {
      let answer!: () => void;
      const llm = new DoubleProvider([{ chunks: ['wor', 'ld'], answerWhen: new Promise<void>((resolve) => (answer = resolve)) }]);
      const starts = fakeWorkerStarts(fake.worker);
      const answering = collectRelay({ mode: 'command', slm, llm, messages: QUESTION, prompt: PROMPT });
      await until(() => llm.requests.length === 1, 'the LLM call');
      await kill(slm);
      answer(); // the LLM's text comes after the SLM died
      const { answer: text, stats, events } = await within(answering, 'the answer whose SLM died during the call');
      assert.equal(text, `${SLM_TEXT}world`, 'what was written is kept');
      assert.equal(stats.finishReason, 'error');
      const error = events.find((e): e is Extract<RelayEvent, { type: 'error' }> => e.type === 'error');
      assert.match(error?.message ?? '', /^The small model failed: The small model's process was killed by SIGKILL/);
      const end = events.find((e): e is Extract<RelayEvent, { type: 'call-end' }> => e.type === 'call-end');
      assert.equal(end?.tokens, 2, "the LLM's text, estimated by its characters ('wor', 'ld')");
      assert.equal(end?.usage.estimated, true);
      assert.ok(stats.savedUsd === null || stats.savedUsd <= 0, 'an answer that failed saved nothing');
      assert.equal(fakeWorkerStarts(fake.worker), starts, 'no process was started again to count');
      assert.equal(slm.running, false);
    } finally {
      await slm.dispose();
    }
  });

  test('Stop while the call waits ends the answer at once: the stopped call is booked without the SLM', async () => {
    const slm = await smallModel('hands-off-hang-reload-b');
    try {
      let waiting = false;
      const llm = new DoubleProvider([{ chunks: ['wor'], hang: true }]);
      llm.onHang = () => (waiting = true);
      const stop = new AbortController();
      const starts = fakeWorkerStarts(fake.worker);
      const answering = collectRelay({ mode: 'command', slm, llm, messages: QUESTION, prompt: PROMPT, signal: stop.signal });
      await until(() => waiting, 'the LLM call waiting after its first text');
      await kill(slm);
      stop.abort();
      const { answer: text, stats, events } = await within(answering, 'the answer stopped after its SLM died');
      assert.equal(text, `${SLM_TEXT}wor`);
      assert.equal(stats.finishReason, 'cancelled');
      const end = events.find((e): e is Extract<RelayEvent, { type: 'call-end' }> => e.type === 'call-end');
      assert.equal(end?.finishReason, 'cancelled');
      assert.equal(end?.usage.estimated, true);
      assert.equal(fakeWorkerStarts(fake.worker), starts, 'no process was started again to count');
    } finally {
      await slm.dispose();
    }
  });
});

describe('the SLM process ends while the LLM alone writes (llm-only: the SLM only counts)', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  test('the answer is delivered, its figures counted without the SLM (its thinking part too): no new process loads to count', async () => {
    const slm = await smallModel('hang-reload-d');
    try {
      let answer!: () => void;
      const llm = new DoubleProvider([
        { chunks: ['<think>hm</think>', 'Hello'], finish: 'stop', answerWhen: new Promise<void>((resolve) => (answer = resolve)) },
      ]);
      const starts = fakeWorkerStarts(fake.worker);
      const answering = collectRelay({ mode: 'llm-only', slm, llm, messages: QUESTION, prompt: PROMPT, tokenBudget: 100 });
      await until(() => llm.requests.length === 1, 'the LLM call');
      await kill(slm);
      answer();
      const { answer: text, stats, events } = await within(answering, 'the answer whose SLM died during the call');
      assert.equal(text, '<think>hm</think>Hello');
      assert.equal(stats.finishReason, 'llm_eos');
      assert.equal(events.filter((e) => e.type === 'error').length, 0);
      assert.equal(stats.llmTokens, 5 + 2, "the LLM's text, estimated by its characters");
      assert.equal(stats.llmUsage.estimated, true);
      assert.equal(stats.thinkingTokens, undefined, 'not counted by a process started again');
      assert.equal(fakeWorkerStarts(fake.worker), starts, 'no process was started again to count');
    } finally {
      await slm.dispose();
    }
  });
});

describe('the SLM process ends before the engine opens its session', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  test('Stop during the reload ends the answer, saying the small model was restarting; the reload goes on until the runtime is disposed', async () => {
    const slm = await smallModel('hands-off-hang-reload-c');
    let reloading: number | undefined;
    try {
      // After the adapter's check and composition.prepare(): the engine's session opening finds it gone.
      await kill(slm);
      const starts = fakeWorkerStarts(fake.worker);
      const llm = new DoubleProvider([]);
      const stop = new AbortController();
      const answering = collectRelay({ mode: 'command', slm, llm, messages: QUESTION, prompt: PROMPT, signal: stop.signal });
      await until(() => fakeWorkerStarts(fake.worker) === starts + 1, 'the new process, whose load never ends');
      reloading = Number(readFileSync(join(fake.root, 'starts.log'), 'utf8').trim().split('\n').at(-1));
      stop.abort();
      const { answer: text, stats, events } = await within(answering, 'the answer stopped during the reload');
      assert.equal(text, '');
      assert.equal(stats.finishReason, 'cancelled');
      assert.equal(stats.calls, 0);
      const errors = events.filter((e): e is Extract<RelayEvent, { type: 'error' }> => e.type === 'error');
      assert.equal(errors.length, 1);
      assert.match(errors[0]!.message, /^Stopped before the answer began: the small model was restarting \(its process had ended/);
      assert.equal(errors[0]!.code, 'cancelled');
      assert.ok(alive(reloading), 'the reload goes on in the background for the next answer');
      assert.equal(fakeWorkerStarts(fake.worker), starts + 1, 'one new process, no other');
    } finally {
      await slm.dispose();
    }
    const stopped = reloading;
    if (stopped !== undefined) await until(() => !alive(stopped), "dispose() stopping the reload's process");
  });
});
