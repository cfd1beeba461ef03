/**
 * Runs relay answers for the extension: keeps the SLM process, builds the provider from
 * the settings and the key in SecretStorage, forwards engine events, records totals.
 * One answer at a time; "Relay: Stop" cancels it and the partial answer is kept.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as vscode from 'vscode';
import { fixForCode } from '../core/providers/errors';
import { composeLlm, RelayComposition } from '../core/compose';
import { PROVIDER_TEST_REQUEST, runProviderTest, testFailed, type ProviderTestOptions, type ProviderTestResult } from '../core/providers/providerTest';
import { RecentPrompts } from '../core/relay/recentPrompts';
import { baseUrlOf } from '../core/providers/endpoints';
import { createAgents } from '../core/providers/http';
import { PROVIDER_KINDS, providerOf } from '../core/providers/registry';
import { runRelay, SLM_RESTARTING } from '../core/relay/engine';
import { fitConversation } from '../core/relay/fitConversation';
import type { AnswerStats, RelayEvent, RelayMode } from '../core/relay/events';
import { TokenRatioStore } from '../core/relay/tokenRatioStore';
import { slmOnlyModelKey, TotalsStore } from '../core/relay/totalsStore';
import { readSlmRelayTraits, resolveRelayMode, type SlmRelayTraits } from '../core/relay/modeResolution';
import { RELAY_POLICIES } from '../core/relay/policies/registry';
import { llmOriginWithoutKey } from '../core/llmKeyCheck';
import { createProcessRuntime, type ProcessRuntime } from '../core/slm/onnx/processRuntime';
import { modelWeightsFingerprint } from '../core/slm/modelFolder';
import { draftReads, followUpPrefix, ReadAhead } from '../core/slm/readAhead';
import type { ChatMessage } from '../core/slm/types';
import { modelFolderName, type ModelLoad } from '../shared/modelLoading';
import type { FixAction } from '../shared/webviewProtocol';
import { askModal } from './askModal';
import { DEMO_QUESTION, DEMO_TASK, demoModelNote, demoQuestionProblem } from './demo/demoPlan';
import { KeyStore } from './keyStore';
import { showInformation, showWarning } from './notifications';
import { localLlmFolderProblem, readSettings, relaySetupOf, SettingsError, type RelaySettings } from './settings';
import { providerLabel, SentRequestLog } from './sentRequests';

/**
 * What the SLM process is loaded for: another key loads another. Weights written over in
 * place (same path) count as another model: the running one would compute with a mix of old
 * and new weights, and its kept caches hold what the old ones computed.
 */
function runtimeKey(folder: string, settings: RelaySettings): string {
  const { server } = settings.slm;
  return server
    ? `${folder}|${server.kind}|${server.url}|${server.model}`
    : `${folder}|${settings.slm.variant ?? 'auto'}|${settings.slm.q4Compute}|${settings.slm.kvCacheBudgetMb}|${modelWeightsFingerprint(folder)}`;
}

/** The settings as they are now; undefined where they cannot be read (readSettings says why when an answer reads them). */
function settingsIfReadable(): RelaySettings | undefined {
  try {
    return readSettings();
  } catch {
    return undefined;
  }
}

/** Whether these settings' answers use an LLM run in a Relay process (onnx-local). */
function usesLocalLlm(settings: RelaySettings): boolean {
  return providerOf(settings.provider.kind).inProcess === true && !settings.localOnly;
}

/** The kinds whose service takes a key (keys of these may have been stored before they were bound to an origin). */
const KEYED_KINDS = PROVIDER_KINDS.filter((kind) => providerOf(kind).usesKey);

/** What failed, for the view: the message, and the fix the error carries (a provider's, or one passed through the SLM process), else by what failed. */
function failureOf(error: unknown): { message: string; fix?: FixAction } {
  const message = error instanceof Error ? error.message : String(error);
  // A missing ONNX Runtime binding carries its own fix where one helps (none published for this platform: a model on a server);
  // installing another package has no button, and picking another local model would not help.
  const runtimeMissing = error instanceof Error && error.name === 'OnnxRuntimeUnavailableError';
  const carried = (error as { fix?: FixAction }).fix;
  const modelProblem = !runtimeMissing && ((error instanceof Error && error.name === 'ModelFolderError') || /model folder|config\.json|onnx/i.test(message));
  const fix = carried ?? (error instanceof SettingsError ? 'open-settings' : (slmServerFix(message) ?? (modelProblem ? 'pick-model' : undefined)));
  return { message, fix };
}

/**
 * The small model's server said no (unreachable, a model it does not serve, no
 * log-probabilities for the gate): its errors name the setting to change, so Settings is
 * the fix. They reach here as plain messages from the SLM process.
 */
function slmServerFix(message: string): FixAction | undefined {
  return /relay\.slm\.(serverUrl|serverModel|kind)\b|\(relay\.mode\)/.test(message) ? 'open-settings' : undefined;
}

export interface AnswerSink {
  /** `destination`: where the LLM's requests went (an origin such as https://api.openai.com, or 'this machine'). */
  onEvent(event: RelayEvent, model: string, destination?: string): void;
  /**
   * The answer waits on a model's load (told only when one is needed): at once (waitedMs 0),
   * once a second after, and once more with null when the wait ends (loaded, failed or stopped).
   */
  onLoading?(load: ModelLoad, waitedMs: number | null): void;
}

/**
 * `sink.onEvent`, never throwing: a view that cannot show an event (a chat response VS Code
 * closed a second after Stop) must not end the answer before its stats and totals are recorded.
 * Its first failure is logged; the events still go to it.
 */
function eventsToView(sink: AnswerSink, viewsDetached: () => boolean): AnswerSink['onEvent'] {
  let logged = false;
  return (event, model, destination) => {
    if (viewsDetached()) return;
    try {
      sink.onEvent(event, model, destination);
    } catch (failure) {
      if (logged) return;
      logged = true;
      console.warn(
        `Relay: a view could not show the answer (${failure instanceof Error ? failure.message : String(failure)}); the answer goes on and is counted.`,
      );
    }
  };
}

/** Wraps the wait on a model's load: `wait` itself, or it told to the answer's sink (toldWhileLoading). */
type LoadWait = <T>(load: ModelLoad, wait: Promise<T>) => Promise<T>;
const untold: LoadWait = (_load, wait) => wait;

/** How often a load under way is told again (its seconds tick in the views). */
const LOADING_TICK_MS = 1000;

/**
 * `wait`, told to `onLoading` while it lasts: at once, each LOADING_TICK_MS, and (null) once it
 * settles or the answer is stopped (the load may go on, for nobody to hear of).
 */
function toldWhileLoading<T>(
  wait: Promise<T>,
  load: ModelLoad,
  onLoading: (load: ModelLoad, waitedMs: number | null) => void,
  signal: AbortSignal,
): Promise<T> {
  if (signal.aborted) return wait;
  // Told from a timer too: a view that cannot be told (closed meanwhile) neither ends the wait nor throws where nothing catches it.
  const tell = (waitedMs: number | null): void => {
    try {
      onLoading(load, waitedMs);
    } catch {
      // The answer goes on; its outcome is said where it ends.
    }
  };
  const started = Date.now();
  let ticks = 0;
  let ended = false;
  tell(0);
  // The Nth tick says at least N s (Date.now() and the timers' clock differ by a millisecond either way).
  const timer = setInterval(() => tell(Math.max((ticks += 1) * LOADING_TICK_MS, Date.now() - started)), LOADING_TICK_MS);
  const end = (): void => {
    if (ended) return;
    ended = true;
    clearInterval(timer);
    signal.removeEventListener('abort', end);
    tell(null);
  };
  signal.addEventListener('abort', end, { once: true });
  return wait.finally(end);
}

/**
 * An answer that does not come from the relay.* settings ("Relay: Try the Demo"): its own
 * settings object, the LLM's name for the view, the note beside its prices. Its stats are
 * not added to the savings totals, nor told to the onAnswered hook (the caller shows them).
 */
export interface AnswerPlan {
  settings: RelaySettings;
  llmLabel: string;
  priceNote?: string;
}

export interface AnswerOptions {
  /**
   * A chat turn that may be followed up: once it is answered, the conversation as the next
   * turn's prompt will begin is read into a kept KV cache in the background (readAhead.ts).
   */
  readAhead?: boolean;
}

export interface AnswerOutcome {
  stats?: AnswerStats;
  answer: string;
  error?: { message: string; fix?: FixAction };
}

/** Why an answer (the demo's too) does not start while "Relay: Test Provider" runs: it might call off the SLM load the test waits on. */
/** Why nothing else runs while "Relay: Test Provider" does; `what` says what did not happen. */
export function providerTestRunning(what?: string): string {
  return `Relay is testing the provider ("Relay: Test Provider"), which may be loading the small model${what ? `, so ${what}` : ''}. Try again when the test ends, or cancel it first (its notification).`;
}
export const PROVIDER_TEST_RUNNING = providerTestRunning();

/** What an answer stopped before it began was waiting for: the small model's first load (or a new process of it: SLM_RESTARTING). */
const SLM_LOADING = 'the small model was still loading';

/** Ends as `promise` does, or when `signal` aborts (rejecting with StoppedError): "Relay: Stop" must end an answer even while the model it waits on hangs. */
function untilStopped<T>(promise: Promise<T>, signal: AbortSignal | undefined, waitingFor: string | (() => string) = SLM_LOADING): Promise<T> {
  if (!signal) return promise;
  const stopped = () => new StoppedError(typeof waitingFor === 'string' ? waitingFor : waitingFor());
  if (signal.aborted) return Promise.reject(stopped());
  return new Promise<T>((resolve, reject) => {
    const stop = () => reject(stopped());
    signal.addEventListener('abort', stop, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
  });
}

/** The user stopped the answer before it began (while the model it needs loaded). */
class StoppedError extends Error {
  constructor(waitingFor: string) {
    super(`Stopped before the answer began: ${waitingFor}.`);
    this.name = 'StoppedError';
  }
}

export class RelayService implements vscode.Disposable {
  private runtime: { key: string; folder: string; runtime: ProcessRuntime } | undefined;
  /** The SLM being loaded (slm()), for whoever needs it before it is ready; `cancel` stops it (another model is wanted, or Relay closes). */
  private loading: { key: string; folder: string; promise: Promise<ProcessRuntime>; cancel: AbortController } | undefined;
  /**
   * The last load that failed, by runtime key: a draft's read-ahead or the preload does not
   * try that model again (a model that crashes at load would start a process and a full load
   * on every typing pause); an answer does. Another key (the settings changed) tries again.
   */
  private loadFailure: { key: string; error: unknown } | undefined;
  /** The chat's draft last seen, read once the SLM it started loading is ready. */
  private latestDraft: ChatMessage[] | undefined;
  private disposed = false;
  /** The onnx-local LLM, in a child process of its own like the SLM (never in the extension host). */
  private llmRuntime: { key: string; folder: string; runtime: ProcessRuntime } | undefined;
  /** The onnx-local LLM being loaded, shared by whoever needs it meanwhile (one process per folder). */
  private llmLoading: { key: string; promise: Promise<ProcessRuntime> } | undefined;
  /** Aborted by dispose(): a load of the LLM under way stops (its process goes) instead of being waited on. */
  private readonly closing = new AbortController();
  private current: AbortController | undefined;
  /** Settles when the running answer has ended and been counted (resolved at once when none runs). */
  private answerEnded: Promise<void> = Promise.resolve();
  /** Set at shutdown, once the views saved what they show: the answer's last events are not theirs to show. */
  private viewsDetached = false;
  /**
   * "Relay: Test Provider" runs: it may load the SLM for its template, and an answer (the demo's
   * too) that loads another model meanwhile would call that load off and fail the test.
   */
  private testing = false;
  readonly totals: TotalsStore;
  /** API keys, each bound to the origin it was entered for (keyStore.ts). */
  readonly keys: KeyStore;
  /** What went to the LLM for the last answer ("Relay: Show What Was Sent"). */
  readonly sentRequests = new SentRequestLog();
  private readonly busyChanged = new vscode.EventEmitter<boolean>();
  /** Prompts sent recently: a chat turn's or a Retry's LLM-alone estimate reads what they share from the provider's cache. */
  private readonly recentPrompts = new RecentPrompts();
  /** The next chat turn's prompt, read while the user writes it; settled before an answer opens its session. */
  private readonly readAhead = new ReadAhead();
  /** LLM tokens per SLM token, per model pair, kept in globalState: the next session's first call is priced with them. */
  private readonly tokenRatios: TokenRatioStore;
  /** Fires when an answer starts or ends, so every open view can enable Stop and Send. */
  readonly onDidChangeBusy = this.busyChanged.event;
  /** One keep-alive connection pool for every answer's and test's provider (each would otherwise open its own, never closed). */
  private readonly agents = createAgents();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly hooks: {
      onBusy(busy: boolean): void;
      onAnswered(stats: AnswerStats): void;
      /** The running answer waits on a model's load (the status bar), or no longer (undefined). */
      onLoading?(load: ModelLoad | undefined): void;
    },
  ) {
    this.totals = new TotalsStore(join(context.globalStorageUri.fsPath, 'totals.json'));
    this.keys = new KeyStore(context.secrets, context.globalState, askModal);
    this.tokenRatios = new TokenRatioStore(context.globalState);
  }

  /** Keys stored per kind before they were bound to an origin move to the origin they were used with. */
  async migrateKeys(): Promise<void> {
    const configured = settingsIfReadable()?.provider;
    for (const kind of KEYED_KINDS) await this.keys.migrateLegacy(kind, configured?.kind === kind ? configured.baseUrl : undefined);
  }

  /** Where requests of the configured provider go (undefined for onnx-local or a bad URL). */
  providerUrl(settings: RelaySettings): URL | undefined {
    return baseUrlOf(settings.provider.kind, settings.provider.baseUrl);
  }

  /** An answer is written, or the provider is tested ("Relay: Test Provider"): no other answer starts. */
  get busy(): boolean {
    return this.current !== undefined || this.testing;
  }

  /** Whether the provider is being tested ("Relay: Test Provider"), which makes the service busy. */
  get testingProvider(): boolean {
    return this.testing;
  }

  /** The embedded demo model shipped inside the extension, if any. */
  private embeddedSlm(): string | undefined {
    const folder = join(this.context.extensionPath, 'models', 'relay-demo-slm');
    return existsSync(join(folder, 'config.json')) ? folder : undefined;
  }

  slmFolder(settings: RelaySettings): string | undefined {
    return settings.slm.modelFolder || this.embeddedSlm();
  }

  /** What a first-time user still has to set up, or undefined when ready. */
  async setupWarning(): Promise<string | undefined> {
    let settings: RelaySettings;
    try {
      settings = readSettings();
    } catch (error) {
      return (error as Error).message;
    }
    const folder = this.slmFolder(settings);
    if (!folder) return 'No small model is set: run "Relay: Select Model".';
    if (!existsSync(folder)) return `The small model folder does not exist: ${folder}. Run "Relay: Select Model".`;
    let mode: RelayMode;
    try {
      mode = this.resolveMode(settings, readSlmRelayTraits(folder));
    } catch (error) {
      // A model folder whose config.json says something this version does not know: said here, not a view that never loads.
      return `${(error as Error).message} Run "Relay: Select Model" to pick another model.`;
    }
    // Said last, after the LLM's set-up (the walkthrough's order): the embedded model answers at
    // once, but only its one toy task; a question or code explained with it gets nonsense.
    const demoModel = this.isEmbeddedSlm(folder) ? demoModelNote(vscode.env.remoteName) : undefined;
    if (!RELAY_POLICIES[mode].needsLlm) return demoModel;
    if (!settings.provider.model) return 'No LLM model is set: set relay.provider.model in Settings (or turn on relay.localOnly).';
    // onnx-local's folder is checked where it is opened, for the answers that use it: this mode does.
    const folderProblem = providerOf(settings.provider.kind).inProcess ? localLlmFolderProblem(settings.provider.model) : undefined;
    if (folderProblem) return new SettingsError('provider.model', folderProblem).message;
    const keyless = await this.originWithoutKey(mode, settings);
    if (keyless) return `No API key for ${settings.provider.kind} at ${keyless.origin}: run "Relay: Set API Key".`;
    return demoModel;
  }

  /** Where the configured provider's requests go when `mode` needs the LLM, it needs a key there and none is stored for that origin (src/core/llmKeyCheck.ts). */
  private originWithoutKey(mode: RelayMode, settings: RelaySettings): Promise<URL | undefined> {
    return llmOriginWithoutKey([mode], settings.provider, (kind, url) => this.keys.hasKeyFor(kind, url));
  }

  /** Whether `folder` is the embedded demo SLM (the default, or the same folder set in relay.slm.modelFolder). */
  private isEmbeddedSlm(folder: string): boolean {
    const embedded = this.embeddedSlm();
    return embedded !== undefined && resolve(folder) === resolve(embedded);
  }

  /** auto: command mode for models trained to call (config.json relay_trained), confidence otherwise (src/core). */
  resolveMode(settings: RelaySettings, traits: SlmRelayTraits): RelayMode {
    if (settings.localOnly) return 'slm-only';
    return resolveRelayMode(settings.mode, traits);
  }

  /**
   * The SLM, in its child process either way: the ONNX folder, or (relay.slm.kind) the
   * served runtime, which talks to the server from there. Not in the extension host,
   * because the folder's chat template is a program with no step bound of its own
   * (chatTemplate.ts): the process renders it within a deadline and is stopped if it
   * loops, and tokenising long contexts for every request stays off the host's event loop.
   * The server gets no API key (the served runtime sends no credentials at all).
   */
  private slm(
    folder: string,
    settings: RelaySettings,
    { retryFailed = true, whileLoading = untold }: { retryFailed?: boolean; whileLoading?: LoadWait } = {},
  ): Promise<ProcessRuntime> {
    const key = runtimeKey(folder, settings);
    if (this.runtime?.key === key) return Promise.resolve(this.runtime.runtime);
    const load: ModelLoad = { model: 'small', name: modelFolderName(folder) };
    // One load at a time, shared by whoever needs it meanwhile (a draft's read-ahead, then Send).
    if (this.loading?.key === key) return whileLoading(load, this.loading.promise);
    if (!retryFailed && this.loadFailure?.key === key) return Promise.reject(this.loadFailure.error);
    // Another model is wanted now: the load under way (which may hang) is not waited for.
    this.loading?.cancel.abort();
    const before = this.loading?.promise.catch(() => undefined);
    const cancel = new AbortController();
    const loading = { key, folder, promise: this.load(folder, settings, key, before, cancel.signal), cancel };
    this.loading = loading;
    const done = (): void => {
      if (this.loading === loading) this.loading = undefined;
    };
    loading.promise.then(
      () => {
        if (this.loadFailure?.key === key) this.loadFailure = undefined;
        done();
      },
      (error: unknown) => {
        // Remembered unless it was called off (another model wanted, Relay closed): that says nothing of the model.
        if (!cancel.signal.aborted) this.loadFailure = { key, error };
        done();
      },
    );
    return whileLoading(load, loading.promise);
  }

  private async load(folder: string, settings: RelaySettings, key: string, before: Promise<unknown> | undefined, signal: AbortSignal): Promise<ProcessRuntime> {
    await before;
    if (this.runtime?.key === key) return this.runtime.runtime;
    const { server } = settings.slm;
    // A read-ahead reads into the runtime about to be replaced: it ends first.
    await this.readAhead.settle();
    await this.runtime?.runtime.dispose().catch(() => undefined);
    this.runtime = undefined;
    const workerPath = join(this.context.extensionPath, 'dist', 'slmWorker.js');
    const runtime = server
      ? await createProcessRuntime(folder, {
          workerPath,
          signal,
          served: { kind: server.kind, url: server.url, model: server.model },
          onServedRequest: (request) => this.sentRequests.recordSlmRequest(request),
        })
      : await createProcessRuntime(folder, {
          variant: settings.slm.variant,
          q4Compute: settings.slm.q4Compute,
          kvCacheBudgetMb: settings.slm.kvCacheBudgetMb,
          workerPath,
          signal,
        });
    if (this.disposed) {
      // Closed while it loaded (a draft started the load): nothing may keep its process.
      await runtime.dispose().catch(() => undefined);
      throw new Error('Relay was closed while the small model loaded.');
    }
    this.runtime = { key, folder, runtime };
    return runtime;
  }

  /**
   * The onnx-local LLM's runtime: in a child process of its own, like the SLM (never in the
   * extension host). One load per folder at a time, shared by whoever asks meanwhile, as slm().
   */
  private async localLlm(folder: string, kvCacheBudgetMb: number, whileLoading: LoadWait = untold): Promise<ProcessRuntime> {
    const folderProblem = localLlmFolderProblem(folder);
    if (folderProblem) throw new SettingsError('provider.model', folderProblem);
    // The budget is the answer's own (the demo reads no user setting): another budget loads again,
    // and so do weights written over in place (as for the SLM, runtimeKey).
    const key = `${folder}|${kvCacheBudgetMb}|${modelWeightsFingerprint(folder)}`;
    const load: ModelLoad = { model: 'large', name: modelFolderName(folder) };
    if (this.llmRuntime?.key === key) {
      const { runtime } = this.llmRuntime;
      // A process that ended since the last answer (out of memory) starts again here, before the
      // answer, where Stop ends the wait, as the small model's does; not inside an LLM call.
      if (!runtime.running) await whileLoading({ ...load, restarting: true }, runtime.ensureStarted());
      return runtime;
    }
    if (this.llmLoading?.key === key) return whileLoading(load, this.llmLoading.promise);
    const before = this.llmLoading?.promise.catch(() => undefined);
    const loading = { key, promise: this.loadLocalLlm(folder, kvCacheBudgetMb, key, before) };
    this.llmLoading = loading;
    const done = (): void => {
      if (this.llmLoading === loading) this.llmLoading = undefined;
    };
    loading.promise.then(done, done);
    return whileLoading(load, loading.promise);
  }

  private async loadLocalLlm(folder: string, kvCacheBudgetMb: number, key: string, before: Promise<unknown> | undefined): Promise<ProcessRuntime> {
    await before;
    if (this.llmRuntime?.key === key) return this.llmRuntime.runtime;
    await this.llmRuntime?.runtime.dispose().catch(() => undefined);
    this.llmRuntime = undefined;
    const runtime = await createProcessRuntime(folder, {
      workerPath: join(this.context.extensionPath, 'dist', 'slmWorker.js'),
      role: 'llm',
      // Its kept caches are held to the SLM's setting: one setting for the memory of kept caches.
      kvCacheBudgetMb,
      signal: this.closing.signal,
    });
    if (this.disposed) {
      await runtime.dispose().catch(() => undefined);
      throw new Error('Relay was closed while the large model loaded.');
    }
    this.llmRuntime = { key, folder, runtime };
    return runtime;
  }

  /**
   * Lets go of the models loaded from `folder` (the SLM, an onnx-local LLM), so that a download
   * can replace their files: Windows refuses to replace or delete a file a process has mapped,
   * and ONNX Runtime maps weights. The next answer loads them again. Not while an answer runs
   * (false): the download then says which file is in use.
   */
  async releaseFolder(folder: string): Promise<boolean> {
    if (this.current) return false;
    const from = <T extends { folder: string }>(loaded: T | undefined): loaded is T => loaded !== undefined && resolve(loaded.folder) === resolve(folder);
    const loading = this.loading;
    if (from(loading)) {
      loading.cancel.abort();
      await loading.promise.catch(() => undefined);
    }
    await this.readAhead.settle();
    // An answer may have started while this waited: its models are not taken from under it.
    if (this.current) return false;
    const slm = this.runtime;
    if (from(slm)) {
      this.runtime = undefined;
      await slm.runtime.dispose().catch(() => undefined);
    }
    await this.llmLoading?.promise.catch(() => undefined);
    if (this.current) return false;
    if (from(this.llmRuntime)) await this.releaseLocalLlm();
    return true;
  }

  /**
   * Lets go of an onnx-local LLM the settings no longer use (another provider, local only):
   * otherwise its process keeps a whole model in memory for the rest of the session. Not while
   * an answer runs (the configuration handler calls it; an answer checks its own settings).
   */
  async releaseUnusedLlm(): Promise<void> {
    if (this.current || !this.llmRuntime) return;
    const settings = settingsIfReadable();
    if (settings && !usesLocalLlm(settings)) await this.releaseLocalLlm();
  }

  private async releaseLocalLlm(): Promise<void> {
    await this.llmLoading?.promise.catch(() => undefined);
    const llm = this.llmRuntime;
    this.llmRuntime = undefined;
    await llm?.runtime.dispose().catch(() => undefined);
  }

  /**
   * The chat's next message as far as the user has written it (`messages` ends with it): its
   * prompt is read into the SLM's cache in the background, up to the last finished word and then
   * whole, so that Send computes nothing if the text stays as it is, and only from the word
   * being written if it does not. Only while idle, on a runtime that keeps KV caches (a budget,
   * and not the whole-cache path: there the read would be lost, and Send would wait for it). The first draft of a
   * session loads the SLM (the user is about to send; the load is then not waited for at
   * Send), and the latest draft is read once it is loaded. Resolves once the read has begun,
   * or was skipped; never throws (Send reports a model that does not load).
   */
  async readAheadDraft(messages: ChatMessage[]): Promise<void> {
    this.latestDraft = messages;
    const idle = this.idleSlm();
    if (!idle || idle.settings.slm.server) return;
    const { settings, folder } = idle;
    const key = runtimeKey(folder, settings);
    if (this.runtime?.key !== key) {
      try {
        // A model whose load failed is not tried again at every typing pause: Send tries it.
        await this.slm(folder, settings, { retryFailed: false });
      } catch {
        return;
      }
      // A later draft, or Send, came while it loaded: that one is read (or computed) instead.
      if (this.latestDraft !== messages || this.current || this.runtime?.key !== key) return;
    }
    const slm = this.runtime.runtime;
    const draft = messages.at(-1)?.content ?? '';
    this.readAhead.start(slm, () => draftReads(slm, messages.slice(0, -1), draft, { thinking: settings.slm.thinking }));
  }

  /**
   * Loads the SLM in the background where relay.slm.loadAtStartup asks for it, so that the
   * first answer does not wait for the load. Resolves once it is loaded or was not loaded;
   * never throws (the first answer reports a model that does not load).
   */
  async preload(): Promise<void> {
    const idle = this.idleSlm();
    if (!idle?.settings.slm.loadAtStartup) return;
    try {
      await this.slm(idle.folder, idle.settings, { retryFailed: false });
    } catch {
      // As above: the answer that needs the model says what is wrong.
    }
  }

  /** The runtime key of the SLM `settings` ask for; undefined without settings, or for a folder that is not there. */
  private slmKeyOf(settings: RelaySettings | undefined): string | undefined {
    const folder = settings && this.slmFolder(settings);
    try {
      return settings && folder && existsSync(folder) ? runtimeKey(folder, settings) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether `slm` is the loaded SLM and the settings as they are now still ask for it. */
  private stillWanted(slm: ProcessRuntime): boolean {
    return this.runtime?.runtime === slm && this.runtime.key === this.slmKeyOf(settingsIfReadable());
  }

  /** The settings and the SLM's folder for work done while no answer runs; undefined when busy, closed, or the set-up is not usable. */
  private idleSlm(): { settings: RelaySettings; folder: string } | undefined {
    if (this.busy || this.disposed) return undefined;
    const settings = settingsIfReadable();
    if (!settings) return undefined;
    const folder = this.slmFolder(settings);
    return folder && existsSync(folder) ? { settings, folder } : undefined;
  }

  /** Runs one answer to its end (or until stopped); never throws. */
  async answer(messages: ChatMessage[], sink: AnswerSink, plan?: AnswerPlan, answerOptions: AnswerOptions = {}): Promise<AnswerOutcome> {
    if (this.current) return { answer: '', error: { message: 'Relay is already writing an answer. Stop it first ("Relay: Stop").' } };
    if (this.testing) return { answer: '', error: { message: PROVIDER_TEST_RUNNING } };
    const controller = new AbortController();
    this.current = controller;
    let ended!: () => void;
    this.answerEnded = new Promise((resolve) => (ended = resolve));
    this.hooks.onBusy(true);
    this.busyChanged.fire(true);
    let answer = '';
    try {
      const settings = plan?.settings ?? readSettings();
      const folder = this.slmFolder(settings);
      if (!folder) return { answer, error: { message: 'No small model is set. Run "Relay: Select Model" to pick or download one.', fix: 'pick-model' } };
      const mode = this.resolveMode(settings, readSlmRelayTraits(folder));
      // The embedded demo model writes nonsense (or nothing) for anything but its one task, without an error of its own;
      // said first: setting up an LLM would not help it. Where the LLM writes the whole answer (llm-only) it writes nothing.
      if (!plan && mode !== 'llm-only' && this.isEmbeddedSlm(folder) && demoQuestionProblem(messages.at(-1)?.content ?? '')) {
        return {
          answer,
          error: {
            message: `The small model is the embedded demo, which only knows questions like ${DEMO_QUESTION} (${DEMO_TASK}). Pick a real small model with "Relay: Select Model", or run "Relay: Try the Demo".`,
            fix: 'pick-model',
          },
        };
      }
      if (RELAY_POLICIES[mode].needsLlm && !settings.provider.model) {
        return {
          answer,
          error: {
            message: 'No LLM model is set (relay.provider.model). Set it in Settings, or turn on relay.localOnly to answer with the small model alone.',
            fix: 'llm-model',
          },
        };
      }
      // Said before the small model loads and writes, not at the LLM's first call mid-answer.
      const keyless = await this.originWithoutKey(mode, settings);
      if (keyless) {
        return {
          answer,
          error: { message: `No API key for ${settings.provider.kind} at ${keyless.origin}. Run "Relay: Set API Key" to store one.`, fix: 'set-key' },
        };
      }
      if (this.llmRuntime && !(RELAY_POLICIES[mode].needsLlm && usesLocalLlm(settings))) await this.releaseLocalLlm();
      // A load the answer waits on is told to the sink (the first answer of a session can wait minutes with nothing written), and to the status bar.
      const tellLoad = (load: ModelLoad, waitedMs: number | null): void => {
        this.hooks.onLoading?.(waitedMs === null ? undefined : load);
        sink.onLoading?.(load, waitedMs);
      };
      const whileLoading: LoadWait = (load, wait) => toldWhileLoading(wait, load, tellLoad, controller.signal);
      // Stop ends the answer even while the load it waits on hangs (the load itself has a deadline).
      const slm = await untilStopped(this.slm(folder, settings, { whileLoading }), controller.signal);
      // So does it while an onnx-local LLM loads (the composition opens it).
      const composition = await untilStopped(
        RelayComposition.open(relaySetupOf(settings), {
          slm,
          slmFolder: folder,
          keys: this.keys,
          // Another folder's template renders in the SLM process (a template is a program: it must not block the extension host).
          renderTemplate: (path, conversation, thinking) => slm.renderWithTemplate(path, conversation, { thinking }),
          openLocalLlm: (llmFolder) => this.localLlm(llmFolder, settings.slm.kvCacheBudgetMb, whileLoading),
          // A demo answer is not recorded: "Show What Was Sent" keeps the user's last real answer.
          onRequest: (request) => void (plan ? undefined : this.sentRequests.recordRequest(request)),
          onRequestNotSent: (reason) => void (plan ? undefined : this.sentRequests.markNotSent(reason)),
          recentPrompts: this.recentPrompts,
          tokenRatios: this.tokenRatios,
          agents: this.agents,
        }),
        controller.signal,
        'the large model was still loading',
      );
      // A process that ended since the last answer starts again here and reloads its model (minutes for a large one).
      if (slm.pid === undefined)
        await untilStopped(
          whileLoading({ model: 'small', name: modelFolderName(folder), restarting: true }, slm.ensureStarted()),
          controller.signal,
          SLM_RESTARTING,
        );
      // A chat longer than the small model reads leaves out its oldest exchanges (said once), not the answer.
      const window = slm.info.contextWindow;
      // Under Stop too: the process may end meanwhile, and the call that finds it gone waits on a new one's load.
      const reading = (): string => (slm.pid === undefined ? SLM_RESTARTING : 'the small model was still reading the conversation');
      const fitted =
        window !== undefined && messages.length > 1
          ? await untilStopped(
              fitConversation(messages, {
                window,
                answerRoom: settings.tokenBudget,
                // Rendered once for prepare() below too; prepare() alone notes the prompt for the LLM's cache (only the chosen one).
                render: (conversation) => composition.slmPrompt(conversation),
                // Stop ends the wait (untilStopped); given the answer's signal, the runtime also stops a process that never answers the count, after its grace.
                countTokens: (text) => slm.countTokens(text, controller.signal),
              }),
              controller.signal,
              reading,
            )
          : undefined;
      if (fitted && fitted.leftOut > 0) {
        messages = fitted.messages;
        // A question too long alone is refused with its sizes: no history was the cause.
        if (!fitted.questionTooLong)
          void showInformation(
            `Relay: this chat is longer than the small model reads (${window?.toLocaleString('en-US')} tokens with the answer): its first ${fitted.leftOut} messages were left out of this answer. New chat starts afresh.`,
          );
      }
      const prompt = await untilStopped(composition.prepare(messages, controller.signal), controller.signal, reading);
      const llm = composition.llm;
      const model = llm ? (plan?.llmLabel ?? settings.provider.model) : 'small model';
      const url = this.providerUrl(settings);
      // Before the answer starts, not in the middle of it.
      if (llm) await this.askWhereKeyGoes(settings);
      if (!plan) {
        this.sentRequests.begin({
          mode: composition.mode,
          // The origin only: a base URL may carry user:password, which the record must not show.
          provider: llm ? providerLabel(settings.provider.kind, settings.provider.model, url) : 'none (local only)',
          local: providerOf(settings.provider.kind).inProcess === true,
          messages,
          // Where the served SLM's runtime sends its requests, as it resolved the address.
          ...(slm.info.backend.kind !== 'onnx'
            ? { slmServer: providerLabel(slm.info.backend.kind, slm.info.backend.model, new URL(slm.info.backend.url)) }
            : {}),
        });
      }
      let stats: AnswerStats | undefined;
      let error: AnswerOutcome['error'];
      // The start of this prompt may still be being read into the SLM's cache (the previous chat turn's read-ahead): shown as the prompt's reading.
      const started = Date.now();
      const toView = eventsToView(sink, () => this.viewsDetached);
      await this.readAhead.settle(prompt, {
        signal: controller.signal,
        onProgress: (p) => toView({ type: 'prompt-reading', ...p, atMs: Date.now() - started }, model, llm?.destination),
      });
      const options = { ...composition.options(messages, prompt), ...(plan?.priceNote ? { priceNote: plan.priceNote } : {}) };
      for await (const event of runRelay({ ...options, signal: controller.signal })) {
        if (!plan) this.sentRequests.onEvent(event);
        if (event.type === 'call-end' && event.finishReason !== 'error') composition.noteSent(messages, event);
        toView(event, model, llm?.destination);
        if (event.type === 'span') answer += event.text;
        if (event.type === 'error') error = { message: event.message, fix: event.fix ?? fixForCode(event.code) ?? slmServerFix(event.message) };
        if (event.type === 'done') {
          stats = event.stats;
          answer = event.answer;
        }
      }
      // Only into caches the runtime keeps: start reads nothing on one that keeps none (a server's prefix cache does this on its own).
      // Not into a model the settings no longer ask for (Select Model while it answered): the next answer loads another.
      if (answerOptions.readAhead && !plan && stats && stats.finishReason !== 'error' && this.stillWanted(slm)) {
        const written = answer;
        this.readAhead.start(slm, () => followUpPrefix(slm, messages, written, { thinking: settings.slm.thinking }));
      }
      if (stats && !plan) this.hooks.onAnswered(stats);
      if (stats && !plan) {
        // The answer stands either way; a total that could not be written says so (the error names the lock and the fix).
        await this.totals.record(llm?.modelKey ?? slmOnlyModelKey(folder), stats).catch((failure: unknown) => {
          void showWarning(`Relay: this answer was not added to the savings totals: ${failure instanceof Error ? failure.message : String(failure)}`);
        });
      }
      return { answer, stats, error };
    } catch (error) {
      if (error instanceof StoppedError) return { answer, error: { message: error.message } };
      return { answer, error: failureOf(error) };
    } finally {
      // Before the answer counts as ended: no other answer can start on the models being let go.
      if (plan) await this.releaseDemoModels();
      this.current = undefined;
      ended();
      this.hooks.onBusy(false);
      this.busyChanged.fire(false);
      // relay.slm.loadAtStartup: a model picked while this answer ran (preload skips while busy), or the one the demo's
      // load replaced, loads now; where the loaded model is still the one asked for, preload returns at once.
      void this.preload();
    }
  }

  /**
   * At shutdown (the window closes or reloads), after the views saved the answer as it stands
   * (it shows as interrupted next time): stops the running answer and waits, at most
   * `withinMs`, for its calls to be counted, so money spent on it reaches the savings totals
   * (dispose() alone aborts it as the host goes, before its totals are written).
   */
  async stopForShutdown(withinMs: number): Promise<void> {
    this.viewsDetached = true;
    if (!this.current) return;
    this.current.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.answerEnded, new Promise<void>((resolve) => (timer = setTimeout(resolve, withinMs)))]);
    clearTimeout(timer);
  }

  /**
   * After a demo answer: its models (an SLM and an LLM process) would otherwise stay in memory
   * for the rest of the session, until a real answer replaces them. Kept only where the
   * user's own settings load the very same model (the embedded SLM is their default).
   */
  private async releaseDemoModels(): Promise<void> {
    const settings = settingsIfReadable();
    const userKey = this.slmKeyOf(settings);
    // A demo answer stopped while its model loaded: the load is called off, not left to keep a process.
    if (this.loading && this.loading.key !== userKey) this.loading.cancel.abort();
    const slm = this.runtime;
    if (slm && slm.key !== userKey) {
      await this.readAhead.settle();
      this.runtime = undefined;
      await slm.runtime.dispose().catch(() => undefined);
    }
    const llm = this.llmRuntime;
    const userLlmFolder = settings && usesLocalLlm(settings) ? resolve(settings.provider.model) : undefined;
    if (llm && resolve(llm.folder) !== userLlmFolder) await this.releaseLocalLlm();
  }

  /**
   * "Relay: Test Provider": the provider test (src/core/providers/providerTest.ts) on the
   * configured LLM, with an answer's key rules (a key goes only to the origin it was stored
   * for, or where the user said yes). A provider that is sent a raw prompt gets the test's
   * rendered by the template an answer would use (the SLM's, or relay.provider.templateFolder's),
   * in the SLM process; an onnx-local LLM's, by its own template in its process. Never throws.
   */
  async testProvider(write: (line: string) => void, options: Pick<ProviderTestOptions, 'signal' | 'onWait'> = {}): Promise<ProviderTestResult> {
    const failed = (message: string, fix: FixAction | undefined): ProviderTestResult => testFailed(write, `FAILED: ${message}`, fix);
    /** Ends this test's hold on the service (set once it holds it). */
    let release = (): void => undefined;
    try {
      const settings = readSettings();
      const { kind, model, templateFolder } = settings.provider;
      // The test may load another model for its template, replacing the one an answer is using.
      if (this.current) return failed('Relay is writing an answer: test the provider once it is done, or stop it first.', undefined);
      // Another test may load another model (the settings changed since) and call this one's load off.
      if (this.testing) return failed('The provider is being tested already: wait for that test to end, or cancel it first.', undefined);
      this.testing = true;
      // The views hear it (Send waits, a view loaded meanwhile is told when it ends); the status
      // bar and the title-bar Stop do not (onBusy): Stop does not end a test, its notification does.
      this.busyChanged.fire(true);
      release = () => {
        this.testing = false;
        this.busyChanged.fire(this.busy);
      };
      // Local only means no LLM is contacted, by a test either (it sends the key and a prompt).
      if (settings.localOnly && !providerOf(kind).inProcess) {
        return failed(
          'Local only is on (relay.localOnly): no LLM is contacted, so none is tested. Turn it off in Settings to test the provider.',
          'open-settings',
        );
      }
      if (!model) return failed('No LLM model is set (relay.provider.model). Set it in Settings.', 'llm-model');
      const entry = providerOf(kind);
      const setup = relaySetupOf(settings);
      let prompt = '';
      if (entry.prompt !== 'messages' && !entry.inProcess) {
        const folder = this.slmFolder(settings);
        if (!folder) return failed(`No small model is set: its chat template writes the ${kind} provider's prompt. Run "Relay: Select Model".`, 'pick-model');
        const slm = await untilStopped(this.slm(folder, settings), options.signal);
        const { messages } = PROVIDER_TEST_REQUEST;
        prompt = templateFolder
          ? await slm.renderWithTemplate(templateFolder, messages, { thinking: setup.thinking })
          : await slm.renderChat(messages, { addGenerationPrompt: true, thinking: setup.thinking });
      }
      const llm = await composeLlm(
        setup,
        {
          keys: this.keys,
          openLocalLlm: (folder) => this.localLlm(folder, settings.slm.kvCacheBudgetMb),
          onRequest: (request) => this.sentRequests.recordTestRequest(request),
          agents: this.agents,
        },
        (_messages, partialAnswer) => prompt + partialAnswer,
      );
      if (entry.inProcess) {
        // Its own chat template, rendered in its process as the runtime renders it: composeLlm (which opened it; the same
        // runtime again here) hands the provider a renderer, so the provider's default, this same template, never runs.
        const runtime = await this.localLlm(setup.provider.model, settings.slm.kvCacheBudgetMb);
        if (runtime.info.hasChatTemplate)
          prompt = await runtime.renderChat(PROVIDER_TEST_REQUEST.messages, { addGenerationPrompt: true, thinking: setup.thinking });
      }
      await this.askWhereKeyGoes(settings);
      // Shown by "Show What Was Sent" beside the last answer's record, which it leaves as it is.
      this.sentRequests.beginTest({ provider: providerLabel(kind, model, this.providerUrl(settings)), local: entry.inProcess === true });
      return await runProviderTest(llm.provider, llm.price ?? null, write, options);
    } catch (error) {
      const { message, fix } = failureOf(error);
      return failed(message, fix);
    } finally {
      release();
    }
  }

  /** Asks now (once per origin) whether the configured provider's key may go where its requests go; nothing for onnx-local. */
  private async askWhereKeyGoes(settings: RelaySettings): Promise<void> {
    const url = this.providerUrl(settings);
    if (url && !providerOf(settings.provider.kind).inProcess) await this.keys.keyFor(settings.provider.kind, url);
  }

  stop(): boolean {
    if (!this.current) return false;
    this.current.abort();
    return true;
  }

  dispose(): void {
    this.disposed = true;
    // Loads under way stop (their processes go) rather than finish for nobody.
    this.loading?.cancel.abort();
    this.closing.abort();
    this.current?.abort();
    void this.readAhead.settle();
    this.busyChanged.dispose();
    void this.runtime?.runtime.dispose().catch(() => undefined);
    void this.llmRuntime?.runtime.dispose().catch(() => undefined);
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
