/**
 * The CLI's process at its edges: SIGTERM and SIGHUP stop an answer as Ctrl-C does (its calls
 * booked in the totals, exit 128 + the signal's number); a second signal waits for the totals'
 * write in progress; standard input in UTF-16 without a byte order mark is refused; with --json a
 * failure before the answer began still ends stdout with the JSON line. The demo SLM (real ONNX),
 * real processes and HTTP servers on 127.0.0.1.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signalExitCode, stopOnSignals, writesBeforeExit, WritesInFlight, type StopSignal } from '../../../src/cli/commandLine';
import { findDemoModels } from '../../../src/cli/demoModels';
import { summariseTotals, TotalsStore } from '../../../src/core/relay/totalsStore';
import { sendJson, type Responder } from '../providers/servers/harness';
import { openAiStream } from '../providers/servers/openai';
import { noSettingsFile, runCli, spawnCli, withServer } from './runCli';

const REPO = join(__dirname, '..', '..', '..');
const SLM = findDemoModels().slmFolder;
let work = '';
before(() => {
  work = mkdtempSync(join(tmpdir(), 'relay-stop-fail-early-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

/** An LLM-only answer from an OpenAI-compatible chat server at `baseUrl`, priced (so its cost is money, not unknown). */
const llmOnly = (baseUrl: string, slm = SLM) => [
  '--slm',
  slm,
  '--provider',
  'openai-chat',
  '--base-url',
  `${baseUrl}/v1`,
  '--model',
  'gpt-4o',
  '--mode',
  'llm-only',
  '--price-in',
  '2.5',
  '--price-out',
  '10',
];

/** A process's environment with its home (and totals) in a new folder of `work`, no settings file and a key. */
function freshHome(name: string): { home: string; env: Record<string, string> } {
  const home = mkdtempSync(join(work, `${name}-`));
  return { home, env: { RELAY_HOME: home, RELAY_CONFIG: noSettingsFile(home), RELAY_API_KEY: 'sk-test' } };
}

/**
 * A chat stream that goes on (a word every 50 ms, 600 at most, until the client goes away) and
 * calls `midway` once three words are out: the answer is then in the middle of its call.
 */
function slowChatStream(midway: () => void): Responder {
  return async (_request, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = { id: 'c', object: 'chat.completion.chunk', model: 'gpt-4o', choices: [{ index: 0, delta: { content: 'word ' }, finish_reason: null }] };
    for (let i = 0; i < 600 && !res.destroyed; i++) {
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
      if (i === 2) midway();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    res.end();
  };
}

const POSIX = { skip: process.platform === 'win32' && 'POSIX signals' };

for (const [signal, code, sender] of [
  ['SIGTERM', 143, 'timeout, kill, a cancelled CI job'],
  ['SIGHUP', 129, 'a closed terminal'],
] as const) {
  test(`${signal} (${sender}) during the LLM's stream ends the answer as cancelled, books its cost, exits ${code}`, POSIX, async () => {
    const { home, env } = freshHome(signal);
    let child: ChildProcess | undefined;
    const result = await withServer(
      slowChatStream(() => child?.kill(signal)),
      (server) => spawnCli(['solve', 'What is 2+2?', ...llmOnly(server.url)], { env, cwd: REPO, started: (c) => (child = c) }),
    );
    assert.equal(result.code, code, result.stderr);
    assert.match(result.stdout, /end: cancelled/);
    const totals = summariseTotals(await new TotalsStore(join(home, 'totals.json')).read());
    assert.equal(totals.answers, 1);
    assert.ok(totals.costUsd > 0, `the call made is paid for: ${JSON.stringify(totals)}`);
  });
}

test('the exit status after a stopping signal is 128 + its number', () => {
  const codes = Object.fromEntries((['SIGINT', 'SIGTERM', 'SIGHUP'] as StopSignal[]).map((s) => [s, signalExitCode(s)]));
  assert.deepEqual(codes, { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 });
});

/** stopOnSignals on an emitter standing for the process; `exited` resolves with the first exit status asked for. */
function stoppable(writes: WritesInFlight, waitMs: number) {
  const target = new EventEmitter();
  let stops = 0;
  const exits: number[] = [];
  let exited!: (code: number) => void;
  const firstExit = new Promise<number>((resolve) => (exited = resolve));
  const first = stopOnSignals(
    target,
    () => stops++,
    (code) => {
      exits.push(code);
      exited(code);
    },
    writes,
    waitMs,
  );
  return { target, first, exits, firstExit, stops: () => stops };
}

test('the first signal stops the work; a second one, with no totals write in progress, exits at once with its own status', () => {
  const { target, first, exits, stops } = stoppable(new WritesInFlight(), 60_000);
  target.emit('SIGTERM');
  assert.equal(stops(), 1);
  assert.equal(first(), 'SIGTERM');
  assert.deepEqual(exits, []);
  target.emit('SIGINT');
  assert.deepEqual(exits, [130]);
  assert.equal(stops(), 1);
});

test('a second Ctrl-C during the totals write waits for it, then exits; a write that never ends is waited on only so long', async () => {
  const writes = new WritesInFlight();
  const waiting = stoppable(writes, 60_000);
  let finish!: () => void;
  const write = writes.track(new Promise<void>((resolve) => (finish = resolve)));
  waiting.target.emit('SIGINT');
  waiting.target.emit('SIGINT');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(waiting.exits, [], 'not while the answer is being booked');
  finish();
  await write;
  assert.equal(await waiting.firstExit, 130);
  assert.ok(writes.idle);

  const hung = new WritesInFlight();
  hung.track(new Promise<void>(() => undefined));
  const bounded = stoppable(hung, 0);
  bounded.target.emit('SIGHUP');
  bounded.target.emit('SIGHUP');
  assert.equal(await bounded.firstExit, 129);
});

test("relay solve's write of the running totals is one the process waits for on a second Ctrl-C", async () => {
  const { home, env } = freshHome('tracked');
  const record = TotalsStore.prototype.record;
  const inFlightWhileRecording: boolean[] = [];
  TotalsStore.prototype.record = function (this: TotalsStore, ...args: Parameters<typeof record>) {
    const writing = record.apply(this, args);
    // The caller has taken the write by now (it tracks it as record() returns).
    queueMicrotask(() => inFlightWhileRecording.push(!writesBeforeExit.idle));
    return writing;
  };
  try {
    const result = await withServer(openAiStream({ pieces: ['4'], finishReason: 'stop' }), (server) =>
      runCli(['solve', 'What is 2+2?', ...llmOnly(server.url)], home, { env }),
    );
    assert.equal(result.code, 0, result.stderr);
  } finally {
    TotalsStore.prototype.record = record;
  }
  assert.deepEqual(inFlightWhileRecording, [true]);
  assert.ok(writesBeforeExit.idle, 'done once booked');
});

test('relay solve refuses UTF-16 without a byte order mark on standard input (NUL bytes beside its letters) before any call', POSIX, async () => {
  const { env } = freshHome('utf16');
  await withServer(openAiStream({ pieces: ['4'], finishReason: 'stop' }), async (server) => {
    const stdin = Buffer.from('What is 2+2?\n', 'utf16le');
    const result = await spawnCli(['solve', ...llmOnly(server.url)], { env, cwd: REPO, stdin });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /standard input is not UTF-8 text .*UTF-16.*Save it as UTF-8/);
    assert.equal(server.requests.length, 0);
  });
});

test('relay solve --json: a failure before the answer began (a chat template that raises) still ends stdout with the JSON line and its error', async () => {
  const { home, env } = freshHome('json-early');
  const slm = join(home, 'slm');
  cpSync(SLM, slm, { recursive: true });
  writeFileSync(join(slm, 'chat_template.jinja'), '{{ raise_exception("boom") }}');
  const refuse: Responder = (_request, res) => sendJson(res, 500, { error: { message: 'not expected' } });
  await withServer(refuse, async (server) => {
    const result = await runCli(['solve', 'What is 2+2?', '--json', ...llmOnly(server.url, slm)], home, { env });
    assert.equal(result.code, 1);
    const lines = result.stdout.trim().split('\n');
    const last = JSON.parse(lines[lines.length - 1]);
    assert.match(last.error.message, /boom/);
    assert.equal(typeof last.error.code, 'string');
    assert.equal(last.finish_reason, 'error');
    // The stable keys of the line, as for any answer: nothing ran, nothing spent, nothing saved.
    assert.deepEqual(
      [last.mode, last.slm_tokens, last.llm_tokens, last.calls, last.cost_usd, last.llm_only_cost_usd, last.saved_usd],
      ['llm-only', 0, 0, 0, 0, 0, 0],
    );
    assert.match(result.stderr, /relay: error \([^)]+\): .*boom/);
    assert.equal(server.requests.length, 0);
  });
});
