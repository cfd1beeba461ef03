/** Terminal output of an answer: streamed spans (LLM spans coloured on a TTY), stats line, JSON line. */
import type { AnswerStats, FinishReason, RelayEvent } from '../core/relay/events';
import type { WaitTick } from '../core/providers/waitClock';
import { cacheHitRate, emptyUsage, llmWroteWhole, slmWroteAll } from '../core/relay/cost';
import type { RequestedMode } from '../core/relay/modeResolution';
import { ENDS_THAT_SAVE_NOTHING } from '../core/relay/engine';
import { declinedUnder } from '../core/relay/finishNotes';
import { settingRef } from '../core/settingNames';
import { lowerFirst } from '../shared/lowerFirst';
import { promptReadingText } from '../shared/promptReading';
import { reasoningWaitText } from '../shared/reasoningWait';
import { significantUsd } from '../shared/usd';
import { OUTPUT_CAPPED } from '../shared/outputCapped';

export interface Output {
  write(text: string): void;
  isTTY: boolean;
  /** The file descriptor written to, where there is one: a thread of its own can write there while this one is busy (loadLines.ts). */
  fd?: number;
}

export function useColour(out: Output, env: NodeJS.ProcessEnv = process.env): boolean {
  return out.isTTY && !env.NO_COLOR && env.TERM !== 'dumb';
}

const CYAN = '\u001b[36m';
const RED = '\u001b[31m';
const DIM = '\u001b[2m';
const RESET = '\u001b[0m';

// Terminal control in text, removed in this order of precedence:
/** OSC, DCS, SOS, PM, APC (ESC- or C1-introduced), up to BEL/ST or the end of the line. */
const STRING_SEQUENCE = /(?:\u001b[\]PX^_]|[\u0090\u0098\u009d-\u009f])[^\u0007\u001b\u009c\n]*(?:\u0007|\u001b\\|\u009c)?/;
/** CSI (cursor moves, colours, erasing), possibly cut short at the end of a chunk. */
const CSI_SEQUENCE = /(?:\u001b\[|\u009b)[\u0030-\u003f]*[\u0020-\u002f]*[\u0040-\u007e]?/;
/** Any other ESC sequence (ESC c resets the terminal), or a lone ESC. */
const ESC_SEQUENCE = /\u001b[\u0020-\u002f]*[\u0030-\u007e]?/;
/** Whatever control character is left: C0 but tab and newline, DEL, C1. */
const CONTROL_CHARACTER = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
/**
 * Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they make a
 * terminal show text in another order than it is ("Trojan Source"). Right-to-left text needs
 * none of them (the marks U+200E/U+200F stay).
 */
const BIDI_CONTROL = /[\u202a-\u202e\u2066-\u2069]/;
const TERMINAL_CONTROL = new RegExp([STRING_SEQUENCE, CSI_SEQUENCE, ESC_SEQUENCE, CONTROL_CHARACTER, BIDI_CONTROL].map((part) => part.source).join('|'), 'g');

/**
 * Text a model or a server wrote (answer spans, error messages quoting a response body,
 * the provider test's continuation), made safe to print: without its control sequences it
 * cannot set the clipboard (OSC 52), the window title, move the cursor, recolour the
 * terminal or reorder what is shown. Every such text goes through here before it is printed; Relay adds its own
 * colour afterwards. Newlines and tabs stay.
 */
export function terminalSafe(text: string): string {
  return text.replace(TERMINAL_CONTROL, '');
}

/**
 * JSON of model text for stdout or a file someone may `cat`. JSON.stringify escapes C0
 * controls but writes C1 controls (U+0080-U+009F, which terminals may obey) as they are:
 * escape those too, so the text is safe to print and still parses to the same data.
 */
export function printableJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[\u007f-\u009f]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Streams an answer's events to the terminal as they come. */
export function streamRenderer(out: Output, colour: boolean): (event: RelayEvent) => void {
  return (event) => {
    if (event.type === 'span') {
      const text = terminalSafe(event.text);
      out.write(event.source === 'llm' && colour ? `${CYAN}${text}${RESET}` : text);
    } else if (event.type === 'error') {
      // Error messages may quote a server's response body.
      out.write(`\n${colour ? RED : ''}error (${event.code}): ${terminalSafe(event.message)}${colour ? RESET : ''}`);
    }
  };
}

/**
 * The CLI's lines for a call's wait (src/core/providers/waitClock.ts), one per line so
 * they never garble an answer streaming on stdout: "waiting for <host>... N s" at the first
 * tick (1 s, later on a busy machine) and then every 5 s, and a line at once when a retry is
 * coming. The clock ticks every second with the retry's note until bytes come: each retry's
 * note is said once, and the wait goes on every 5 s as before. A model that reasons before it
 * writes is said at once when its response begins ("<host>: gpt-5-pro is reasoning... 45 s"),
 * then every 5 s until its text comes.
 */
export function waitLines(host: string, write: (line: string) => void): (tick: WaitTick) => void {
  let lastShown = 0;
  let lastRetry: number | string | undefined;
  let reasoningSaid = false;
  return (tick) => {
    const seconds = Math.floor(tick.waitedMs / 1000);
    if (tick.state === 'receiving') return;
    if (tick.state === 'reasoning') {
      if (reasoningSaid && (seconds <= lastShown || seconds % 5 !== 0)) return;
      reasoningSaid = true;
      lastShown = Math.max(lastShown, seconds);
      return write(`${host}: ${reasoningWaitText(terminalSafe(tick.model ?? 'the model'), seconds).replace('…', '...')}`);
    }
    // Each retry once (a tick without its number: each new note once).
    const retry = tick.retry ?? tick.note;
    if (tick.state === 'retrying' && tick.note && retry !== lastRetry) {
      lastRetry = retry;
      if (seconds > lastShown) lastShown = seconds;
      // A retry's note may quote the server.
      return write(`${host}: ${terminalSafe(tick.note)}; trying again (${seconds} s so far)`);
    }
    if (seconds <= lastShown || (lastShown !== 0 && seconds % 5 !== 0)) return;
    lastShown = seconds;
    write(`waiting for ${host}... ${seconds} s`);
  };
}

/** The wait of each LLM call of an answer on stderr ("relay: waiting for <host>... N s"). */
export function waitReporter(err: Output): (event: RelayEvent) => void {
  let lines: ((tick: WaitTick) => void) | undefined;
  return (event) => {
    if (event.type === 'call-start') lines = waitLines(event.host, (line) => err.write(`relay: ${line}\n`));
    if (event.type === 'call-wait') lines?.(event);
  };
}

/** A long prompt being read by a model on this machine, on stderr: a line per step ("relay: reading 2,730 tokens of context... 40%"). */
export function readingReporter(err: Output): (event: RelayEvent) => void {
  return (event) => {
    if (event.type === 'prompt-reading')
      err.write(`relay: ${lowerFirst(promptReadingText(event.done, event.total, event.reusedTokens, event.reader).replace('…', '...'))}\n`);
  };
}

/** A call the money ceiling declined, on stderr (the answer on stdout stays the answer). */
export function declineReporter(err: Output): (event: RelayEvent) => void {
  return (event) => {
    if (event.type !== 'call-declined') return;
    const left = event.allowanceUsd > 0 ? `the answer could spend ${formatUsd(event.allowanceUsd)} more` : 'the answer has no money left for calls';
    err.write(`relay: a call here would have cost ${formatUsd(event.predictedUsd)}; skipped (${left} ${declinedUnder(event, settingRef)})\n`);
  };
}

/** An answer's error on stderr ("relay: error (code): message"), for when stdout holds JSON. */
export function errorReporter(err: Output): (event: RelayEvent) => void {
  return (event) => {
    // Error messages may quote a server's response body.
    if (event.type === 'error') err.write(`relay: error (${terminalSafe(event.code)}): ${terminalSafe(event.message)}\n`);
  };
}

/**
 * An answer's renderer (`answer`, on stdout) with its error where it cannot be missed: on
 * stderr, where a redirected stdout (`relay solve ... > answer.txt`) cannot hide it; on a
 * terminal it follows the answer inline instead, and is not said again on stderr when that is
 * the terminal too. With `json` stdout is for machines: the error goes to stderr only.
 */
export function answerWithError(
  io: { stdout: Output; stderr: Output },
  answer: (event: RelayEvent) => void,
  options: { json: boolean },
): (event: RelayEvent) => void {
  const inline = !options.json && io.stdout.isTTY;
  const report = inline && io.stderr.isTTY ? undefined : errorReporter(io.stderr);
  return (event) => {
    if (event.type !== 'error' || inline) answer(event);
    report?.(event);
  };
}

/** An answer's error as its JSON line carries it: the code and message that stderr says ("relay: error (code): message"). */
export interface AnswerError {
  code: string;
  message: string;
}

/**
 * Keeps an answer's first error for its JSON line (solve, explain and demo alike): `record`
 * sees the answer's events; `json()` is `{ error: {code, message} }` for an answer that
 * failed, else nothing (the line's other keys stay as they are).
 */
export function errorKeeper(): { record: (event: RelayEvent) => void; json: () => { error?: AnswerError } } {
  let first: AnswerError | undefined;
  return {
    record: (event) => {
      if (event.type === 'error') first ??= { code: event.code, message: event.message };
    },
    json: () => (first ? { error: first } : {}),
  };
}

/** Both renderers at once. */
export function allOf(...renderers: Array<(event: RelayEvent) => void>): (event: RelayEvent) => void {
  return (event) => {
    for (const render of renderers) render(event);
  };
}

/**
 * The exit status of an answer: 0 when it ended by itself or at a limit the user set,
 * 1 when it failed or could not go on (an error, a silent or empty server, a runtime
 * fault), 130 when stopped (as after Ctrl-C; main.ts makes it 143 or 129 when SIGTERM or SIGHUP stopped it).
 */
export function exitCodeOf(finish: FinishReason): number {
  if (finish === 'cancelled') return 130;
  return ENDS_THAT_SAVE_NOTHING.has(finish) ? 1 : 0;
}

export function formatUsd(value: number | null): string {
  if (value === null) return 'unknown';
  if (value === 0) return '$0';
  if (value < 0) return `-${formatUsd(-value)}`;
  return value < 0.01 ? `$${significantUsd(value, 3)}` : `$${value.toFixed(4)}`;
}

/** "saved $0.0120", or "lost $0.0040" when the relay cost more than the LLM alone would have (never a negative saving). */
export function savingText(saved: number | null): string {
  if (saved === null) return 'saved unknown';
  return saved < 0 ? `lost ${formatUsd(-saved)}` : `saved ${formatUsd(saved)}`;
}

/** Why the LLM usage is not as reported: capped (the server reported more than a call can write), or counted here. */
function usageEstimateText(usage: AnswerStats['llmUsage']): string {
  if (usage.outputCapped) return ` (${OUTPUT_CAPPED})`;
  return usage.estimated ? ' (estimated)' : '';
}

/**
 * Whether the LLM-alone figure is what the calls billed: the LLM wrote the whole answer, the
 * server reported its usage, and the answer was delivered. A failed or stopped answer's figure is
 * nothing, not its bill (engine.ts: it saves nothing); so is an empty answer's, which no end marks.
 */
function llmOnlyAsBilled(stats: AnswerStats): boolean {
  return llmWroteWhole(stats) && !stats.llmUsage.estimated && !ENDS_THAT_SAVE_NOTHING.has(stats.finishReason) && stats.llmOnlyCostUsd === stats.costUsd;
}

/** One line: tokens by source, calls, LLM usage, cost, savings (labelled estimate), time. */
export function statsLine(stats: AnswerStats, colour: boolean): string {
  const share = (stats.llmTokenShare * 100).toFixed(1);
  const u = stats.llmUsage;
  const parts = [
    `${stats.slmTokens} SLM + ${stats.llmTokens} LLM tokens (${share}% LLM${stats.thinkingTokens ? `, ${stats.thinkingTokens} thinking` : ''})${stats.slmDiscardedTokens ? ` + ${stats.slmDiscardedTokens} the SLM's server wrote past the gate (discarded)` : ''}`,
    `${stats.calls} call${stats.calls === 1 ? '' : 's'}${stats.declinedCalls ? ` (${stats.declinedCalls} skipped: over the cost ceilings)` : ''}`,
    `LLM in ${u.inputTokens}${u.cachedInputTokens ? ` (${u.cachedInputTokens} cached, ${((u.cachedInputTokens / u.inputTokens) * 100).toFixed(0)}%)` : ''} / out ${u.outputTokens}${u.reasoningTokens ? ` (${u.reasoningTokens} reasoning)` : ''}${usageEstimateText(u)}`,
    `cost ${formatUsd(stats.costUsd)}`,
    // No large model was called (slm-only): nothing to compare against, which is no unknown price.
    ...(slmWroteAll(stats)
      ? ['saving not applicable (only the small model wrote it)']
      : [
          `LLM-only ${formatUsd(stats.llmOnlyCostUsd)} (${llmOnlyAsBilled(stats) ? 'as billed' : 'estimate'})`,
          `${savingText(stats.savedUsd)}${stats.priceNote ? ` (${stats.priceNote})` : ''}`,
        ]),
    `${(stats.elapsedMs / 1000).toFixed(2)} s`,
    `end: ${stats.finishReason}`,
  ];
  const line = `[relay ${stats.mode}] ${parts.join(' | ')}`;
  return colour ? `${DIM}${line}${RESET}` : line;
}

/**
 * The machine-readable line of an answer that did not begin: failed (a model that does not
 * load, a template that raises) or stopped (`finishReason` 'cancelled': Ctrl-C while its
 * template rendered); the stable keys with nothing run, nothing spent, nothing saved; `mode`
 * as asked (an 'auto' not yet resolved stays 'auto').
 */
export function notStartedJson(mode: RequestedMode, extra: Record<string, unknown>, finishReason: FinishReason = 'error'): Record<string, unknown> {
  const nothingRan: AnswerStats = {
    mode: 'slm-only',
    slmTokens: 0,
    llmTokens: 0,
    llmTokenShare: 0,
    calls: 0,
    llmUsage: emptyUsage(),
    costUsd: 0,
    llmOnlyCostUsd: 0,
    savedUsd: 0,
    elapsedMs: 0,
    finishReason,
  };
  return statsJson(nothingRan, { answer: '', mode, ...extra });
}

/** The machine-readable line (snake_case, stable keys). */
export function statsJson(stats: AnswerStats, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    mode: stats.mode,
    slm_tokens: stats.slmTokens,
    llm_tokens: stats.llmTokens,
    llm_token_share: stats.llmTokenShare,
    calls: stats.calls,
    command_tokens: stats.commandTokens ?? 0,
    prompt_tokens: stats.promptTokens ?? 0,
    reused_prompt_tokens: stats.reusedPromptTokens ?? 0,
    thinking_tokens: stats.thinkingTokens ?? 0,
    llm_input_tokens: stats.llmUsage.inputTokens,
    llm_output_tokens: stats.llmUsage.outputTokens,
    llm_cached_input_tokens: stats.llmUsage.cachedInputTokens,
    llm_cache_write_tokens: stats.llmUsage.cacheWriteTokens,
    llm_reasoning_tokens: stats.llmUsage.reasoningTokens ?? 0,
    cache_hit_rate: cacheHitRate(stats.llmUsage) ?? null,
    llm_usage_estimated: stats.llmUsage.estimated,
    llm_output_capped: stats.llmUsage.outputCapped === true,
    cost_usd: stats.costUsd,
    llm_only_cost_usd: stats.llmOnlyCostUsd,
    llm_only_cost_is_estimate: !llmOnlyAsBilled(stats),
    saved_usd: stats.savedUsd,
    declined_calls: stats.declinedCalls ?? 0,
    declined_by_usd_ceiling: stats.declinedByUsdCeiling ?? 0,
    least_ratio_to_call: stats.leastRatioToCall ?? null,
    slm_discarded_tokens: stats.slmDiscardedTokens ?? 0,
    predicted_cost_usd: stats.billing?.predictedUsd ?? null,
    prediction_error_pct:
      stats.billing && stats.billing.reportedUsd > 0
        ? (Math.abs(stats.billing.predictedUsd - stats.billing.reportedUsd) / stats.billing.reportedUsd) * 100
        : null,
    price_note: stats.priceNote ?? null,
    elapsed_ms: stats.elapsedMs,
    finish_reason: stats.finishReason,
  };
  // The caller's keys come first in the line and win over the stats' own (the demo's price_note).
  return { ...extra, ...fields, ...extra };
}
