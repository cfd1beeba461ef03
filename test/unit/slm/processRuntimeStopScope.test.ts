// A Stop (or the silence ceiling, or an agreement stop's cut) ends one answer's calls; the
// SLM process it shares with other sessions goes on. Calls that carry no signal (an append of
// the LLM's text) are watched only for the stopped answer's session, and its process is
// stopped only once it says nothing at all for the grace: a long append that reads step after
// step, or one that waits behind another session's steps, is not taken for a hang (stopping
// the process would lose every kept KV cache and reload the model). Real child processes (the
// fake worker); HOLD_MS holds an append past the grace, and the 30 s bounds only tell "ends"
// from "hangs".
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createProcessRuntime, SlmProcessError, type ProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import { until, useFakeWorker, within } from './fakeWorkerSetup';

/** The grace of a stopped answer's calls: many of the fake worker's steps (STEP_MS). */
const CANCEL_GRACE_MS = 1000;
/** How long an append is held after the stop: past the grace, so that a process wrongly taken as hung is stopped before. */
const HOLD_MS = 2.5 * CANCEL_GRACE_MS;

const runtimes: ProcessRuntime[] = [];
// Before the fake worker's own clean-up (hooks run in the order they are set): the runtimes close first.
after(async () => {
  for (const rt of runtimes) await rt.dispose().catch(() => undefined);
});
const fake = useFakeWorker('relay-slm-stop-scope-');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A model of the fake worker in its process (its behaviour is chosen by the folder's name). */
async function model(name: string): Promise<{ rt: ProcessRuntime; folder: string }> {
  const folder = fake.modelFolder(name);
  const rt = await createProcessRuntime(folder, { workerPath: fake.worker, cancelGraceMs: CANCEL_GRACE_MS });
  runtimes.push(rt);
  return { rt, folder };
}

/** A call's outcome, held without an unhandled rejection until the test looks. */
interface Outcome<T> {
  done: Promise<{ value?: T; error?: unknown }>;
  settled: boolean;
}
function watch<T>(promise: Promise<T>): Outcome<T> {
  const outcome: Outcome<T> = { settled: false, done: undefined as never };
  outcome.done = promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  void outcome.done.finally(() => (outcome.settled = true));
  return outcome;
}

/**
 * Holds the fake worker's append past the grace after a stop, then lets it answer: it answers
 * whole, and the process is still the one with `pid` (not taken for hung and stopped).
 */
async function expectAnsweredAfterHold(rt: ProcessRuntime, pid: number | undefined, folder: string, appending: Outcome<unknown>): Promise<void> {
  await sleep(HOLD_MS);
  writeFileSync(join(folder, 'release-append'), '');
  const { value, error } = await within(appending.done, 'the released append');
  if (error !== undefined) throw error;
  assert.deepEqual(value, { tokenCount: 2000, recomputedTokens: 0 });
  assert.equal(rt.pid, pid, 'the process was not stopped');
}

/** A stopped answer's append to a process that says nothing: it fails, saying why, and the process was stopped. */
async function expectStoppedForSilence(rt: ProcessRuntime, appending: Outcome<unknown>, what: string): Promise<void> {
  const { error } = await within(appending.done, what);
  assert.ok(error instanceof SlmProcessError, String(error));
  assert.match(error.message, /said nothing for 1 s after a stop while its append call waited, and was stopped/);
  assert.equal(rt.running, false);
}

test("Stop of one answer while another answer's append is under way: the append ends, the process stays", async () => {
  const { rt, folder } = await model('endless-prefill-held-append-a');
  const pid = rt.pid;
  const a = await rt.createSession();
  const b = await rt.createSession();
  const stopA = new AbortController();
  const reading = a.prefill('a long prompt', { signal: stopA.signal });
  const appending = watch(b.append('the LLM text'));
  await until(() => existsSync(join(folder, 'append-pending')), "B's append arriving");
  stopA.abort();
  await assert.rejects(within(reading, "A's stopped prefill"), { name: 'AbortError' });
  await expectAnsweredAfterHold(rt, pid, folder, appending);
  assert.equal(rt.starts, 1);
});

test("an agreement stop (the cut of one session's generate signal) while another session's append is under way: no kill", async () => {
  const { rt, folder } = await model('answers-held-append-b');
  const pid = rt.pid;
  const a = await rt.createSession();
  const b = await rt.createSession();
  const call = new AbortController();
  await a.generate({ maxTokens: 1 }, undefined, call.signal);
  const appending = watch(b.append('the LLM text'));
  await until(() => existsSync(join(folder, 'append-pending')), "B's append arriving");
  call.abort(); // the engine closes the call once the SLM agrees
  await expectAnsweredAfterHold(rt, pid, folder, appending);
});

test("the stopped answer's own append that reads step after step is not taken for a hang", async () => {
  const { rt, folder } = await model('answers-held-append-stepping-append-c');
  const pid = rt.pid;
  const session = await rt.createSession();
  const stop = new AbortController();
  await session.generate({ maxTokens: 1 }, undefined, stop.signal);
  let steps = 0;
  const appending = watch(session.append('a long LLM text', { onProgress: () => (steps += 1) }));
  await until(() => existsSync(join(folder, 'append-pending')), 'the append arriving');
  stop.abort();
  await expectAnsweredAfterHold(rt, pid, folder, appending);
  assert.ok(steps > 0, 'its steps reached the caller');
});

test("the stopped answer's append waiting behind another session's steps is not taken for a hang; once the process says nothing, it is", async () => {
  const { rt, folder } = await model('answers-endless-prefill-held-append-d');
  const pid = rt.pid;
  const other = await rt.createSession();
  const stopOther = new AbortController();
  const reading = other.prefill('a long prompt', { signal: stopOther.signal });
  const session = await rt.createSession();
  const stop = new AbortController();
  await session.generate({ maxTokens: 1 }, undefined, stop.signal);
  const appending = watch(session.append('the LLM text'));
  await until(() => existsSync(join(folder, 'append-pending')), 'the append arriving');
  stop.abort();
  await sleep(HOLD_MS);
  assert.equal(appending.settled, false, 'the append still waits');
  assert.equal(rt.pid, pid, 'the process was not stopped while it read the other prompt');
  // The other session's reading ends: nothing more comes from the process, and the append never answers.
  stopOther.abort();
  await assert.rejects(within(reading, 'the other prefill'), { name: 'AbortError' });
  await expectStoppedForSilence(rt, appending, 'the append of a process that says nothing');
});

// Stop may land before a call given no signal is sent (during the engine's count before its
// append of the LLM's text): that call is watched from when it is sent, by the same rule.
test("a stopped answer's append sent after the stop that hangs: the process is stopped and the append fails", async () => {
  const { rt } = await model('answers-hang-append-e');
  const session = await rt.createSession();
  const stop = new AbortController();
  await session.generate({ maxTokens: 1 }, undefined, stop.signal);
  stop.abort();
  await expectStoppedForSilence(rt, watch(session.append('the LLM text')), 'an append sent after the stop to a process that says nothing');
});

test("a stopped answer's append sent after the stop that reads step after step is not taken for a hang", async () => {
  const { rt, folder } = await model('answers-held-append-stepping-append-f');
  const pid = rt.pid;
  const session = await rt.createSession();
  const stop = new AbortController();
  await session.generate({ maxTokens: 1 }, undefined, stop.signal);
  stop.abort();
  const appending = watch(session.append('a long LLM text'));
  await until(() => existsSync(join(folder, 'append-pending')), 'the append arriving');
  await expectAnsweredAfterHold(rt, pid, folder, appending);
});

test("after a Stop of one answer, another answer's append sent then is not watched", async () => {
  const { rt, folder } = await model('answers-held-append-g');
  const pid = rt.pid;
  const a = await rt.createSession();
  const b = await rt.createSession();
  const stopA = new AbortController();
  await a.generate({ maxTokens: 1 }, undefined, stopA.signal);
  await b.generate({ maxTokens: 1 }, undefined, new AbortController().signal);
  stopA.abort();
  const appending = watch(b.append('the LLM text'));
  await until(() => existsSync(join(folder, 'append-pending')), "B's append arriving");
  await expectAnsweredAfterHold(rt, pid, folder, appending);
});

test('a session whose call was cut (an agreement stop) and that is given a live signal again: its later append is not watched', async () => {
  const { rt, folder } = await model('answers-held-append-h');
  const pid = rt.pid;
  const session = await rt.createSession();
  const call = new AbortController();
  await session.generate({ maxTokens: 1 }, undefined, call.signal);
  call.abort(); // the engine closes the LLM call once the SLM agrees; the answer goes on
  await session.generate({ maxTokens: 1 }, undefined, new AbortController().signal);
  const appending = watch(session.append('the LLM text'));
  await until(() => existsSync(join(folder, 'append-pending')), 'the append arriving');
  await expectAnsweredAfterHold(rt, pid, folder, appending);
});

// The engine's order after an agreement stop: the answer's signal was given to its reading and
// turns, the LLM call's own signal to the agreement watch's look at the SLM's next token; the
// engine closes the call (aborts that signal), then appends the rest of the LLM's text. The
// answer goes on: a single long forward step there must not cost the process.
test("an agreement stop's cut (the call's signal, given after the answer's) then the answer's append: not watched, the process stays", async () => {
  const { rt, folder } = await model('answers-held-append-i');
  const pid = rt.pid;
  const session = await rt.createSession();
  const answer = new AbortController();
  await session.generate({ maxTokens: 1 }, undefined, answer.signal);
  const call = new AbortController();
  await session.generate({ maxTokens: 1 }, undefined, call.signal);
  call.abort(); // the engine closes the LLM call once the SLM agrees; the answer's signal stays live
  const appending = watch(session.append('the rest of the LLM text'));
  await until(() => existsSync(join(folder, 'append-pending')), 'the append arriving');
  await expectAnsweredAfterHold(rt, pid, folder, appending);
});

test("a Stop of an answer whose session was also given an LLM call's signal: its append that hangs stops the process", async () => {
  const { rt } = await model('answers-hang-append-j');
  const session = await rt.createSession();
  const answer = new AbortController();
  await session.generate({ maxTokens: 1 }, undefined, answer.signal);
  const call = new AbortController();
  answer.signal.addEventListener('abort', () => call.abort(), { once: true }); // as the engine's call follows its answer
  await session.generate({ maxTokens: 1 }, undefined, call.signal);
  answer.abort();
  await expectStoppedForSilence(rt, watch(session.append('the LLM text')), 'an append sent after the Stop to a process that says nothing');
});

// An LLM call that ends on its own leaves its signal live (the engine forgets it): a later Stop
// of the answer ends it for the session too, as it was given after the answer's.
test("a Stop after an LLM call whose signal was left live: the answer's append that hangs stops the process", async () => {
  const { rt } = await model('answers-hang-append-k');
  const session = await rt.createSession();
  const answer = new AbortController();
  await session.generate({ maxTokens: 1 }, undefined, answer.signal);
  await session.generate({ maxTokens: 1 }, undefined, new AbortController().signal); // never aborted
  answer.abort();
  await expectStoppedForSilence(rt, watch(session.append('the LLM text')), 'an append sent after the Stop to a process that says nothing');
});

test("an agreement stop's cut while a count is under way (another answer's, under eval --concurrency): no kill", async () => {
  const { rt, folder } = await model('answers-held-count-l');
  const pid = rt.pid;
  const a = await rt.createSession();
  await a.generate({ maxTokens: 1 }, undefined, new AbortController().signal);
  const call = new AbortController();
  await a.generate({ maxTokens: 1 }, undefined, call.signal);
  const counting = watch(rt.countTokens("the other answer's text"));
  await until(() => existsSync(join(folder, 'count-pending')), 'the count arriving');
  call.abort(); // A's answer goes on
  await sleep(HOLD_MS);
  writeFileSync(join(folder, 'release-count'), '');
  const { value, error } = await within(counting.done, 'the released count');
  assert.equal(error, undefined);
  assert.equal(value, 1);
  assert.equal(rt.pid, pid, 'the process was not stopped');
});
