/**
 * `relay slm test` against wire-form servers on 127.0.0.1 backed by the ONNX runtime: what
 * it reports for a server with log-probabilities, token ids and a prefix cache, for one
 * without them, and for no server at all.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, type CliConfig } from '../../../src/cli/config';
import { runSlmTest } from '../../../src/cli/slmTest';
import { clearTextSlmWarning } from '../../../src/cli/setup';
import { SERVED_CHECK_PROMPT } from '../../../src/core/slm/served/serverCheck';
import type { ServedSlmKind } from '../../../src/core/slm/types';
import { startServedSlmServer } from '../../fixtures/servedSlmServers';
import { disposeRuntimes, runtimeFor, scriptedSlm, type ScriptedSlm } from '../relay/realParts';

let slm: ScriptedSlm;
let home: string;

before(async () => {
  slm = await scriptedSlm([{ text: ' 1, 2, 3, 4, 5, 6, 7, 8, 9, 10' }]);
  home = mkdtempSync(join(tmpdir(), 'relay-slm-test-'));
});

after(async () => {
  await disposeRuntimes();
  rmSync(home, { recursive: true, force: true });
});

function config(kind: ServedSlmKind, url: string): CliConfig {
  const base = defaultConfig({ RELAY_HOME: home });
  return { ...base, slm: { ...base.slm, folder: slm.folder, kind, serverUrl: url, serverModel: 'relay-slm' } };
}

async function check(kind: ServedSlmKind, options: { logprobs?: boolean } = {}): Promise<{ ok: boolean; lines: string[] }> {
  const server = await startServedSlmServer(kind, await runtimeFor(slm.folder), options);
  try {
    const lines: string[] = [];
    const ok = await runSlmTest(config(kind, server.url), (line) => lines.push(line));
    return { ok, lines };
  } finally {
    await server.close();
  }
}

test('a completions server with log-probabilities and token ids: all said, with what its prefix cache served', async () => {
  const { ok, lines } = await check('completions-server');
  assert.ok(ok, lines.join('\n'));
  assert.ok(
    lines.some((l) => l.startsWith('Wrote: "') && l.endsWith('(8 tokens)')),
    lines.join('\n'),
  );
  assert.ok(lines.some((l) => /^Latency: first token \d+ ms, 8 tokens in \d+ ms$/.test(l)));
  assert.ok(lines.includes('Log-probabilities: yes (the confidence gate works: confidence and money-aware modes)'));
  assert.ok(lines.some((l) => l.startsWith('Tokens: exact')));
  // The second request is the first one's context and its 8 tokens, all evaluated before (the server caches what it generated too).
  const local = await runtimeFor(slm.folder);
  const second = (await local.countTokens(await local.renderChat(SERVED_CHECK_PROMPT, { addGenerationPrompt: true }))) + 8;
  assert.equal(
    lines.find((l) => l.startsWith('Prefix cache:')),
    `Prefix cache: ${second} of ${second} prompt tokens of the second request served from the cache`,
  );
});

test('Ollama without log-probabilities: command mode only, tokens as text, no cache report', async () => {
  const { ok, lines } = await check('ollama', { logprobs: false });
  assert.ok(ok, lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith('Log-probabilities: NO (command mode only')));
  assert.ok(lines.some((l) => l.startsWith('Tokens: as text')));
  assert.ok(lines.some((l) => l.startsWith('Prefix cache: not reported by the server')));
});

test('no server: FAILED with the setting to change; an ONNX SLM is not a server', async () => {
  const server = await startServedSlmServer('completions-server', await runtimeFor(slm.folder));
  await server.close();
  const lines: string[] = [];
  assert.equal(await runSlmTest(config('completions-server', server.url), (line) => lines.push(line)), false);
  assert.match(lines[lines.length - 1], /^FAILED: .*could not be reached \(connection refused\)\. Start the server, or fix relay\.slm\.serverUrl/);
  const onnx = { ...config('completions-server', server.url), slm: { ...config('completions-server', server.url).slm, kind: 'onnx' as const } };
  await assert.rejects(
    runSlmTest(onnx, () => undefined),
    /checks a small model on a server/,
  );
});

test('a server on another machine over plain http: one warning on stderr before the test prompt goes, naming it, with https and an SSH tunnel; none for this machine or https', async () => {
  // Stopped before it starts: nothing is sent (no address is looked up), and the warning still comes first.
  const stopped = new AbortController();
  stopped.abort();
  const warnings = async (url: string) => {
    const stderr: string[] = [];
    await runSlmTest(
      config('completions-server', url),
      () => undefined,
      stopped.signal,
      (line) => stderr.push(line),
    );
    return stderr.filter((line) => line.startsWith('warning:'));
  };
  assert.deepEqual(await warnings('http://gpu-box.lan:8000/v1'), [
    "warning: The small model's server gpu-box.lan:8000 is not on this machine and does not use https: every prompt, with your code, crosses the network unencrypted. " +
      'Serve it over https://, or reach it through an SSH tunnel (ssh -N -L 8000:127.0.0.1:8000 gpu-box.lan) at http://127.0.0.1:8000/v1.',
  ]);
  // Port 80: the tunnel's local end on a port that needs no root.
  assert.match((await warnings('http://gpu-box.lan/v1'))[0] ?? '', /\(ssh -N -L 8080:127\.0\.0\.1:80 gpu-box\.lan\) at http:\/\/127\.0\.0\.1:8080\/v1\.$/);
  for (const quiet of ['http://127.0.0.1:8000/v1', 'http://localhost:11434', 'http://[::1]:8000/v1', 'https://gpu-box.lan/v1'])
    assert.deepEqual(await warnings(quiet), [], quiet);
});

test("relay solve and relay eval with a served SLM warn the same way on stderr (the server set, else its kind's default); an ONNX SLM never", () => {
  assert.match(
    clearTextSlmWarning(config('ollama', 'http://gpu-box.lan:11434')) ?? '',
    /^relay: warning: The small model's server gpu-box\.lan:11434 is not on this machine/,
  );
  assert.equal(clearTextSlmWarning(config('ollama', '')), undefined, "Ollama's default is this machine");
  assert.equal(clearTextSlmWarning(config('completions-server', 'https://gpu-box.lan/v1')), undefined);
  const onnx = config('completions-server', 'http://gpu-box.lan:8000/v1');
  assert.equal(clearTextSlmWarning({ ...onnx, slm: { ...onnx.slm, kind: 'onnx' } }), undefined, 'no server is asked');
});
