// A model that needs more memory than is free: at load, ONNX Runtime's std::bad_alloc is not a
// corrupt file (re-downloading gigabytes would not help); at run time, its arena's "Failed to
// allocate memory" says so and its process is replaced (one left running aborted on the next
// answer); a process that dies again and again (the OOM killer, mid-answer) says what helps.
// Real ONNX Runtime loads (its create made to fail as a machine short of memory makes it) and
// real child processes (the fake worker).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DataType, OnnxGraphBuilder } from '../../fixtures/onnx/onnxBuilder';
import { ModelFolderError } from '../../../src/core/slm/modelFolder';
import { loadDecoderSession, type DecoderSessionOptions } from '../../../src/core/slm/onnx/decoderSession';
import { loadOnnxRuntime } from '../../../src/core/slm/onnx/onnxRuntimeLoader';
import { createProcessRuntime, SlmProcessError, type ProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import { serializeError } from '../../../src/core/slm/onnx/worker/workerServer';
import { CRASH_PROMPT, ORT_OUT_OF_MEMORY } from './fakeWorker';
import { useFakeWorker, within } from './fakeWorkerSetup';

const runtimes: ProcessRuntime[] = [];
// Before the fake worker's own clean-up (hooks run in the order they are set): the runtimes close first.
after(async () => {
  for (const rt of runtimes) await rt.dispose().catch(() => undefined);
});
const fake = useFakeWorker('relay-slm-oom-');
const scratch = mkdtempSync(join(tmpdir(), 'relay-oom-model-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A small decoder the loader accepts and rewrites (logits = MatMul(Gather(embed, input_ids), lm_head); one KV layer passed through). */
function writeDecoder(): string {
  mkdirSync(join(scratch, 'onnx'), { recursive: true });
  const onnxFile = join(scratch, 'onnx', 'model.onnx');
  const g = new OnnxGraphBuilder();
  g.input('input_ids', DataType.INT64, [1, 'n']);
  g.input('past_key_values.0.key', DataType.FLOAT, [1, 1, 'p', 2]);
  g.input('past_key_values.0.value', DataType.FLOAT, [1, 1, 'p', 2]);
  const embed = g.float('embed', [8, 8], new Float32Array(64));
  const lmHead = g.float('lm_head', [8, 8], new Float32Array(64));
  g.op('MatMul', [g.op('Gather', [embed, 'input_ids'], { axis: 0 }), lmHead], {}, { outputs: ['logits'] });
  g.output('logits', DataType.FLOAT, [1, 'n', 8]);
  g.output('present.0.key', DataType.FLOAT, [1, 1, 'p', 2], 'past_key_values.0.key');
  g.output('present.0.value', DataType.FLOAT, [1, 1, 'p', 2], 'past_key_values.0.value');
  g.write(onnxFile);
  return onnxFile;
}

/**
 * Loads `onnxFile` while ONNX Runtime's InferenceSession.create fails with `message` (as it does
 * on a machine short of memory): the error, and what each try loaded (the file's path, or bytes of
 * a rewritten graph).
 */
async function loadWhileCreateFails(onnxFile: string, message: string, options: DecoderSessionOptions): Promise<{ error: unknown; tries: string[] }> {
  const ort = await loadOnnxRuntime();
  const create = ort.InferenceSession.create;
  const tries: string[] = [];
  ort.InferenceSession.create = (async (from: unknown) => {
    tries.push(typeof from === 'string' ? 'path' : 'bytes');
    throw new Error(message);
  }) as typeof create;
  try {
    await loadDecoderSession(onnxFile, { kvHeads: 1, headDim: 2 }, options);
  } catch (error) {
    return { error, tries };
  } finally {
    ort.InferenceSession.create = create;
  }
  assert.fail('the load was expected to fail');
}

describe('a load that runs out of memory', () => {
  // As-is (loaded from the path) and rewritten (loaded from bytes, then again from the path).
  const ways: [string, DecoderSessionOptions, string[]][] = [
    ['the file as it is', { lastPositionLogits: false, kvOutputs: 'whole-cache' }, ['path']],
    ['a rewritten graph, then the file as it is', {}, ['bytes', 'path']],
  ];
  for (const [way, options, expectedTries] of ways) {
    test(`std::bad_alloc (${way}): the model needs more memory than is free, pick a smaller one; not "corrupt, download it again"`, async () => {
      const onnxFile = writeDecoder();
      const { error, tries } = await loadWhileCreateFails(onnxFile, 'Exception during initialization: std::bad_alloc', options);
      assert.deepEqual(tries, expectedTries);
      assert.ok(error instanceof Error, String(error));
      assert.equal(error.name, 'OutOfMemoryError');
      assert.equal(
        error.message,
        `${onnxFile}: ONNX Runtime could not load it: the model needs more memory than is free (std::bad_alloc). ` +
          'Its files are not at fault, so downloading it again will not help: pick a smaller model or variant, or close other programs to free memory.',
      );
      assert.equal((error as { fix?: unknown }).fix, 'pick-model');
      // It crosses the process as it is (the client shows it and the Select Model button).
      assert.deepEqual(serializeError(error, 'load'), { name: 'OutOfMemoryError', message: error.message, fix: 'pick-model' });
    });
  }

  test('any other failure of ONNX Runtime to load the file is still a file it cannot read (download it again)', async () => {
    const onnxFile = writeDecoder();
    const { error } = await loadWhileCreateFails(onnxFile, 'Load model from x failed: Protobuf parsing failed.', { kvOutputs: 'whole-cache' });
    assert.ok(error instanceof ModelFolderError, String(error));
    assert.match(
      error.message,
      /could not load it \(Load model from x failed: Protobuf parsing failed\.\)\. The file may be truncated or corrupt; download it again\.$/,
    );
  });
});

describe('a run that runs out of memory', () => {
  test("the worker sends ONNX Runtime's arena failure as running out of memory, with what helps (less text, a smaller model)", () => {
    assert.deepEqual(serializeError(new Error(ORT_OUT_OF_MEMORY)), {
      name: 'OutOfMemoryError',
      message:
        'The model ran out of memory (Failed to allocate memory for requested buffer of size 4194304): it needs more than is free for this much text. ' +
        'Send less text, or pick a smaller model or variant.',
      fix: 'pick-model',
    });
    // A failure during a load that is not ONNX Runtime's session (Node's own allocation): a load's words.
    assert.match(
      serializeError(new RangeError('Array buffer allocation failed'), 'load').message,
      /^The model needs more memory than is free \(Array buffer allocation failed\)/,
    );
    // Advice that mentions memory is not a failure to allocate (it would restart the process).
    const advice = new Error('The server did not answer: the model may be stuck or out of memory; restart the server.');
    assert.deepEqual(serializeError(advice), { name: 'Error', message: advice.message });
  });

  test('the call says so with the pick-model fix, and the process is replaced: the next call starts a fresh one', async () => {
    const rt = await createProcessRuntime(fake.modelFolder('oom-prefill'), { workerPath: fake.worker });
    runtimes.push(rt);
    const pid = rt.pid;
    const session = await rt.createSession();
    await assert.rejects(within(session.prefill('a long prompt'), 'the prefill'), (e: unknown) => {
      assert.equal((e as Error).name, 'OutOfMemoryError');
      assert.match((e as Error).message, /^The model ran out of memory \(Failed to allocate memory for requested buffer of size 4194304\)/);
      assert.equal((e as { fix?: unknown }).fix, 'pick-model');
      return true;
    });
    assert.equal(rt.running, false, 'the process that ran out of memory is not used again');
    await within(rt.createSession(), 'the next session');
    assert.notEqual(rt.pid, pid);
    assert.equal(rt.starts, 2);
  });

  test("the large model's process (onnx-local): its fix is its setting, not Select Model (which picks the small model)", async () => {
    const rt = await createProcessRuntime(fake.modelFolder('oom-prefill'), { workerPath: fake.worker, role: 'llm' });
    runtimes.push(rt);
    const session = await rt.createSession();
    await assert.rejects(within(session.prefill('a long prompt'), 'the prefill'), (e: unknown) => {
      assert.equal((e as Error).name, 'OutOfMemoryError');
      assert.equal((e as { fix?: unknown }).fix, 'open-settings');
      return true;
    });
  });
});

describe('a process that dies again and again', { skip: process.platform === 'win32' && 'POSIX signals' }, () => {
  /** The error of a prefill of `text` in a new session (a new process where the last one died). */
  async function prefillError(rt: ProcessRuntime, text: string): Promise<SlmProcessError> {
    const session = await within(rt.createSession(), 'the session');
    try {
      await within(session.prefill(text), 'the prefill');
    } catch (error) {
      assert.ok(error instanceof SlmProcessError, String(error));
      return error;
    }
    assert.fail('the prefill was expected to fail');
  }

  test('once: ask again; from the second death in a row: it says so, names memory and the pick-model fix (and still restarts)', async () => {
    const rt = await createProcessRuntime(fake.modelFolder('crash-prefill'), { workerPath: fake.worker });
    runtimes.push(rt);
    const [first, second, third] = [await prefillError(rt, 'hi'), await prefillError(rt, 'hi'), await prefillError(rt, 'hi')];
    assert.match(
      first.message,
      /^The small model's process was killed by SIGKILL; 1 pending call failed, .* What was written is kept; ask again \(or Retry\) and a new process starts\.$/,
    );
    assert.equal(first.fix, undefined);
    assert.match(second.message, /^The small model's process was killed by SIGKILL, 2 times in a row; /);
    assert.equal(
      third.message,
      "The small model's process was killed by SIGKILL, 3 times in a row; 1 pending call failed, and what it held in memory (its KV caches) is gone. " +
        'A process that keeps ending like this most likely runs out of memory (the system stops it): pick another model ("Relay: Select Model") that needs less memory, ' +
        'or send less text. What was written is kept.',
    );
    assert.equal(third.fix, 'pick-model');
    assert.equal(rt.starts, 3, 'each death was followed by a new process');
  });

  test("a call on a session of the process that died keeps what helps: from the second death in a row, the pick-model fix (the large model's: its setting)", async () => {
    for (const [role, fix] of [
      ['slm', 'pick-model'],
      ['llm', 'open-settings'],
    ] as const) {
      const rt = await createProcessRuntime(fake.modelFolder(`crash-generate-${role}`), { workerPath: fake.worker, role });
      runtimes.push(rt);
      /** A session whose answer dies mid-generation, and a session of the same process that was idle meanwhile (another answer of `relay eval --concurrency`). */
      const dieWhileWriting = async (): Promise<{ died: SlmProcessError; idle: Awaited<ReturnType<ProcessRuntime['createSession']>> }> => {
        const writing = await within(rt.createSession(), 'the session');
        const idle = await within(rt.createSession(), 'the idle session');
        await within(writing.prefill('hi'), 'the prefill');
        const died = await within(writing.generate({ maxTokens: 4 }), 'the answer').then(
          () => assert.fail('the answer was expected to die with its process'),
          (error: unknown) => error,
        );
        assert.ok(died instanceof SlmProcessError, String(died));
        return { died, idle };
      };
      const once = await dieWhileWriting();
      await assert.rejects(within(once.idle.append(' more'), 'the append on the dead session'), (e: unknown) => {
        assert.ok(e instanceof SlmProcessError, String(e));
        assert.match(e.message, / was killed by SIGKILL while this answer was written \(session \S+ belonged to it\)\. What was written is kept; ask again/);
        assert.equal(e.fix, undefined, 'once: asking again is the fix');
        return true;
      });
      const twice = await dieWhileWriting();
      assert.equal(twice.died.fix, fix);
      const calls: [string, () => Promise<unknown>][] = [
        ['append', () => twice.idle.append(' more')],
        ['generate', () => twice.idle.generate({ maxTokens: 4 })],
      ];
      for (const [call, calling] of calls) {
        await assert.rejects(within(calling(), `the ${call} on the dead session`), (e: unknown) => {
          assert.ok(e instanceof SlmProcessError, String(e));
          assert.match(
            e.message,
            / was killed by SIGKILL, 2 times in a row, while this answer was written \(session \S+ belonged to it\)\. A process that keeps ending like this most likely runs out of memory /,
          );
          assert.equal(e.fix, fix, `the ${call} keeps the fix of the deaths in a row`);
          return true;
        });
      }
    }
  });

  test('an answer written between two deaths starts the count again: the next death is a first one', async () => {
    const rt = await createProcessRuntime(fake.modelFolder('answers-crash-when-asked'), { workerPath: fake.worker });
    runtimes.push(rt);
    assert.doesNotMatch((await prefillError(rt, CRASH_PROMPT)).message, /in a row/);
    const session = await within(rt.createSession(), 'the session');
    await within(session.prefill('a short prompt'), 'the prefill');
    await within(session.generate({ maxTokens: 4 }), 'the answer');
    const next = await prefillError(rt, CRASH_PROMPT);
    assert.doesNotMatch(next.message, /in a row/);
    assert.match(next.message, /ask again \(or Retry\) and a new process starts\.$/);
  });
});
