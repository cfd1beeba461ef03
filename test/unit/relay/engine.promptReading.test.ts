/**
 * The engine on a long prompt, with the tiny ONNX model's real runtime: it says how far the
 * prompt is read ('prompt-reading'), Stop ends the reading between steps, and the next
 * answer on the same prompt reads nothing again (stats.reusedPromptTokens).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { collectRelay } from '../../../src/core/relay/engine';
import type { RelayEvent } from '../../../src/core/relay/events';
import { createLocalRuntime, type LocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { ensureTinyModel } from '../../fixtures/fixtures';

const LONG = '<|im_start|>user\n' + 'the quick brown fox jumps over the lazy dog '.repeat(60) + '<|im_end|>\n<|im_start|>assistant\n';
const MESSAGES = [{ role: 'user' as const, content: 'x' }];

let runtime: LocalRuntime;
before(async () => {
  runtime = await createLocalRuntime(await ensureTinyModel(), { variant: 'fp32' });
});
after(async () => {
  await runtime?.dispose();
});

const reading = (events: RelayEvent[]) => events.filter((e): e is Extract<RelayEvent, { type: 'prompt-reading' }> => e.type === 'prompt-reading');

test('a long prompt is read in steps the answer reports; asked again, nothing is read and the stats say so', async () => {
  const tokens = runtime.encode(LONG).length;
  const first = await collectRelay({ mode: 'slm-only', slm: runtime, messages: MESSAGES, prompt: LONG, tokenBudget: 4, slmSampling: { temperature: 0 } });
  const steps = reading(first.events);
  assert.ok(steps.length > 0 && steps.every((step) => step.reader === undefined), "the small model's reading names no other reader");
  assert.ok(steps.length >= 3, `a step or more after the first (${steps.length})`);
  assert.deepEqual([steps[0].done, steps[steps.length - 1].done], [0, tokens]);
  assert.ok(steps.every((s) => s.total === tokens && s.reusedTokens === 0));
  const firstSpan = first.events.findIndex((e) => e.type === 'span');
  assert.ok(first.events.indexOf(steps[steps.length - 1]) < firstSpan, 'read before the answer starts');
  assert.equal(first.stats.reusedPromptTokens, undefined);

  const again = await collectRelay({ mode: 'slm-only', slm: runtime, messages: MESSAGES, prompt: LONG, tokenBudget: 4, slmSampling: { temperature: 0 } });
  assert.equal(reading(again.events).length, 0);
  assert.equal(again.stats.reusedPromptTokens, tokens);
  assert.equal(again.answer, first.answer);
});

test('Stop while the prompt is read ends the answer at the next step, cancelled, with nothing written', async () => {
  const controller = new AbortController();
  // About 3,900 tokens, 8 steps: Stop reaches the engine through its event stream, a step or so late.
  const prompt = 'A prompt no kept cache starts with. ' + LONG + LONG;
  const { stats, events, answer } = await collectRelay(
    { mode: 'slm-only', slm: runtime, messages: MESSAGES, prompt, tokenBudget: 4, signal: controller.signal },
    (event) => {
      if (event.type === 'prompt-reading' && event.done > 0) controller.abort();
    },
  );
  assert.equal(stats.finishReason, 'cancelled');
  assert.equal(answer, '');
  const steps = reading(events);
  assert.ok(steps.length <= 4 && steps[steps.length - 1].done < steps[0].total, `reading stopped after Stop: ${JSON.stringify(steps)}`);
  assert.ok(!events.some((e) => e.type === 'span'));
});
