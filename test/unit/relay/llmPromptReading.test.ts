// A large model on this machine (onnx-local) reading its prompt: the answer is told how far it has
// read, as it is of the small model's reading (prompt-reading), and the call's "Waiting for this
// machine… N s" ticks end there rather than take turns with that line. The real provider over a
// double runtime that reads slowly; the SLM is the double.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OnnxLocalProvider } from '../../../src/core/providers/onnxLocal';
import { collectRelay } from '../../../src/core/relay/engine';
import type { RelayEvent } from '../../../src/core/relay/events';
import type { PrefillOptions } from '../../../src/core/slm/types';
import { chars, DoubleRuntime, DoubleSession } from './doubles';

const STEPS = 12;
const STEP_TOKENS = 100;
/** Long enough that the wait's once-a-second ticks would come while it reads. */
const STEP_MS = 200;

/** A large model on a slow CPU: it reads any prompt in STEPS steps, told before the first and after each (as the runtime tells them). */
function slowReader(runtime: DoubleRuntime): DoubleRuntime {
  const create = runtime.createSession.bind(runtime);
  runtime.createSession = async () => {
    const session = (await create()) as DoubleSession;
    const prefill = session.prefill.bind(session);
    session.prefill = async (text: string, options: PrefillOptions = {}) => {
      const total = STEPS * STEP_TOKENS;
      options.onProgress?.({ done: 0, total, reusedTokens: 0 });
      for (let step = 1; step <= STEPS; step++) {
        await new Promise((resolve) => setTimeout(resolve, STEP_MS));
        if (options.signal?.aborted) throw new Error('aborted');
        options.onProgress?.({ done: step * STEP_TOKENS, total, reusedTokens: 0 });
      }
      return prefill(text);
    };
    return session;
  };
  return runtime;
}

test("a local LLM's prompt reading is told as prompt-reading progress, in order, and its call's wait ticks end at the first step", async () => {
  const slm = new DoubleRuntime([...chars('The answer', 0.99), { text: ' is', top1: 0.1, external: true }, ...chars(' here.', 0.99)]);
  const llm = new OnnxLocalProvider(slowReader(new DoubleRuntime(chars(' is', 0.99))), 'slow-local-llm', {
    renderPrompt: async (request) => `p${request.partialAnswer}`,
  });
  const events: RelayEvent[] = [];
  const result = await collectRelay({ mode: 'confidence', slm, llm, messages: [{ role: 'user', content: 'q' }] }, (event) => void events.push(event));
  assert.equal(result.stats.finishReason, 'eos');
  assert.equal(result.stats.calls, 1);

  const callStart = events.findIndex((e) => e.type === 'call-start');
  const callEnd = events.findIndex((e) => e.type === 'call-end');
  assert.ok(callStart >= 0 && callEnd > callStart, 'one call, started and ended');
  const during = events.slice(callStart, callEnd);
  const reading = during.filter((e) => e.type === 'prompt-reading');
  assert.deepEqual(
    reading.map((e) => [e.done, e.total, e.reusedTokens]),
    Array.from({ length: STEPS + 1 }, (_, step) => [step * STEP_TOKENS, STEPS * STEP_TOKENS, 0]),
    'every step it read, in order',
  );
  assert.deepEqual(new Set(reading.map((e) => e.reader)), new Set(['large']), "told as the large model's reading, not the small one's");
  const firstReading = during.findIndex((e) => e.type === 'prompt-reading');
  const ticksAfter = during.slice(firstReading).filter((e) => e.type === 'call-wait' && e.state !== 'receiving');
  assert.deepEqual(ticksAfter, [], 'no "Waiting for this machine… N s" once its reading is told');
});
