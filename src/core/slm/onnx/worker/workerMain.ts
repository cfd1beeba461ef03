/**
 * Entry of the SLM child process (bundled to dist/slmWorker.js). It runs the ONNX
 * session away from the extension host, whose event loop a forward pass would block.
 */
import { Worker } from 'node:worker_threads';
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

/** How often the watchdog thread looks whether the parent still runs. */
const PARENT_CHECK_MS = 1000;

/**
 * 'disconnect' reaches this process only between tasks of its event loop: inside a chat
 * template that loops (synchronous Jinja) it never would, and a parent killed outright
 * (SIGKILL) cannot stop it either. A thread of its own sees the parent go and ends this
 * process: on POSIX this process is handed to another parent, so its parent pid changes; on
 * Windows it keeps the old one, and signal 0 to it fails (ESRCH) once the parent is gone.
 */
function watchParent(): void {
  const source = `
    const { workerData } = require('node:worker_threads');
    const parentGone = () => {
      if (process.ppid !== workerData.ppid) return true;
      try {
        process.kill(workerData.ppid, 0);
        return false;
      } catch (error) {
        return error.code === 'ESRCH';
      }
    };
    setInterval(() => {
      if (parentGone()) process.kill(workerData.pid, 'SIGKILL');
    }, workerData.everyMs);
  `;
  // No execArgv: the thread needs none of the process's (tsx when run from source).
  const watchdog = new Worker(source, { eval: true, execArgv: [], workerData: { ppid: process.ppid, pid: process.pid, everyMs: PARENT_CHECK_MS } });
  // It never keeps the process alive by itself.
  watchdog.unref();
}

watchParent();
