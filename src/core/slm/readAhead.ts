/**
 * Reading the next chat turn's prompt ahead, while the user writes it (issue 21). A kept KV
 * cache (onnx/kvPrefixCache.ts) serves a new prompt only as far as their token ids agree,
 * and after an answer they part early: a template may render an earlier answer otherwise
 * than the prompt it was written after (Qwen3's drops the empty <think></think>), and an
 * answer the relay spliced holds the LLM's text tokenised piece by piece, not as the next
 * prompt tokenises it. Without reading ahead the next turn computes the previous answer
 * again before its own message; with it, only its own message.
 */
import { keepsKvCaches, type ChatMessage, type PrefillOptions, type PrefillProgress, type RenderOptions, type SlmRuntime } from './types';

/**
 * The text every prompt of `history` and a next user message starting with `userStart`
 * begins with, as the template renders it. (Two renderings whose next messages go on
 * differently agree exactly that far.)
 */
async function promptPrefix(
  runtime: Pick<SlmRuntime, 'renderChat'>,
  history: readonly ChatMessage[],
  userStart: string,
  options: RenderOptions,
): Promise<string> {
  const a = await runtime.renderChat([...history, { role: 'user', content: `${userStart}A` }], options);
  const b = await runtime.renderChat([...history, { role: 'user', content: `${userStart}B` }], options);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return a.slice(0, i);
}

/** The text every next turn's prompt begins with: the conversation and its answer as a following turn renders them, up to where the next message goes. */
export function followUpPrefix(
  runtime: Pick<SlmRuntime, 'renderChat'>,
  messages: readonly ChatMessage[],
  answer: string,
  options: RenderOptions = {},
): Promise<string> {
  return promptPrefix(runtime, [...messages, { role: 'assistant', content: answer }], '', options);
}

/**
 * The text the prompt of a message still being written (`draft`, after `history`) will begin
 * with: up to its last finished word, as the word being written may still change, and a
 * token may join it to what follows.
 */
export function draftPrefix(
  runtime: Pick<SlmRuntime, 'renderChat'>,
  history: readonly ChatMessage[],
  draft: string,
  options: RenderOptions = {},
): Promise<string> {
  return promptPrefix(runtime, history, draft.replace(/\s*\S*$/u, ''), options);
}

/**
 * What to read of a message still being written, in order: its prompt up to the last finished
 * word (what the prompt at Send will start with, unless the user goes back), then the whole
 * prompt as Send would render it now, generation prompt included: when the user pauses and
 * sends the text as it stands, Send computes nothing (the read keeps the logits at its end,
 * as a Retry finds them). A Send that comes while they are read waits only for the first if
 * the message changed since.
 */
export async function draftReads(
  runtime: Pick<SlmRuntime, 'renderChat'>,
  history: readonly ChatMessage[],
  draft: string,
  options: RenderOptions = {},
): Promise<string[] | undefined> {
  if (draft.trim().length === 0) return undefined;
  const stable = await draftPrefix(runtime, history, draft, options);
  const whole = await runtime.renderChat([...history, { role: 'user', content: draft }], { ...options, addGenerationPrompt: true });
  return whole.startsWith(stable) ? [stable, whole] : [whole];
}

/** A text to read ahead, and what it is of the prompt it is for. */
interface TextRead {
  text: string;
  part: NonNullable<PrefillOptions['readAhead']>;
}

/** The texts in reading order: one string is a start, several end with the whole prompt (draftReads). */
function readsOf(wanted: string | readonly string[] | undefined): TextRead[] | undefined {
  if (typeof wanted === 'string') return [{ text: wanted, part: 'start' }];
  return wanted?.map((text, i) => ({ text, part: i === wanted.length - 1 ? 'whole' : 'start' }));
}

/**
 * One read-ahead at a time: a session reads each text (each one extends the one before) and is
 * disposed, and the runtime keeps its cache for the next prompt that starts the same way.
 * `settle(prompt)` comes before the next answer opens its session, so that the answer finds
 * the cache: the texts the prompt starts with are read to their end (work it would otherwise
 * do itself), and the first that it does not start with is stopped between prefill chunks, or
 * not begun (what was read is kept).
 */
export class ReadAhead {
  private current:
    | {
        controller: AbortController;
        texts: Promise<TextRead[] | undefined>;
        settled: Promise<void>;
        /** The text being read (its index), and how many may be read (settle lowers it). */
        reading: number;
        limit: number;
        /** Where the read is (long reads only), and who waits to hear it. */
        progress?: PrefillProgress;
        listener?: (progress: PrefillProgress) => void;
      }
    | undefined;

  /**
   * Reads what `text` resolves to into a kept cache of `runtime`, in the background: one text the next prompt starts with, or texts each
   * extending the one before, the last of them that whole prompt (draftReads); undefined: nothing.
   * Nothing (not even `text` is asked) on a runtime that keeps no KV caches (a budget of 0, the whole-cache path, a server): the read would be lost, and the next answer would wait for it.
   */
  start(runtime: Pick<SlmRuntime, 'createSession' | 'info'>, text: (signal: AbortSignal) => Promise<string | readonly string[] | undefined>): void {
    if (!keepsKvCaches(runtime.info)) return;
    const controller = new AbortController();
    const previous = this.current;
    previous?.controller.abort();
    // A read-ahead that fails or is stopped costs the next turn only the reuse it would have given.
    const texts = (async () => {
      await previous?.settled;
      return readsOf(await text(controller.signal));
    })().catch(() => undefined);
    const read = async (): Promise<void> => {
      const wanted = await texts;
      for (let i = 0; wanted && i < wanted.length; i++) {
        if (wanted[i].text.length === 0 || controller.signal.aborted || i >= entry.limit) return;
        entry.reading = i;
        // Stopped (settle, a newer read-ahead): a process that does not open the session goes after its grace.
        const session = await runtime.createSession(controller.signal);
        try {
          await session.prefill(wanted[i].text, {
            signal: controller.signal,
            readAhead: wanted[i].part,
            onProgress: (progress) => {
              if (this.current !== entry) return;
              entry.progress = progress;
              entry.listener?.(progress);
            },
          });
        } finally {
          await session.dispose();
        }
      }
    };
    const entry: NonNullable<ReadAhead['current']> = { controller, texts, settled: Promise.resolve(), reading: 0, limit: Infinity };
    this.current = entry;
    entry.settled = read().catch(() => undefined);
  }

  /**
   * Before an answer opens its session on the runtime: waits for the read-ahead of the texts
   * `nextPrompt` starts with to finish (telling `onProgress` how far it is, as a prompt being
   * read would; `signal`, the answer's Stop, stops it), stops the rest (all of it without a
   * prompt, e.g. before the runtime is replaced), and returns once its session is disposed.
   */
  async settle(nextPrompt?: string, wait: { signal?: AbortSignal; onProgress?: (progress: PrefillProgress) => void } = {}): Promise<void> {
    const current = this.current;
    if (!current) return;
    const texts = nextPrompt === undefined ? undefined : await current.texts;
    let useful = 0;
    while (texts && nextPrompt !== undefined && useful < texts.length && nextPrompt.startsWith(texts[useful].text)) useful++;
    current.limit = useful;
    const stop = () => current.controller.abort();
    if (current.reading >= useful || wait.signal?.aborted) stop();
    wait.signal?.addEventListener('abort', stop, { once: true });
    if (wait.onProgress) {
      current.listener = wait.onProgress;
      if (current.progress) wait.onProgress(current.progress);
    }
    try {
      await current.settled;
    } finally {
      wait.signal?.removeEventListener('abort', stop);
      current.listener = undefined;
    }
    if (this.current === current) this.current = undefined;
  }
}
