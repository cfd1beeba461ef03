// The small model's process stops answering a call that has no cancel of its own: the count of the
// prompt (a downloaded tokenizer whose regex backtracks for hours on a long identifier), the
// session's opening, or the count of the LLM's text while the LLM writes alone. The silence ceiling
// ends such an answer as 'stalled' where no one presses Stop, Stop ends it as
// 'cancelled', and either way the process that does not answer is stopped after the grace (the
// next answer starts a new one). Real child processes (the fake worker); the bounds (30 s) only
// tell "ends" from "hangs for ever".
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { collectRelay, type RelayOptions } from '../../../src/core/relay/engine';
import { createProcessRuntime, type ProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import type { ChatMessage } from '../../../src/core/slm/types';
import { HANG_COUNT_TEXT } from '../slm/fakeWorker';
import { alive, until, useFakeWorker, within } from '../slm/fakeWorkerSetup';
import { DoubleProvider } from './doubles';

/** The grace of a stopped answer's call before its process is stopped: short, so that the tests do not wait the default 10 s. */
const CANCEL_GRACE_MS = 200;
/** The silence ceiling of the answers that no one stops. */
const MAX_STALL_MS = 1000;
const QUESTION: ChatMessage[] = [{ role: 'user', content: HANG_COUNT_TEXT }];
/** A prompt the `hang-count` model never finishes counting. */
const HANGING_PROMPT = `user: ${HANG_COUNT_TEXT}\nassistant: `;
const PROMPT = 'user: Say hello.\nassistant: ';
const skip = process.platform !== 'linux' && 'reads /proc';

const fake = useFakeWorker('relay-engine-slm-hangs-');

/** A small model of the fake worker in its process (its behaviour is chosen by the folder's name). */
async function smallModel(name: string): Promise<{ slm: ProcessRuntime; folder: string; pid: number }> {
  const folder = fake.modelFolder(name);
  const slm = await createProcessRuntime(folder, { workerPath: fake.worker, cancelGraceMs: CANCEL_GRACE_MS });
  return { slm, folder, pid: slm.pid as number };
}

/** The answer ended as `finish`, and the process that did not answer was stopped (the next call starts a new one). */
async function expectEndedAndStopped(answering: ReturnType<typeof collectRelay>, finish: string, slm: ProcessRuntime, pid: number): Promise<void> {
  const { stats, events } = await within(answering, 'the answer whose small model does not answer');
  assert.equal(stats.finishReason, finish);
  assert.deepEqual(
    events.filter((e) => e.type === 'error'),
    [],
  );
  await until(() => !alive(pid), 'the process that does not answer being stopped');
  assert.equal(slm.running, false);
}

/** What the small model never answers before the answer begins: the model folder's name, the options, and what its arrival writes. */
const HANGS: { what: string; model: string; options: Omit<RelayOptions, 'slm'>; pending: string }[] = [
  {
    what: 'the count of the prompt',
    model: 'hang-count',
    options: { mode: 'slm-only', messages: QUESTION, prompt: HANGING_PROMPT },
    pending: 'count-pending',
  },
  {
    what: "the session's opening",
    model: 'hang-session',
    options: { mode: 'slm-only', messages: QUESTION, prompt: PROMPT },
    pending: 'session-pending',
  },
  {
    what: 'the count of the prompt (llm-only: the small model only counts)',
    model: 'hang-count-llm-only',
    options: { mode: 'llm-only', messages: QUESTION, prompt: HANGING_PROMPT, llm: new DoubleProvider([]) },
    pending: 'count-pending',
  },
];

for (const { what, model, options, pending } of HANGS) {
  describe(`${what} never returns`, { skip }, () => {
    test('without Stop (relay eval), the silence ceiling ends the answer: stalled, and the process is stopped', async () => {
      const { slm, pid } = await smallModel(`${model}-a`);
      try {
        await expectEndedAndStopped(collectRelay({ ...options, slm, maxStallMs: MAX_STALL_MS }), 'stalled', slm, pid);
      } finally {
        await slm.dispose();
      }
    });

    test('Stop ends the answer, cancelled, and the process is stopped after the grace', async () => {
      const { slm, folder, pid } = await smallModel(`${model}-b`);
      try {
        const stop = new AbortController();
        const answering = collectRelay({ ...options, slm, signal: stop.signal });
        await until(() => existsSync(join(folder, pending)), `${what} arriving`);
        stop.abort();
        await expectEndedAndStopped(answering, 'cancelled', slm, pid);
      } finally {
        await slm.dispose();
      }
    });
  });
}

describe("the count of the LLM's text never returns (llm-only: no session whose stop would bound it)", { skip }, () => {
  const llmWrites = (): DoubleProvider => new DoubleProvider([{ chunks: [HANG_COUNT_TEXT], finish: 'stop' }]);

  test('without Stop, the silence ceiling ends the answer: stalled, and the process is stopped', async () => {
    const { slm, pid } = await smallModel('hang-count-span-a');
    try {
      const answering = collectRelay({ mode: 'llm-only', slm, llm: llmWrites(), messages: QUESTION, prompt: PROMPT, maxStallMs: MAX_STALL_MS });
      await expectEndedAndStopped(answering, 'stalled', slm, pid);
    } finally {
      await slm.dispose();
    }
  });

  test('Stop ends the answer, cancelled, and the process is stopped after the grace', async () => {
    const { slm, folder, pid } = await smallModel('hang-count-span-b');
    try {
      const stop = new AbortController();
      const answering = collectRelay({ mode: 'llm-only', slm, llm: llmWrites(), messages: QUESTION, prompt: PROMPT, signal: stop.signal });
      await until(() => existsSync(join(folder, 'count-pending')), "the count of the LLM's text arriving");
      stop.abort();
      await expectEndedAndStopped(answering, 'cancelled', slm, pid);
    } finally {
      await slm.dispose();
    }
  });
});

describe("the small model's count of the token ratios' sample never returns (llm-only: no session whose stop would bound it)", { skip }, () => {
  test('Stop ends the answer, cancelled, and the process is stopped after the grace', async () => {
    const { slm, folder, pid } = await smallModel('hang-calibration');
    try {
      // A new pair whose provider counts for free: the answer waits for the sample's count before it prices a call.
      const llm = Object.assign(new DoubleProvider([]), { countInputTokens: async () => 900 });
      const stop = new AbortController();
      const price = { inputPerMTok: 1, outputPerMTok: 1 };
      const answering = collectRelay({ mode: 'llm-only', slm, llm, price, messages: QUESTION, prompt: PROMPT, signal: stop.signal });
      await until(() => existsSync(join(folder, 'count-pending')), "the count of the ratios' sample arriving");
      stop.abort();
      await expectEndedAndStopped(answering, 'cancelled', slm, pid);
      assert.equal(llm.requests.length, 0);
    } finally {
      await slm.dispose();
    }
  });

  test('without Stop, the silence ceiling ends the answer: stalled, and the process is stopped', async () => {
    const { slm, folder, pid } = await smallModel('hang-calibration');
    try {
      const llm = Object.assign(new DoubleProvider([]), { countInputTokens: async () => 900 });
      const price = { inputPerMTok: 1, outputPerMTok: 1 };
      const answering = collectRelay({ mode: 'llm-only', slm, llm, price, messages: QUESTION, prompt: PROMPT, maxStallMs: MAX_STALL_MS });
      await until(() => existsSync(join(folder, 'count-pending')), "the count of the ratios' sample arriving");
      await expectEndedAndStopped(answering, 'stalled', slm, pid);
      assert.equal(llm.requests.length, 0);
    } finally {
      await slm.dispose();
    }
  });
});
