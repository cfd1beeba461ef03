// RelayService with the small model on a server (relay.slm.kind): the served runtime in
// the real SLM child process (dist/slmWorker.js, bundled here), a completions server on
// 127.0.0.1 backed by the project's ONNX runtime on the scripted folder, the LLM over
// HTTP to a server of its own. Only the VS Code API is a stand-in (vscodeStub.ts).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createExtensionContext, resetSettings, setSettings, useVscodeStub, type StubExtensionContext } from './vscodeStub';
useVscodeStub();
import type { RelayEvent } from '../../../src/core/relay/events';
import { createLocalRuntime, type LocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import type { ChatMessage } from '../../../src/core/slm/types';
import { buildRelayScript, FIRST_QUESTION, LLM_PIECES, type RelayScript } from '../../e2e/relayScript';
import { startServedSlmServer, type ServedSlmServer } from '../../fixtures/servedSlmServers';
import { startFakeServer, type FakeServer } from '../providers/servers/harness';
import { openAiStream, requireBearer } from '../providers/servers/openai';
import { bundleSlmWorker } from './slmWorkerBundle';
import { renderSentDocument } from '../../../src/extension/sentRequests';

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RelayService } = require('../../../src/extension/relayService') as typeof import('../../../src/extension/relayService');

const EXTENSION = join(__dirname, '..', '..', '..', '.cache', 'test-relay-service-served');
const KIND = 'openai-completions';
const LLM_MODEL = 'relay-unit-llm';
const SLM_MODEL = 'relay-slm';
const LLM_KEY = 'sk-relay-unit-served-llm-0000';
/** Stored for the SLM server's own origin: even so it must never be sent there. */
const KEY_AT_SLM_ORIGIN = 'sk-relay-unit-served-slm-1111';
const QUESTION: ChatMessage[] = [{ role: 'user', content: FIRST_QUESTION }];

let script: RelayScript;
let onnx: LocalRuntime;
let slmServer: ServedSlmServer;
let llmServer: FakeServer;
let ext: StubExtensionContext;
let service: InstanceType<typeof RelayService>;

before(async () => {
  await bundleSlmWorker(EXTENSION);
  script = await buildRelayScript();
  onnx = await createLocalRuntime(script.folder);
  slmServer = await startServedSlmServer('completions-server', onnx, { model: SLM_MODEL });
  llmServer = await startFakeServer(requireBearer(LLM_KEY, openAiStream({ pieces: LLM_PIECES, finishReason: 'length' })));
  ext = createExtensionContext(EXTENSION);
  service = new RelayService(ext.context, { onBusy: () => undefined, onAnswered: () => undefined });
  await service.keys.store(KIND, llmServer.url, LLM_KEY);
  await service.keys.store(KIND, new URL(slmServer.url).origin, KEY_AT_SLM_ORIGIN);
});

after(async () => {
  service?.dispose();
  ext?.dispose();
  await slmServer?.close();
  await llmServer?.close();
  await onnx?.dispose();
});

function servedSettings(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'relay.slm.kind': 'completions-server',
    'relay.slm.serverUrl': slmServer.url,
    'relay.slm.serverModel': SLM_MODEL,
    'relay.slm.modelFolder': script.folder,
    'relay.mode': 'command',
    'relay.temperature': 0,
    'relay.provider.kind': KIND,
    'relay.provider.baseUrl': `${llmServer.url}/v1`,
    'relay.provider.model': LLM_MODEL,
    'relay.maxCostRatio': null,
    ...overrides,
  };
}

const sink = (events: RelayEvent[] = []) => ({ onEvent: (event: RelayEvent) => void events.push(event) });

describe('RelayService with the small model on a server', () => {
  test('relay.slm.kind completions-server: the same answer as the ONNX folder, the context sent as token ids, no key or login to the SLM server', async () => {
    resetSettings(servedSettings());
    const before = slmServer.requests.length;
    const served = await service.answer(QUESTION, sink());
    assert.equal(served.error, undefined, served.error?.message);
    assert.equal(served.answer, script.firstAnswer);
    assert.equal(served.stats?.slmTokens, script.firstAnswerSlmTokens);
    assert.equal(served.stats?.calls, 1);
    const requests = slmServer.requests.slice(before);
    // Before the call and after it: each request carries the whole context (the server's prefix cache does the rest).
    assert.equal(requests.length, 2);
    assert.ok(requests.every((r) => Array.isArray(r.prompt) && r.model === SLM_MODEL));
    assert.equal(llmServer.lastRequest.headers.authorization, `Bearer ${LLM_KEY}`, 'the LLM got its key');
    for (const headers of slmServer.headers) {
      assert.equal(headers.authorization, undefined, 'the SLM server gets no key');
      assert.ok(!JSON.stringify(headers).includes('sk-relay-unit'));
    }
    // Show What Was Sent lists those requests too, as the server received them, under its origin.
    const sent = service.sentRequests.last;
    assert.ok(sent);
    assert.equal(sent.slmServer, `completions-server ${SLM_MODEL} at ${new URL(slmServer.url).origin}`);
    assert.equal(sent.slmRequestCount, 2);
    assert.deepEqual(
      sent.slmRequests.map((r) => r.body),
      requests,
      'the bodies the server received',
    );
    assert.ok(sent.slmRequests.every((r) => r.url === `${slmServer.url}/completions`));
    assert.equal(sent.calls.length, 1, "the LLM's call stays apart");
    assert.match(renderSentDocument(sent), /## Sent to the small model's server: completions-server relay-slm at http:\/\/127\.0\.0\.1:\d+\n/);

    // Back to onnx: the folder runs in the SLM process again, the server is not asked.
    setSettings({ 'relay.slm.kind': 'onnx' });
    const local = await service.answer(QUESTION, sink());
    assert.equal(local.error, undefined, local.error?.message);
    assert.equal(local.answer, served.answer);
    assert.equal(slmServer.requests.length, before + 2);
    assert.equal(service.sentRequests.last?.slmServer, undefined, 'an ONNX SLM sends nothing anywhere');
    assert.equal(service.sentRequests.last?.slmRequestCount, 0);
  });

  test('a server that is down: the error names relay.slm.serverUrl and its fix opens Settings', async () => {
    const down = await startServedSlmServer('completions-server', onnx, { model: SLM_MODEL });
    await down.close();
    resetSettings(servedSettings({ 'relay.slm.serverUrl': down.url }));
    const outcome = await service.answer(QUESTION, sink());
    assert.match(outcome.error?.message ?? '', /could not be reached \(connection refused\)\. Start the server, or fix relay\.slm\.serverUrl/);
    assert.equal(outcome.error?.fix, 'open-settings');
    assert.equal(outcome.answer, '');
  });

  test('a model the server does not serve: named, with the models it serves and relay.slm.serverModel to fix', async () => {
    resetSettings(servedSettings({ 'relay.slm.serverModel': 'no-such-model' }));
    const outcome = await service.answer(QUESTION, sink());
    assert.match(
      outcome.error?.message ?? '',
      new RegExp(`does not serve the model 'no-such-model'; it serves: ${SLM_MODEL}\\. Set relay\\.slm\\.serverModel .*to one of them\\.`),
    );
    assert.equal(outcome.error?.fix, 'open-settings');
  });

  test('settings: a bad kind, URL, missing model name or folder is refused naming the setting, before anything is sent', async () => {
    const before = slmServer.requests.length;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ 'relay.slm.kind': 'vllm' }, /^Setting relay\.slm\.kind in your user settings: "vllm" is not one of onnx, completions-server, ollama\.$/],
      [
        { 'relay.slm.serverUrl': 'ftp://127.0.0.1:8000' },
        /^Setting relay\.slm\.serverUrl in your user settings: "ftp:\/\/127\.0\.0\.1:8000" is not an http:\/\/ or https:\/\/ address\.$/,
      ],
      [
        { 'relay.slm.serverUrl': 'http://user:secret@127.0.0.1:8000/v1' },
        /^Setting relay\.slm\.serverUrl in your user settings: "http:\/\/\*\*\*@127\.0\.0\.1:8000\/v1" carries a login/,
      ],
      // A login in a mistyped address is not quoted either (the message reaches the status bar and the view).
      [
        { 'relay.provider.baseUrl': 'htps://alice:secret@api.example.com/v1' },
        /^Setting relay\.provider\.baseUrl in your user settings: "htps:\/\/\*\*\*@api\.example\.com\/v1" is not an http\(s\) URL/,
      ],
      [{ 'relay.slm.serverUrl': 'not a url' }, /^Setting relay\.slm\.serverUrl in your user settings: "not a url" is not a URL/],
      // Local only: a server that is not on this machine would get every prompt whole.
      [
        { 'relay.localOnly': true, 'relay.slm.serverUrl': 'http://192.0.2.10:8000/v1' },
        /^Setting relay\.localOnly in your user settings: is on, and the small model's server \(relay\.slm\.serverUrl, http:\/\/192\.0\.2\.10:8000\) is not on this machine: every prompt would go there\. Point relay\.slm\.serverUrl at a server on this machine/,
      ],
      [{ 'relay.slm.serverModel': ' ' }, /^Setting relay\.slm\.serverModel in your user settings: is empty, and relay\.slm\.kind is completions-server/],
      [
        { 'relay.slm.modelFolder': '' },
        /^Setting relay\.slm\.modelFolder in your user settings: is empty, and relay\.slm\.kind is completions-server: set it to the served model's folder/,
      ],
    ];
    for (const [overrides, expected] of cases) {
      resetSettings(servedSettings(overrides));
      assert.match((await service.setupWarning()) ?? '', expected);
      const outcome = await service.answer(QUESTION, sink());
      assert.match(outcome.error?.message ?? '', expected);
      assert.ok(!outcome.error?.message.includes('secret'), 'no password in the message');
      assert.equal(outcome.error?.fix, 'open-settings');
    }
    // An empty URL is the kind's default; onnx ignores the server settings.
    resetSettings(servedSettings({ 'relay.slm.serverUrl': '' }));
    assert.equal(await service.setupWarning(), undefined);
    // Local only with the server on this machine (this test's, at 127.0.0.1) is fine.
    resetSettings(servedSettings({ 'relay.localOnly': true }));
    assert.equal(await service.setupWarning(), undefined);
    resetSettings(servedSettings({ 'relay.slm.kind': 'onnx', 'relay.slm.serverModel': '', 'relay.slm.serverUrl': 'not a url' }));
    assert.equal(await service.setupWarning(), undefined);
    assert.equal(slmServer.requests.length, before);
  });
});
