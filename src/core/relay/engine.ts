/**
 * The relay engine: one answer written by the SLM with the LLM's help, streamed as
 * RelayEvents. `runRelay(options)` returns an AsyncIterable that always ends with exactly
 * one 'done' event (also after cancellation or an error; the partial answer is kept).
 * Every 'call-start' is followed by its 'call-end' (finishReason 'error' when the provider
 * failed, before the 'error' event). With a seed, SLM turn k and LLM call k sample with
 * deriveSeed(seed, k), so turns do not replay each other's draws.
 *
 * Modes
 * - command (the paper, eval/generate_withhelp.py): the SLM decodes with stop string
 *   `</call>`; N is parsed with `<call>\s*(\d+)`; N = 0 is no call (the SLM goes on, a new
 *   turn); a `<call>` without digits ends the answer with an 'error' event
 *   (code 'malformed_command') and finishReason 'error' (the paper marks the request
 *   failed). The LLM continues prompt + answer with every command replaced by a space
 *   (commandReplacement: '' for models trained with commands removed), trimmed, for
 *   min(N, budget left) tokens; its 'stop' ends the answer, 'length' hands
 *   back to the SLM, whose KV cache keeps the command and gets the LLM's text appended
 *   (session.append, no recomputation). After maxTurns SLM turns the answer ends; a command
 *   on the last turn is ignored (finishReason 'turn_limit'). A `</call>` with no `<call>`
 *   ends the answer as in the reference code (vLLM reports it as a normal stop). An
 *   unterminated `<call>` at the end of the SLM's output is dropped and not executed.
 *   Commands are never shown: the displayed answer is the spans' text.
 * - confidence: for SLMs never trained to call. The decoder's gate refuses a token whose
 *   top-1 probability is below `threshold` (top-1 because it is what the toy measurements
 *   in shared/notes/training-on-cpu.md gated on, it is cheap, and it reads directly as "how
 *   sure"); the refused token is discarded, the LLM writes a fixed span of `spanTokens`
 *   tokens (default 2, capped at maxSpanTokens and the budget), the SLM resumes. Hand-offs
 *   happen only while the LLM's share of the answer so far is below `maxLlmShare` (it can
 *   exceed the cap by at most one span); the context is sent untrimmed (mid-sentence seams
 *   must stay exact). Commands an SLM trained for command mode writes are hidden, ignored
 *   and left out of the LLM's context (kept in the SLM's own).
 * - slm-only: the SLM alone; commands it writes are hidden and ignored (kept in its context).
 * - llm-only: the provider writes the whole answer; tokens counted in the SLM tokenizer.
 * - random-router: per query, the LLM (llm-only) with probability p, else slm-only; the
 *   draw is seeded by (seed, query text), so the same query always goes the same way.
 */
import type { ChatMessage, GeneratedToken, GenerateResult, SamplingOptions, SlmRuntime, SlmSession } from '../slm/types';
import type { LlmProvider, ModelPrice, Usage, FinishReason as LlmFinishReason } from '../providers/types';
import { isProviderError } from '../providers/errors';
import type { AnswerStats, RelayEvent, RelayMode, SpanSource } from './events';
import { CALL_CLOSE, CommandFilter, parseCallCount, removeCommands, stripCommandsForLlm } from './commandFilter';
import { addUsage, emptyUsage, LLM_ONLY_ESTIMATE_NOTE, llmOnlyCostUsd, llmTokenShare, relayCostUsd, savedUsd } from './cost';
import { EventChannel } from './eventChannel';
import { deriveSeed, routeToLlm } from './random';

export interface ConfidenceOptions {
  /** Hand off when the SLM's top-1 probability of its next token is below this. */
  threshold: number;
  /** Tokens the LLM writes at each hand-off. */
  spanTokens: number;
  /** Upper bound of spanTokens (a setting typo must not hand the answer to the LLM). */
  maxSpanTokens: number;
  /** No hand-off while the LLM's share of the answer's tokens is at or above this. */
  maxLlmShare: number;
}

export const DEFAULT_CONFIDENCE: ConfidenceOptions = { threshold: 0.5, spanTokens: 2, maxSpanTokens: 64, maxLlmShare: 0.2 };
/** The paper's limits. */
export const DEFAULT_MAX_TURNS = 5;
export const DEFAULT_TOKEN_BUDGET = 8192;
export const DEFAULT_TEMPERATURE = 0.7;

export interface RelayOptions {
  mode: RelayMode;
  slm: SlmRuntime;
  /** Required except in slm-only mode. */
  llm?: LlmProvider;
  messages: ChatMessage[];
  /** The prompt as the SLM sees it; default: the SLM's chat template with the generation prompt. */
  prompt?: string;
  maxTurns?: number;
  /** Tokens per answer, SLM and LLM together (counted in the SLM tokenizer). */
  tokenBudget?: number;
  /** SLM sampling; default temperature 0.7 as in the paper (0 = greedy). */
  slmSampling?: SamplingOptions;
  /** LLM temperature; default 0.7 as in the paper. */
  llmTemperature?: number;
  llmSeed?: number;
  confidence?: Partial<ConfidenceOptions>;
  router?: { llmProbability: number; seed?: number };
  /** Price of the LLM; undefined = unknown, costs are then null. */
  price?: ModelPrice;
  /**
   * Command mode: what replaces each command in the LLM's context. Default ' ' (the
   * paper); '' for models trained with the commands removed (the demo models, whose
   * character-level LLM never saw a space inside a number).
   */
  commandReplacement?: string;
  signal?: AbortSignal;
}

/** Validates options at once (clear errors, no half-started run) and starts the answer. */
export function runRelay(options: RelayOptions): AsyncIterable<RelayEvent> {
  validate(options);
  const controller = new AbortController();
  const channel = new EventChannel<RelayEvent>(() => controller.abort());
  const external = options.signal;
  const onAbort = (): void => controller.abort();
  if (external?.aborted) controller.abort();
  else external?.addEventListener('abort', onAbort, { once: true });
  const run = new RelayRun(options, controller.signal, (event) => channel.push(event));
  void run.execute().finally(() => {
    external?.removeEventListener('abort', onAbort);
    channel.close();
  });
  return channel;
}

/** Runs an answer to the end and returns its 'done' event (for eval and tests). */
export async function collectRelay(
  options: RelayOptions,
  onEvent?: (event: RelayEvent) => void,
): Promise<{ answer: string; stats: AnswerStats; events: RelayEvent[] }> {
  const events: RelayEvent[] = [];
  for await (const event of runRelay(options)) {
    events.push(event);
    onEvent?.(event);
  }
  const done = events[events.length - 1];
  if (!done || done.type !== 'done') throw new Error('The relay ended without a done event (internal error).');
  return { answer: done.answer, stats: done.stats, events };
}

function validate(o: RelayOptions): void {
  const modes: RelayMode[] = ['command', 'confidence', 'slm-only', 'llm-only', 'random-router'];
  if (!modes.includes(o.mode)) throw new Error(`Unknown relay mode '${String(o.mode)}'. Use one of: ${modes.join(', ')}.`);
  if (o.mode !== 'slm-only' && !o.llm) {
    throw new Error(`Relay mode '${o.mode}' needs an LLM provider. Configure one, or use mode 'slm-only'.`);
  }
  if (o.mode === 'random-router' && !o.router) {
    throw new Error("Relay mode 'random-router' needs router.llmProbability (between 0 and 1).");
  }
  const positiveInt = (name: string, v: number | undefined): void => {
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new Error(`${name} must be a positive integer (got ${v}).`);
  };
  positiveInt('maxTurns', o.maxTurns);
  positiveInt('tokenBudget', o.tokenBudget);
  const c = o.confidence ?? {};
  if (c.threshold !== undefined && !(c.threshold >= 0 && c.threshold <= 1)) {
    throw new Error(`The confidence threshold must be between 0 and 1 (got ${c.threshold}).`);
  }
  if (c.maxLlmShare !== undefined && !(c.maxLlmShare >= 0 && c.maxLlmShare <= 1)) {
    throw new Error(`maxLlmShare must be between 0 and 1 (got ${c.maxLlmShare}).`);
  }
  positiveInt('confidence.spanTokens', c.spanTokens);
  positiveInt('confidence.maxSpanTokens', c.maxSpanTokens);
  if (o.messages.length === 0) throw new Error('The relay needs at least one message (the question).');
}

type Finish = AnswerStats['finishReason'];

/** Thrown inside a run to end it with an 'error' event and finishReason 'error'. */
class RunError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

class RelayRun {
  private readonly started = Date.now();
  private readonly budget: number;
  private readonly maxTurns: number;
  private readonly confidence: ConfidenceOptions;
  private session: SlmSession | null = null;
  private prompt = '';
  private promptTokens = 0;
  /** What the paper calls current_solution: SLM output (commands included) + LLM text. */
  private solution = '';
  /** What the user sees. */
  private answer = '';
  private slmTokens = 0;
  private llmTokens = 0;
  private commandTokens = 0;
  private calls = 0;
  private turns = 0;
  private usage: Usage = emptyUsage();
  private routedTo: SpanSource | undefined;
  private effectiveMode: RelayMode;

  constructor(
    private readonly o: RelayOptions,
    private readonly signal: AbortSignal,
    private readonly emit: (event: RelayEvent) => void,
  ) {
    this.budget = o.tokenBudget ?? DEFAULT_TOKEN_BUDGET;
    this.maxTurns = o.maxTurns ?? DEFAULT_MAX_TURNS;
    const c = { ...DEFAULT_CONFIDENCE, ...(o.confidence ?? {}) };
    this.confidence = { ...c, spanTokens: Math.min(c.spanTokens, c.maxSpanTokens) };
    this.effectiveMode = o.mode;
  }

  async execute(): Promise<void> {
    let finish: Finish;
    try {
      finish = await this.runMode();
    } catch (error) {
      finish = this.failure(error);
    }
    try {
      await this.session?.dispose();
    } catch {
      // The session may belong to a runtime that died; nothing is left to free then.
    }
    let stats: AnswerStats;
    try {
      stats = await this.stats(finish);
    } catch (error) {
      finish = this.failure(error);
      stats = this.statsWithout(finish);
    }
    this.emit({ type: 'done', answer: this.answer, stats });
  }

  private failure(error: unknown): Finish {
    if (this.signal.aborted) return 'cancelled';
    if (error instanceof RunError) {
      this.emit({ type: 'error', code: error.code, message: error.message });
    } else if (isProviderError(error)) {
      if (error.code === 'cancelled') return 'cancelled';
      this.emit({ type: 'error', code: error.code, message: error.message });
    } else {
      const message = error instanceof Error ? error.message : String(error);
      this.emit({ type: 'error', code: 'internal', message });
    }
    return 'error';
  }

  private async runMode(): Promise<Finish> {
    this.prompt = this.o.prompt ?? (await this.o.slm.renderChat(this.o.messages, { addGenerationPrompt: true }));
    switch (this.o.mode) {
      case 'command':
        return this.commandMode();
      case 'confidence':
        return this.confidenceMode();
      case 'slm-only':
        return this.slmOnlyMode();
      case 'llm-only':
        return this.llmOnlyMode();
      case 'random-router': {
        const router = this.o.router as { llmProbability: number; seed?: number };
        const key = this.o.messages.map((m) => `${m.role}:${m.content}`).join('\n');
        this.routedTo = routeToLlm(router.llmProbability, router.seed ?? 0, key) ? 'llm' : 'slm';
        return this.routedTo === 'llm' ? this.llmOnlyMode() : this.slmOnlyMode();
      }
    }
  }

  private get used(): number {
    return this.slmTokens + this.llmTokens;
  }

  private get left(): number {
    return this.budget - this.used;
  }

  private async openSession(): Promise<SlmSession> {
    if (!this.session) {
      this.session = await this.o.slm.createSession();
      const { tokenCount } = await this.session.prefill(this.prompt);
      this.promptTokens = tokenCount;
    }
    return this.session;
  }

  private async commandMode(): Promise<Finish> {
    const session = await this.openSession();
    for (;;) {
      if (this.left <= 0) return 'budget';
      const turn = await this.slmTurn(session, { maxTokens: this.left, stopStrings: [CALL_CLOSE] }, true);
      this.turns += 1;
      if (turn.result.stopReason === 'cancelled' || this.signal.aborted) return 'cancelled';
      if (turn.result.stopReason === 'eos') return 'eos';
      if (turn.result.stopReason !== 'stop_string') return 'budget';
      if (turn.command === undefined) return 'eos'; // a stray </call>: the reference ends the answer
      if (this.turns >= this.maxTurns) return 'turn_limit';
      const n = parseCallCount(turn.command);
      if (n === null) {
        throw new RunError(
          'malformed_command',
          `The small model wrote a relay command without a token count (${JSON.stringify(turn.command)}); as in the paper, the answer ends here.`,
        );
      }
      if (this.left <= 0) return 'budget';
      if (n === 0) continue;
      const finish = await this.llmCall(Math.min(n, this.left), stripCommandsForLlm(this.solution, this.o.commandReplacement));
      if (finish === 'cancelled' || this.signal.aborted) return 'cancelled';
      if (finish === 'stop') return 'llm_eos';
      if (this.left <= 0) return 'budget';
      await this.appendToSlm(session);
    }
  }

  private async confidenceMode(): Promise<Finish> {
    const session = await this.openSession();
    const c = this.confidence;
    for (;;) {
      if (this.left <= 0) return 'budget';
      const shareBelowCap = llmTokenShare(this.slmTokens, this.llmTokens) < c.maxLlmShare;
      const gateOpen = c.threshold > 0 && shareBelowCap;
      let maxTokens = this.left;
      if (c.threshold > 0 && !shareBelowCap && c.maxLlmShare > 0) {
        // Gate closed by the cap: decode only until the LLM's share falls below it again.
        const untilShareFalls = Math.floor(this.llmTokens / c.maxLlmShare - this.used) + 1;
        maxTokens = Math.max(1, Math.min(this.left, untilShareFalls));
      }
      // Commands an SLM trained for command mode writes are hidden and ignored here (as in slm-only).
      const turn = await this.slmTurn(session, { maxTokens, minTop1: gateOpen ? c.threshold : undefined }, true);
      this.turns += 1;
      const reason = turn.result.stopReason;
      if (reason === 'cancelled' || this.signal.aborted) return 'cancelled';
      if (reason === 'eos') return 'eos';
      if (reason === 'max_tokens' || reason === 'stop_string') continue;
      // low_confidence: the refused token is discarded, the LLM writes the span.
      const span = Math.min(c.spanTokens, this.left);
      // Untrimmed (mid-sentence seams must stay exact), without the ignored commands.
      const finish = await this.llmCall(span, removeCommands(this.solution));
      if (finish === 'cancelled' || this.signal.aborted) return 'cancelled';
      if (finish === 'stop') return 'llm_eos';
      if (this.left <= 0) return 'budget';
      await this.appendToSlm(session);
    }
  }

  private async slmOnlyMode(): Promise<Finish> {
    const session = await this.openSession();
    for (;;) {
      if (this.left <= 0) return 'budget';
      const turn = await this.slmTurn(session, { maxTokens: this.left, stopStrings: [CALL_CLOSE] }, true);
      this.turns += 1;
      const reason = turn.result.stopReason;
      if (reason === 'cancelled' || this.signal.aborted) return 'cancelled';
      if (reason === 'eos') return 'eos';
      if (reason !== 'stop_string') return 'budget';
      // A command (or a stray </call>) is ignored: no LLM here; the SLM goes on.
    }
  }

  private async llmOnlyMode(): Promise<Finish> {
    this.promptTokens = await this.o.slm.countTokens(this.prompt);
    const finish = await this.llmCall(this.budget, '');
    if (finish === 'cancelled' || this.signal.aborted) return 'cancelled';
    return finish === 'stop' ? 'llm_eos' : 'budget';
  }

  /** One SLM generation; hides commands when `hideCommands`; streams visible text as spans. */
  private async slmTurn(
    session: SlmSession,
    options: { maxTokens: number; stopStrings?: string[]; minTop1?: number },
    hideCommands: boolean,
  ): Promise<{ result: GenerateResult; command?: string }> {
    const filter = hideCommands ? new CommandFilter() : null;
    let pendingTokens = 0;
    let command: string | undefined;
    let stray = false;
    const show = (text: string): void => {
      if (text.length === 0) return;
      this.answer += text;
      this.emit({ type: 'span', source: 'slm', text, tokens: pendingTokens, atMs: Date.now() - this.started });
      pendingTokens = 0;
    };
    const onToken = (token: GeneratedToken): void => {
      this.slmTokens += 1;
      pendingTokens += 1;
      this.solution += token.text;
      if (!filter) return show(token.text);
      const out = filter.push(token.text);
      if (out.command !== undefined) {
        command = out.command;
        pendingTokens = 0;
      }
      if (out.strayClose) stray = true;
      show(out.visible);
    };
    let result: GenerateResult;
    try {
      result = await session.generate(
        { maxTokens: options.maxTokens, stopStrings: options.stopStrings, minTop1: options.minTop1, sampling: this.sampling() },
        onToken,
        this.signal,
      );
    } catch (error) {
      if (this.signal.aborted) {
        this.flushFilter(filter, show);
        return { result: { tokens: [], text: '', stopReason: 'cancelled', contextLength: 0 } };
      }
      throw new RunError('slm', `The small model failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    this.flushFilter(filter, show);
    if (command !== undefined) this.commandTokens += await this.o.slm.countTokens(command);
    return { result, command: stray && command === undefined ? undefined : command };
  }

  private flushFilter(filter: CommandFilter | null, show: (text: string) => void): void {
    if (!filter) return;
    const rest = filter.flush();
    show(rest.visible);
  }

  private sampling(): SamplingOptions {
    const sampling = this.o.slmSampling ?? { temperature: DEFAULT_TEMPERATURE };
    // Each turn samples from its own stream: re-seeding every turn alike would replay the first turn's draws.
    return sampling.seed === undefined || this.turns === 0 ? sampling : { ...sampling, seed: deriveSeed(sampling.seed, this.turns) };
  }

  /** One LLM call writing at most `maxTokens`; its text joins the answer as it streams. */
  private async llmCall(maxTokens: number, partialAnswer: string): Promise<LlmFinishReason> {
    const llm = this.o.llm as LlmProvider;
    const callIndex = this.calls;
    this.calls += 1;
    const callStarted = Date.now();
    this.emit({ type: 'call-start', callIndex, requestedTokens: maxTokens, model: llm.model });
    let text = '';
    let usage: Usage | undefined;
    let finish: LlmFinishReason | undefined;
    let failed = false;
    try {
      const request = { messages: this.o.messages, partialAnswer, maxTokens, temperature: this.o.llmTemperature ?? DEFAULT_TEMPERATURE, seed: this.o.llmSeed === undefined ? undefined : deriveSeed(this.o.llmSeed, callIndex) };
      for await (const chunk of llm.continue(request, this.signal)) {
        if (chunk.type === 'text') {
          if (chunk.text.length === 0) continue;
          text += chunk.text;
          this.answer += chunk.text;
          this.solution += chunk.text;
          const tokens = await this.o.slm.countTokens(chunk.text);
          this.emit({ type: 'span', source: 'llm', text: chunk.text, tokens, callIndex, atMs: Date.now() - this.started });
        } else if (chunk.type === 'usage') {
          usage = chunk.usage;
        } else {
          finish = chunk.finishReason;
        }
      }
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      // Whatever was written counts, even when the call failed or was cancelled.
      const tokens = text.length > 0 ? await this.o.slm.countTokens(text) : 0;
      this.llmTokens += tokens;
      this.lastLlmText = text;
      // A request the provider rejected before writing anything (bad key, quota, unknown model) is
      // not billed; one cancelled or cut after it started may have been, so it is estimated.
      const rejected = failed && !this.signal.aborted && tokens === 0;
      const callUsage = usage ?? (rejected ? emptyUsage() : await this.estimateUsage(partialAnswer, tokens));
      this.usage = addUsage(this.usage, callUsage);
      // Every call-start gets its call-end, also when the provider failed (the UI closes the span).
      this.emit({
        type: 'call-end',
        callIndex,
        tokens,
        durationMs: Date.now() - callStarted,
        finishReason: this.signal.aborted ? 'cancelled' : (finish ?? 'error'),
        usage: callUsage,
        sentPartialAnswer: partialAnswer,
      });
    }
    if (finish === undefined) {
      if (this.signal.aborted) return 'cancelled';
      throw new RunError('bad_response', `The LLM provider (${llm.kind}) ended its stream without saying why it stopped.`);
    }
    return finish;
  }

  private lastLlmText = '';

  /** The SLM's context gets the LLM's text right after the command (cache extended, not recomputed). */
  private async appendToSlm(session: SlmSession): Promise<void> {
    if (this.lastLlmText.length > 0) await session.append(this.lastLlmText);
  }

  /** When a server reports no usage: the input and output counted in the SLM tokenizer. */
  private async estimateUsage(partialAnswer: string, outputTokens: number): Promise<Usage> {
    const input = await this.o.slm.countTokens(this.prompt + partialAnswer);
    return { inputTokens: input, outputTokens, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: true };
  }

  private async stats(finish: Finish): Promise<AnswerStats> {
    if (this.promptTokens === 0 && this.prompt.length > 0) this.promptTokens = await this.o.slm.countTokens(this.prompt);
    return this.statsWithout(finish);
  }

  private statsWithout(finish: Finish): AnswerStats {
    const costUsd = relayCostUsd(this.usage, this.calls, this.o.price);
    const llmOnly = llmOnlyCostUsd(this.promptTokens, this.used, this.o.price);
    return {
      mode: this.effectiveMode,
      slmTokens: this.slmTokens,
      llmTokens: this.llmTokens,
      llmTokenShare: llmTokenShare(this.slmTokens, this.llmTokens),
      calls: this.calls,
      llmUsage: this.usage,
      costUsd,
      llmOnlyCostUsd: llmOnly,
      savedUsd: savedUsd(costUsd, llmOnly),
      elapsedMs: Date.now() - this.started,
      finishReason: finish,
      commandTokens: this.commandTokens,
      promptTokens: this.promptTokens,
      turns: this.turns,
      routedTo: this.routedTo,
      llmOnlyEstimateNote: LLM_ONLY_ESTIMATE_NOTE,
    };
  }
}
