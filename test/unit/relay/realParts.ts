/**
 * Real parts for relay tests: a scripted ONNX SLM (real Qwen3 tokenizer, KV cache) run by
 * the in-process runtime, wrapped to record what reaches its KV cache; and the
 * openai-completions provider talking to a local fake server over HTTP.
 */
import { ensureScriptedModel, scriptedExpectation, type ScriptSpec, type ScriptedExpectation } from '../../fixtures/fixtures';
import { createLocalRuntime, type LocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import type { GenerateOptions, GenerateResult, GeneratedToken, PrefillOptions, SlmSession } from '../../../src/core/slm/types';
import { createProvider } from '../../../src/core/providers/factory';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { LlmProvider, SentRequest } from '../../../src/core/providers/types';
import { startFakeServer, type FakeServer } from '../providers/servers/harness';
import { openAiStream } from '../providers/servers/openai';

export const QUESTION = [{ role: 'user' as const, content: 'What is two plus three?' }];

/** What a session saw: appended texts and the context length after each generate/append. */
export interface SessionLog {
  prefills: string[];
  appended: { text: string; tokenCount: number; recomputedTokens: number }[];
  generateResults: GenerateResult[];
  disposed: boolean;
}

export interface ScriptedSlm {
  runtime: LocalRuntime;
  folder: string;
  expectation: ScriptedExpectation;
  logs: SessionLog[];
  /** The rendered prompt (the runtime's own chat template). */
  prompt: string;
}

const runtimes = new Map<string, LocalRuntime>();

/** One runtime per folder for the whole test file (loading the 151,936-token vocabulary takes a while). */
export async function runtimeFor(folder: string): Promise<LocalRuntime> {
  let runtime = runtimes.get(folder);
  if (!runtime) {
    runtime = await createLocalRuntime(folder);
    runtimes.set(folder, runtime);
  }
  return runtime;
}

export async function disposeRuntimes(): Promise<void> {
  for (const runtime of runtimes.values()) await runtime.dispose();
  runtimes.clear();
}

let promptCache: string | undefined;

/** The runtime's rendering of QUESTION (needs any scripted folder: they share the Qwen3 template). */
export async function renderedQuestion(): Promise<string> {
  if (promptCache) return promptCache;
  const bootstrap = await ensureScriptedModel({ prompt: 'x', timeline: [{ text: ' y' }], endWithEos: true });
  promptCache = await (await runtimeFor(bootstrap)).renderChat(QUESTION, { addGenerationPrompt: true });
  return promptCache;
}

/** A scripted SLM whose timeline follows the rendered QUESTION, with a recording wrapper. */
export async function scriptedSlm(timeline: ScriptSpec['timeline'], endWithEos = true): Promise<ScriptedSlm> {
  const prompt = await renderedQuestion();
  const spec: ScriptSpec = { prompt, timeline, endWithEos };
  const folder = await ensureScriptedModel(spec);
  const expectation = await scriptedExpectation(spec);
  const real = await runtimeFor(folder);
  const logs: SessionLog[] = [];
  const runtime: LocalRuntime = Object.create(real);
  runtime.createSession = async () => {
    const session = await real.createSession();
    const log: SessionLog = { prefills: [], appended: [], generateResults: [], disposed: false };
    logs.push(log);
    const wrapped: SlmSession = {
      id: session.id,
      prefill: async (text: string, options?: PrefillOptions) => {
        log.prefills.push(text);
        return session.prefill(text, options);
      },
      generate: async (options: GenerateOptions, onToken?: (t: GeneratedToken) => void, signal?: AbortSignal) => {
        const result = await session.generate(options, onToken, signal);
        log.generateResults.push(result);
        return result;
      },
      append: async (text: string) => {
        const result = await session.append(text);
        log.appended.push({ text, ...result });
        return result;
      },
      dispose: async () => {
        log.disposed = true;
        await session.dispose();
      },
    };
    return wrapped as never;
  };
  return { runtime, folder, expectation, logs, prompt };
}

/** An openai-completions provider on a fake local server; the prompt is the SLM's prompt + the partial answer, as in the paper. */
export async function completionsProvider(
  slmPrompt: string,
  onRequest?: (request: SentRequest) => void,
): Promise<{ provider: LlmProvider; server: FakeServer }> {
  const server = await startFakeServer(openAiStream({ pieces: ['unused'] }));
  const provider = createProvider(
    {
      kind: 'openai-completions',
      baseUrl: `${server.url}/v1`,
      model: 'Qwen/Qwen3-8B',
      templateRenderer: (_messages, partialAnswer) => slmPrompt + partialAnswer,
      maxRetries: 0,
      retryBaseDelayMs: 1,
    },
    new MemoryKeySource(),
    { onRequest },
  );
  return { provider, server };
}

export { openAiStream };
