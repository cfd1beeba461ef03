// Stop pressed in the moment between the SLM's hand-off and the LLM call: the engine first
// settles what the SLM held back (an unfinished `<call>`, counted by the SLM: an await), and a
// Stop landing there must keep the call from starting; likewise after the call, while the LLM's
// text is counted for the SLM's window, a Stop keeps it from being fed to the SLM. Real parts: the scripted ONNX SLM and a
// server on 127.0.0.1 that speaks OpenAI's completions stream.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { LlmProvider } from '../../../src/core/providers/types';
import { collectRelay, type RelayOptions } from '../../../src/core/relay/engine';
import type { GenerateOptions, GenerateResult, GeneratedToken } from '../../../src/core/slm/types';
import type { LocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { startFakeServer, type FakeServer } from '../providers/servers/harness';
import { openAiStream } from '../providers/servers/openai';
import { disposeRuntimes, QUESTION, scriptedSlm } from './realParts';

after(disposeRuntimes);

/** A greedy confidence-mode answer to QUESTION that hands off 2 tokens where the SLM is unsure, stopped by `signal`. */
function confidenceRelay(slm: LocalRuntime, llm: LlmProvider, signal: AbortSignal): RelayOptions {
  return {
    mode: 'confidence',
    slm,
    llm,
    messages: QUESTION,
    slmSampling: { temperature: 0 },
    llmTemperature: 0,
    confidence: { threshold: 0.5, spanTokens: 2, maxLlmShare: 1 },
    signal,
  };
}

/** The LLM at `server` (OpenAI's completions), continuing the scripted SLM's prompt. */
function completionsAt(server: FakeServer, slm: { prompt: string }): LlmProvider {
  return createProvider(
    { kind: 'openai-completions', baseUrl: `${server.url}/v1`, model: 'm', templateRenderer: (_m, partial) => slm.prompt + partial, maxRetries: 0 },
    new MemoryKeySource(),
    {},
  );
}

test('Stop while the SLM counts the command it held back: no LLM call starts, nothing is sent', async () => {
  const slm = await scriptedSlm([{ text: 'First, <call>' }, { text: '3</call>' }, { text: ' two', source: 'external' }, { text: ' done.' }]);
  const server = await startFakeServer(openAiStream({ pieces: [' two', ' and'], finishReason: 'length' }));
  try {
    const provider = completionsAt(server, slm);
    const stop = new AbortController();
    const runtime: LocalRuntime = Object.create(slm.runtime);
    // The first turn stops unsure right after `<call>` (confidence mode hands off there, the unfinished command held back).
    let first = true;
    runtime.createSession = async () => {
      const session = await slm.runtime.createSession();
      const generate = session.generate.bind(session);
      session.generate = async (options: GenerateOptions, onToken?: (token: GeneratedToken) => void, signal?: AbortSignal): Promise<GenerateResult> => {
        if (!first) return generate(options, onToken, signal);
        first = false;
        const cut = new AbortController();
        let text = '';
        const result = await generate(
          options,
          (token) => {
            text += token.text;
            onToken?.(token);
            if (text.includes('<call>')) cut.abort();
          },
          cut.signal,
        );
        return { ...result, stopReason: 'low_confidence', refusedToken: { id: 0, text: '3', top1: 0.1, entropy: 1, margin: 0 } };
      };
      return session;
    };
    // The user presses Stop while the held-back command is counted.
    runtime.countTokens = async (text: string) => {
      if (text.startsWith('<call>')) stop.abort();
      return slm.runtime.countTokens(text);
    };
    const { stats, events } = await collectRelay(confidenceRelay(runtime, provider, stop.signal));
    assert.ok(stop.signal.aborted, 'Stop was pressed while the command was counted');
    assert.equal(stats.finishReason, 'cancelled');
    assert.equal(server.requests.length, 0, 'nothing reached the LLM after Stop');
    assert.deepEqual(
      events.filter((e) => e.type === 'call-start'),
      [],
      'no call started',
    );
    assert.equal(stats.calls, 0);
  } finally {
    await server.close();
  }
});

test("Stop while the SLM counts the LLM's text: the small model is not fed it, the answer ends cancelled", async () => {
  const slm = await scriptedSlm([{ text: 'First,' }, { text: ' two and', source: 'external' }, { text: ' done.' }]);
  const server = await startFakeServer(openAiStream({ pieces: [' two', ' and'], finishReason: 'length' }));
  try {
    const provider = completionsAt(server, slm);
    const stop = new AbortController();
    const runtime: LocalRuntime = Object.create(slm.runtime);
    const appended: string[] = [];
    let first = true;
    runtime.createSession = async () => {
      const session = await slm.runtime.createSession();
      const generate = session.generate.bind(session);
      const append = session.append.bind(session);
      session.append = async (text: string) => {
        appended.push(text);
        return append(text);
      };
      session.generate = async (options: GenerateOptions, onToken?: (token: GeneratedToken) => void, signal?: AbortSignal): Promise<GenerateResult> => {
        const result = await generate(options, onToken, signal);
        if (!first) return result;
        first = false;
        return { ...result, stopReason: 'low_confidence', refusedToken: { id: 0, text: ' two', top1: 0.1, entropy: 1, margin: 0 } };
      };
      return session;
    };
    // The user presses Stop while the LLM's span is counted for the SLM's window.
    runtime.countTokens = async (text: string) => {
      if (text === ' two and') stop.abort();
      return slm.runtime.countTokens(text);
    };
    const { stats } = await collectRelay(confidenceRelay(runtime, provider, stop.signal));
    assert.equal(server.requests.length, 1, 'the call was made');
    assert.ok(stop.signal.aborted, "Stop was pressed while the LLM's text was counted");
    assert.equal(stats.finishReason, 'cancelled');
    assert.deepEqual(appended, [], "the stopped answer's session was not fed the LLM's text");
  } finally {
    await server.close();
  }
});
