/**
 * The SLM worker (the real WorkerServer, loading the real model) with one seam for the tests
 * of renders that wait behind a forward pass: a prefill whose text starts with `[hold N]` first
 * holds this process's event loop for N ms, as ONNX Runtime's run() does for a whole prefill
 * chunk (seconds on a slow CPU), then reads the rest of its text as the real worker does. What
 * comes meanwhile (a render) waits, as it does behind a real chunk.
 */
import { isParentToWorkerMessage } from '../../../src/core/slm/onnx/worker/protocol';
import { WorkerServer } from '../../../src/core/slm/onnx/worker/workerServer';

if (!process.send) {
  console.error('holdingWorker must be started with child_process.fork (it talks over the IPC channel).');
  process.exit(2);
}

const server = new WorkerServer(
  (message) => process.send?.(message),
  () => process.disconnect?.(),
);

/** Blocks this thread (its event loop) for `ms`, without spinning a core. */
function hold(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

process.on('message', (message: unknown) => {
  if (!isParentToWorkerMessage(message)) return;
  if (message.type === 'request' && message.method === 'prefill') {
    const held = /^\[hold (\d+)\]/.exec(message.params.text);
    if (held) {
      hold(Number(held[1]));
      server.handle({ ...message, params: { ...message.params, text: message.params.text.slice(held[0].length) } });
      return;
    }
  }
  server.handle(message);
});
process.on('disconnect', () => process.exit(0));
