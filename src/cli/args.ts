/**
 * A small argv parser: positional arguments and `--name value` / `--name=value` /
 * boolean `--flag` options. Unknown options are an error that names them; so is a flag typed
 * with one dash or a long dash (-json, —json), which would otherwise become words of the question.
 */
export interface ParsedArgs {
  positionals: string[];
  options: Map<string, string | true>;
}

/** `flagsOf`: the flags the command (the first positional) takes, to tell a mistyped flag from a word; default: all. */
export function parseArgs(
  argv: string[],
  booleanFlags: ReadonlySet<string>,
  valueFlags: ReadonlySet<string>,
  flagsOf: (command: string) => ReadonlySet<string> | undefined = () => undefined,
): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    // -h: the help, as most tools take it.
    if (arg === '-h') {
      options.set('help', true);
      continue;
    }
    if (!arg.startsWith('--') || arg === '-') {
      const commandFlags = positionals.length > 0 ? flagsOf(positionals[0]) : undefined;
      const mistake = mistypedFlag(arg, [...(commandFlags ?? [...booleanFlags, ...valueFlags]), 'help', 'version']);
      if (mistake) throw mistake;
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (booleanFlags.has(name)) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value.`);
      options.set(name, true);
    } else if (valueFlags.has(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value.`);
      // `--model --json q` left the value out: the next option is not taken for it.
      const next = eq < 0 && value.startsWith('--') ? value.slice(2).split('=')[0] : undefined;
      if (next !== undefined && (booleanFlags.has(next) || valueFlags.has(next)))
        throw new UsageError(`--${name} needs a value, and ${value} is an option. Write --${name}=${value} if you mean that value.`);
      options.set(name, value);
    } else if (KEY_FLAGS.has(name)) {
      // The value (a key) is not repeated: it is on the user's screen already, and in their shell history.
      throw new UsageError(`--${name}: ${KEYS_COME_FROM}`);
    } else {
      const suggestion = didYouMean(name, [...booleanFlags, ...valueFlags]);
      throw new UsageError(`Unknown option --${name}.${suggestion ? ` Did you mean --${suggestion}?` : ''} Run 'relay help' for the options.`);
    }
  }
  return { positionals, options };
}

/**
 * A flag typed with one dash (-json) or with a long dash (—json, –json: pasted from a web page,
 * or "--" turned into a dash by a text editor), when its name is a flag of `known` or near one:
 * the mistake, else undefined (a word such as "-", "-5+3=?" or "-x" stays a word of the question).
 */
function mistypedFlag(arg: string, known: readonly string[]): UsageError | undefined {
  const match = /^(-|[\u2014\u2013]{1,2})([a-z][a-z0-9-]*)(=\S*)?$/i.exec(arg);
  if (!match) return undefined;
  const [, dash, name, value = ''] = match;
  // Its value (a key) would otherwise go to the LLM as part of the question: not repeated here either.
  if (KEY_FLAGS.has(name.toLowerCase())) return new UsageError(`${dash}${name}: ${KEYS_COME_FROM}`);
  const flag = known.includes(name) ? name : didYouMean(name, known);
  if (!flag) return undefined;
  const fix = `--${flag}${value}`;
  const typed = dash === '-' ? `'${arg}' has one dash: write ${fix}.` : `'${arg}' starts with a long dash (${dash}), pasted from a web page? Write ${fix}.`;
  return new UsageError(`${typed} (If it belongs to the question, quote the whole question.)`);
}

/** Flags people try for an API key. */
const KEY_FLAGS: ReadonlySet<string> = new Set(['api-key', 'apikey', 'key', 'token', 'openai-api-key', 'anthropic-api-key']);

/** Where the CLI takes API keys from (README, "The command line"). */
export const KEYS_COME_FROM =
  'Relay takes API keys from environment variables only, never from flags or files (which end up in shell history and backups): ' +
  'set RELAY_API_KEY (sent wherever --base-url points), OPENAI_API_KEY (api.openai.com) or ANTHROPIC_API_KEY (api.anthropic.com).';

/**
 * The known name nearest to `name`, when it is near enough to be a typo (a few edits, well
 * under the name's length); else undefined.
 */
export function didYouMean(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.min(3, Math.floor(name.length / 3)));
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance <= bestDistance && (best === undefined || distance < editDistance(name.toLowerCase(), best.toLowerCase()))) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Edit distance counting insertions, deletions, substitutions and swaps of neighbours ("slove" is one from "solve"). */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      rows[i][j] = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) rows[i][j] = Math.min(rows[i][j], rows[i - 2][j - 2] + 1);
    }
  }
  return rows[a.length][b.length];
}

/** A mistake in how the CLI was called: printed without a stack trace, exit code 2. */
export class UsageError extends Error {}
