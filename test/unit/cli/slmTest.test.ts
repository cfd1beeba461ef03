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
