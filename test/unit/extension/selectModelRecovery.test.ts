// "Relay: Select Model" when things go wrong, against a local hub (fakeHub: 127.0.0.1
// servers that answer as huggingface.co and its CDN): "Retry" after the repository moved on
// reads the file list again (the old one can only fail the same way), "Open Model Page"
// never carries the endpoint's user:password to the browser, a hub token the hub refuses is
// offered "Set Model Hub Token" only (no page to open), and the config.json check
// before a download runs under the cancellable progress notification. Only the VS Code API
// is a stand-in.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import {
  answerQuestions,
  commands,
  createExtensionContext,
  env,
  questionsAsked,
  resetSettings,
  settings,
  Uri,
  useVscodeStub,
  window,
  type StubExtensionContext,
} from './vscodeStub';
useVscodeStub();
import { demoRepoFiles, FakeHub } from '../models/fakeHub';
import { userDownloads } from './selectModelQuestions';
import { KeyStore, MODEL_HUB } from '../../../src/extension/keyStore';

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RELEASE_MODEL_FOLDER_COMMAND, selectModel } = require('../../../src/extension/selectModel') as typeof import('../../../src/extension/selectModel');

const REPO_ROOT = join(__dirname, '..', '..', '..');
const REPO = 'onnx-community/Moving-ONNX';
const GATED = 'meta-like/Gated-ONNX';
const GRAPH = 'onnx/model_int8.onnx';

let hub: FakeHub;
const contexts: StubExtensionContext[] = [];
/** URLs the extension asked VS Code to open in the browser. */
const opened: string[] = [];

before(async () => {
  hub = await FakeHub.start({
    [REPO]: { commit: 'a'.repeat(40), files: demoRepoFiles() },
    [GATED]: { commit: 'd'.repeat(40), gated: { grantedToken: 'hf_grantedToken4567' }, files: demoRepoFiles() },
  });
  // The stand-in has no browser: record what would be opened.
  Object.assign(Uri, { parse: (value: string) => ({ toString: () => value }) });
  Object.assign(env, {
    openExternal: async (uri: { toString(): string }) => {
      opened.push(uri.toString());
      return true;
    },
  });
});
afterEach(() => {
  answerQuestions(() => undefined);
  hub.log.length = 0;
  hub.trickledFiles.clear();
  hub.onTrickle = undefined;
});
after(async () => {
  for (const ext of contexts) ext.dispose();
  await hub.close();
});

function extensionContext(): StubExtensionContext {
  const ext = createExtensionContext(join(REPO_ROOT, '.cache', 'test-select-model-recovery'));
  contexts.push(ext);
  return ext;
}

test('Retry after the repository moved on reads the file list again and downloads the current files', async () => {
  const ext = extensionContext();
  resetSettings({ 'relay.models.hubEndpoint': hub.endpoint });
  const filesA = demoRepoFiles();
  const graphB = Buffer.concat([filesA[GRAPH], Buffer.from('a newer export')]);
  hub.repos.set(REPO, { commit: 'a'.repeat(40), files: filesA });
  const errors: string[] = [];
  userDownloads(
    REPO,
    // While the user picks the variant, main moves on to a new export of the graph.
    () => hub.repos.set(REPO, { commit: 'b'.repeat(40), files: { ...filesA, [GRAPH]: graphB } }),
    (text) => {
      errors.push(text);
      return errors.length === 1 ? 'Retry' : undefined;
    },
  );
  await selectModel(ext.context);

  assert.equal(errors.length, 1, `one error, then Retry succeeds: ${errors.join(' | ')}`);
  assert.match(errors[0], /now serves a different onnx\/model_int8\.onnx than its listing said/);
  assert.equal(hub.requests({ server: 'hub', method: 'GET', pathIncludes: '/api/models/' }).length, 2, 'Retry read the file list again');
  const folder = settings.get('relay.slm.modelFolder');
  assert.ok(typeof folder === 'string', 'the model was downloaded and set');
  assert.ok(readFileSync(join(folder, GRAPH)).equals(graphB), 'the graph is the current one');
});

test("Open Model Page opens the model's page without the endpoint's user:password; the message does not show them either", async () => {
  const ext = extensionContext();
  const withCredentials = hub.endpoint.replace('http://', 'http://alice:pa55word@');
  resetSettings({ 'relay.models.hubEndpoint': withCredentials });
  const errors: string[] = [];
  userDownloads(GATED, undefined, (text) => {
    errors.push(text);
    return 'Open Model Page';
  });
  opened.length = 0;
  await selectModel(ext.context);

  assert.equal(errors.length, 1);
  assert.match(errors[0], /The model hub refused meta-like\/Gated-ONNX with HTTP 403/);
  assert.deepEqual(opened, [`${hub.endpoint}/${GATED}`]);
  for (const shown of [...errors, ...opened]) assert.ok(!shown.includes('pa55word') && !shown.includes('alice'), shown);
});

test('a hub token the hub no longer accepts offers Set Model Hub Token, not Open Model Page; leaving the box empty removes it and downloads the public model', async () => {
  const ext = extensionContext();
  resetSettings({ 'relay.models.hubEndpoint': hub.endpoint });
  const origin = new URL(hub.endpoint).origin;
  const EXPIRED = 'hf_expiredToken98765';
  await new KeyStore(ext.context.secrets, ext.context.globalState, async () => false).store(MODEL_HUB, origin, EXPIRED);
  hub.repos.set(REPO, { commit: 'a'.repeat(40), files: demoRepoFiles() });
  // As huggingface.co answers an expired or revoked token, even for a public repository.
  hub.intercept = (server, req, res) => {
    if (server !== 'hub' || req.headers.authorization !== `Bearer ${EXPIRED}`) return false;
    res.writeHead(401, { 'content-type': 'application/json', 'x-error-message': 'Invalid credentials in Authorization header' });
    res.end(JSON.stringify({ error: 'Invalid credentials in Authorization header' }));
    return true;
  };
  const errors: { text: string; buttons: string[] }[] = [];
  userDownloads(
    REPO,
    undefined,
    (text, buttons) => {
      errors.push({ text, buttons });
      return 'Set Model Hub Token';
    },
    // "Relay: Set Model Hub Token", left empty: the token is removed (public models need none).
    (q) => (q.api === 'showInputBox' && q.text === `Relay: access token for ${origin}` ? '' : undefined),
  );
  const from = questionsAsked.length;
  try {
    await selectModel(ext.context);
  } finally {
    hub.intercept = undefined;
  }

  assert.equal(errors.length, 1, errors.map((e) => e.text).join(' | '));
  assert.match(errors[0].text, /refused the hub token stored for http:\/\/127\.0\.0\.1:\d+ with HTTP 401/);
  assert.deepEqual(errors[0].buttons, ['Set Model Hub Token'], 'the token is the fix: no model page to open');
  const box = questionsAsked.slice(from).find((q) => q.api === 'showInputBox' && q.text === `Relay: access token for ${origin}`);
  assert.ok(box, 'Set Model Hub Token asked for the token');
  assert.equal(await ext.context.secrets.get(`relay.models.hubToken@${origin}`), undefined, 'the empty box removed the refused token');
  const folder = settings.get('relay.slm.modelFolder');
  assert.ok(typeof folder === 'string' && existsSync(join(folder, GRAPH)), `then the public model downloaded without a token (${String(folder)})`);
  assert.ok(
    hub.requests({ pathIncludes: GRAPH }).every((r) => r.authorization === undefined),
    'the weights were fetched without it',
  );
});

test('the config.json check before a download runs under the progress notification, and cancelling it stops there', async () => {
  const ext = extensionContext();
  resetSettings({ 'relay.models.hubEndpoint': hub.endpoint });
  hub.repos.set(REPO, { commit: 'a'.repeat(40), files: demoRepoFiles() });
  // A progress notification whose Cancel the test can press (the stand-in's never cancels).
  const originalWithProgress = window.withProgress;
  const shown: { title?: string; cancellable?: boolean }[] = [];
  let pressCancel: (() => void) | undefined;
  window.withProgress = async <R>(
    options: { title?: string; cancellable?: boolean },
    task: (progress: { report(value: unknown): void }, token: unknown) => Promise<R>,
  ): Promise<R> => {
    shown.push(options);
    const listeners: (() => void)[] = [];
    const token = {
      isCancellationRequested: false,
      onCancellationRequested: (listener: () => void) => (listeners.push(listener), { dispose() {} }),
    };
    pressCancel = () => {
      token.isCancellationRequested = true;
      for (const listener of listeners) listener();
    };
    try {
      return await task({ report() {} }, token);
    } finally {
      pressCancel = undefined;
    }
  };
  // config.json trickles in; the user presses Cancel as it starts.
  hub.trickledFiles.add('config.json');
  // Its first read is the check before the download (the download reads it again).
  let cancellableAtCheck: boolean | undefined;
  hub.onTrickle = () => {
    cancellableAtCheck ??= pressCancel !== undefined;
    pressCancel?.();
  };
  const from = questionsAsked.length;
  userDownloads(REPO);
  try {
    await selectModel(ext.context);
  } finally {
    window.withProgress = originalWithProgress;
  }

  assert.equal(cancellableAtCheck, true, 'config.json was read while a progress notification was shown');
  assert.ok(shown[0]?.cancellable, 'and that notification can be cancelled');
  const asked = questionsAsked.slice(from);
  assert.ok(!asked.some((q) => /which variant/.test(q.text)), 'after Cancel, no variant is offered');
  assert.ok(!asked.some((q) => q.api === 'showErrorMessage'), 'and no error is shown');
});

test('a download first lets go of a model loaded from its folder (Windows will not replace a file a process maps), before the weights are fetched', async () => {
  const ext = extensionContext();
  resetSettings({ 'relay.models.hubEndpoint': hub.endpoint });
  hub.repos.set(REPO, { commit: 'a'.repeat(40), files: demoRepoFiles() });
  const released: { folder: unknown; filesFetchedBefore: number }[] = [];
  const run = commands.executeCommand;
  Object.assign(commands, {
    executeCommand: async (command: string, ...args: unknown[]) => {
      if (command === RELEASE_MODEL_FOLDER_COMMAND) released.push({ folder: args[0], filesFetchedBefore: hub.requests({ pathIncludes: GRAPH }).length });
      return run(command, ...args);
    },
  });
  try {
    userDownloads(REPO);
    await selectModel(ext.context);
  } finally {
    Object.assign(commands, { executeCommand: run });
  }
  const folder = settings.get('relay.slm.modelFolder');
  assert.ok(typeof folder === 'string', 'the model was downloaded and set');
  assert.deepEqual(released, [{ folder, filesFetchedBefore: 0 }]);
  assert.ok(hub.requests({ pathIncludes: GRAPH }).length > 0, 'the weights were fetched after it');
});
