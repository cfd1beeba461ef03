/**
 * The CLI's chat templates, rendered on a thread of their own and stopped at a deadline. The
 * CLI runs its models in this process (setup.ts), and a template is a program (Jinja) that may
 * loop: on the main thread it would hold the event loop, where neither a deadline nor Ctrl-C
 * (a JavaScript listener) could stop it. The thread is terminated at the extension's deadline
 * (DEFAULT_RENDER_TIMEOUT_MS, where its SLM process is stopped) and the next render starts a
 * new one.
 *
 * The thread runs this very module: the bundle (dist/cli.js; its main() runs only as the
 * process's main module, which a module required by a thread is not), or the sources through tsx.
 */
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData, type MessagePort } from 'node:worker_threads';
import { loadChatTemplateRenderer } from '../core/providers/chatTemplate';
import { ProviderError, type ProviderErrorCode } from '../core/providers/errors';
import type { PromptRenderer } from '../core/providers/types';
import type { Fix } from '../core/fixes';
import { ChatTemplate, renderTimeoutMessage, templateFolderPrompt, type TemplateOwner } from '../core/slm/chatTemplate';
import { ModelFolderError, readTokenizerFolder } from '../core/slm/modelFolder';
import { DEFAULT_RENDER_TIMEOUT_MS } from '../core/slm/onnx/processRuntime';
import type { ChatMessage, RenderOptions, SlmRuntime } from '../core/slm/types';

/** What a render's errors call the small model's template, and the large one's (an onnx-local LLM). */
const MODEL_TEMPLATES = { slm: "The small model's chat template", llm: "The large model's chat template" } as const;

/** A template and its owner: the one names it in errors, the other says what helps. */
type Named = { whose: string; owner: TemplateOwner };

type RenderRequest =
  /** A model folder's own template, as its runtime renders it. */
  | { kind: 'chat'; folder: string; messages: ChatMessage[]; addGenerationPrompt: boolean; thinking: boolean }
  /** --template-folder's (or the SLM folder's) template, as a raw-completion LLM is sent it; `messages` absent: loaded only. */
  | { kind: 'template'; path: string; thinking: boolean; messages?: ChatMessage[] };

type ThreadError = { name: string; message: string; file?: string; problem?: string; code?: ProviderErrorCode; fix?: Fix };

type Reply = { id: number; type: 'started' } | { id: number; type: 'done'; text: string } | { id: number; type: 'failed'; error: ThreadError };

/** Set in the thread's workerData: this module then serves renders rather than asks for them. */
const THREAD_MARK = 'relayChatTemplateThread';

/**
 * `runtime` with its renderChat on the thread, within the deadline (`model`: whose model it is, the
 * small or the large one, named in its errors). A runtime without a template keeps its own renderChat, which says so at once.
 */
export function rendersOnThread<T extends SlmRuntime>(runtime: T, model: 'slm' | 'llm'): T {
  if (!runtime.info.hasChatTemplate) return runtime;
  runtime.renderChat = async (messages: ChatMessage[], options?: RenderOptions) =>
    (await onThread(
      {
        kind: 'chat',
        folder: runtime.info.folder,
        messages,
        addGenerationPrompt: options?.addGenerationPrompt ?? true,
        thinking: options?.thinking ?? false,
      },
      { whose: MODEL_TEMPLATES[model], owner: model },
    ))!;
  return runtime;
}

/** The template of `path` (a model folder or a tokenizer_config.json) loaded on the thread: its errors (none, unparsable) said now. */
export async function loadTemplateOnThread(path: string, thinking: boolean): Promise<void> {
  await onThread({ kind: 'template', path, thinking }, templateOf(path));
}

/** `messages` rendered with the template of `path`, as loadChatTemplateRenderer renders them, on the thread. */
export async function renderTemplateOnThread(path: string, messages: ChatMessage[], thinking: boolean): Promise<string> {
  return (await onThread({ kind: 'template', path, thinking, messages }, templateOf(path)))!;
}

const templateOf = (path: string): Named => ({ whose: `The chat template of ${path}`, owner: 'templateFolder' });

/**
 * The process's stop (Ctrl-C, SIGTERM, SIGHUP: main.ts): the render under way ends with its
 * thread, and none starts after, so that a stopped command is not kept until the deadline.
 */
export function stopRendersOn(signal: AbortSignal): void {
  stopSignal = signal;
}

let stopSignal: AbortSignal | undefined;

/** A render ended by the command's stop (stopRendersOn): nothing failed, the command was stopped. */
export class RenderStoppedError extends Error {
  constructor(whose: string) {
    super(`${whose} was not rendered: the command was stopped.`);
    this.name = 'RenderStoppedError';
  }
}

/**
 * Whether a render's failure is the command's stop (its signal aborted), to be said as a stopped
 * answer is (exit 130, what was done kept) rather than as an error.
 */
export function stoppedRender(error: unknown, signal: AbortSignal): boolean {
  return error instanceof RenderStoppedError || signal.aborted;
}

let thread: Worker | undefined;
let lastId = 0;
/** One render at a time: its deadline then counts its own time, not a wait behind another. */
let queue: Promise<unknown> = Promise.resolve();

function onThread(request: RenderRequest, named: Named): Promise<string | undefined> {
  const turn = queue.then(() => renderOnce(request, named));
  queue = turn.catch(() => undefined);
  return turn;
}

function renderOnce(request: RenderRequest, { whose, owner }: Named): Promise<string | undefined> {
  if (stopSignal?.aborted) return Promise.reject(new RenderStoppedError(whose));
  const worker = (thread ??= startThread());
  // Held while a render is under way; an idle thread never keeps the process alive.
  worker.ref();
  const id = ++lastId;
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const settle = (error: Error | undefined, text?: string): void => {
      clearTimeout(timer);
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      stopSignal?.removeEventListener('abort', onStop);
      worker.unref();
      if (error) reject(error);
      else resolve(text);
    };
    const onMessage = (reply: Reply): void => {
      if (reply.id !== id) return;
      if (reply.type === 'started') {
        // Counted from here: the thread's own start (loading this module) is not the template's time.
        timer = setTimeout(() => {
          stopThread(worker);
          settle(new Error(renderTimeoutMessage(whose, DEFAULT_RENDER_TIMEOUT_MS, owner)));
        }, DEFAULT_RENDER_TIMEOUT_MS);
      } else if (reply.type === 'done') settle(undefined, reply.text);
      else settle(rebuilt(reply.error));
    };
    const onError = (error: Error): void => {
      stopThread(worker);
      settle(new Error(`${whose} could not be rendered: its thread failed (${error.message}).`));
    };
    const onExit = (code: number): void => {
      stopThread(worker);
      settle(new Error(`${whose} could not be rendered: its thread ended (exit code ${code}).`));
    };
    const onStop = (): void => {
      stopThread(worker);
      settle(new RenderStoppedError(whose));
    };
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    stopSignal?.addEventListener('abort', onStop, { once: true });
    worker.postMessage({ id, request });
  });
}

function stopThread(worker: Worker): void {
  if (thread === worker) thread = undefined;
  void worker.terminate();
}

/** Loads this module in the thread; tsx's require hook first where it is the TypeScript source. */
const THREAD_BOOT = `
  const { workerData } = require('node:worker_threads');
  if (workerData.tsx) require(workerData.tsx).register();
  require(workerData.entry);
`;

function startThread(): Worker {
  // A variable, not a literal: the bundler leaves the dev-only loader alone (it never runs from the bundle).
  const devLoader = 'tsx/cjs/api';
  const tsx = __filename.endsWith('.ts') ? require.resolve(devLoader) : undefined;
  // No execArgv: the thread needs none of the process's (tsx's ESM loader when run from source).
  const worker = new Worker(THREAD_BOOT, { eval: true, execArgv: [], workerData: { [THREAD_MARK]: true, entry: __filename, tsx } });
  worker.unref();
  // A thread that fails between renders is replaced at the next one (a render under way hears of it itself).
  worker
    .on('error', () => undefined)
    .once('exit', () => {
      if (thread === worker) thread = undefined;
    });
  return worker;
}

/** The thread's error as it was thrown where the caller tells them apart (a model folder's, a provider's). */
function rebuilt(e: ThreadError): Error {
  if (e.name === 'ModelFolderError' && e.file !== undefined && e.problem !== undefined) return new ModelFolderError(e.file, e.problem);
  if (e.name === 'ProviderError' && e.code !== undefined) return new ProviderError(e.code, e.message, { fix: e.fix });
  const error = new Error(e.message);
  error.name = e.name;
  return error;
}

function threadError(e: unknown): ThreadError {
  if (e instanceof ModelFolderError) return { name: e.name, message: e.message, file: e.file, problem: e.problem };
  if (e instanceof ProviderError) return { name: e.name, message: e.message, code: e.code, fix: e.fix };
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

/** The thread's side: renders each request, saying when it starts, with templates parsed once per folder. */
function serveRenders(port: MessagePort): void {
  const chats = new Map<string, Promise<ChatTemplate | undefined>>();
  const renderers = new Map<string, Promise<PromptRenderer>>();
  const cached = <T>(map: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> => {
    let value = map.get(key);
    if (!value) {
      value = load();
      map.set(key, value);
      value.catch(() => map.delete(key));
    }
    return value;
  };
  const render = async (request: RenderRequest): Promise<string | undefined> => {
    if (request.kind === 'chat') {
      const template = await cached(chats, request.folder, () => ChatTemplate.ofFolder(readTokenizerFolder(request.folder)));
      if (!template)
        throw new ModelFolderError(join(request.folder, 'tokenizer_config.json'), 'has no chat_template, so conversations cannot be rendered for this model.');
      return template.render(request.messages, { addGenerationPrompt: request.addGenerationPrompt, variables: { enable_thinking: request.thinking } });
    }
    const { path, thinking, messages } = request;
    const renderer = await cached(renderers, `${thinking ? 'thinking' : 'plain'}:${path}`, () =>
      loadChatTemplateRenderer(path, { variables: { enable_thinking: thinking } }),
    );
    if (!messages) return undefined;
    return templateFolderPrompt(path, renderer(messages, ''));
  };
  port.on('message', ({ id, request }: { id: number; request: RenderRequest }) => {
    port.postMessage({ id, type: 'started' } satisfies Reply);
    render(request).then(
      (text) => port.postMessage({ id, type: 'done', text: text ?? '' } satisfies Reply),
      (error: unknown) => port.postMessage({ id, type: 'failed', error: threadError(error) } satisfies Reply),
    );
  });
}

if (!isMainThread && parentPort && (workerData as Record<string, unknown> | null)?.[THREAD_MARK] === true) serveRenders(parentPort);
