// RelayService when the small model's process never answers the token count that fits a long
// chat into its window (a downloaded tokenizer whose regex backtracks for hours on a long word):
// Stop ends the answer at once, and the process that does not answer is stopped after its grace
// (DEFAULT_CANCEL_GRACE_MS, 10 s) rather than left hung for ever; the next answer starts a new one.
// The SLM process is the fake worker (test/unit/slm/fakeWorker.ts) at
// <extension>/dist/slmWorker.js; the VS Code API is a stand-in (vscodeStub.ts). The bound (30 s)
// only tells "ends" from "hangs for ever".
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { resetSettings, useVscodeStub } from './vscodeStub';
import { slmWorkerPids } from './slmWorkerBundle';
useVscodeStub();
import type { ChatMessage } from '../../../src/core/slm/types';
import { HANG_COUNT_TEXT } from '../slm/fakeWorker';
import { alive, until, within } from '../slm/fakeWorkerSetup';
import { useFakeWorkerExtension } from './fakeWorkerService';

const sink = { onEvent: () => undefined };
const { modelFolder, withService } = useFakeWorkerExtension('relay-service-count-hangs-');

describe("the count that fits a chat into the small model's window never returns", { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  test('Stop ends the answer, and the process that does not answer is stopped after its grace', () =>
    withService(async (service) => {
      // Its info says a context window: a chat of more than one message is counted before the answer.
      const folder = modelFolder('hang-count');
      resetSettings({ 'relay.slm.modelFolder': folder, 'relay.localOnly': true });
      const chat: ChatMessage[] = [
        { role: 'user', content: 'Hello' },
        { role: 'assistant', content: 'Hi' },
        { role: 'user', content: HANG_COUNT_TEXT },
      ];
      const answering = service.answer(chat, sink);
      await until(() => existsSync(join(folder, 'count-pending')), "the count of the chat's prompt arriving");
      const [pid] = slmWorkerPids();
      assert.equal(service.stop(), true);
      const outcome = await within(answering, 'the answer stopped during the count');
      assert.equal(outcome.error?.message, 'Stopped before the answer began: the small model was still reading the conversation.');
      assert.equal(service.busy, false);
      await until(() => !alive(pid), 'the process that does not answer the count being stopped');
    }));
});
