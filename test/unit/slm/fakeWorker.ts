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
 * - otherwise answers the load at once.
 * It answers createSession, prefill and countTokens, never generate (a hung run: cancel is
 * ignored). Each start appends a line to `starts.log` beside the script.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** How long a prefill of the `slow-steps` model takes. */
export const SLOW_STEP_MS = 600;

const SOURCE = `'use strict';
const SLOW_STEP_MS = ${SLOW_STEP_MS};
const { appendFileSync } = require('node:fs');
const { join } = require('node:path');
appendFileSync(join(__dirname, 'starts.log'), process.pid + '\\n');
let folder = '';
const info = () => ({ info: { folder, modelType: 'fake', vocabSize: 1, eosTokenIds: [], hasChatTemplate: false, backend: { kind: 'onnx' } } });
process.on('message', (m) => {
  if (!m || m.type !== 'request') return;
  const ok = (result) => process.send({ type: 'response', id: m.id, ok: true, result });
  if (m.method === 'load') {
    folder = m.params.folder;
    if (folder.includes('hang-load')) return;
    if (folder.includes('crash-load')) return process.kill(process.pid, 'SIGSEGV');
    setTimeout(() => ok(info()), folder.includes('slow-load') ? 300 : 0);
  } else if (m.method === 'createSession') ok({ sessionId: 's1' });
  else if (m.method === 'prefill') {
    const answer = () => ok({ tokenCount: 1, reusedTokens: 0 });
    if (folder.includes('slow-steps')) setTimeout(answer, SLOW_STEP_MS);
    else answer();
  } else if (m.method === 'countTokens') ok(1);
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

/** How many times the fake worker at `path` was started. */
export function fakeWorkerStarts(path: string): number {
  return readFileSync(join(path, '..', 'starts.log'), 'utf8')
    .split('\n')
    .filter(Boolean).length;
}
