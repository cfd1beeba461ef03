// The onnx-local LLM inside an answer: its prompt reading counts as progress for the silence
// ceiling, a full context window ends the answer with an error that names the large model's
// window (not the token budget), and a folder trained to call is refused as the large model.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { composeLlm, type RelaySetup } from '../../../src/core/compose';
import { isProviderError } from '../../../src/core/providers/errors';
import { OnnxLocalProvider } from '../../../src/core/providers/onnxLocal';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { ContinueRequest, ProviderChunk, TransportEvent } from '../../../src/core/providers/types';
import { collectRelay } from '../../../src/core/relay/engine';
import type { RelayEvent } from '../../../src/core/relay/events';
import { createLocalRuntime, type LocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import type { PrefillOptions, SlmRuntime } from '../../../src/core/slm/types';
import { chars, DoubleRuntime, DoubleSession } from './doubles';

const MODELS = join(__dirname, '..', '..', '..', 'models');
const DEMO_SLM = join(MODELS, 'relay-demo-slm');
const DEMO_LLM = join(MODELS, 'relay-demo-llm');

/** A large model on a slow CPU: reading any prompt takes `readMs`, told every 100 ms (as the runtime tells each step). */
function slowReader(runtime: DoubleRuntime, readMs: number): DoubleRuntime {
  const create = runtime.createSession.bind(runtime);
  runtime.createSession = async () => {
    const session = (await create()) as DoubleSession;
    const prefill = session.prefill.bind(session);
    session.prefill = async (text: string, options: PrefillOptions = {}) => {
      for (let read = 0; read < readMs; read += 100) {
        options.onProgress?.({ done: read, total: readMs, reusedTokens: 0 });
        await new Promise((resolve) => setTimeout(resolve, 100));
        if (options.signal?.aborted) throw new Error('aborted');
      }
      return prefill(text);
    };
    return session;
  };
  return runtime;
}

/** The provider as the engine calls it, keeping the 'reading' events it tells. */
class ReadingTold extends OnnxLocalProvider {
  readonly reading: TransportEvent[] = [];

  override continue(request: ContinueRequest, signal?: AbortSignal): AsyncIterable<ProviderChunk> {
    const onTransport = (event: TransportEvent): void => {
      if (event.phase === 'reading') this.reading.push(event);
      request.onTransport?.(event);
    };
    return super.continue({ ...request, onTransport }, signal);
  }
}

test("a large local model reading its prompt for longer than the silence ceiling is working, not stalled: each step read is progress, told as 'reading'", async () => {
  // 2.5 s of reading under a 1 s ceiling, told every 100 ms: only a pause of 0.9 s between two steps could end it.
  const slm = new DoubleRuntime([...chars('The answer', 0.99), { text: ' is', top1: 0.1 }, ...chars(' here.', 0.99)]);
  const llm = new ReadingTold(slowReader(new DoubleRuntime(chars(' is', 0.99)), 2500), 'slow-local-llm', {
    renderPrompt: async (request) => `p${request.partialAnswer}`,
  });
  const result = await collectRelay({ mode: 'confidence', slm, llm, messages: [{ role: 'user', content: 'q' }], maxStallMs: 1000 });
  assert.notEqual(result.stats.finishReason, 'stalled', 'the reading counted as silence');
  assert.equal(result.stats.finishReason, 'eos', 'the answer was written to its end');
  assert.ok(result.stats.llmTokens > 0, "the large model's text is in the answer");
  assert.ok(llm.reading.length >= 20, `the reading was told step by step (${llm.reading.length} times)`);
  assert.deepEqual(llm.reading[0], { phase: 'reading', attempt: 1, done: 0, total: 2500, reusedTokens: 0 });
});

let slmRuntime: LocalRuntime;
let llmRuntime: LocalRuntime;
before(async () => {
  slmRuntime = await createLocalRuntime(DEMO_SLM);
  llmRuntime = await createLocalRuntime(DEMO_LLM);
});
after(async () => {
  await llmRuntime?.dispose();
  await slmRuntime?.dispose();
});

test("llm-only: the demo LLM filling its 128-token window ends the answer with an error naming that window, keeping its text; not 'budget'", async () => {
  const window = llmRuntime.info.contextWindow;
  assert.equal(window, 128);
  // A prompt that leaves it about twenty tokens of room, far below the token budget.
  const messages = [{ role: 'user' as const, content: `${'4'.repeat(95)}*6+28=?` }];
  const prompt = await slmRuntime.renderChat(messages, { addGenerationPrompt: true });
  const room = window - (await llmRuntime.countTokens(prompt));
  assert.ok(room > 0 && room < 64, `room left: ${room}`);
  const llm = new OnnxLocalProvider(llmRuntime as SlmRuntime, 'relay-demo-llm', { renderPrompt: async (request) => prompt + request.partialAnswer });
  const errors: Extract<RelayEvent, { type: 'error' }>[] = [];
  const result = await collectRelay(
    { mode: 'llm-only', slm: slmRuntime, llm, messages, prompt, tokenBudget: 8192, llmTemperature: 0 },
    (event) => void (event.type === 'error' && errors.push(event)),
  );
  assert.notEqual(result.stats.finishReason, 'budget', `${result.stats.llmTokens} of 8,192 budget tokens`);
  assert.equal(result.stats.finishReason, 'error');
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /relay-demo-llm\) filled its context window after writing \d+ tokens: it reads at most 128 tokens/);
  assert.match(errors[0].message, /pick a large model with a longer context \(relay\.provider\.model/);
  assert.equal(errors[0].fix, 'llm-model');
  assert.ok(result.answer.length > 0 && result.answer.length <= room, `what it wrote is kept: ${JSON.stringify(result.answer)}`);
  assert.equal(result.stats.llmTokens, result.answer.length, 'and counted (one token a character)');
});

function localSetup(model: string): RelaySetup {
  return {
    provider: { kind: 'onnx-local', baseUrl: '', model, templateFolder: '', timeouts: { connect: 5, firstByte: 5, idle: 5, call: 5 }, caching: 'auto' },
    prices: {},
    mode: 'command',
    thinking: false,
    confidence: { threshold: 0.5, spanTokens: 2, maxLlmShare: 1 },
    maxTurns: 5,
    tokenBudget: 256,
    temperature: 0,
    limits: { maxLlmCalls: 8, maxCostUsd: 1, maxStallSeconds: 60 },
  };
}

test('a folder trained to call (the demo SLM) is refused as the onnx-local LLM before it loads, naming the fix; the demo LLM is taken', async () => {
  const opened: string[] = [];
  const deps = {
    keys: new MemoryKeySource(),
    openLocalLlm: async (folder: string) => {
      opened.push(folder);
      return llmRuntime as SlmRuntime;
    },
  };
  await assert.rejects(
    composeLlm(localSetup(DEMO_SLM), deps, () => 'prompt'),
    (error: unknown) => {
      assert.ok(isProviderError(error), String(error));
      assert.equal(error.fix, 'llm-model');
      assert.match(error.message, /relay-demo-slm[\\/]config\.json says relay_trained: true/);
      assert.match(error.message, /Set relay\.provider\.model \(CLI: --model\) to a large model not trained to call/);
      return true;
    },
  );
  assert.deepEqual(opened, [], 'not loaded');
  const taken = await composeLlm(localSetup(DEMO_LLM), deps, () => 'prompt');
  assert.equal(taken.provider.model, 'relay-demo-llm');
  assert.deepEqual(opened, [DEMO_LLM]);
});
