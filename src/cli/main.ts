/**
 * The `relay` command line: solve, explain, eval, demo, provider test, totals.
 * Settings: ~/.relay/config.json, RELAY_* environment variables, flags (later wins).
 * API keys: environment variables only (RELAY_API_KEY, OPENAI_API_KEY, ANTHROPIC_API_KEY).
 */
import { didYouMean, parseArgs, UsageError } from './args';
import { version } from '../../package.json';
import { PROVIDER_KINDS } from '../core/providers/registry';
import { RELAY_MODES } from '../core/relay/policies/registry';
import { CONFIG_FLAGS, configFilePath, decimalInteger, expandPath, loadConfig } from './config';
import { CACHING_CHOICES } from '../core/providers/billing';
import { allSlmOnly, allUnpriced, roundUsd, slmOnlyAnswersText, summariseTotals, TotalsStore } from '../core/relay/totalsStore';
import { DEFAULT_KV_CACHE_BUDGET_MB } from '../core/slm/onnx/kvPrefixCache';
import { explainMessages, runAsk, solveMessages } from './commands/ask';
import { runDemo } from './commands/demo';
import { runEval } from './commands/evaluate';
import {
  DEMO_OTHER_QUESTIONS,
  DEMO_TASK_WORDS,
  demoPriceNote,
  demoReference,
  demoStatsPriceNote,
  demoTaskProblem,
  findDemoModels,
  paperModes,
  useDemoModels,
} from './demoModels';
import { parseModeSpecs, type EvalModeSpec } from './evalModes';
import { printProviderTest } from './commands/providerTest';
import { PROVIDER_TEST_REQUEST } from '../core/providers/providerTest';
import { checkDemoTaskModel } from './demoTaskModel';
import { runSlmTest } from './slmTest';
import { CliDeps, openLlmOnly } from './setup';
import { stopRendersOn } from './templateThread';
import { reportedLoad } from './loadLines';
import type { RequestedMode } from '../core/relay/modeResolution';
import { errorKeeper, errorReporter, formatUsd, notStartedJson, printableJson, savingText, terminalSafe, type Output } from './render';
import { isProviderError } from '../core/providers/errors';
import { commandLineProblem, readAllText, shellQuote, signalExitCode, stopOnSignals } from './commandLine';
import { maskedLogin } from '../core/http/shownUrl';

export const HELP = `relay: a small local model writes the answer, a large model writes a few tokens where it helps.

Usage:
  relay demo [question] [--json]      the relay on the embedded trained demo models (no account, no network);
                                      question like 47*6+28=? (the demo models' only task)
  relay solve "question" [--json]     answer a question (LLM tokens coloured on a terminal), then a stats line;
                                      no question (or -): read from standard input, for long text
  relay explain <file>[:a-b] [--json] explain a file or lines a-b of it
  relay eval <data.jsonl> [--modes all|slm-only,llm-only,command,confidence@0.9,matched-router,...]
             [--limit N] [--offset N] [--concurrency N] [--fresh] [--temperature t] [--seed n] [--out prefix]
                                      modes side by side: accuracy, LLM token share, calls, cost, cost per
                                      correct answer, latency, reduction vs a matched random router;
                                      writes CSV + JSON + Markdown. Modes: slm-only, llm-only, command[@ratio],
                                      confidence[@threshold], money-aware[@ratio] (calls only where they pay
                                      off: at most ratio x the LLM alone's cost; default --max-cost-ratio),
                                      random-router[@p], auto[@ratio], matched-router (a random router
                                      matched to the best relay row's accuracy), all; @ratio on command and
                                      auto: the same money ceiling; a row may name its own SLM:
                                      command=<folder> (it must exist). Data: JSONL, GSM8K
                                      {question, answer "... #### 42"} or MATH500 {problem, answer|solution}.
                                      --concurrency N answers in flight (default 1; same answers);
                                      each answer is appended to <out>.answers.jsonl as it finishes, and
                                      the same command with the same --out resumes there (--fresh: start over);
                                      --out is a prefix of file names (results/run1 -> results/run1.csv ...).
                                      Answers that failed (an error) are named on stderr and in the files; exit 1
  relay eval --demo [--modes all|paper]
                                      the same on the demo models' 500 held-out questions; paper: the
                                      paper's table, one command-mode row per training stage
  relay slm test                      ask the small model's server (--slm-kind, --slm-url, --slm-model) for a few tokens:
                                      latency, log-probabilities, exact tokens, its prefix cache
  relay provider test                 send a tiny continuation to the configured LLM and report; then its free token
                                      count, where the service has one
  relay totals                        running totals of cost and savings
  relay help (-h, --help) | --version this text | the version

Settings (flag | environment variable | ~/.relay/config.json key):
  --slm <folder>          RELAY_SLM            slm.modelFolder       small model (ONNX export folder)
  --variant auto|q4|...   RELAY_VARIANT        slm.variant
  --q4-compute <how>      RELAY_Q4_COMPUTE     slm.q4Compute         as-exported (default) | int8 (q4 decodes faster, approximately)
  --kv-cache-mb <n>       RELAY_KV_CACHE_MB    slm.kvCacheBudgetMb   MB of KV caches kept so a prompt that starts like an earlier one reads only
                                                                      what is new (default ${DEFAULT_KV_CACHE_BUDGET_MB}; 0: none)
  --thinking off|on       RELAY_THINKING       slm.thinking          off (default) | on: thinking models (Qwen3) think in <think>...</think> first
  --slm-kind <kind>       RELAY_SLM_KIND       slm.kind              onnx (default: the --slm folder runs here) | completions-server (vLLM, SGLang,
                                                                      llama.cpp, LM Studio: /v1/completions) | ollama (/api/generate, raw)
  --slm-url <url>         RELAY_SLM_URL        slm.serverUrl         the SLM server (default http://127.0.0.1:8000/v1 | http://127.0.0.1:11434);
                                                                      --slm is then the model's folder for its tokenizer and chat template
  --slm-model <name>      RELAY_SLM_MODEL      slm.serverModel       the SLM's name on that server
  --provider <kind>       RELAY_PROVIDER       provider.kind         ${PROVIDER_KINDS.join(' | ')}
  --base-url <url>        RELAY_BASE_URL       provider.baseUrl
  --model <name>          RELAY_MODEL          provider.model        (onnx-local: the LLM's model folder)
  --template-folder <dir> RELAY_TEMPLATE_FOLDER provider.templateFolder
  --mode <mode>           RELAY_MODE           mode                  auto (default: command for SLMs trained to call, else
                                                                      money-aware when the LLM's price is known, else confidence)
                                                                      | ${RELAY_MODES.join(' | ')}; money-aware: a call only where
                                                                      it pays off under --max-cost-ratio
  --threshold <0-1>       RELAY_THRESHOLD      confidence.threshold  (default 0.5, top-1 probability)
  --span-tokens <n>       RELAY_SPAN_TOKENS    confidence.spanTokens (default 2)
  --max-llm-share <0-1>   RELAY_MAX_LLM_SHARE  maxLlmShare           (default 0.2)
  --agree-stop <n>        RELAY_AGREE_STOP     confidence.agreeStopTokens (money-aware: end a call once the SLM
                                                                      agrees with n LLM tokens in a row; default 0 = off)
  --max-turns <n>         RELAY_MAX_TURNS      maxTurns              (default 5, as in the paper)
  --budget <tokens>       RELAY_TOKEN_BUDGET   tokenBudget           (default 8192, as in the paper)
  --max-calls <n>         RELAY_MAX_CALLS      maxLlmCallsPerAnswer  (default 64) LLM calls per answer
  --max-cost <USD>        RELAY_MAX_COST       maxCostPerAnswerUsd   (default 1) spending per answer, when prices are known
  --max-cost-ratio <r|off> RELAY_MAX_COST_RATIO maxCostRatio         (default 0.5) most an answer may cost relative to the LLM
                                                                      alone, when prices are known: a call that would pass it is
                                                                      skipped; off (config file: null) = no such ceiling
  --max-stall <s>         RELAY_MAX_STALL      maxSecondsWithoutProgress (default 180) seconds without a new token
  --connect-timeout <s>   RELAY_CONNECT_TIMEOUT provider.connectTimeoutSeconds     (default 10)
  --first-byte-timeout <s> RELAY_FIRST_BYTE_TIMEOUT provider.firstByteTimeoutSeconds (default 60; a cold server may need more)
  --idle-timeout <s>      RELAY_IDLE_TIMEOUT   provider.idleTimeoutSeconds        (default 30) between chunks of a response
  --call-timeout <s>      RELAY_CALL_TIMEOUT   provider.callTimeoutSeconds        (default 300) one LLM call, retries included
  --caching <how>         RELAY_CACHING        provider.caching      how the service bills re-sent input, to price a call first:
                                                                      auto (default) | ${CACHING_CHOICES.filter((c) => c !== 'auto').join(' | ')}
  --temperature <t>       RELAY_TEMPERATURE    temperature           (default 0.7; 0 = greedy)
  --seed <n>              RELAY_SEED           seed
  --llm-probability <p>   RELAY_LLM_PROBABILITY router.llmProbability (random-router)
  --price-in/--price-out/--price-cached/--price-cache-write <USD per M tokens>
                          RELAY_PRICE_IN, RELAY_PRICE_OUT   prices.inputPerMTok, prices.outputPerMTok,
                                                            prices.cachedInputPerMTok, prices.cacheWritePerMTok
  --totals <file>         RELAY_TOTALS         totalsPath            (default ~/.relay/totals.json)
  --demo                  the embedded demo models: SLM, onnx-local LLM priced at gpt-4o's list price, plain prompt
  --plain-prompt          send the question as is (no "reason step by step ... \\boxed{}" suffix)
Settings file: $RELAY_CONFIG, else $RELAY_HOME/config.json (RELAY_HOME: default ~/.relay, also the totals' folder).
A command refuses flags it has no use for (relay demo takes only --json; relay totals --json and --totals).
API keys come from environment variables, never from files or flags. RELAY_API_KEY goes wherever --base-url
points; OPENAI_API_KEY and ANTHROPIC_API_KEY go only to api.openai.com and api.anthropic.com, unless
--allow-key-host <host>[,<host>] names another host. No key goes over plain http:// to a host off this
machine, or to a loopback address other than localhost, 127.0.0.1 and [::1] (a proxy may carry those),
unless --allow-plain-http is given.
Exit status: 0 when the answer ended by itself or at a limit you set (budget, turns, calls, money, the
model's context window), 1 when it failed (an error, a server that sent nothing or added nothing; relay eval:
any answer failed; provider test, slm test: the test failed), 2 for a usage mistake (an unknown command or flag,
a bad value, a missing file, bare 'relay'), 130 when stopped (Ctrl-C; SIGTERM: 143, SIGHUP: 129; what was spent
so far is still in the totals; a second Ctrl-C exits without waiting for the answer). With --json, solve, explain
and demo end with one JSON line, also when the answer could not start ("error": {code, message}).
`;

const BOOLEAN_FLAGS = new Set(['json', 'help', 'version', 'demo', 'plain-prompt', 'allow-plain-http', 'fresh']);
/** The flags that choose models, which --demo sets itself. */
const DEMO_MODEL_FLAGS = ['slm', 'provider', 'model', 'base-url', 'template-folder'];
const EVAL_FLAGS = ['modes', 'limit', 'offset', 'concurrency', 'out', 'fresh'];
const VALUE_FLAGS = new Set([...CONFIG_FLAGS, 'modes', 'limit', 'offset', 'concurrency', 'out']);

/**
 * The flags each command takes; any other is refused, naming the command, rather than
 * silently ignored. The settings (CONFIG_FLAGS) go to every command that opens a model,
 * as the same settings come from the config file and the environment.
 */
export const COMMAND_FLAGS: Readonly<Record<string, ReadonlySet<string>>> = {
  demo: new Set(['json']),
  solve: new Set([...CONFIG_FLAGS, 'json', 'demo', 'plain-prompt', 'allow-plain-http']),
  explain: new Set([...CONFIG_FLAGS, 'json', 'demo', 'allow-plain-http']),
  eval: new Set([...CONFIG_FLAGS, ...EVAL_FLAGS, 'demo', 'plain-prompt', 'allow-plain-http']),
  provider: new Set([...CONFIG_FLAGS, 'demo', 'allow-plain-http']),
  slm: new Set([...CONFIG_FLAGS]),
  totals: new Set(['json', 'totals']),
};

/** The flags `command` takes; undefined for no command of ours (not even Object's own properties: 'constructor'). */
const flagsOf = (command: string): ReadonlySet<string> | undefined => (Object.hasOwn(COMMAND_FLAGS, command) ? COMMAND_FLAGS[command] : undefined);

const commandName = (command: string): string => (command === 'provider' || command === 'slm' ? `${command} test` : command);

/** Refuses a flag the command has no use for, saying which commands take it. */
function checkFlags(command: string, options: ReadonlyMap<string, string | true>): void {
  const allowed = COMMAND_FLAGS[command];
  for (const flag of options.keys()) {
    if (allowed.has(flag)) continue;
    const takers = Object.keys(COMMAND_FLAGS)
      .filter((c) => COMMAND_FLAGS[c].has(flag))
      .map((c) => `relay ${commandName(c)}`);
    const where = CONFIG_FLAGS.has(flag)
      ? ' (a setting of the commands that run your models)'
      : takers.length > 0
        ? ` (${takers.join(', ')} ${takers.length === 1 ? 'takes' : 'take'} it)`
        : '';
    const demo =
      command === 'demo'
        ? " relay demo runs the embedded demo models with their own settings; for other settings on those models: relay solve --demo '47*6+28=?' [flags]."
        : '';
    throw new UsageError(`relay ${commandName(command)} does not take --${flag}${where}.${demo}`);
  }
}

export interface CliIo {
  stdout: Output;
  stderr: Output;
  /** Standard input's text when it is not a terminal (a pipe, a file), else undefined; read only when a command asks for it. */
  stdin?: () => Promise<string | undefined>;
}

/**
 * The command line as relay eval records it in its files: an argument (a --flag=value's value
 * too) that is an http(s) address with a user:password, a secret sent as Basic auth
 * (--base-url https://alice:pw@gw/v1), with that part masked; every other argument as written
 * (a path such as ./data//me@corp.jsonl holds no login). A --base-url that does not parse is
 * refused before anything is written.
 */
export function recordedCommandLine(argv: readonly string[]): string {
  const recorded = (arg: string): string => {
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    return eq < 0 ? loginMaskedIfAddress(arg) : arg.slice(0, eq + 1) + loginMaskedIfAddress(arg.slice(eq + 1));
  };
  return ['relay', ...argv.map(recorded)].map(shellQuote).join(' ');
}

/** `text` with its login masked (maskedLogin) where it parses as an http(s) address with one; else as written. */
function loginMaskedIfAddress(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && (url.username !== '' || url.password !== '') ? maskedLogin(text) : text;
}

export async function main(argv: string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { positionals, options } = parseArgs(argv, BOOLEAN_FLAGS, VALUE_FLAGS, flagsOf);
  const [command, ...rest] = positionals;
  const json = options.has('json');
  if (options.has('version')) {
    io.stdout.write(`relay ${version}\n`);
    return 0;
  }
  // An unknown command is a mistake with or without --help after it (relay models --help): said first.
  if (command && command !== 'help' && !flagsOf(command)) {
    const suggestion = didYouMean(command, [...Object.keys(COMMAND_FLAGS), 'help']);
    throw new UsageError(
      `Unknown command '${command}'.${suggestion ? ` Did you mean 'relay ${suggestion}'?` : ''} Run 'relay help'. (Settings file: ${configFilePath()})`,
    );
  }
  if (!command || command === 'help' || options.has('help')) {
    io.stdout.write(HELP);
    return command || options.has('help') ? 0 : 2;
  }
  checkFlags(command, options);
  if (command === 'demo') {
    if (rest.length > 1) throw new UsageError('Usage: relay demo ["47*6+28=?"] [--json] (quote the question)');
    return answerCommand(json, io, 'auto', () => runDemo(io, { json, signal, question: rest[0] }));
  }
  const demo = options.has('demo');
  // --demo brings its own models: a model flag beside it would be silently ignored.
  const overridden = DEMO_MODEL_FLAGS.filter((flag) => options.has(flag));
  if (demo && overridden.length > 0) {
    const flags = overridden.map((f) => `--${f}`).join(', ');
    throw new UsageError(`--demo runs the embedded demo models, so ${flags} would be ignored: drop --demo to use your own models, or drop ${flags}.`);
  }
  let config = loadConfig(options);
  // The demo's own reference price, unless prices were set: its figures then say so, not "prices: your settings".
  const demoPrices = demo && Object.keys(config.prices).length === 0;
  if (demo) config = useDemoModels(config);
  if (options.has('plain-prompt')) config = { ...config, plainPrompt: true };
  if (options.has('allow-plain-http')) config = { ...config, keys: { ...config.keys, allowPlainHttp: true } };
  const priceNote = demoPrices ? demoStatsPriceNote() : undefined;
  switch (command) {
    case 'solve': {
      // No question, or '-': it comes on standard input (text too long for a command line).
      if (rest[0] === '-' && rest.length > 1)
        throw new UsageError(
          `relay solve - reads the question from standard input, so it takes no more words (got: - ${rest.slice(1).join(' ')}). Put the whole question on standard input, or quote it: relay solve "...".`,
        );
      const fromStdin = rest.length === 0 || rest[0] === '-';
      let piped: string | undefined;
      try {
        piped = fromStdin ? await io.stdin?.() : undefined;
      } catch (error) {
        // Ctrl-C while waiting on a pipe that stays open.
        if (signal.aborted) return 130;
        throw error;
      }
      // A file's last line break is not part of the question.
      const question = fromStdin ? piped?.replace(/\s+$/, '') : rest.join(' ');
      if (question === undefined && rest[0] === '-')
        throw new UsageError('relay solve -: standard input is a terminal; pipe the question in (relay solve - < question.txt).');
      const messages = solveMessages(question ?? '', { plain: config.plainPrompt });
      // The demo models write nonsense for anything but their one task: refused as relay demo refuses it.
      if (demo && demoReference(question ?? '') === null) throw new UsageError(`${demoTaskProblem(question ?? '')} ${DEMO_OTHER_QUESTIONS}`);
      // So is a demo model named with --slm (it would answer blank or garbage, and exit 0).
      checkDemoTaskModel(config, question ?? '');
      return answerCommand(json, io, config.mode, () => runAsk(messages, config, io, { json, signal, priceNote, demo }));
    }
    case 'explain':
      if (rest.length !== 1) throw new UsageError('Usage: relay explain <file>[:start-end]');
      if (demo) throw new UsageError(`relay explain --demo: ${DEMO_TASK_WORDS} They cannot explain a file. ${DEMO_OTHER_QUESTIONS}`);
      checkDemoTaskModel(config);
      return answerCommand(json, io, config.mode, () => runAsk(explainMessages(rest[0]), config, io, { json, signal, priceNote, demo }));
    case 'eval': {
      // A quoted ~ ("~/data.jsonl") reaches here unexpanded: the home folder, as in --out.
      const data = rest.length === 1 ? expandPath(rest[0]) : rest.length === 0 && demo ? findDemoModels().evalData : undefined;
      if (data === undefined)
        throw new UsageError(
          'Usage: relay eval <data.jsonl> [--modes all|command,slm-only,...] [--limit N] [--offset N] [--concurrency N] [--out prefix] [--fresh] (or relay eval --demo)',
        );
      const modesFlag = options.get('modes');
      const specs: EvalModeSpec[] =
        typeof modesFlag === 'string' ? parseModeSpecs(modesFlag, paperExpansion(modesFlag, demo)) : [{ spec: config.mode, kind: config.mode }];
      const limit = wholeNumber(options.get('limit'), '--limit', 1);
      const offset = wholeNumber(options.get('offset'), '--offset', 0);
      const concurrency = wholeNumber(options.get('concurrency'), '--concurrency', 1);
      if (concurrency !== undefined && concurrency > 1024) throw new UsageError('--concurrency is at most 1024.');
      const outFlag = options.get('out');
      const outPrefix = typeof outFlag === 'string' ? expandPath(outFlag) : `relay-eval-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      const commandLine = recordedCommandLine(argv);
      return runEval(data, specs, config, io, {
        limit,
        offset,
        concurrency,
        fresh: options.has('fresh'),
        outPrefix,
        signal,
        commandLine,
        priceNote: demo ? demoPriceNote() : undefined,
      });
    }
    case 'provider': {
      checkSubcommand('provider', rest, 'Usage: relay provider test');
      // An onnx-local LLM loads here first, as for an answer: said on stderr.
      const deps = new CliDeps(config, undefined, (load, open) => reportedLoad(io.stderr, load, open));
      try {
        const llm = await openLlmOnly(config, deps, PROVIDER_TEST_REQUEST.messages);
        const ok = await printProviderTest(llm.provider, llm.price ?? null, io, signal);
        // Stopped (Ctrl-C) is not a failure of the provider: 130, as for an answer.
        return signal.aborted ? 130 : ok ? 0 : 1;
      } finally {
        await deps.dispose();
      }
    }
    case 'slm': {
      checkSubcommand('slm', rest, 'Usage: relay slm test --slm <folder> --slm-kind completions-server|ollama --slm-url <url> --slm-model <name>');
      const ok = await runSlmTest(
        config,
        (line) => io.stdout.write(line + '\n'),
        signal,
        (line) => io.stderr.write(`relay: ${line}\n`),
      );
      return signal.aborted ? 130 : ok ? 0 : 1;
    }
    case 'totals': {
      const store = new TotalsStore(config.totalsPath);
      const file = await store.read();
      const all = summariseTotals(file);
      const today = summariseTotals(file, { day: store.today() });
      // Money only where a price is known (unpriced answers are unknown, not $0); a loss says so. Answers the small
      // model wrote alone cost $0 and are named apart: no price is missing, and no saving is claimed for them.
      const alone = (t: typeof all) => (t.slmOnlyAnswers > 0 ? `; ${slmOnlyAnswersText(t.slmOnlyAnswers)}` : '');
      const money = (t: typeof all) =>
        (allSlmOnly(t)
          ? 'cost $0'
          : allUnpriced(t)
            ? 'cost unknown (no price)'
            : `cost ${formatUsd(roundUsd(t.costUsd))}${t.usageEstimatedAnswers > 0 ? ` (est.: the LLM usage of ${t.usageEstimatedAnswers} ${t.usageEstimatedAnswers === 1 ? 'answer' : 'answers'} was counted locally, or capped at the most one call can write)` : ''}, LLM-only estimate ${formatUsd(roundUsd(t.llmOnlyCostUsd))}, ${savingText(roundUsd(t.savedUsd))}` +
              (t.unpricedAnswers ? ` (not counting ${t.unpricedAnswers} answers without a price)` : '')) + alone(t);
      const line = (label: string, t: typeof all) =>
        `${label}: ${t.answers} answers, ${t.calls} LLM calls, ${t.slmTokens} SLM + ${t.llmTokens} LLM tokens, ${money(t)}`;
      // The totals file is on disk, where anything may have written it.
      if (json) io.stdout.write(printableJson({ today, all, path: config.totalsPath }) + '\n');
      else io.stdout.write(terminalSafe(`${line('Today', today)}\n${line('All time', all)}\n(${config.totalsPath})`) + '\n');
      return 0;
    }
    default:
      throw new UsageError(`Unknown command '${command}'. Run 'relay help'. (Settings file: ${configFilePath()})`);
  }
}

/**
 * An answer's command (solve, explain, demo). With --json, a failure before the answer began
 * (a model file that does not load, a chat template that raises) still ends stdout with the
 * answer's JSON line, `error` in it as an answer that failed has it, and exits 1; its words go
 * to stderr as an answer's error does. A usage mistake stays one (stderr, exit 2).
 */
async function answerCommand(json: boolean, io: CliIo, mode: RequestedMode, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (!json || error instanceof UsageError) throw error;
    // `setup`: the answer could not start; a provider's error keeps its own code (network, auth...).
    const code = isProviderError(error) ? error.code : 'setup';
    const event = { type: 'error', code, message: error instanceof Error ? error.message : String(error) } as const;
    const failure = errorKeeper();
    failure.record(event);
    errorReporter(io.stderr)(event);
    io.stdout.write(printableJson(notStartedJson(mode, failure.json())) + '\n');
    return 1;
  }
}

/** `relay provider test`, `relay slm test`: their one subcommand, and no more words; a mistyped one is named. */
function checkSubcommand(command: string, rest: string[], usage: string): void {
  const [sub, ...extra] = rest;
  if (sub === 'test' && extra.length === 0) return;
  if (sub === undefined) throw new UsageError(`relay ${command} needs a subcommand. ${usage}`);
  if (sub !== 'test') {
    const suggestion = didYouMean(sub, ['test']);
    throw new UsageError(`Unknown subcommand '${sub}' of relay ${command}.${suggestion ? ` Did you mean 'relay ${command} ${suggestion}'?` : ''} ${usage}`);
  }
  throw new UsageError(`relay ${command} test takes no more words (got: ${extra.join(' ')}); its settings are flags. ${usage}`);
}

/** A whole-number flag of at least `min`; undefined when not given. */
function wholeNumber(flag: string | true | undefined, name: string, min: number): number | undefined {
  if (typeof flag !== 'string') return undefined;
  const n = decimalInteger(flag);
  if (!(Number.isInteger(n) && n >= min)) throw new UsageError(`${name} must be a whole number${min > 0 ? ' of at least ' + min : ''} (got ${flag}).`);
  return n;
}

/** `--modes paper` (needs --demo): every training stage's SLM side by side. */
function paperExpansion(modes: string, demo: boolean): Record<string, string> {
  const asked = modes.split(',').some((p) => p.trim() === 'paper');
  if (!asked) return {};
  if (!demo) throw new UsageError('--modes paper runs the demo models of every training stage; add --demo.');
  return { paper: paperModes(findDemoModels()) };
}

/** A process stream as the commands' Output; nothing more is written once its reader went away. */
function stream(s: NodeJS.WriteStream & { fd: number }, closed: () => boolean): Output {
  return { write: (text) => void (closed() ? undefined : s.write(text)), isTTY: Boolean(s.isTTY), fd: s.fd };
}

/**
 * Entry point: Ctrl+C, SIGTERM (`timeout`, `kill`) and SIGHUP (a closed terminal) cancel the
 * answer (the partial answer and its stats are still printed, its calls booked in the totals).
 */
if (require.main === module) {
  const controller = new AbortController();
  // A reader that went away (`relay demo | head`, EPIPE; a closed terminal, EIO) stops the work, as
  // SIGPIPE stops a shell tool, instead of an unhandled error and its stack trace; what eval wrote to its files is kept.
  let readerGone = false;
  for (const out of [process.stdout, process.stderr]) {
    out.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'EIO') throw error;
      readerGone = true;
      controller.abort();
    });
  }
  const stoppedBy = stopOnSignals(
    process,
    () => controller.abort(),
    (code) => process.exit(code),
  );
  // A chat template rendering on its thread is stopped with the rest, not waited for until its deadline.
  stopRendersOn(controller.signal);
  const closed = () => readerGone;
  const stdin = async () => (process.stdin.isTTY ? undefined : readAllText(process.stdin, { signal: controller.signal }));
  const tooLong = commandLineProblem(process.argv);
  (tooLong
    ? Promise.reject(tooLong)
    : main(process.argv.slice(2), { stdout: stream(process.stdout, closed), stderr: stream(process.stderr, closed), stdin }, controller.signal)
  ).then(
    (code) => {
      // The commands say "stopped" with Ctrl-C's 130; stopped by another signal, its own status (SIGTERM 143, SIGHUP 129).
      const signal = stoppedBy();
      process.exitCode = signal && code === signalExitCode('SIGINT') ? signalExitCode(signal) : readerGone ? 0 : code;
    },
    (error: unknown) => {
      if (error instanceof UsageError) {
        process.stderr.write(`relay: ${error.message}\n`);
        process.exitCode = 2;
      } else {
        // The message may quote a server or a model file.
        process.stderr.write(`relay: ${terminalSafe(error instanceof Error ? error.message : String(error))}\n`);
        process.exitCode = 1;
      }
    },
  );
}
