/**
 * A small argv parser: positional arguments and `--name value` / `--name=value` /
 * boolean `--flag` options. Unknown options are an error that names them.
 */
export interface ParsedArgs {
  positionals: string[];
  options: Map<string, string | true>;
}

export function parseArgs(argv: string[], booleanFlags: ReadonlySet<string>, valueFlags: ReadonlySet<string>): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '-') {
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
    } else {
      throw new UsageError(`Unknown option --${name}. Run 'relay help' for the options.`);
    }
  }
  return { positionals, options };
}

/** A mistake in how the CLI was called: printed without a stack trace, exit code 2. */
export class UsageError extends Error {}
