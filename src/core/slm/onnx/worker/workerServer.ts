/**
 * The child process side of the protocol: holds one SLM runtime (the ONNX LocalRuntime, or
 * the served runtime, whose chat template renders here like the ONNX one's) and its
 * sessions, answers requests, streams generated tokens, and aborts a generation on `cancel`.
 * Transport-free (a `send` function), so it runs the same under fork() and in tests.
 */
import { createLocalRuntime } from '../localRuntime';
import { asOutOfMemory } from '../decoderSession';
import { ModelFolderError } from '../../modelFolder';
import { templateFolderPrompt } from '../../chatTemplate';
import { createServedRuntime, type ServedRuntime } from '../../served/servedRuntime';
import { checkServedSlm } from '../../served/serverCheck';
import type { PrefillProgress, SlmRuntime, SlmSession } from '../../types';
import { loadChatTemplateRenderer } from '../../../providers/chatTemplate';
import type { PromptRenderer } from '../../../providers/types';
import type { Fix } from '../../../fixes';
import type { ParamsOf, ParentToWorkerMessage, RequestMessage, ResultOf, SerializedError, WorkerMethod, WorkerToParentMessage } from './protocol';

/**
 * `e` as it crosses to the client. An allocation failure (ONNX Runtime's std::bad_alloc, its
 * arena's "Failed to allocate memory") becomes an OutOfMemoryError that says so and names the
 * fix, of a load or of a run (`during`): the client replaces a process that ran out of memory.
 */
export function serializeError(e: unknown, during: 'load' | 'run' = 'run'): SerializedError {
  if (e instanceof ModelFolderError) return { name: e.name, message: e.message, file: e.file, problem: e.problem };
  e = asOutOfMemory(e, during) ?? e;
  if (e instanceof Error) {
    // The button that fixes it crosses too (a ProviderError's, the ONNX Runtime loader's); the client checks it is one.
    const { fix } = e as Error & { fix?: Fix };
    return fix ? { name: e.name, message: e.message, fix } : { name: e.name, message: e.message };
  }
  return { name: 'Error', message: String(e) };
}

/** The calls that run a chat template (a program): each says when it starts (protocol.ts, `started`). */
const RENDER_METHODS: ReadonlySet<WorkerMethod> = new Set<WorkerMethod>(['renderChat', 'renderTemplate']);

/** The calls that load a model (their failures are a load's, not a run's). */
const LOAD_METHODS: ReadonlySet<WorkerMethod> = new Set<WorkerMethod>(['load', 'loadServed']);

export class WorkerServer {
  private runtime: SlmRuntime | undefined;
  /** The same runtime when it is a served one (checkServed needs it). */
  private served: ServedRuntime | undefined;
  private readonly sessions = new Map<string, SlmSession>();
  private readonly inFlight = new Map<number, AbortController>();
  /** Chat templates of other folders, parsed once per path. */
  private readonly templates = new Map<string, Promise<PromptRenderer>>();

  constructor(
    private readonly send: (message: WorkerToParentMessage) => void,
    private readonly onShutdown: () => void = () => undefined,
  ) {}

  handle(message: ParentToWorkerMessage): void {
    if (message.type === 'cancel') {
      this.inFlight.get(message.id)?.abort();
      return;
    }
    const controller = new AbortController();
    this.inFlight.set(message.id, controller);
    // Its deadline starts now: until here it waited behind whatever held this process (a forward pass).
    // The template then runs synchronously: no forward pass runs between this and its end.
    if (RENDER_METHODS.has(message.method)) this.send({ type: 'started', id: message.id });
    this.dispatch(message, controller.signal)
      .then(
        (result) => this.send({ type: 'response', id: message.id, ok: true, result }),
        (error: unknown) =>
          this.send({ type: 'response', id: message.id, ok: false, error: serializeError(error, LOAD_METHODS.has(message.method) ? 'load' : 'run') }),
      )
      .finally(() => {
        this.inFlight.delete(message.id);
        if (message.method === 'shutdown') this.onShutdown();
      });
  }

  private requireRuntime(): SlmRuntime {
    if (!this.runtime) throw new Error('The SLM process has no model loaded (send "load" first).');
    return this.runtime;
  }

  private session(id: string): SlmSession {
    const s = this.sessions.get(id);
    if (!s) throw new Error(`Unknown SLM session ${id} (disposed, or created by an earlier SLM process).`);
    return s;
  }

  private async dispatch(message: RequestMessage, signal: AbortSignal): Promise<ResultOf<WorkerMethod>> {
    switch (message.method) {
      case 'load':
        return this.load(message.params);
      case 'loadServed':
        return this.loadServed(message.params);
      case 'checkServed':
        return this.checkServed(signal);
      case 'renderChat':
        return this.requireRuntime().renderChat(message.params.messages, {
          addGenerationPrompt: message.params.addGenerationPrompt,
          thinking: message.params.thinking,
        });
      case 'renderTemplate': {
        const { path } = message.params;
        return templateFolderPrompt(path, (await this.templateRenderer(path, message.params.thinking ?? false))(message.params.messages, ''));
      }
      case 'countTokens':
        return this.requireRuntime().countTokens(message.params.text);
      case 'createSession': {
        const s = await this.requireRuntime().createSession();
        this.sessions.set(s.id, s);
        return { sessionId: s.id };
      }
      case 'prefill':
        return this.session(message.params.sessionId).prefill(message.params.text, {
          signal,
          onProgress: this.progressOf(message.id),
          readAhead: message.params.readAhead,
        });
      case 'append':
        // No cancel: its steps are how the client tells a long append from a hung one.
        return this.session(message.params.sessionId).append(message.params.text, { onProgress: this.progressOf(message.id) });
      case 'generate':
        return this.session(message.params.sessionId).generate(message.params.options, (token) => this.send({ type: 'token', id: message.id, token }), signal);
      case 'disposeSession': {
        const s = this.sessions.get(message.params.sessionId);
        this.sessions.delete(message.params.sessionId);
        await s?.dispose();
        return null;
      }
      case 'shutdown':
        await this.runtime?.dispose();
        this.runtime = undefined;
        this.served = undefined;
        return null;
    }
  }

  /** Streams a call's steps read (prefill, append) as `progress` messages. */
  private progressOf(id: number): (progress: PrefillProgress) => void {
    return (progress) => this.send({ type: 'progress', id, progress });
  }

  private templateRenderer(path: string, thinking: boolean): Promise<PromptRenderer> {
    const key = `${thinking ? 'thinking' : 'plain'}:${path}`;
    let renderer = this.templates.get(key);
    if (!renderer) {
      renderer = loadChatTemplateRenderer(path, { variables: { enable_thinking: thinking } });
      this.templates.set(key, renderer);
      renderer.catch(() => this.templates.delete(key));
    }
    return renderer;
  }

  private async load(params: ParamsOf<'load'>): Promise<ResultOf<'load'>> {
    if (this.runtime) throw new Error('The SLM process already holds a model; start another process for another model.');
    this.runtime = await createLocalRuntime(params.folder, params.options);
    return { info: this.runtime.info };
  }

  private async checkServed(signal: AbortSignal): Promise<ResultOf<'checkServed'>> {
    if (!this.served) throw new Error('The SLM process holds no model on a server (send "loadServed" first).');
    const check = await checkServedSlm(this.served, { signal });
    // A cancelled generation returns what came; a check cut short says nothing true about the server.
    if (signal.aborted) throw new Error("The check of the small model's server was cancelled.");
    return check;
  }

  private async loadServed(params: ParamsOf<'loadServed'>): Promise<ResultOf<'loadServed'>> {
    if (this.runtime) throw new Error('The SLM process already holds a model; start another process for another model.');
    this.served = await createServedRuntime({ ...params.options, onRequest: (request) => this.send({ type: 'served-request', request }) });
    this.runtime = this.served;
    return { info: this.served.info };
  }
}
