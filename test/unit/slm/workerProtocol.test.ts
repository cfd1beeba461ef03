// Messages from the SLM process are checked, not trusted (it runs what a model folder brings): one
// outside the protocol (a failure without its error, a result of the wrong shape) must not throw
// in the host or leave the call waiting for ever, even after Stop. The process is stopped, its
// calls fail saying why, and the next call starts a new one. Real child processes (the fake worker).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createProcessRuntime, SlmProcessError, type ProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import { resultProblem, workerMessageProblem } from '../../../src/core/slm/onnx/worker/protocol';
import { useFakeWorker, within } from './fakeWorkerSetup';

const runtimes: ProcessRuntime[] = [];
// Before the fake worker's own clean-up (hooks run in the order they are set): the runtimes close first.
after(async () => {
  for (const rt of runtimes) await rt.dispose().catch(() => undefined);
});
const fake = useFakeWorker('relay-slm-protocol-');

/** Errors thrown in this process outside any call (a message handler that throws) while `work` runs. */
async function uncaughtDuring(work: () => Promise<void>): Promise<unknown[]> {
  const uncaught: unknown[] = [];
  const hear = (error: unknown): void => void uncaught.push(error);
  process.on('uncaughtException', hear);
  try {
    await work();
  } finally {
    process.off('uncaughtException', hear);
  }
  return uncaught;
}

async function model(name: string): Promise<ProcessRuntime> {
  const rt = await createProcessRuntime(fake.modelFolder(name), { workerPath: fake.worker, cancelGraceMs: 200 });
  runtimes.push(rt);
  return rt;
}

/** The call rejects saying the process sent `problem` outside the protocol, and the next call runs in a new process. */
async function expectStoppedFor(rt: ProcessRuntime, call: Promise<unknown>, problem: string): Promise<void> {
  const pid = rt.pid;
  await assert.rejects(within(call, 'the call answered outside the protocol'), (e: unknown) => {
    assert.ok(e instanceof SlmProcessError, String(e));
    assert.ok(
      e.message.startsWith(`The small model's process sent a message outside the protocol (${problem}) and was stopped; 1 pending call failed`),
      e.message,
    );
    assert.match(e.message, /ask again \(or Retry\) and a new process starts\.$/);
    return true;
  });
  assert.equal(rt.running, false);
  await within(rt.createSession(), 'the next call');
  assert.notEqual(rt.pid, pid);
  assert.equal(rt.starts, 2);
}

describe('a message outside the protocol stops the process, and its calls fail saying so', () => {
  test('a failed response with no error (error: null), to a generation that is then stopped', async () => {
    const rt = await model('malformed-error');
    const session = await rt.createSession();
    await session.prefill('hi');
    const uncaught = await uncaughtDuring(async () => {
      const stop = new AbortController();
      const generating = session.generate({ maxTokens: 5 }, undefined, stop.signal);
      stop.abort();
      await expectStoppedFor(rt, generating, 'a failed response whose error has no name and message');
    });
    assert.deepEqual(uncaught, []);
  });

  test('a result of the wrong shape (a count that is a string)', async () => {
    const rt = await model('malformed-result');
    await expectStoppedFor(rt, rt.countTokens('hi'), 'a countTokens response whose result has the wrong shape');
  });
});

test('what counts as a message of the protocol, and as each method’s result', () => {
  const token = { id: 5, text: 'a', top1: 0.9, entropy: 0.1, margin: 0.8 };
  for (const message of [
    { type: 'response', id: 1, ok: true, result: 3 },
    { type: 'response', id: 1, ok: false, error: { name: 'Error', message: 'no', fix: 'retry' } },
    { type: 'token', id: 1, token },
    { type: 'progress', id: 1, progress: { done: 1, total: 2, reusedTokens: 0 } },
    { type: 'started', id: 1 },
    { type: 'served-request', request: { url: 'http://127.0.0.1:8080/v1/completions' } },
  ]) {
    assert.equal(workerMessageProblem(message), undefined, JSON.stringify(message));
  }
  const outside: [unknown, string][] = [
    [null, 'a message that is not an object'],
    [{ type: 'hello', id: 1 }, 'a message of unknown type "hello"'],
    [{ type: 'response', id: '1', ok: true, result: 3 }, 'a response message without a numeric id'],
    [{ type: 'response', id: 1, ok: false }, 'a failed response whose error has no name and message'],
    [{ type: 'response', id: 1, ok: false, error: { name: 'Error', message: 7 } }, 'a failed response whose error has no name and message'],
    [{ type: 'response', id: 1, result: 3 }, 'a response that is neither ok nor failed'],
    [{ type: 'token', id: 1, token: null }, 'a token message without a token'],
    [{ type: 'progress', id: 1, progress: { done: 1 } }, 'a progress message without its counts'],
    [{ type: 'served-request', request: {} }, 'a served-request without a URL'],
  ];
  for (const [message, problem] of outside) assert.equal(workerMessageProblem(message), problem, JSON.stringify(message));

  assert.equal(resultProblem('generate', { tokens: [token], text: 'a', stopReason: 'eos', contextLength: 2 }), undefined);
  assert.equal(
    resultProblem('generate', { tokens: [null], text: 'a', stopReason: 'eos', contextLength: 2 }),
    'a generate response whose result has the wrong shape',
  );
  assert.equal(resultProblem('createSession', { sessionId: 's1' }), undefined);
  assert.equal(resultProblem('createSession', {}), 'a createSession response whose result has the wrong shape');
  assert.equal(resultProblem('prefill', { tokenCount: -1 }), 'a prefill response whose result has the wrong shape');
  assert.equal(resultProblem('renderChat', 'user: hi'), undefined);
  assert.equal(resultProblem('renderChat', null), 'a renderChat response whose result has the wrong shape');
});
