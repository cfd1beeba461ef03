// The small model's process stops answering a call the worker cannot cancel outside the engine:
// the composition's count of the prompt's start the LLM's cache likely holds (a downloaded
// tokenizer whose regex backtracks for hours on a long word), and the read-ahead's opening of a
// session. Stop (the answer's signal, the read-ahead's own) is given to the call, so the runtime
// stops the process after its grace instead of leaving it hung for ever (the next call starts a
// new one). Real child processes (the fake worker); the bounds (30 s) only tell "ends" from "hangs".
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { RelayComposition } from '../../../src/core/compose';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import { RecentPrompts } from '../../../src/core/relay/recentPrompts';
import { createProcessRuntime, SlmProcessError, type ProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import { ReadAhead } from '../../../src/core/slm/readAhead';
import type { ChatMessage } from '../../../src/core/slm/types';
import { HANG_COUNT_TEXT } from '../slm/fakeWorker';
import { alive, until, useFakeWorker, within } from '../slm/fakeWorkerSetup';
import { gpt4oSetup } from './gpt4oSetup';

/** The grace of a stopped call before its process is stopped: short, so that the tests do not wait the default 10 s. */
const CANCEL_GRACE_MS = 200;
const skip = process.platform !== 'linux' && 'reads /proc';

const runtimes: ProcessRuntime[] = [];
// Before the fake worker's own clean-up (hooks run in the order they are set): the runtimes close first.
after(async () => {
  for (const rt of runtimes) await rt.dispose().catch(() => undefined);
});
const fake = useFakeWorker('relay-slm-hangs-outside-engine-');

/** A small model of the fake worker in its process (its behaviour is chosen by the folder's name). */
async function smallModel(name: string): Promise<{ slm: ProcessRuntime; folder: string; pid: number }> {
  const folder = fake.modelFolder(name);
  const slm = await createProcessRuntime(folder, { workerPath: fake.worker, cancelGraceMs: CANCEL_GRACE_MS });
  runtimes.push(slm);
  return { slm, folder, pid: slm.pid as number };
}

/** The process that did not answer was stopped (the next call starts a new one). */
async function expectStopped(slm: ProcessRuntime, pid: number): Promise<void> {
  await until(() => !alive(pid), 'the process that does not answer being stopped');
  assert.equal(slm.running, false);
}

describe("the count of the prompt's start the LLM's cache likely holds never returns (a chat's second turn)", { skip }, () => {
  test('Stop during prepare(): the count fails once the process said nothing for its grace, and the process is stopped', async () => {
    const { slm, folder, pid } = await smallModel('hang-count-composition');
    const setup = gpt4oSetup('money-aware');
    const deps = {
      slm,
      slmFolder: folder,
      keys: new MemoryKeySource(),
      renderTemplate: async () => '',
      openLocalLlm: async () => slm,
      recentPrompts: new RecentPrompts(),
    };
    // The first turn's prompt (nothing to count yet) holds what the tokenizer never finishes.
    const turn1: ChatMessage[] = [{ role: 'user', content: HANG_COUNT_TEXT }];
    const turn2: ChatMessage[] = [...turn1, { role: 'assistant', content: 'An answer.' }, { role: 'user', content: 'And then?' }];
    await within((await RelayComposition.open(setup, deps, 'money-aware')).prepare(turn1), 'the first turn');
    const stop = new AbortController();
    const preparing = (await RelayComposition.open(setup, deps, 'money-aware')).prepare(turn2, stop.signal);
    await until(() => existsSync(join(folder, 'count-pending')), 'the count of the cached start arriving');
    stop.abort();
    await assert.rejects(within(preparing, 'the second turn stopped during its count'), (e: unknown) => {
      assert.ok(e instanceof SlmProcessError, String(e));
      assert.match(e.message, /said nothing for 0\.2 s after a stop while its countTokens call waited, and was stopped/);
      return true;
    });
    await expectStopped(slm, pid);
  });
});

describe("the read-ahead's session never opens", { skip }, () => {
  test('settle() before the next answer stops it: it ends once the process is stopped after its grace', async () => {
    const { slm, folder, pid } = await smallModel('hang-session-keeps-caches');
    const readAhead = new ReadAhead();
    readAhead.start(slm, async () => 'user: Hello\nassistant: Hi\nuser: ');
    await until(() => existsSync(join(folder, 'session-pending')), "the read-ahead's session opening arriving");
    // Another prompt: the read-ahead is of no use to it and is stopped.
    await within(readAhead.settle('user: Something else\nassistant: '), 'the settle of a read-ahead whose session never opens');
    await expectStopped(slm, pid);
  });
});
