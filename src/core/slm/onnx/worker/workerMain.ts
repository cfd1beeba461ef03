/**
 * Entry of the SLM child process (bundled to dist/slmWorker.js). It runs the ONNX
 * session away from the extension host, whose event loop a forward pass would block.
 */
import { isParentToWorkerMessage } from './protocol';
import { WorkerServer } from './workerServer';

if (!process.send) {
  console.error('slmWorker must be started with child_process.fork (it talks over the IPC channel).');
  process.exit(2);
}

const server = new WorkerServer(
  (message) => process.send?.(message),
  () => process.disconnect?.(),
);

process.on('message', (message: unknown) => {
  if (isParentToWorkerMessage(message)) server.handle(message);
});
// The parent is gone: nobody can use the model any more.
process.on('disconnect', () => process.exit(0));
