/**
 * The CLI at its edges: where an answer's error goes, paths in settings, files too big to
 * explain, settings overridden by a later layer, a missing config file, bad model addresses,
 * Ctrl-C on standard input, config files with a BOM, text that is not UTF-8, the help a
 * mistyped command gets, --template-folder checked up front, the demo's error on stderr and ~ in
 * relay eval's paths. In-process on a scripted ONNX SLM and HTTP servers on 127.0.0.1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { UsageError } from '../../../src/cli/args';
import { readAllText, shellQuote } from '../../../src/cli/commandLine';
import { explainMessages } from '../../../src/cli/commands/ask';
import { runDemo } from '../../../src/cli/commands/demo';
import { loadConfig } from '../../../src/cli/config';
import { parseModeSpecs } from '../../../src/cli/evalModes';
import { HELP } from '../../../src/cli/main';
import { checkModelSettings } from '../../../src/cli/setup';
import { ProviderError } from '../../../src/core/providers/errors';
import { OnnxLocalProvider } from '../../../src/core/providers/onnxLocal';
import { ChatTemplate, MAX_RENDERED_PROMPT_CHARS } from '../../../src/core/slm/chatTemplate';
import { capture, CLI, MODEL_NOT_FOUND, noSettingsFile, runCli, scriptedSolveCli, spawnCli, TSX, withServer } from './runCli';

const REPO = join(__dirname, '..', '..', '..');

const QUESTION = 'What is two plus three?';
const cli = scriptedSolveCli('relay-cli-edges-', QUESTION);
const { run, llmFlags } = cli;
const badRequest = MODEL_NOT_FOUND;

test('relay solve without --json: an answer that failed names its error on stderr, where a redirected stdout cannot hide it', async () => {
  await withServer(badRequest, async (server) => {
    const { code, stdout, stderr } = await run(['solve', QUESTION, ...llmFlags(`${server.url}/v1`)]);
    assert.equal(code, 1);
    assert.match(stderr, /relay: error \([^)]+\): .*does not exist/);
    // stdout is a file here (not a terminal): it keeps the answer and the stats, not a copy of the error.
    assert.doesNotMatch(stdout, /does not exist/);
  });
});

/** A UsageError (exit 2) whose message matches `pattern`. */
const usageError = (pattern: RegExp) => (e: unknown) => e instanceof UsageError && pattern.test(e.message);

test('relay explain: a whole file over the standard-input limit is refused with its size and the fix; a range reads only up to its lines', () => {
  const dir = join(cli.work, 'explain-big');
  mkdirSync(dir, { recursive: true });
  const big = join(dir, 'big.js');
  writeFileSync(big, 'const x = 1;\n'.repeat(420_000)); // 5.2 MB
  assert.throws(() => explainMessages(big), usageError(/big\.js' is 5\.2 MB, more than the 4 MB .*select the lines to explain: relay explain .*big\.js:10-40/));
  assert.match(explainMessages(`${big}:1-3`)[0].content, /\(lines 1-3\)/);
  // What follows the range is not read: a NUL byte there does not make the file binary to the range.
  const tail = join(dir, 'tail.txt');
  writeFileSync(tail, Buffer.concat([Buffer.from('one\ntwo\nthree\n'), Buffer.from([0, 1, 2, 0xff])]));
  assert.match(explainMessages(`${tail}:2-3`)[0].content, /\(lines 2-3\)[^]*two\nthree/);
  assert.throws(() => explainMessages(tail), usageError(/binary file/));
});

test('relay explain: a big binary file is said to be binary, not given a line range to try; a suggested path is quoted for the shell', () => {
  const dir = join(cli.work, "explain big's files");
  mkdirSync(dir, { recursive: true });
  // A library: over the limit, NUL bytes from its first block, hardly a newline.
  const library = join(dir, 'libexample.so.1');
  const block = Buffer.alloc(64 * 1024, 0x41);
  block[100] = 0;
  writeFileSync(library, Buffer.concat(Array.from({ length: 80 }, () => block))); // 5 MB
  const binary = usageError(/^relay explain: '.*libexample\.so\.1' looks like a binary file \(it holds NUL bytes\); name a text file\.$/);
  assert.throws(() => explainMessages(library), binary);
  assert.throws(() => explainMessages(`${library}:10-40`), binary, 'a range of a binary file: binary, not "select fewer lines"');
  // A text file over the limit in a folder whose name a shell splits: the suggestion can be pasted as it is.
  const big = join(dir, 'big file.js');
  writeFileSync(big, 'const x = 1;\n'.repeat(420_000));
  const quoted = `'${big.replace(/'/g, "'\\''")}:10-40'`;
  assert.throws(
    () => explainMessages(big),
    (e: unknown) => e instanceof UsageError && e.message.endsWith(`select the lines to explain: relay explain ${quoted}.`),
  );
  // One line longer than the limit: the range suggested is quoted too.
  const oneLine = join(dir, 'one line.txt');
  writeFileSync(oneLine, 'x'.repeat(5 * 1024 * 1024));
  assert.throws(
    () => explainMessages(`${oneLine}:1`),
    (e: unknown) => e instanceof UsageError && e.message.endsWith(`select fewer lines (relay explain '${oneLine.replace(/'/g, "'\\''")}:10-40').`),
  );
  assert.equal(shellQuote('/tmp/plain/big.js:10-40'), '/tmp/plain/big.js:10-40', 'a path a shell leaves whole stays as it is');
  assert.equal(shellQuote('a b$c'), "'a b$c'");
});

test('relay explain: a device is refused as no regular file, not read without end', { skip: process.platform === 'win32' && 'no /dev/null' }, () => {
  assert.throws(() => explainMessages('/dev/null'), usageError(/'\/dev\/null' is not a regular file/));
  assert.throws(() => explainMessages('/dev/zero:1-3'), usageError(/not a regular file/));
});

test('a chat template given messages already over the prompt limit says the input is too long, not that the template repeats text', async () => {
  const template = await ChatTemplate.create('{{ messages[0].content }}', {}, join(cli.work, 'tokenizer_config.json'));
  assert.throws(
    () => template.render([{ role: 'user', content: 'x'.repeat(MAX_RENDERED_PROMPT_CHARS + 1) }]),
    (e: Error) => /the input is too long/.test(e.message) && !/chat template rendered/.test(e.message),
  );
});

test("paths: ~ is the home folder in every path setting and --out; the config file's relative paths are relative to its folder", async () => {
  const home = join(cli.work, 'home');
  const settings = join(cli.work, 'settings');
  mkdirSync(home, { recursive: true });
  mkdirSync(settings, { recursive: true });
  writeFileSync(
    join(settings, 'config.json'),
    JSON.stringify({ slm: { modelFolder: 'models/slm' }, provider: { templateFolder: '~/tpl' }, totalsPath: '~/t.json' }),
  );
  const env = { RELAY_HOME: settings };
  const config = loadConfig(new Map(), env);
  assert.equal(config.slm.folder, join(settings, 'models', 'slm'), 'relative to the config file');
  assert.equal(config.provider.templateFolder, join(homedir(), 'tpl'));
  assert.equal(config.totalsPath, join(homedir(), 't.json'));
  assert.equal(loadConfig(new Map([['slm', '~/m']]), env).slm.folder, join(homedir(), 'm'), 'a quoted ~ on a flag');
  assert.equal(loadConfig(new Map([['slm', 'rel/m']]), env).slm.folder, 'rel/m', "a flag's relative path stays relative to the current folder");
  assert.equal(
    loadConfig(
      new Map([
        ['provider', 'onnx-local'],
        ['model', '~/llm'],
      ]),
      env,
    ).provider.model,
    join(homedir(), 'llm'),
    "onnx-local's --model is a folder",
  );
  assert.equal(loadConfig(new Map([['model', '~/llm']]), env).provider.model, '~/llm', "another provider's --model is a name");
  // --out: the folder is made under the home folder, not as a folder named ~ here.
  const data = join(cli.work, 'one.jsonl');
  writeFileSync(data, JSON.stringify({ question: QUESTION, answer: '5' }) + '\n');
  const { code, stderr } = await spawnCli(['eval', data, '--out', '~/res/run1', '--slm', join(cli.work, 'no-such-slm')], {
    env: { HOME: home, RELAY_HOME: settings },
    cwd: cli.work,
  });
  assert.equal(code, 2, stderr);
  assert.match(stderr, /does not exist/);
  assert.equal(existsSync(join(home, 'res')), true, 'made under the home folder');
  assert.equal(existsSync(join(cli.work, '~')), false, 'no folder named ~');
});

test(
  'relay eval --out under /proc (no folder can be made there): a clear error and exit 2, not a mkdir that never returns',
  { skip: !(process.platform === 'linux' && existsSync('/proc/self')) && 'no /proc' },
  async () => {
    const data = join(cli.work, 'one-for-proc.jsonl');
    writeFileSync(data, JSON.stringify({ question: QUESTION, answer: '5' }) + '\n');
    const out = '/proc/relay-no-such-folder/deeper/run1';
    // In a process of its own, ended after a minute if it hangs (as Node 20's recursive mkdir does there).
    const { code, stderr } = await spawnCli(['eval', data, '--modes', 'slm-only', '--slm', cli.slmFolder, '--out', out], {
      env: { RELAY_HOME: cli.work, RELAY_CONFIG: noSettingsFile(cli.work) },
      cwd: cli.work,
    });
    assert.equal(code, 2, stderr);
    assert.match(
      stderr,
      /^relay: --out '\/proc\/relay-no-such-folder\/deeper\/run1': cannot make the folder \/proc\/relay-no-such-folder in \/proc \(.+\)\. Choose another --out\.\n$/,
    );
  },
);

test('model addresses and folders: a malformed URL, a file or an empty folder as --slm are usage mistakes (exit 2) said before anything opens', async () => {
  const common = ['--mode', 'command', '--model', 'm', '--temperature', '0'];
  await assert.rejects(
    run(['solve', QUESTION, '--slm', cli.slmFolder, '--provider', 'openai-completions', '--base-url', 'not a url', ...common]),
    usageError(/is not a URL/),
  );
  await assert.rejects(
    run(['solve', QUESTION, '--slm', cli.slmFolder, '--slm-kind', 'completions-server', '--slm-url', 'localhost:8000/v1', '--slm-model', 's', ...common]),
    usageError(/server address "localhost:8000\/v1" has no http:\/\/ or https:\/\//),
  );
  const file = join(cli.work, 'file.txt');
  writeFileSync(file, 'not a model');
  await assert.rejects(run(['solve', QUESTION, '--slm', file, ...common]), usageError(/is a file, not a folder/));
  const empty = join(cli.work, 'empty-slm');
  mkdirSync(empty, { recursive: true });
  await assert.rejects(run(['solve', QUESTION, '--slm', empty, ...common]), usageError(/is empty/));
});

test("the small model's folder: messages name the config file in use, and the file and key (or the variable) a bad folder came from", async () => {
  const common = ['--mode', 'slm-only', '--temperature', '0'];
  const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // No folder set: the settings file named is the one in use (RELAY_HOME's here), not ~/.relay/config.json.
  const home = mkdtempSync(join(cli.work, 'slm-home-'));
  await assert.rejects(
    runCli(['solve', QUESTION, ...common], home, { env: { RELAY_CONFIG: '' } }),
    usageError(new RegExp(`set RELAY_SLM or slm\\.modelFolder in ${escaped(join(home, 'config.json'))}, or try 'relay demo'\\.$`)),
  );
  const settings = join(home, 'settings.json');
  writeFileSync(settings, '{}');
  await assert.rejects(
    runCli(['solve', QUESTION, ...common], home, { env: { RELAY_CONFIG: settings } }),
    usageError(new RegExp(`slm\\.modelFolder in ${escaped(settings)},`)),
  );
  // A folder from the config file that does not exist, or is a file: the file and its key are named, and the fix is there.
  writeFileSync(settings, JSON.stringify({ slm: { modelFolder: 'no-such-slm' } }));
  const missing = join(home, 'no-such-slm');
  await assert.rejects(
    runCli(['solve', QUESTION, ...common], home, { env: { RELAY_CONFIG: settings } }),
    usageError(
      new RegExp(
        `^The small model folder does not exist: ${escaped(missing)} \\(from ${escaped(settings)} \\(slm\\.modelFolder\\)\\)\\. Fix slm\\.modelFolder in ${escaped(settings)}, or pass --slm <an ONNX export's folder>, or try 'relay demo'\\.$`,
      ),
    ),
  );
  writeFileSync(join(home, 'a-file'), 'not a model');
  writeFileSync(settings, JSON.stringify({ 'relay.slm.modelFolder': 'a-file' }));
  await assert.rejects(
    runCli(['solve', QUESTION, ...common], home, { env: { RELAY_CONFIG: settings } }),
    usageError(new RegExp(`is a file, not a folder\\. Fix relay\\.slm\\.modelFolder in ${escaped(settings)}, or pass --slm`)),
  );
  // From the variable: the variable is named; from the flag: the flag's advice as before.
  await assert.rejects(
    runCli(['solve', QUESTION, ...common], home, { env: { RELAY_CONFIG: settings, RELAY_SLM: missing } }),
    usageError(/\(from \$RELAY_SLM\)\. Fix RELAY_SLM, or pass --slm/),
  );
  await assert.rejects(
    runCli(['solve', QUESTION, ...common, '--slm', missing], home, { env: { RELAY_CONFIG: settings } }),
    usageError(new RegExp(`does not exist: ${escaped(missing)}\\. Pass --slm <an ONNX export's folder> \\(or set RELAY_SLM\\), or try 'relay demo'\\.$`)),
  );
});

test('a missing required flag or a bad value is a usage mistake (exit 2) in every command: slm test as provider test, --variant as --slm', async () => {
  const served = ['slm', 'test', '--slm', cli.slmFolder, '--slm-kind', 'completions-server', '--slm-url', 'http://127.0.0.1:1/v1'];
  await assert.rejects(run(served), usageError(/^No model name is set for the small model's server\. Pass --slm-model <name>/));
  await assert.rejects(
    run(['provider', 'test', '--provider', 'openai-completions', '--base-url', 'http://127.0.0.1:1/v1']),
    usageError(/^No LLM model is set/),
  );
  // The folder's tokenizer files are read before the server is asked: a folder without them is the setting's mistake.
  const noTokenizer = join(cli.work, 'no-tokenizer');
  mkdirSync(noTokenizer, { recursive: true });
  writeFileSync(join(noTokenizer, 'config.json'), '{}');
  await assert.rejects(run([...served.slice(0, 3), noTokenizer, ...served.slice(4), '--slm-model', 's']), usageError(/tokenizer/));
  await assert.rejects(
    run([...served.slice(0, 3), join(cli.work, 'no-such-served-slm'), ...served.slice(4), '--slm-model', 's']),
    usageError(/^The small model folder does not exist: .*no-such-served-slm\. Pass --slm <the served model's folder>/),
  );
  // A variant the folder does not have (it holds model.onnx, fp32 only): said before anything loads.
  await assert.rejects(
    run(['solve', QUESTION, '--slm', cli.slmFolder, '--variant', 'q4', '--mode', 'slm-only']),
    usageError(
      /model_q4\.onnx: variant "q4" is not in this folder; available: fp32\. Set relay\.slm\.variant \(CLI: --variant\) to one of them or to "auto"\./,
    ),
  );
});

test('relay slm test: its FAILED line goes to stderr, exit 1', async () => {
  // Nothing listens on port 1.
  const { code, stdout, stderr } = await run([
    'slm',
    'test',
    '--slm',
    cli.slmFolder,
    '--slm-kind',
    'completions-server',
    '--slm-url',
    'http://127.0.0.1:1/v1',
    '--slm-model',
    's',
  ]);
  assert.equal(code, 1);
  assert.match(stderr, /relay: FAILED: /);
  assert.doesNotMatch(stdout, /FAILED/);
});

test('settings: a bad value overridden by a later layer is no error; the winning bad value is named where it came from', () => {
  const dir = mkdtempSync(join(cli.work, 'layers-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ temperature: 'hot', maxTurns: 3 }));
  const env = { RELAY_HOME: dir, RELAY_TEMPERATURE: '5' };
  const config = loadConfig(new Map([['temperature', '0']]), env);
  assert.equal(config.temperature, 0, 'the flag wins over a bad variable and a bad file value');
  assert.equal(config.maxTurns, 3);
  assert.throws(() => loadConfig(new Map(), env), usageError(/^\$RELAY_TEMPERATURE: '5' must be a number from 0 to 2/));
  assert.throws(() => loadConfig(new Map(), { RELAY_HOME: dir }), usageError(/config\.json \(temperature\): must be a number, not the string "hot"/));
});

test('RELAY_CONFIG naming a missing file is refused, naming the variable and the path', () => {
  const missing = join(cli.work, 'missing-config.json');
  assert.throws(
    () => loadConfig(new Map(), { RELAY_HOME: cli.work, RELAY_CONFIG: missing }),
    usageError(/\$RELAY_CONFIG names .*missing-config\.json, which does not exist/),
  );
});

test(
  'Ctrl-C while the question is still coming on standard input stops at once with exit 130',
  { skip: process.platform === 'win32' && 'POSIX signals' },
  async () => {
    const dir = mkdtempSync(join(cli.work, 'sigint-'));
    // Says READY once the CLI's SIGINT handler is in place and main() waits on standard input.
    const hook = join(dir, 'ready.cjs');
    writeFileSync(hook, "process.on('newListener', (event) => { if (event === 'SIGINT') setImmediate(() => process.stderr.write('READY\\n')); });\n");
    const child = spawn(process.execPath, ['-r', hook, '--import', TSX, CLI, 'solve'], {
      cwd: REPO,
      env: { ...process.env, RELAY_HOME: dir, RELAY_CONFIG: '' },
      // stdin stays an open pipe: the question never ends.
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const limit = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      await new Promise<void>((resolve, reject) => {
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          if (stderr.includes('READY')) resolve();
        });
        child.on('exit', () => reject(new Error(`exited before it was ready: ${stderr}`)));
      });
      child.kill('SIGINT');
      assert.equal(await exited, 130, stderr);
    } finally {
      clearTimeout(limit);
      child.kill('SIGKILL');
      child.stdin.destroy();
    }
  },
);

test('a config file with a byte order mark is read; a folder in its place is named as such', () => {
  const dir = mkdtempSync(join(cli.work, 'bom-'));
  writeFileSync(join(dir, 'config.json'), '\uFEFF{ "temperature": 0.3 }');
  assert.equal(loadConfig(new Map(), { RELAY_HOME: dir }).temperature, 0.3);
  const folderHome = mkdtempSync(join(cli.work, 'folder-'));
  mkdirSync(join(folderHome, 'config.json'));
  assert.throws(() => loadConfig(new Map(), { RELAY_HOME: folderHome }), usageError(/config\.json is a folder, not a config file/));
});

test('relay solve - takes no more words; text that is not UTF-8 is refused, naming where it came from and the fix', async () => {
  await assert.rejects(
    run(['solve', '-', 'extra'], { stdin: QUESTION }),
    usageError(/relay solve - reads the question from standard input, so it takes no more words/),
  );
  const latin1 = Buffer.from('caf\xe9 au lait\n', 'latin1');
  await assert.rejects(readAllText(Readable.from([latin1])), usageError(/^standard input is not UTF-8 text .*Save it as UTF-8/));
  const file = join(cli.work, 'latin1.txt');
  writeFileSync(file, latin1);
  assert.throws(() => explainMessages(file), usageError(/latin1\.txt' is not UTF-8 text .*Save it as UTF-8/));
});

test('-h is the help, --version the version; a typo gets a suggestion; a key on a flag or a VS Code key in the config file is said how to fix', async () => {
  for (const args of [['-h'], ['demo', '-h']]) {
    const { code, stdout } = await run(args);
    assert.equal(code, 0, args.join(' '));
    assert.equal(stdout, HELP);
  }
  const version = await run(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^relay \d+\.\d+\.\d+/);
  await assert.rejects(run(['slove', QUESTION]), usageError(/Unknown command 'slove'\. Did you mean 'relay solve'\?/));
  // An unknown command with --help is the same mistake as without it (exit 2), not the help and 0.
  for (const args of [['models', '--help'], ['chat', '-h'], ['models']]) {
    await assert.rejects(run(args), usageError(new RegExp(`^Unknown command '${args[0]}'\\. .*Run 'relay help'\\.`)), args.join(' '));
  }
  assert.equal((await run(['help', '--help'])).code, 0);
  await assert.rejects(run(['solve', '--temprature', '0', QUESTION]), usageError(/Unknown option --temprature\. Did you mean --temperature\?/));
  await assert.rejects(
    run(['solve', '--api-key', 'sk-secret-123', QUESTION]),
    (e: unknown) => usageError(/environment variables only.*RELAY_API_KEY/)(e) && !(e as Error).message.includes('sk-secret-123'),
  );
  const dir = mkdtempSync(join(cli.work, 'vscode-keys-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ 'relay.temperature': 0.2, relay: { slm: { variant: 'q4' } } }));
  const config = loadConfig(new Map(), { RELAY_HOME: dir });
  assert.equal(config.temperature, 0.2);
  assert.equal(config.slm.variant, 'q4');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ temprature: 0.2 }));
  assert.throws(() => loadConfig(new Map(), { RELAY_HOME: dir }), usageError(/unknown setting 'temprature'\. Did you mean 'temperature'\?/));
});

test('--template-folder: a file that is no tokenizer_config.json, a chat_template.jinja or an empty folder is a usage mistake (exit 2) said before anything opens', async () => {
  const env = { RELAY_HOME: cli.work, RELAY_CONFIG: noSettingsFile(cli.work) };
  const check = (templateFolder: string, provider = 'openai-completions') =>
    checkModelSettings(
      loadConfig(
        new Map([
          ['provider', provider],
          ['template-folder', templateFolder],
        ]),
        env,
      ),
    );
  const dir = join(cli.work, 'templates');
  mkdirSync(join(dir, 'empty'), { recursive: true });
  mkdirSync(join(dir, 'other'), { recursive: true });
  writeFileSync(join(dir, 'other', 'README.md'), 'no template here');
  writeFileSync(join(dir, 'notes.txt'), 'not JSON');
  writeFileSync(join(dir, 'chat_template.jinja'), '{{ messages[0].content }}');
  writeFileSync(join(dir, 'my_config.json'), JSON.stringify({ chat_template: '{{ messages[0].content }}' }));
  assert.throws(() => check(join(dir, 'notes.txt')), usageError(/notes\.txt is a file that is not a tokenizer_config\.json.*--template-folder/));
  assert.throws(() => check(join(dir, 'empty')), usageError(/empty is empty.*--template-folder/));
  assert.throws(() => check(join(dir, 'other')), usageError(/holds no tokenizer_config\.json.*--template-folder/));
  assert.throws(() => check(join(dir, 'chat_template.jinja')), usageError(/--template-folder names the template file .*pass the folder that holds it/));
  assert.throws(() => check(join(dir, 'missing')), usageError(/does not exist.*--template-folder/));
  // What loadChatTemplateRenderer takes: a model folder, its tokenizer_config.json, any JSON file of that form.
  check(cli.slmFolder);
  check(join(cli.slmFolder, 'tokenizer_config.json'));
  check(join(dir, 'my_config.json'));
  // onnx-local renders with its own template: the setting is not used, so not checked.
  check(join(dir, 'notes.txt'), 'onnx-local');
  // The command refuses it before the SLM opens or the server is called (nothing listens on port 1).
  await assert.rejects(
    run([
      'provider',
      'test',
      '--provider',
      'openai-completions',
      '--base-url',
      'http://127.0.0.1:1/v1',
      '--model',
      'm',
      '--template-folder',
      join(dir, 'empty'),
    ]),
    usageError(/is empty/),
  );
});

/** Runs `check` while the demo LLM fails on its first call. */
async function withFailingDemoLlm(check: () => Promise<void>): Promise<void> {
  const original = OnnxLocalProvider.prototype.continue;
  OnnxLocalProvider.prototype.continue = async function* () {
    throw new ProviderError('bad_request', 'the demo LLM broke');
  };
  try {
    await check();
  } finally {
    OnnxLocalProvider.prototype.continue = original;
  }
}

test('relay demo: an answer that failed names its error on stderr when stdout is redirected, not only on stdout', async () => {
  await withFailingDemoLlm(async () => {
    const stdout = capture();
    const stderr = capture();
    const code = await runDemo({ stdout: stdout.out, stderr: stderr.out }, { json: false, signal: new AbortController().signal });
    assert.equal(code, 1);
    assert.match(stderr.text(), /relay: error \([^)]+\): .*the demo LLM broke/);
    // stdout is a file here (not a terminal): it keeps the answer and the stats, not a copy of the error.
    assert.doesNotMatch(stdout.text(), /the demo LLM broke/);
    assert.match(stdout.text(), /Reference: /);
  });
});

test('relay demo --json: an answer that failed carries error {code, message} in its JSON line (the words stderr says), and exits 1', async () => {
  await withFailingDemoLlm(async () => {
    const stdout = capture();
    const stderr = capture();
    const code = await runDemo({ stdout: stdout.out, stderr: stderr.out }, { json: true, signal: new AbortController().signal });
    assert.equal(code, 1, 'as without --json');
    const line = JSON.parse(stdout.text().trim().split('\n').pop() as string);
    assert.equal(line.finish_reason, 'error');
    assert.deepEqual(line.error, { code: 'bad_request', message: 'the demo LLM broke' });
    assert.ok(stderr.text().includes(`relay: error (${line.error.code}): ${line.error.message}\n`), stderr.text());
    // The demo's own keys are kept.
    assert.equal(line.demo, true);
    assert.equal(typeof line.reference, 'string');
    assert.doesNotMatch(stdout.text().slice(0, stdout.text().lastIndexOf('\n{')), /the demo LLM broke/, 'stdout holds the error in the JSON line only');
  });
});

test("relay eval: a ~ in a row's =<folder> and in the data file's path is the home folder", async () => {
  const seen: string[] = [];
  const [row] = parseModeSpecs('slm-only=~/models/slm', {}, (path) => (seen.push(path), true));
  assert.equal(row.slmFolder, join(homedir(), 'models', 'slm'));
  assert.deepEqual(seen, [join(homedir(), 'models', 'slm')]);
  assert.equal(parseModeSpecs('command=rel/slm', {}, () => true)[0].slmFolder, join(process.cwd(), 'rel', 'slm'), 'a relative folder: from the current folder');
  await assert.rejects(
    run(['eval', '~/relay-no-such-data.jsonl', '--slm', cli.slmFolder]),
    usageError(new RegExp(`cannot read ${join(homedir(), 'relay-no-such-data.jsonl').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`)),
  );
});
