/**
 * A stand-in for the SLM worker (the same IPC protocol, no model) for the failures the real
 * one cannot be made to show on demand: a native run that never returns, a load that hangs
 * or crashes the process, a shutdown that is never answered. What it does is chosen by the
 * model folder's name it is asked to load:
 * - `hang-load`: never answers the load;
 * - `crash-load`: the process dies by SIGSEGV on the load (a native crash);
 * - `slow-load`: answers the load after 300 ms;
 * - `deaf`: never answers shutdown (as a process stuck in a run);
 * - `slow-steps`: answers each prefill after SLOW_STEP_MS, a cancel or not (one long chunk);
 * - `hang-reload`: answers the first load of the folder, never a later one (a process started
 *   again after a crash, reloading a large model);
 * - `crash-generate`: generate streams CRASH_TOKEN (thinking, then a command left open), then
 *   the process dies by SIGKILL (the OOM killer mid-answer);
 * - `answers`: generate writes ANSWER_TOKEN and ends (end of sequence);
 * - `hands-off`: generate writes HANDOFF_TOKEN (a command asking the LLM for 8 tokens) and
 *   stops at its close (stop_string), as command mode asks; append reads text;
 * - `hang-append` (with `hands-off`): append never returns (a forward pass over the LLM's text
 *   that hangs natively); its arrival writes `append-pending` in the model folder;
 * - `crash-prefill`: the process dies by SIGKILL on a prefill;
 * - `crash-when-asked`: the process dies by SIGKILL on a prefill of the text CRASH_PROMPT, and
 *   reads any other (with `answers`, a model that runs out of memory on a long prompt only);
 * - `oom-prefill`: a prefill fails as the real worker's does when ONNX Runtime cannot allocate
 *   (OOM_ERROR: ORT_OUT_OF_MEMORY as the real worker sends it), the process going on;
 * - `malformed-error`: countTokens and generate are answered as failed with no error (error: null),
 *   outside the protocol;
 * - `malformed-result`: countTokens is answered with a string, not a count;
 * - `endless-prefill`: a prefill reads until it is cancelled (a very long prompt on a slow CPU),
 *   saying so every STEP_MS as the real worker does after each chunk, then fails as the real
 *   worker's does (AbortError);
 * - `held-append`: append writes `append-pending` in the model folder on arrival and answers
 *   once the test writes `release-append` there (a long LLM text, or one that waits behind
 *   another session's steps); it says nothing meanwhile, unless with `stepping-append`: then it
 *   reports a step read every STEP_MS, as the real worker does for a text longer than one step;
 * - `held-count`: countTokens writes `count-pending` in the model folder on arrival and answers
 *   once the test writes `release-count` there, saying nothing meanwhile;
 * - `hang-count`: a count of a text that holds HANG_COUNT_TEXT writes `count-pending` in the
 *   model folder and never answers (a tokenizer whose regex backtracks for ever on it); its info
 *   says a context window (CONTEXT_WINDOW), so the engine counts the prompt before it opens a
 *   session;
 * - `hang-calibration`: a count of CALIBRATION_TEXT (the token ratios' sample, tokenCalibration.ts)
 *   writes `count-pending` in the model folder and never answers; it counts any other text;
 * - `hang-session`: createSession writes `session-pending` in the model folder and never answers;
 * - `hang-render`: renderChat never answers (a chat template that loops);
 * - `keeps-caches`: its info says it keeps KV caches across sessions (a read-ahead reads into it);
 * - otherwise answers the load at once.
 * It answers createSession (a new session id each time), prefill, countTokens and renderChat,
 * never generate but as above (a hung run: cancel is ignored), never renderTemplate. Each start
 * appends a line to `starts.log` beside the script.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CALIBRATION_TEXT } from '../../../src/core/relay/tokenCalibration';
import { serializeError } from '../../../src/core/slm/onnx/worker/workerServer';

/** How long a prefill of the `slow-steps` model takes. */
export const SLOW_STEP_MS = 600;

/** How often an `endless-prefill` or `stepping-append` model says it read a step. */
export const STEP_MS = 50;

/** What the `answers` model writes. */
export const ANSWER_TOKEN = '5';

/** What the `hands-off` model writes: text, then a command that hands off to the LLM. */
export const HANDOFF_TOKEN = 'Hello <call>8</call>';

/** What the `crash-generate` model writes before its process dies. */
export const CRASH_TOKEN = '<think>hmm</think>Hello <call>1';

/** What the `crash-when-asked` model dies on. */
export const CRASH_PROMPT = 'crash';

/** What the `hang-count` model never finishes counting. */
export const HANG_COUNT_TEXT = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!';

/** The context window the `hang-count` model's info says. */
export const CONTEXT_WINDOW = 4096;

/** ONNX Runtime's error when its arena cannot allocate a run's buffer (onnxruntime-node 1.x, as seen in a process limited by prlimit --as). */
export const ORT_OUT_OF_MEMORY =
  '/onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:376 void* onnxruntime::BFCArena::AllocateRawInternal(size_t, bool, onnxruntime::Stream*, bool, onnxruntime::WaitNotificationFn) Failed to allocate memory for requested buffer of size 4194304';

/** What the real worker sends for it (serializeError). */
const OOM_ERROR = serializeError(new Error(ORT_OUT_OF_MEMORY));

const SOURCE = `'use strict';
const SLOW_STEP_MS = ${SLOW_STEP_MS};
const STEP_MS = ${STEP_MS};
const CRASH_TOKEN = ${JSON.stringify(CRASH_TOKEN)};
const ANSWER_TOKEN = ${JSON.stringify(ANSWER_TOKEN)};
const HANDOFF_TOKEN = ${JSON.stringify(HANDOFF_TOKEN)};
const CRASH_PROMPT = ${JSON.stringify(CRASH_PROMPT)};
const HANG_COUNT_TEXT = ${JSON.stringify(HANG_COUNT_TEXT)};
const CONTEXT_WINDOW = ${CONTEXT_WINDOW};
const CALIBRATION_TEXT = ${JSON.stringify(CALIBRATION_TEXT)};
const OOM_ERROR = ${JSON.stringify(OOM_ERROR)};
const { appendFileSync, existsSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
appendFileSync(join(__dirname, 'starts.log'), process.pid + '\\n');
let folder = '';
const info = () => ({
  info: {
    folder,
    modelType: 'fake',
    vocabSize: 1,
    eosTokenIds: [],
    hasChatTemplate: false,
    ...(folder.includes('hang-count') ? { contextWindow: CONTEXT_WINDOW } : {}),
    backend: { kind: 'onnx', ...(folder.includes('keeps-caches') ? { keepsKvCaches: true } : {}) },
  },
});
/** Writes \`name\` in the model folder: the test sees a call arrive. */
const arrived = (name) => writeFileSync(join(folder, name), '');
/** The endless prefills under way: their step timers by id. */
const reading = new Map();
/** Says a step of call id was read every STEP_MS; returns the timer. */
const stepping = (id) => {
  let done = 0;
  return setInterval(() => process.send({ type: 'progress', id, progress: { done: ++done, total: 1e9, reusedTokens: 0 } }), STEP_MS);
};
process.on('message', (m) => {
  if (m && m.type === 'cancel' && reading.has(m.id)) {
    clearInterval(reading.get(m.id));
    reading.delete(m.id);
    const error = { name: 'AbortError', message: 'The prompt was not read to the end: cancelled.' };
    return process.send({ type: 'response', id: m.id, ok: false, error });
  }
  if (!m || m.type !== 'request') return;
  const ok = (result) => process.send({ type: 'response', id: m.id, ok: true, result });
  const malformed = () => process.send({ type: 'response', id: m.id, ok: false, error: null });
  if (m.method === 'load') {
    folder = m.params.folder;
    if (folder.includes('hang-load')) return;
    if (folder.includes('crash-load')) return process.kill(process.pid, 'SIGSEGV');
    if (folder.includes('hang-reload')) {
      const loadedOnce = join(folder, 'loaded-once');
      if (existsSync(loadedOnce)) return;
      writeFileSync(loadedOnce, '');
    }
    setTimeout(() => ok(info()), folder.includes('slow-load') ? 300 : 0);
  } else if (m.method === 'createSession' && folder.includes('hang-session')) arrived('session-pending');
  else if (m.method === 'createSession') ok({ sessionId: 's' + m.id });
  else if (m.method === 'prefill') {
    const answer = () => ok({ tokenCount: 1, reusedTokens: 0 });
    if (folder.includes('slow-steps')) setTimeout(answer, SLOW_STEP_MS);
    else if (folder.includes('crash-prefill')) process.kill(process.pid, 'SIGKILL');
    else if (folder.includes('crash-when-asked') && m.params.text === CRASH_PROMPT) process.kill(process.pid, 'SIGKILL');
    else if (folder.includes('oom-prefill')) process.send({ type: 'response', id: m.id, ok: false, error: OOM_ERROR });
    else if (folder.includes('endless-prefill')) reading.set(m.id, stepping(m.id));
    else answer();
  } else if (m.method === 'countTokens' && folder.includes('held-count')) {
    writeFileSync(join(folder, 'count-pending'), '');
    const held = setInterval(() => {
      if (!existsSync(join(folder, 'release-count'))) return;
      clearInterval(held);
      ok(1);
    }, 20);
  } else if (m.method === 'countTokens' && folder.includes('hang-count') && m.params.text.includes(HANG_COUNT_TEXT)) arrived('count-pending');
  else if (m.method === 'countTokens' && folder.includes('hang-calibration') && m.params.text === CALIBRATION_TEXT) arrived('count-pending');
  else if (m.method === 'countTokens' && folder.includes('malformed-error')) malformed();
  else if (m.method === 'countTokens' && folder.includes('malformed-result')) ok('many');
  else if (m.method === 'countTokens') ok(1);
  else if (m.method === 'renderChat' && folder.includes('hang-render')) return;
  else if (m.method === 'renderChat') ok(m.params.messages.map((x) => x.role + ': ' + x.content).join('\\n') + '\\nassistant: ');
  else if (m.method === 'generate' && folder.includes('malformed-error')) malformed();
  else if (m.method === 'generate' && folder.includes('answers')) {
    const token = { id: 5, text: ANSWER_TOKEN, logprob: -0.1, top1: 0.9 };
    process.send({ type: 'token', id: m.id, token });
    ok({ tokens: [token], text: ANSWER_TOKEN, stopReason: 'eos', contextLength: 2 });
  } else if (m.method === 'generate' && folder.includes('hands-off')) {
    const token = { id: 7, text: HANDOFF_TOKEN, logprob: -0.1, top1: 0.9 };
    process.send({ type: 'token', id: m.id, token });
    ok({ tokens: [token], text: HANDOFF_TOKEN, stopReason: 'stop_string', contextLength: 2 });
  } else if (m.method === 'append' && folder.includes('hang-append')) writeFileSync(join(folder, 'append-pending'), '');
  else if (m.method === 'append' && folder.includes('held-append')) {
    writeFileSync(join(folder, 'append-pending'), '');
    const steps = folder.includes('stepping-append') ? stepping(m.id) : undefined;
    const held = setInterval(() => {
      if (!existsSync(join(folder, 'release-append'))) return;
      clearInterval(held);
      clearInterval(steps);
      ok({ tokenCount: 2000, recomputedTokens: 0 });
    }, 20);
  }
  else if (m.method === 'append' && folder.includes('hands-off')) ok({ tokenCount: 1 });
  else if (m.method === 'generate' && folder.includes('crash-generate')) {
    process.send({ type: 'token', id: m.id, token: { id: 5, text: CRASH_TOKEN, logprob: -0.1, top1: 0.9 } });
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), 20);
  }
  else if (m.method === 'disposeSession') ok(null);
  else if (m.method === 'shutdown') {
    if (folder.includes('deaf')) return;
    ok(null);
    process.disconnect();
  }
  // generate: a run that never returns.
});
process.on('disconnect', () => process.exit(0));
`;

/** Writes the fake worker to `path` (a .js file: it runs without tsx); its starts are counted in starts.log beside it. */
export function writeFakeWorker(path: string): void {
  writeFileSync(path, SOURCE);
  writeFileSync(join(path, '..', 'starts.log'), '');
}

/** Kills every process the fake worker at `path` started (a failing test may leave one; its runtime's dispose() stops them otherwise). */
export function killFakeWorkers(path: string): void {
  for (const pid of readFileSync(join(path, '..', 'starts.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** How many times the fake worker at `path` was started. */
export function fakeWorkerStarts(path: string): number {
  return readFileSync(join(path, '..', 'starts.log'), 'utf8')
    .split('\n')
    .filter(Boolean).length;
}
