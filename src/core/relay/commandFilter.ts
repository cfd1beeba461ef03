/**
 * Hides relay commands (`<call>N</call>`) from the text the user sees while the SLM's
 * output streams in token by token. Tags are ordinary text split across tokens at any
 * point, so the filter holds back only a tail that could still become `<call>` or
 * `</call>` and releases it as soon as it cannot.
 */

export const CALL_OPEN = '<call>';
export const CALL_CLOSE = '</call>';

/** The paper's parse of N (eval/generate_withhelp.py): `<call>\s*(\d+)`. */
const CALL_COUNT = /<call>\s*(\d+)/;
/** The paper's pattern for the commands replaced by a space in the LLM's context. */
const COMMAND_IN_CONTEXT = /<call>\s*\d+\s*<\/call>/g;

export interface FilterOutput {
  /** Text the user may see now. */
  visible: string;
  /** A complete command (from `<call>` to `</call>` inclusive), when one closed in this chunk. */
  command?: string;
  /** A `</call>` that closed no command (the paper ends the answer there). */
  strayClose?: boolean;
}

export class CommandFilter {
  /** Visible text held back because it might be the start of a tag. */
  private held = '';
  /** Text of the command being read, from its `<call>`; null outside a command. */
  private command: string | null = null;

  /** Feeds the next piece of decoded text. */
  push(text: string): FilterOutput {
    let visible = '';
    let input = this.held + text;
    this.held = '';
    const out: FilterOutput = { visible: '' };
    while (input.length > 0) {
      if (this.command !== null) {
        const joined = this.command + input;
        const close = joined.indexOf(CALL_CLOSE, CALL_OPEN.length);
        if (close < 0) {
          this.command = joined;
          input = '';
        } else {
          out.command = joined.slice(0, close + CALL_CLOSE.length);
          this.command = null;
          input = joined.slice(close + CALL_CLOSE.length);
        }
        continue;
      }
      const open = input.indexOf(CALL_OPEN);
      const close = input.indexOf(CALL_CLOSE);
      if (close >= 0 && (open < 0 || close < open)) {
        visible += input.slice(0, close);
        out.strayClose = true;
        input = input.slice(close + CALL_CLOSE.length);
        continue;
      }
      if (open >= 0) {
        visible += input.slice(0, open);
        this.command = CALL_OPEN;
        input = input.slice(open + CALL_OPEN.length);
        continue;
      }
      const keep = tagPrefixLength(input);
      visible += input.slice(0, input.length - keep);
      this.held = input.slice(input.length - keep);
      input = '';
    }
    out.visible = visible;
    return out;
  }

  /** True while a `<call>` has been read and its `</call>` has not. */
  get insideCommand(): boolean {
    return this.command !== null;
  }

  /**
   * Ends the SLM's stream: releases held-back text that turned out not to be a tag (another
   * writer follows: the LLM may go on `</` with `div>`, so it is text). At the answer's end
   * (`endOfAnswer`) a tag cut off there (`<ca`, `</cal`: the stream ended at a limit while the
   * model wrote one) is dropped as the command it began would have been; a lone `<` is text
   * (`x <`). An unterminated command is dropped (never shown, never executed) and returned.
   */
  flush(endOfAnswer = false): { visible: string; unterminatedCommand?: string } {
    const visible = endOfAnswer && this.held.length >= 2 ? '' : this.held;
    const unterminatedCommand = this.command ?? undefined;
    this.held = '';
    this.command = null;
    return { visible, unterminatedCommand };
  }
}

/** Length of the longest suffix of `text` that is a proper prefix of a tag. */
function tagPrefixLength(text: string): number {
  const max = Math.min(text.length, CALL_CLOSE.length - 1);
  for (let n = max; n > 0; n--) {
    const tail = text.slice(text.length - n);
    if (CALL_OPEN.startsWith(tail) || CALL_CLOSE.startsWith(tail)) return n;
  }
  return 0;
}

/**
 * N of a command, as the paper parses it; null when the command carries no digits
 * (the paper ends the request with an error then).
 */
export function parseCallCount(command: string): number | null {
  const match = CALL_COUNT.exec(command);
  return match ? Number(match[1]) : null;
}

/**
 * The LLM's view of the answer: every well-formed command replaced by a space, then
 * trimmed (the paper's `call_tag_pattern.sub(" ", solution).strip()`); `replacement`
 * overrides the space for models trained otherwise.
 */
export function stripCommandsForLlm(answer: string, replacement = ' '): string {
  return answer.replace(COMMAND_IN_CONTEXT, replacement).trim();
}

/** The answer without its well-formed commands, untrimmed (confidence mode ignores commands). */
export function removeCommands(answer: string): string {
  return answer.replace(COMMAND_IN_CONTEXT, '');
}
