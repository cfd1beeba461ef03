/**
 * A model's load on stderr ("relay: loading the small model (Qwen3-0.6B)..." as it begins,
 * then "... 12 s" every 5 s while it lasts, nothing once loaded): with a real 0.6B-1.7B model
 * a load takes seconds to minutes, and nothing else is written meanwhile.
 */
import { Worker } from 'node:worker_threads';
import { modelLoadingText, type ModelLoad } from '../shared/modelLoading';
import { terminalSafe, type Output } from './render';

/** How often a load under way is said again, as a call's wait is (render.ts waitLines). */
const LOAD_LINE_EVERY_MS = 5000;

/** A load's line on stderr, in the words the answer view uses, as the CLI's other lines are written ("...", lower case). */
export function loadLine(load: ModelLoad, seconds?: number): string {
  // The folder's name is the user's, and may hold anything.
  const text = modelLoadingText({ ...load, name: terminalSafe(load.name) }, seconds);
  return `relay: ${text.replace('…', '...').replace(/^[LR]/, (first) => first.toLowerCase())}`;
}

/** Opens a model, saying so on stderr while it loads (setup.ts openSlm, CliDeps.openLocalLlm). */
export type LoadReporter = <T>(load: ModelLoad, open: () => Promise<T>) => Promise<T>;

/** A load that is not said (a caller that has nowhere to say it). */
export const unsaid: LoadReporter = (_load, open) => open();

/**
 * `open()`, its load said on `err`: the line at once, before the load begins, then its seconds
 * every `everyMs`. The load runs in this process, and ONNX Runtime builds its session
 * synchronously (the event loop stands still for nearly all of it), so the seconds are written
 * by a thread of their own straight to `err`'s file descriptor; an Output without one (a test's
 * capture) gets the first line only.
 */
export async function reportedLoad<T>(err: Output, load: ModelLoad, open: () => Promise<T>, { everyMs = LOAD_LINE_EVERY_MS } = {}): Promise<T> {
  err.write(`${loadLine(load)}\n`);
  const ticker = err.fd === undefined ? undefined : startTicker(err.fd, load, everyMs);
  try {
    return await open();
  } finally {
    // Ended before the load's outcome is used: nothing of it is written after.
    await ticker?.terminate();
  }
}

/** A thread that writes the load's seconds to `fd` every `everyMs`, whether or not this thread's event loop runs. */
function startTicker(fd: number, load: ModelLoad, everyMs: number): Worker | undefined {
  // The seconds follow the line as modelLoadingText writes them (the unit test holds them to loadLine).
  const source = `
    const { writeSync } = require('node:fs');
    const { workerData } = require('node:worker_threads');
    const timer = setInterval(() => {
      const seconds = Math.floor((Date.now() - workerData.started) / 1000);
      try {
        writeSync(workerData.fd, workerData.line + ' ' + seconds + ' s\\n');
      } catch (error) {
        // A full pipe loses a line; a reader gone (EPIPE) or a closed stderr ends them.
        if (error.code !== 'EAGAIN') clearInterval(timer);
      }
    }, workerData.everyMs);
  `;
  try {
    // No execArgv: the thread needs none of the process's (tsx when run from source).
    const ticker = new Worker(source, { eval: true, execArgv: [], workerData: { fd, line: loadLine(load), started: Date.now(), everyMs } });
    // It never keeps the process alive by itself, and its failure is only the seconds lost.
    ticker.unref();
    ticker.on('error', () => undefined);
    return ticker;
  } catch {
    // No thread to be had (a process limit): the load goes on, said by its first line alone.
    return undefined;
  }
}
