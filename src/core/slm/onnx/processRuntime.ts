/**
 * The SLM runtime in its own process: the same SlmRuntime interface as the in-process
 * one, talking to a forked worker (dist/slmWorker.js, or the TypeScript source through
 * tsx when run from source). If the process dies, every pending call rejects with an
 * SlmProcessError, sessions of that process are gone, and the next runtime call starts
 * a fresh process. Nothing waits on it for ever: a call still running DEFAULT_CANCEL_GRACE_MS
 * (or a few of its slowest steps) after its cancel, a short call the worker cannot cancel (an
 * append, a count, a session's opening) pending when its answer stopped, or sent after, while the
 * process says nothing for as long, a load past DEFAULT_LOAD_TIMEOUT_MS, a render past its
 * deadline (counted from when the process starts it, not while it waits behind a forward pass),
 * a render kept waiting by a process that says nothing for longer than a few of its slowest
 * steps, a shutdown not answered: each stops the process. So do a call that ran out of memory
 * (ONNX Runtime may be left broken) and a message outside the protocol. The processes still
 * running when this process exits are killed with it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { inUseMarkPath, removeInUseMark } from '../../models/storedModels';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LocalRuntimeOptions } from './localRuntime';
import type { ServedRuntimeOptions } from '../served/servedRuntime';
import { SERVED_CHECK_PROMPT, type ServedSlmCheck } from '../served/serverCheck';
import { ModelFolderError } from '../modelFolder';
import { renderTimeoutMessage } from '../chatTemplate';
import {
  resultProblem,
  workerMessageProblem,
  type ParamsOf,
  type ResultOf,
  type SerializedError,
  type WorkerMethod,
  type WorkerToParentMessage,
  type ParentToWorkerMessage,
} from './worker/protocol';
import {
  runtimeErrorFix,
  type ChatMessage,
  type GenerateOptions,
  type GenerateResult,
  type GeneratedToken,
  type ModelInfo,
  type PrefillOptions,
  type PrefillProgress,
  type RenderOptions,
  type SlmRuntime,
  type SlmSession,
} from '../types';
import { settingRef } from '../../settingNames';
import { PROVIDER_KINDS } from '../../providers/registry';
import { envVarsForKind } from '../../providers/secrets';
import type { Fix } from '../../fixes';
import type { SentRequest } from '../../providers/types';

export interface ProcessRuntimeOptions extends LocalRuntimeOptions {
  /** The worker script: dist/slmWorker.js (default next to this bundle) or src/core/slm/onnx/worker/workerMain.ts. */
  workerPath?: string;
  /** Node options of the child; default none for .js, tsx's loader for .ts. */
  execArgv?: string[];
  /**
   * Most milliseconds a chat template may take to render before the SLM process is stopped
   * (default 10 000): counted from when the process starts the render, not while the request
   * waits behind another call (a prefill chunk holds the process for seconds).
   */
  renderTimeoutMs?: number;
  /**
   * The model runs on this server (relay.slm.kind other than onnx); the folder gives its
   * tokenizer and chat template. The served runtime runs in the SLM process like the ONNX
   * one: its chat template is a program, rendered there within the deadline, and the
   * tokenizer's work on long contexts stays off the caller's event loop.
   */
  served?: Omit<ServedRuntimeOptions, 'folder' | 'onRequest'>;
  /** Told every HTTP request the served SLM sends to its server (Show What Was Sent). */
  onServedRequest?: (request: SentRequest) => void;
  /**
   * After a call is cancelled (its AbortSignal), the most milliseconds it may take to end
   * before the SLM process is stopped (default DEFAULT_CANCEL_GRACE_MS), or CANCEL_GRACE_STEPS
   * times the slowest step the process was seen to take, whichever is longer: a native run
   * that never returns, or a loop, must not keep a stopped answer waiting for ever. The same
   * grace bounds how long the process may say nothing while a call of a stopped answer that
   * it cannot cancel (an append, a count, a session's opening) waits.
   */
  cancelGraceMs?: number;
  /** Most milliseconds a load of the model may take before its process is stopped (default DEFAULT_LOAD_TIMEOUT_MS). */
  loadTimeoutMs?: number;
  /** Stops the first load: its process is stopped and createProcessRuntime rejects. */
  signal?: AbortSignal;
  /** Which model this is, for the messages of a load that fails (default 'slm'). */
  role?: 'slm' | 'llm';
}

/** Chat templates are programs (Jinja): one that renders for longer than this is stopped. */
export const DEFAULT_RENDER_TIMEOUT_MS = 10_000;

/**
 * A cancelled call ends within a forward pass (a prefill chunk of 512 tokens takes a few
 * seconds on a slow CPU); one still running this long after its cancel is taken as hung,
 * and its process is stopped (the next call starts a new one).
 */
export const DEFAULT_CANCEL_GRACE_MS = 10_000;

/**
 * A cancelled call is given at least this many times the slowest step (a prefill chunk, a
 * decode step) its process took: a large model on a slow CPU may take longer than
 * DEFAULT_CANCEL_GRACE_MS for one chunk, and stopping it then would lose every kept cache.
 */
export const CANCEL_GRACE_STEPS = 3;

/**
 * The step-based grace stops here: a gap between messages may include a wait behind another call, and a hung process must still go.
 * It is also the grace of a render waiting behind a process that has not finished a step yet (its steps' length is unknown).
 */
const MAX_STEP_GRACE_MS = 60_000;

/** The calls whose messages (progress, tokens, the response) each follow one forward pass or more. */
const STEPPED_METHODS: ReadonlySet<WorkerMethod> = new Set<WorkerMethod>(['prefill', 'generate', 'append']);

/**
 * Short calls the worker cannot cancel: a stop of their answer (their own signal's abort, or
 * hearStops for those given none) watches them for silence. Renders, the load and shutdown
 * have deadlines of their own.
 */
const BOUNDED_BY_A_CANCEL: ReadonlySet<WorkerMethod> = new Set<WorkerMethod>(['append', 'countTokens', 'createSession', 'disposeSession']);

/** A model loads in seconds to a minute; one still loading after this is taken as hung (a stalled disk, a native hang). */
export const DEFAULT_LOAD_TIMEOUT_MS = 5 * 60_000;

/** How long dispose() waits for the process to exit after asking it to shut down, before it is killed. */
const SHUTDOWN_GRACE_MS = 5000;

function duration(ms: number): string {
  return ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000} minute${ms === 60_000 ? '' : 's'}` : `${ms / 1000} s`;
}

/**
 * The SLM processes this process started and that still run: killed when this process
 * exits (the extension host closing), so that none is left behind, e.g. one that cannot
 * see its IPC channel close because it is inside a chat template's loop. Each with the
 * in-use mark it may have written in its model folder (storedModels.ts markModelInUse),
 * which a killed process cannot remove.
 */
const liveChildren = new Map<ChildProcess, string | undefined>();

function killLiveChildren(): void {
  for (const [child, mark] of liveChildren) {
    child.kill('SIGKILL');
    removeInUseMark(mark);
  }
  liveChildren.clear();
}

function trackChild(child: ChildProcess, mark: string | undefined): void {
  if (liveChildren.size === 0) process.on('exit', killLiveChildren);
  liveChildren.set(child, mark);
}

/** The child ended, however (killed, crashed): what it marked in use is not loaded any more. */
function untrackChild(child: ChildProcess): void {
  if (!liveChildren.has(child)) return;
  removeInUseMark(liveChildren.get(child));
  liveChildren.delete(child);
  if (liveChildren.size === 0) process.off('exit', killLiveChildren);
}

export interface ProcessRuntime extends SlmRuntime {
  /**
   * The conversation rendered, with the generation prompt, by the chat template of another
   * folder or tokenizer_config.json (relay.provider.templateFolder): in the SLM process, so
   * a template that loops never blocks the caller, and within a deadline.
   */
  renderWithTemplate(path: string, messages: ChatMessage[], options?: { thinking?: boolean }): Promise<string>;
  /**
   * A model on a server (options.served): two short generations that say its latency and
   * whether it reports log-probabilities and token ids. The check's prompt is rendered
   * first within the template deadline, so a template that loops is stopped, not waited on.
   */
  checkServer(signal?: AbortSignal): Promise<ServedSlmCheck>;
  /**
   * Starts a process if none runs (the last one died or was stopped) and loads the model in it;
   * resolves once one runs. A caller that stops waiting leaves the start going on for the next
   * call (dispose() stops it).
   */
  ensureStarted(): Promise<void>;
  /** Process id of the current worker (undefined while none runs). */
  readonly pid: number | undefined;
  /**
   * Whether a process runs with the model loaded, so that a call is answered without a load:
   * false once it ended (a crash, the OOM killer) and while a new one loads, and after dispose().
   * Reading it starts nothing (a caller that must not wait on a reload asks this first).
   */
  readonly running: boolean;
  /** How many times a worker was started (1 after creation). */
  readonly starts: number;
}

/**
 * How messages name the model of each role and its process (an onnx-local LLM runs in a process
 * like the SLM's), and what helps when it does not fit: another model, with the fix that picks
 * one (the large model's folder is a setting; "Select Model" picks the small model).
 */
const ROLES = {
  slm: { whose: 'The small model', processName: "The small model's process", pickAnother: 'pick another model ("Relay: Select Model")', pickFix: 'pick-model' },
  llm: {
    whose: 'The large model',
    processName: "The large model's process",
    pickAnother: `set ${settingRef('model')} to another model folder`,
    pickFix: 'open-settings',
  },
} as const satisfies Record<string, { whose: string; processName: string; pickAnother: string; pickFix: Fix }>;

type Role = keyof typeof ROLES;

/** The SLM process failed (died, or could not start). */
export class SlmProcessError extends Error {
  constructor(
    message: string,
    /** The button that helps, where one does. */
    readonly fix?: Fix,
  ) {
    super(message);
    this.name = 'SlmProcessError';
  }
}

function rebuildError(e: SerializedError, role: Role): Error {
  if (e.name === 'ModelFolderError' && e.file !== undefined && e.problem !== undefined) return new ModelFolderError(e.file, e.problem);
  const error = new Error(e.message) as Error & { fix?: Fix };
  error.name = e.name;
  // Only a fix the views know becomes a button; "pick another model" is the role's own.
  const fix = runtimeErrorFix(e);
  if (fix) error.fix = fix === 'pick-model' ? ROLES[role].pickFix : fix;
  return error;
}

/**
 * An error the worker says is an allocation failure (decoderSession.ts OutOfMemoryError, known by
 * name: the host does not load ONNX Runtime's code). ONNX Runtime may be left broken by one (the
 * next run aborted the process), so its process is replaced.
 */
function ranOutOfMemory(error: Error): boolean {
  return error.name === 'OutOfMemoryError';
}

/**
 * How many processes of a runtime died in a row (ended on their own: a crash, the OOM killer),
 * none since one answered a generation. One death is asked again; a second in a row is a model
 * that does not fit, and its error says so.
 */
interface DeathsInARow {
  count: number;
}

/** What helps once a process ended: said by the calls it failed and by those made on it after. */
interface AfterItEnded {
  /** Said after why it ended: ", 3 times in a row" from the second death in a row, else nothing. */
  inARow: string;
  advice: string;
  /** The button that helps, where one does (a death again and again: another model). */
  fix?: Fix;
}

/**
 * What helps after a process of `role` ended, the `deaths`th death in a row: once, asking again
 * (a new process starts); from the second, a model that needs less memory (the role's fix).
 */
function afterItEnded(role: Role, deaths: number): AfterItEnded {
  if (deaths < 2) return { inARow: '', advice: 'What was written is kept; ask again (or Retry) and a new process starts.' };
  const { pickAnother, pickFix } = ROLES[role];
  return {
    inARow: `, ${deaths} times in a row`,
    advice:
      'A process that keeps ending like this most likely runs out of memory (the system stops it): ' +
      `${pickAnother} that needs less memory, or send less text. What was written is kept.`,
    fix: pickFix,
  };
}

/**
 * V8 flags of the SLM process. Concurrent marking runs the garbage collector's marking on
 * background threads, which on a 2-core machine take cores from ONNX Runtime's intra-op
 * threads mid-run. Its worth shrank as the runtime stopped freeing the KV cache every step;
 * README "Performance" has the current measurement (npm run bench:slm).
 */
export const SLM_PROCESS_V8_FLAGS: readonly string[] = ['--no-concurrent-marking'];

function defaultWorker(): { path: string; execArgv: string[] } {
  const bundled = join(__dirname, 'slmWorker.js');
  if (existsSync(bundled)) return { path: bundled, execArgv: [] };
  const source = join(__dirname, 'worker', 'workerMain.ts');
  if (existsSync(source)) return { path: source, execArgv: tsxArgv() };
  throw new SlmProcessError(`SLM worker not found (looked for ${bundled} and ${source}); run the build.`);
}

/** Running from TypeScript sources (tests, benchmarks): the child loads tsx, a dev dependency never bundled. */
function tsxArgv(): string[] {
  const devLoader = 'tsx';
  return ['--import', pathToFileURL(require.resolve(devLoader)).href];
}

/** What a request streams before its response. */
interface Streamed {
  onToken?: (token: GeneratedToken) => void;
  onProgress?: (progress: PrefillProgress) => void;
  /** A render: the process began it (it may have waited behind a forward pass until now). */
  onStarted?: () => void;
}

interface Pending extends Streamed {
  /** What was called: its result is checked against the method's shape. */
  method: WorkerMethod;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  /** For a stepped call: when it was sent or its last message came (performance.now()). */
  lastMessageAt?: number;
  /** The session the call is of (prefill, generate, append, disposeSession); none for a count or a session's opening. */
  sessionId?: string;
  /** A call given no signal (BOUNDED_BY_A_CANCEL): watched for silence once its answer stops (hearStops). */
  watchAfterStop?: () => void;
}

/** The session a call's params (or a createSession's result) name, if any. */
function sessionOf(params: unknown): string | undefined {
  const id = (params as { sessionId?: unknown } | null | undefined)?.sessionId;
  return typeof id === 'string' ? id : undefined;
}

/**
 * This process's environment without the API keys (every provider's key variable, RELAY_API_KEY
 * among them, as the registry declares them): the SLM process runs what a model folder brings
 * (ONNX graphs, a chat template) and sends no key. Names compare without case, as Windows reads them.
 */
function keylessEnv(): NodeJS.ProcessEnv {
  const keyNames = new Set(PROVIDER_KINDS.flatMap((kind) => envVarsForKind(kind)).map((name) => name.toUpperCase()));
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !keyNames.has(name.toUpperCase())));
}

/** One worker process and its in-flight requests. */
class WorkerProcess {
  readonly child: ChildProcess;
  readonly pending = new Map<number, Pending>();
  private nextId = 1;
  exited = false;
  /** Why the process ended (set once it has). */
  endedBecause: string | undefined;
  /** What helps now that it ended (set with endedBecause): the calls made on it after say it too. */
  private afterEnd: AfterItEnded | undefined;
  /** It was stopped from here (kill()), not ended on its own. */
  stoppedHere = false;
  /** Longest time between two messages of a stepped call: at least one step of this process. */
  private slowestStepMs = 0;
  /** When the process last sent a message of any kind (performance.now(); 0 before the first). */
  lastHeardAt = 0;
  /** The signals its calls were given, each listened to once, and the sessions each was given for (hearStops). */
  private readonly heardSignals = new WeakMap<AbortSignal, Set<string>>();
  /**
   * The sessions open in the process (createSession answered, no disposeSession since), each
   * with the live signals its calls were given, in the order first given, and whether its
   * answer stopped (hearStops): as many as the process holds, none once it ended.
   */
  private readonly sessions = new Map<string, { live: AbortSignal[]; stopped: boolean }>();

  /** How its messages name it: "The small model's process" (the SLM) or "The large model's process" (an onnx-local LLM). */
  readonly name: string;

  constructor(
    path: string,
    execArgv: string[],
    private readonly onExit: (why: string) => void,
    private readonly onServedRequest: ((request: SentRequest) => void) | undefined,
    private readonly cancelGraceMs: number,
    private readonly role: Role,
    /** Shared by the processes of one runtime. */
    private readonly deaths: DeathsInARow,
    /** The model folder it loads from, where it marks the model in use while loaded. */
    modelFolder?: string,
  ) {
    this.name = ROLES[role].processName;
    this.child = fork(path, [], {
      execArgv: [...SLM_PROCESS_V8_FLAGS, ...execArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
      env: keylessEnv(),
    });
    trackChild(this.child, modelFolder !== undefined && this.child.pid !== undefined ? inUseMarkPath(modelFolder, this.child.pid) : undefined);
    this.child.on('message', (message: unknown) => {
      const problem = workerMessageProblem(message);
      if (problem === undefined) this.receive(message as WorkerToParentMessage);
      else this.outsideProtocol(problem);
    });
    this.child.on('error', (error) => this.fail(`could not be started or reached (${error.message})`));
    this.child.on('exit', (code, signal) => {
      untrackChild(this.child);
      this.fail(signal ? `was killed by ${signal}` : `exited with code ${code}`);
    });
  }

  call<M extends WorkerMethod>(method: M, params: ParamsOf<M>, streamed: Streamed = {}, signal?: AbortSignal): Promise<ResultOf<M>> {
    if (this.exited) return Promise.reject(this.goneError('before this call could be sent'));
    const id = this.nextId++;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      let grace: NodeJS.Timeout | undefined;
      // A process that cannot end the call (a native run that never returns, a loop that never
      // reads the cancel) is stopped: its pending calls fail, and the next call starts a new one.
      const cancel = () => {
        this.post({ type: 'cancel', id });
        const graceMs = this.stepGraceMs();
        grace ??= setTimeout(() => {
          if (this.pending.has(id)) this.kill(`did not end a cancelled ${method} call within ${duration(graceMs)} and was stopped`);
        }, graceMs);
      };
      // A call that cannot be cancelled may rightly take long (an append of a long text, one
      // waiting behind another session's steps): the process is stopped only once it says nothing
      // at all (no step of any call) for the grace of a step while the call waits.
      let watchedSince: number | undefined;
      const watchSilence = (): void => {
        if (watchedSince !== undefined) return;
        watchedSince = performance.now();
        const check = (): void => {
          if (!this.pending.has(id)) return;
          const graceMs = this.stepGraceMs();
          const quietSince = Math.max(watchedSince as number, this.lastHeardAt);
          const left = quietSince + graceMs - performance.now();
          if (left > 0) grace = setTimeout(check, left);
          else this.kill(`said nothing for ${duration(graceMs)} after a stop while its ${method} call waited, and was stopped`);
        };
        check();
      };
      // The worker cannot cancel a short call (a count, a session's opening): its signal's abort
      // (Stop, the silence ceiling) watches it for silence instead, as a stop does a call given none.
      const stop = BOUNDED_BY_A_CANCEL.has(method) ? watchSilence : cancel;
      const sessionId = sessionOf(params);
      const settle = () => {
        signal?.removeEventListener('abort', stop);
        clearTimeout(grace);
        // The worker lets the session go whether its disposal answers or fails.
        if (method === 'disposeSession' && sessionId !== undefined) this.sessions.delete(sessionId);
      };
      this.pending.set(id, {
        method,
        resolve: (value) => {
          settle();
          // It wrote an answer (or stopped one): the deaths before were not this model's every answer.
          if (method === 'generate') this.deaths.count = 0;
          const opened = method === 'createSession' ? sessionOf(value) : undefined;
          if (opened !== undefined) this.sessions.set(opened, { live: [], stopped: false });
          resolve(value as ResultOf<M>);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
        ...streamed,
        lastMessageAt: STEPPED_METHODS.has(method) ? performance.now() : undefined,
        sessionId,
        watchAfterStop: !signal && BOUNDED_BY_A_CANCEL.has(method) ? watchSilence : undefined,
      });
      this.post({ type: 'request', id, method, params } as ParentToWorkerMessage);
      // Sent after its answer stopped (Stop landed during the count before an append): watched from now.
      if (!signal && BOUNDED_BY_A_CANCEL.has(method) && sessionId !== undefined && this.sessions.get(sessionId)?.stopped) watchSilence();
      // The worker answers a cancelled generation with its tokens so far (stopReason 'cancelled').
      if (signal?.aborted) stop();
      else signal?.addEventListener('abort', stop, { once: true });
      if (signal) this.hearStops(signal, sessionId);
    });
  }

  /**
   * A stop of an answer (Stop, its silence ceiling) also bounds the calls given no signal that
   * its session has pending then, and the calls of no session (a count, a session's opening,
   * which cannot be told apart by answer: under `relay eval --concurrency` another answer's
   * count is watched too): an answer awaits the append of the LLM's text or a count without
   * one, and a forward pass that never returns there would keep the stopped answer waiting for
   * ever. Never another session's calls: a Stop of one of two answers must not stop a process
   * that works for the other. Each is watched for silence (call: watchSilence), so that a long
   * append that makes progress, or a count waiting behind another session's steps, is not
   * taken for a hang. The session is remembered as stopped, so that such a call sent later is
   * watched too, until a call of it is given a live signal, it is disposed, or the process ends.
   *
   * A session counts as stopped once every signal it was given has aborted, where a signal's
   * abort also ends those first given after it while it was live: those belong to work within
   * it (the engine gives the answer's signal to the prompt's reading, then one LLM call's own
   * signal to the agreement watch's look at the SLM's next token, aborted with the answer's or
   * left live once the call is over). So the cut of one LLM call (an agreement stop) stops
   * nothing, its answer goes on and the append of the rest is not watched; a Stop (the answer's
   * signal) stops the session even where an earlier call's signal was left live.
   */
  private hearStops(signal: AbortSignal, sessionId: string | undefined): void {
    let sessions = this.heardSignals.get(signal);
    const heard = sessions !== undefined;
    sessions ??= new Set<string>();
    if (sessionId !== undefined) {
      sessions.add(sessionId);
      const open = this.sessions.get(sessionId);
      if (open && !signal.aborted) {
        if (!open.live.includes(signal)) open.live.push(signal);
        open.stopped = false;
      }
    }
    const givenFor = sessions;
    const aborted = (): void => {
      const stopped = [...givenFor].filter((id) => this.ends(id, signal));
      if (stopped.length === 0) return;
      for (const pending of [...this.pending.values()]) {
        if (pending.sessionId === undefined || stopped.includes(pending.sessionId)) pending.watchAfterStop?.();
      }
    };
    if (signal.aborted) aborted();
    else if (!heard) {
      this.heardSignals.set(signal, sessions);
      signal.addEventListener('abort', aborted, { once: true });
    }
  }

  /** Ends `signal` (aborted) for the session, and the signals first given after it; true if the session just stopped (hearStops). */
  private ends(sessionId: string, signal: AbortSignal): boolean {
    const open = this.sessions.get(sessionId);
    if (!open || open.stopped) return false;
    const at = open.live.indexOf(signal);
    if (at >= 0) open.live.splice(at);
    // Stopped once none of its signals is live (one given already aborted never entered the list).
    if (open.live.length > 0) return false;
    open.stopped = true;
    return true;
  }

  /**
   * How long a step of this process may take before it counts as hung: DEFAULT_CANCEL_GRACE_MS
   * (cancelGraceMs), or CANCEL_GRACE_STEPS of its slowest step so far, whichever is longer, at
   * most MAX_STEP_GRACE_MS. `unknownStepMs`: the grace while no step was seen yet.
   */
  stepGraceMs(unknownStepMs = 0): number {
    const steps = this.slowestStepMs > 0 ? Math.min(MAX_STEP_GRACE_MS, CANCEL_GRACE_STEPS * this.slowestStepMs) : unknownStepMs;
    return Math.ceil(Math.max(this.cancelGraceMs, steps));
  }

  /** Stops the process; it counts as gone at once, so the next call starts a new one instead of waiting on this. */
  kill(why = 'was stopped'): void {
    if (this.exited) return;
    this.stoppedHere = true;
    this.child.kill('SIGKILL');
    this.fail(why);
  }

  private post(message: ParentToWorkerMessage): void {
    if (this.exited || !this.child.connected) return;
    this.child.send(message, (error) => {
      if (error) this.fail(`could not be reached (${error.message})`);
    });
  }

  private receive(message: WorkerToParentMessage): void {
    if (message.type === 'served-request') {
      this.lastHeardAt = performance.now();
      this.onServedRequest?.(message.request);
      return;
    }
    this.lastHeardAt = performance.now();
    const pending = this.pending.get(message.id);
    if (!pending) return;
    if (message.type === 'started') {
      pending.onStarted?.();
      return;
    }
    if (pending.lastMessageAt !== undefined) {
      const now = performance.now();
      this.slowestStepMs = Math.max(this.slowestStepMs, now - pending.lastMessageAt);
      pending.lastMessageAt = now;
    }
    if (message.type === 'token') {
      pending.onToken?.(message.token);
      return;
    }
    if (message.type === 'progress') {
      pending.onProgress?.(message.progress);
      return;
    }
    const problem = message.ok ? resultProblem(pending.method, message.result) : undefined;
    if (problem !== undefined) {
      this.outsideProtocol(problem);
      return;
    }
    this.pending.delete(message.id);
    if (message.ok) {
      pending.resolve(message.result);
      return;
    }
    const error = rebuildError(message.error, this.role);
    pending.reject(error);
    if (ranOutOfMemory(error)) this.kill('was stopped after it ran out of memory, so that the next call starts clean');
  }

  /**
   * The error of a call made on it after it ended (`when`: e.g. "while this answer was written"),
   * with what helps as its death said it: a call on a session of a process that died again and
   * again keeps the fix of a model that needs less memory.
   */
  goneError(when: string): SlmProcessError {
    const after = this.afterEnd ?? afterItEnded(this.role, 0);
    return new SlmProcessError(`${this.name} ${this.endedBecause ?? 'was replaced'}${after.inARow && `${after.inARow},`} ${when}. ${after.advice}`, after.fix);
  }

  /** A message the protocol does not have (a bug, or a process not ours): nothing it says can be relied on any more. */
  private outsideProtocol(problem: string): void {
    this.kill(`sent a message outside the protocol (${problem}) and was stopped`);
  }

  private fail(why: string): void {
    if (this.exited) return;
    this.exited = true;
    this.endedBecause = why;
    this.sessions.clear();
    if (!this.stoppedHere) this.deaths.count += 1;
    // Read by users (an answer's error): what happened, and the fix. Once, asking again is; a
    // process that dies again and again (the OOM killer, mid-answer) needs a model that fits.
    const after = afterItEnded(this.role, this.stoppedHere ? 0 : this.deaths.count);
    this.afterEnd = after;
    const count = this.pending.size;
    const failed = `${count} pending call${count === 1 ? '' : 's'} failed, and what it held in memory (its KV caches) is gone.`;
    const error = new SlmProcessError(`${this.name} ${why}${after.inARow}; ${failed} ${after.advice}`, after.fix);
    const pendings = [...this.pending.values()];
    this.pending.clear();
    for (const p of pendings) p.reject(error);
    this.onExit(why);
  }
}

export async function createProcessRuntime(folder: string, options: ProcessRuntimeOptions = {}): Promise<ProcessRuntime> {
  const worker = options.workerPath
    ? { path: options.workerPath, execArgv: options.execArgv ?? (options.workerPath.endsWith('.ts') ? tsxArgv() : []) }
    : { ...defaultWorker(), ...(options.execArgv ? { execArgv: options.execArgv } : {}) };
  const {
    workerPath: _w,
    execArgv: _e,
    renderTimeoutMs = DEFAULT_RENDER_TIMEOUT_MS,
    cancelGraceMs = DEFAULT_CANCEL_GRACE_MS,
    loadTimeoutMs = DEFAULT_LOAD_TIMEOUT_MS,
    signal: firstLoadSignal,
    role = 'slm',
    served,
    onServedRequest,
    ...loadOptions
  } = options;
  // A model that does not load, or whose own chat template does not render: another model helps
  // (for the onnx-local LLM, its setting).
  const { whose, pickAnother, pickFix } = ROLES[role];
  /** The model's own chat template, as messages name it ("The large model's chat template" for an onnx-local LLM). */
  const ownTemplate = `${whose}'s chat template`;

  /**
   * A render that does not finish in time stops the process (the next call starts a new one) and
   * says why. Its deadline counts from when the process starts it (`started`): until then it
   * waits behind the process's other calls, a forward pass holding the process's event loop for
   * a whole prefill chunk (seconds on a slow CPU, a read-ahead in the background), which is not
   * the template's time. A process that keeps it waiting while it says nothing for longer than a
   * few of its slowest steps is taken as hung and stopped, as a cancelled call's would be.
   */
  const renderWithin = async <M extends 'renderChat' | 'renderTemplate'>(method: M, params: ParamsOf<M>, template: string, fix: Fix): Promise<string> => {
    const proc = await start();
    return new Promise<string>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let startedAt: number | undefined;
      const sentAt = performance.now();
      let ended = false;
      const end = (error?: Error, rendered?: string): void => {
        if (ended) return;
        ended = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(rendered as string);
      };
      const check = (): void => {
        if (ended) return;
        const now = performance.now();
        if (startedAt !== undefined) {
          if (now - startedAt < renderTimeoutMs) {
            timer = setTimeout(check, startedAt + renderTimeoutMs - now);
            return;
          }
          // Said first, so the caller hears why; then the process goes (its pending calls fail after this).
          // Another folder's template is relay.provider.templateFolder's; the model's own, its role's folder.
          end(new SlmProcessError(renderTimeoutMessage(template, renderTimeoutMs, method === 'renderTemplate' ? 'templateFolder' : role), fix));
          proc.kill('was stopped: a chat template took too long to render');
          return;
        }
        // Not begun yet: it waits behind another call as long as the process shows it works (each
        // step sends a message), or its own deadline while nothing else is under way.
        const behind = proc.pending.size > 1;
        const waitMs = behind ? Math.max(renderTimeoutMs, proc.stepGraceMs(MAX_STEP_GRACE_MS)) : renderTimeoutMs;
        const quietSince = Math.max(sentAt, proc.lastHeardAt);
        if (now - quietSince < waitMs) {
          timer = setTimeout(check, quietSince + waitMs - now);
          return;
        }
        if (!behind) {
          // A process that never says it began (it renders without saying so): the deadline as ever.
          startedAt = sentAt;
          check();
          return;
        }
        end(
          new SlmProcessError(
            `${template} could not render: ${proc.name} said nothing for ${duration(waitMs)} while it ran another call (a forward pass that does not end), and was stopped. ` +
              'What was written is kept; ask again (or Retry) and a new process starts.',
            'retry',
          ),
        );
        proc.kill(`was stopped: it said nothing for ${duration(waitMs)} while a chat template waited to render`);
      };
      const onStarted = (): void => {
        if (ended || startedAt !== undefined) return;
        startedAt = performance.now();
        clearTimeout(timer);
        timer = setTimeout(check, renderTimeoutMs);
      };
      (proc.call(method, params, { onStarted }) as Promise<string>).then(
        (rendered) => end(undefined, rendered),
        (error: Error) => end(error),
      );
      timer = setTimeout(check, renderTimeoutMs);
    });
  };

  let current: WorkerProcess | undefined;
  let starting: Promise<WorkerProcess> | undefined;
  /** The process of the load under way (dispose() stops it rather than wait for it). */
  let loadingProc: WorkerProcess | undefined;
  let generation = 0;
  let starts = 0;
  const deaths: DeathsInARow = { count: 0 };
  let disposed = false;
  let info: ModelInfo | undefined;

  const start = (): Promise<WorkerProcess> => {
    if (current && !current.exited) return Promise.resolve(current);
    if (starting) return starting;
    starting = (async () => {
      const proc = new WorkerProcess(
        worker.path,
        worker.execArgv,
        () => {
          if (current === proc) current = undefined;
        },
        onServedRequest,
        cancelGraceMs,
        role,
        deaths,
        served ? undefined : folder,
      );
      loadingProc = proc;
      starts += 1;
      let timedOut = false;
      const deadline = setTimeout(() => {
        timedOut = true;
        proc.kill(`was stopped: loading the model took more than ${duration(loadTimeoutMs)}`);
      }, loadTimeoutMs);
      try {
        const loaded = served ? await proc.call('loadServed', { options: { ...served, folder } }) : await proc.call('load', { folder, options: loadOptions });
        info = loaded.info;
      } catch (e) {
        // Why the process ended, before kill() below marks it as stopped here.
        const crashed = proc.exited && !proc.stoppedHere;
        proc.kill();
        if (timedOut) {
          throw new SlmProcessError(
            `${whose} in ${folder} did not finish loading within ${duration(loadTimeoutMs)}, and its process was stopped. ` +
              `Its files may be on a slow or unresponsive disk (copy the folder to a local disk), or the model may be too large for this machine: ${pickAnother}.`,
            pickFix,
          );
        }
        if (crashed) {
          throw new SlmProcessError(
            `${whose} crashed while loading ${folder} (its process ${proc.endedBecause}). ` +
              `Its files may be broken, or it may need more memory than is free: ${pickAnother}.`,
            pickFix,
          );
        }
        if (proc.stoppedHere && disposed) throw new SlmProcessError(`The runtime was disposed while ${whose.toLowerCase()} in ${folder} loaded.`);
        // A model folder's problem would get "Pick another model" (Select Model, the small model's)
        // by its words (relayService failureOf): the large model's folder is a setting.
        const carried = e as { fix?: Fix };
        if (role === 'llm' && carried.fix === undefined && e instanceof ModelFolderError) carried.fix = pickFix;
        throw e;
      } finally {
        clearTimeout(deadline);
        if (loadingProc === proc) loadingProc = undefined;
      }
      generation += 1;
      current = proc;
      return proc;
    })().finally(() => {
      starting = undefined;
    });
    return starting;
  };

  const alive = () => {
    if (disposed) throw new SlmProcessError(`The runtime of ${whose.toLowerCase()} was disposed; create a new one.`);
  };

  // The caller may give up on the first load (it closed, or no longer needs this model): its process goes.
  if (firstLoadSignal?.aborted) throw new SlmProcessError(`Loading ${whose.toLowerCase()} in ${folder} was cancelled.`);
  const abandon = () => {
    disposed = true;
    loadingProc?.kill('was stopped: its load was cancelled');
  };
  firstLoadSignal?.addEventListener('abort', abandon, { once: true });
  try {
    await start();
  } catch (e) {
    if (firstLoadSignal?.aborted) throw new SlmProcessError(`Loading ${whose.toLowerCase()} in ${folder} was cancelled.`);
    throw e;
  } finally {
    firstLoadSignal?.removeEventListener('abort', abandon);
  }

  const makeSession = (proc: WorkerProcess, sessionId: string, sessionGeneration: number): SlmSession => {
    const live = (): WorkerProcess => {
      alive();
      if (proc.exited || generation !== sessionGeneration) throw proc.goneError(`while this answer was written (session ${sessionId} belonged to it)`);
      return proc;
    };
    return {
      id: `${sessionGeneration}:${sessionId}`,
      async prefill(text: string, opts: PrefillOptions = {}) {
        return live().call('prefill', { sessionId, text, readAhead: opts.readAhead }, { onProgress: opts.onProgress }, opts.signal);
      },
      async generate(opts: GenerateOptions, onToken?: (token: GeneratedToken) => void, signal?: AbortSignal): Promise<GenerateResult> {
        return live().call('generate', { sessionId, options: opts }, { onToken }, signal);
      },
      async append(text: string, opts: Pick<PrefillOptions, 'onProgress'> = {}) {
        return live().call('append', { sessionId, text }, { onProgress: opts.onProgress });
      },
      async dispose() {
        if (!proc.exited && generation === sessionGeneration) await proc.call('disposeSession', { sessionId });
      },
    };
  };

  return {
    get info(): ModelInfo {
      return info!;
    },
    get pid() {
      return current && !current.exited ? current.child.pid : undefined;
    },
    get running() {
      return !disposed && current !== undefined && !current.exited;
    },
    get starts() {
      return starts;
    },
    async ensureStarted() {
      alive();
      await start();
    },
    async renderChat(messages: ChatMessage[], opts?: RenderOptions) {
      alive();
      return renderWithin('renderChat', { messages, addGenerationPrompt: opts?.addGenerationPrompt, thinking: opts?.thinking }, ownTemplate, pickFix);
    },
    async renderWithTemplate(path: string, messages: ChatMessage[], opts?: { thinking?: boolean }) {
      alive();
      return renderWithin('renderTemplate', { path, messages, thinking: opts?.thinking }, `The chat template of ${path}`, 'open-settings');
    },
    async countTokens(text: string, signal?: AbortSignal) {
      alive();
      return (await start()).call('countTokens', { text }, {}, signal);
    },
    async checkServer(signal?: AbortSignal) {
      alive();
      await renderWithin('renderChat', { messages: SERVED_CHECK_PROMPT, addGenerationPrompt: true }, ownTemplate, pickFix);
      return (await start()).call('checkServed', {}, {}, signal);
    },
    async createSession(signal?: AbortSignal) {
      alive();
      const proc = await start();
      const { sessionId } = await proc.call('createSession', {}, {}, signal);
      return makeSession(proc, sessionId, generation);
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      // A load under way is not waited for (it may never end): its process is stopped.
      loadingProc?.kill('was stopped: the runtime was disposed while it loaded');
      const proc = current ?? (starting ? await starting.catch(() => undefined) : undefined);
      if (!proc || proc.exited) return;
      const exited = new Promise<void>((resolve) => proc.child.once('exit', () => resolve()));
      // The worker exits once it answered; one that does not answer (hung) is killed, so this always ends.
      const timer = setTimeout(() => proc.kill(`did not exit within ${duration(SHUTDOWN_GRACE_MS)} of its shutdown and was stopped`), SHUTDOWN_GRACE_MS);
      try {
        await proc.call('shutdown', {}).catch(() => undefined);
        if (proc.child.exitCode === null && proc.child.signalCode === null) await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
