// "Relay: Select Model" → another hub repository, against a local hub (fakeHub: 127.0.0.1
// servers that answer as huggingface.co and its CDN) with a gated repository: a token stored
// for huggingface.co is not sent to the hub the endpoint setting names until the user says
// so, the gated error says why; "Set Model Hub Token" stores one for that hub, which then
// downloads. Only the VS Code API is a stand-in.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  answerQuestions,
  answerWarnings,
  createExtensionContext,
  questionsAsked,
  resetSettings,
  settings,
  useVscodeStub,
  warningsShown,
  type StubExtensionContext,
} from './vscodeStub';
useVscodeStub();
import { demoRepoFiles, FakeHub } from '../models/fakeHub';
import { KeyStore, MODEL_HUB } from '../../../src/extension/keyStore';

// Loaded after the stub is in place (they import 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { selectModel, setHubToken } = require('../../../src/extension/selectModel') as typeof import('../../../src/extension/selectModel');

const REPO_ROOT = join(__dirname, '..', '..', '..');
const GATED = 'meta-like/Gated-ONNX';
const GRANTED = 'hf_grantedToken4567';
const ELSEWHERE = 'hf_storedForHuggingFace89';

let hub: FakeHub;
let ext: StubExtensionContext;

before(async () => {
  hub = await FakeHub.start({ [GATED]: { commit: 'd'.repeat(40), gated: { grantedToken: GRANTED }, files: demoRepoFiles() } });
  ext = createExtensionContext(join(REPO_ROOT, '.cache', 'test-hub-token'));
  resetSettings({ 'relay.models.hubEndpoint': hub.endpoint });
});
after(async () => {
  answerQuestions(() => undefined);
  answerWarnings(undefined);
  ext?.dispose();
  await hub?.close();
});

/** The user picks "Another model hub repository...", types the gated one, and takes its int8 variant. */
function userDownloads(): void {
  answerQuestions((q) => {
    if (q.api === 'showQuickPick' && /Select the small model/.test(q.text)) return q.items.find((item) => /Another model hub repository/.test(item.label));
    if (q.api === 'showInputBox' && /model hub repository/.test(q.text)) return GATED;
    if (q.api === 'showQuickPick' && /which variant/.test(q.text)) return q.items.find((item) => item.option?.variant === 'int8');
    return undefined;
  });
}

test('a token stored for huggingface.co is not sent to another hub without a yes; the gated error says so; a token set for this hub downloads', async () => {
  const endpoint = new URL(hub.endpoint);
  // The user stored a token while the endpoint was huggingface.co, then pointed it at this hub.
  await new KeyStore(ext.context.secrets, ext.context.globalState, async () => false).store(MODEL_HUB, 'https://huggingface.co', ELSEWHERE);

  userDownloads();
  answerWarnings(undefined); // "Send your model hub token ... to ...?": closed, that is no
  const from = questionsAsked.length;
  await selectModel(ext.context);
  assert.deepEqual(
    warningsShown.map((w) => w.message).filter((m) => /model hub token/.test(m)),
    [`Send your model hub token for https://huggingface.co to ${endpoint.origin}?`],
    'asked once for the whole flow',
  );
  assert.ok(
    hub.requests().every((r) => r.authorization === undefined),
    'the hub never saw the token stored for huggingface.co',
  );
  const error = questionsAsked.slice(from).find((q) => q.api === 'showErrorMessage');
  assert.ok(error, 'the gated repository is an error');
  assert.match(error.text, /needs an access token/);
  assert.match(error.text, /Relay did not send your model hub token \(stored for https:\/\/huggingface\.co\) to http:\/\/127\.0\.0\.1:\d+: you said no/);
  assert.ok(!error.text.includes(ELSEWHERE));

  // "Relay: Set Model Hub Token": for the hub the endpoint names, and only for it.
  answerQuestions((q) => (q.api === 'showInputBox' && q.text === `Relay: access token for ${endpoint.origin}` ? GRANTED : undefined));
  assert.equal(await setHubToken(ext.context), true);
  assert.equal(await ext.context.secrets.get(`relay.models.hubToken@${endpoint.origin}`), GRANTED);
  assert.equal(await ext.context.secrets.get('relay.models.hubToken@https://huggingface.co'), ELSEWHERE, 'the other hub keeps its own');

  hub.log.length = 0;
  userDownloads();
  await selectModel(ext.context);
  const folder = settings.get('relay.slm.modelFolder');
  assert.ok(typeof folder === 'string' && existsSync(join(folder, 'onnx', 'model_int8.onnx')), `downloaded and set (${String(folder)})`);
  assert.ok(
    hub.requests({ server: 'hub' }).every((r) => r.authorization === `Bearer ${GRANTED}`),
    'the hub gets its own token',
  );
  assert.ok(
    hub.requests({ server: 'cdn' }).every((r) => r.authorization === undefined),
    'the CDN never does',
  );
});

test('Set Model Hub Token will not take a pasted "Bearer hf_..." or a token broken by a line; it names the problem, never the token', async () => {
  const endpoint = new URL(hub.endpoint);
  for (const [typed, named] of [
    [`Bearer ${GRANTED}`, /The token starts with 'Bearer '/],
    [`${GRANTED.slice(0, 6)}\n${GRANTED.slice(6)}`, /The token contains a space or a line break/],
  ] as const) {
    answerQuestions((q) => (q.api === 'showInputBox' && q.text === `Relay: access token for ${endpoint.origin}` ? typed : undefined));
    // The stand-in input box throws what VS Code would show under the box and keep it open with.
    await assert.rejects(setHubToken(ext.context), (error: Error) => named.test(error.message) && !error.message.split(': ').pop()!.includes(GRANTED));
  }
  assert.equal(await ext.context.secrets.get(`relay.models.hubToken@${endpoint.origin}`), GRANTED, 'the stored token is unchanged');
});
