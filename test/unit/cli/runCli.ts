/**
 * Runs the CLI's main() in this process as a user's shell would, with its home in `home`
 * and no provider key from the environment, capturing what it writes; and a fake server for
 * the length of a test body.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before } from 'node:test';
import { solveMessages } from '../../../src/cli/commands/ask';
import { main } from '../../../src/cli/main';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { ensureScriptedModel } from '../../fixtures/fixtures';
import { sendJson, startFakeServer, type FakeServer, type Responder } from '../providers/servers/harness';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** An Output that keeps what is written (not a terminal). */
export function capture() {
  let text = '';
  return { out: { write: (t: string) => void (text += t), isTTY: false }, text: () => text };
}

/**
 * An empty config file in `folder`, for RELAY_CONFIG: the user's own settings stay out of a
 * test, and a RELAY_CONFIG naming a missing file would be refused.
 */
export function noSettingsFile(folder: string): string {
  const file = join(folder, 'no-settings.json');
  writeFileSync(file, '{}');
  return file;
}

const REPO = join(__dirname, '..', '..', '..');
/** The CLI's entry point, run by tsx. */
export const CLI = join(REPO, 'src', 'cli', 'main.ts');
/** tsx by its path: a child running in a temp folder would not find the package by name. */
export const TSX = pathToFileURL(join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

/** The provider keys a user's environment may hold, kept out of every test's CLI. */
const KEY_VARIABLES = ['RELAY_API_KEY', 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY'];

/**
 * The CLI in a process of its own (as a user runs it), with no provider key from this
 * environment (`env` may give one), ended if it runs past a minute; resolves with its exit code
 * and output. `stdin`: bytes piped in (else none: standard input is closed); `started`: sees the
 * process (to signal it).
 */
export async function spawnCli(
  args: string[],
  options: { env: Record<string, string>; cwd: string; stdin?: Uint8Array; started?: (child: ChildProcess) => void },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of KEY_VARIABLES) delete env[name];
  const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], {
    cwd: options.cwd,
    env: { ...env, ...options.env },
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  // A CLI that exits before reading it all (a usage mistake) closes the pipe: not this helper's failure.
  child.stdin?.on('error', () => undefined);
  if (options.stdin) child.stdin?.end(options.stdin);
  options.started?.(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => void (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const limit = setTimeout(() => child.kill('SIGKILL'), 60_000);
  try {
    const code = await new Promise<number | null>((resolve) => child.on('close', (exitCode) => resolve(exitCode)));
    return { code, stdout, stderr };
  } finally {
    clearTimeout(limit);
  }
}

/** `stdin`: the text piped in (undefined: standard input is a terminal). */
export async function runCli(
  args: string[],
  home: string,
  options: { signal?: AbortSignal; env?: Record<string, string>; stdin?: string } = {},
): Promise<CliRun> {
  const stdout = capture();
  const stderr = capture();
  const saved = { ...process.env };
  for (const name of KEY_VARIABLES) delete process.env[name];
  Object.assign(process.env, { RELAY_HOME: home, RELAY_CONFIG: noSettingsFile(home) }, options.env ?? {});
  try {
    const code = await main(args, { stdout: stdout.out, stderr: stderr.out, stdin: async () => options.stdin }, options.signal ?? new AbortController().signal);
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  } finally {
    process.env = saved;
  }
}

/** A fake server that lives as long as `body`. */
export async function withServer<T>(responder: Responder, body: (server: FakeServer) => Promise<T>): Promise<T> {
  const server = await startFakeServer(responder);
  try {
    return await body(server);
  } finally {
    await server.close();
  }
}

/**
 * A scripted SLM for the prompt `relay solve` / `relay eval` render for `question`: it writes
 * "Two plus three is", calls the LLM for one token (" five"), then ", so \\boxed{5}.".
 */
export async function scriptedSolveSlm(question: string): Promise<string> {
  const bootstrap = await ensureScriptedModel({ prompt: 'x', timeline: [{ text: ' y' }], endWithEos: true });
  const runtime = await createLocalRuntime(bootstrap);
  const prompt = await runtime.renderChat(solveMessages(question), { addGenerationPrompt: true });
  await runtime.dispose();
  return ensureScriptedModel({
    prompt,
    timeline: [{ text: 'Two plus three is' }, { text: '<call>1</call>' }, { text: ' five', source: 'external' }, { text: ', so \\boxed{5}.' }],
    endWithEos: true,
  });
}

/** The flags that run scriptedSolveSlm in command mode against an OpenAI-compatible completions server at `baseUrl`, greedily. */
export function scriptedSolveFlags(slmFolder: string, baseUrl: string): string[] {
  return ['--slm', slmFolder, '--mode', 'command', '--provider', 'openai-completions', '--base-url', baseUrl, '--model', 'Qwen/Qwen3-8B', '--temperature', '0'];
}

/** An LLM server's answer for a model it does not have (HTTP 400, OpenAI's words). */
export const MODEL_NOT_FOUND: Responder = (_request, res) =>
  sendJson(res, 400, { error: { message: 'The model `Qwen/Qwen3-8B` does not exist.', type: 'invalid_request_error' } });

/**
 * A CLI test file's set-up (before and after hooks of the file): a temp home, the scripted SLM
 * that answers `question` with the LLM's help, run() in that home, and the flags for an LLM at
 * a base URL (no money ceiling, totals in the home).
 */
export function scriptedSolveCli(prefix: string, question: string) {
  let work = '';
  let slmFolder = '';
  before(async () => {
    work = mkdtempSync(join(tmpdir(), prefix));
    slmFolder = await scriptedSolveSlm(question);
  });
  after(() => rmSync(work, { recursive: true, force: true }));
  return {
    /** The temp home. */
    get work(): string {
      return work;
    },
    /** The scripted SLM's folder. */
    get slmFolder(): string {
      return slmFolder;
    },
    run: (args: string[], options: { signal?: AbortSignal; env?: Record<string, string>; stdin?: string } = {}) => runCli(args, work, options),
    llmFlags: (baseUrl: string) => [...scriptedSolveFlags(slmFolder, baseUrl), '--max-cost-ratio', 'off', '--totals', join(work, 'totals.json')],
  };
}
