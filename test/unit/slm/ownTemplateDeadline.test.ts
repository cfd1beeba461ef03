// A chat template that does not render within its deadline, in a model's process: the error names
// whose template it is and what helps for it (the small model's folder and Select Model; an
// onnx-local large model's folder, its setting; relay.provider.templateFolder for another
// folder's template). Real child processes (the fake worker); the deadline is short, the bounds
// (30 s) only tell "ends" from "hangs for ever".
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { renderTimeoutMessage } from '../../../src/core/slm/chatTemplate';
import { createProcessRuntime, SlmProcessError, type ProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import { useFakeWorker, within } from './fakeWorkerSetup';

/** The render deadline of these runtimes: short, so that the tests do not wait the default. */
const RENDER_TIMEOUT_MS = 300;
const MESSAGES = [{ role: 'user' as const, content: 'hi' }];

const runtimes: ProcessRuntime[] = [];
// Before the fake worker's own clean-up (hooks run in the order they are set): the runtimes close first.
after(async () => {
  for (const rt of runtimes) await rt.dispose().catch(() => undefined);
});
const fake = useFakeWorker('relay-own-template-');

/** A runtime of `role` whose own chat template never renders (the fake worker's `hang-render`). */
async function loopingTemplate(role: 'slm' | 'llm'): Promise<ProcessRuntime> {
  const rt = await createProcessRuntime(fake.modelFolder(`hang-render-${role}`), { workerPath: fake.worker, role, renderTimeoutMs: RENDER_TIMEOUT_MS });
  runtimes.push(rt);
  return rt;
}

/** How `rendering` failed: an SlmProcessError (the render deadline's). */
async function renderError(rendering: Promise<string>): Promise<SlmProcessError> {
  try {
    await within(rendering, 'the render past its deadline');
  } catch (error) {
    assert.ok(error instanceof SlmProcessError, String(error));
    return error;
  }
  assert.fail('the render was expected to fail');
}

describe("a model's own chat template past its deadline", () => {
  test("the small model's: names its template, another small model folder or Select Model, with the pick-model fix", async () => {
    const error = await renderError((await loopingTemplate('slm')).renderChat(MESSAGES));
    assert.equal(error.message, renderTimeoutMessage("The small model's chat template", RENDER_TIMEOUT_MS, 'slm'));
    assert.match(error.message, /^The small model's chat template took more than 0\.3 s to render and was stopped .*"Relay: Select Model"\)\.$/);
    assert.equal(error.fix, 'pick-model');
  });

  test("an onnx-local large model's: names the large model's template and its folder's setting, with that fix (not Select Model, which picks the small model)", async () => {
    const error = await renderError((await loopingTemplate('llm')).renderChat(MESSAGES));
    assert.equal(
      error.message,
      "The large model's chat template took more than 0.3 s to render and was stopped (a template is a program, and this one may loop). " +
        'Use another large model folder (relay.provider.model (CLI: --model)).',
    );
    assert.equal(error.fix, 'open-settings');
  });

  test("another folder's template (relay.provider.templateFolder): that setting is what helps, whichever model's process rendered it", async () => {
    for (const role of ['slm', 'llm'] as const) {
      // The fake worker never answers a render of another folder's template.
      const error = await renderError((await loopingTemplate(role)).renderWithTemplate('/models/looping', MESSAGES));
      assert.equal(error.message, renderTimeoutMessage('The chat template of /models/looping', RENDER_TIMEOUT_MS, 'templateFolder'));
      assert.match(error.message, /Set relay\.provider\.templateFolder \(CLI: --template-folder\) to a model folder whose chat template renders\.$/);
      assert.equal(error.fix, 'open-settings');
    }
  });
});
