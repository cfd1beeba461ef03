// "Relay: Remove Downloaded Models" on a real model store in a temp folder (only the VS Code
// API is a stand-in): an empty store says where it is, the pick shows sizes, variants,
// incomplete downloads and the folder in use, the modal names the space to free and what
// removing the model in use does, the models loaded from a folder are let go of first, the
// setting that pointed into it is cleared, a folder being downloaded is refused by name, and
// a model another window has loaded is warned of and, where Windows refuses its weights, left
// whole with its setting.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { after, afterEach, test } from 'node:test';
import {
  answerQuestions,
  answerWarnings,
  commands,
  createExtensionContext,
  questionsAsked,
  resetSettings,
  settings,
  useVscodeStub,
  warningsShown,
  type AskedQuestion,
  type StubExtensionContext,
} from './vscodeStub';
useVscodeStub();
import { formatBytes } from '../../../src/core/models/errors';
import { COMPLETION_MARKER, LOCK_FILE, modelFolder, modelStatus, writeMarker } from '../../../src/core/models/modelStore';
import { IN_USE_PREFIX } from '../../../src/core/models/storedModels';

// Loaded after the stub is in place (they import 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const removeModels = require('../../../src/extension/removeModels') as typeof import('../../../src/extension/removeModels');
const { removeDownloadedModels, REMOVE_DOWNLOADED_MODELS_COMMAND } = removeModels;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RELEASE_MODEL_FOLDER_COMMAND } = require('../../../src/extension/selectModel') as typeof import('../../../src/extension/selectModel');

const REPO_ROOT = join(__dirname, '..', '..', '..');
const contexts: StubExtensionContext[] = [];
const originalExecute = commands.executeCommand;

function newContext(): StubExtensionContext {
  const stub = createExtensionContext(REPO_ROOT);
  contexts.push(stub);
  return stub;
}

after(() => {
  for (const stub of contexts) stub.dispose();
});
afterEach(() => {
  answerQuestions(() => undefined);
  answerWarnings(undefined);
  commands.executeCommand = originalExecute;
  resetSettings();
});

function writeBytes(path: string, bytes: number): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, Buffer.alloc(bytes, 1));
}

/** A finished q4 download of `repo` with a graph of `graphBytes`; returns its folder. */
async function downloaded(root: string, repo: string, graphBytes: number): Promise<string> {
  const folder = modelFolder(root, repo, 'main');
  const files: [string, number][] = [
    ['config.json', 100],
    ['tokenizer.json', 1_000],
    ['tokenizer_config.json', 100],
    ['onnx/model_q4.onnx', graphBytes],
  ];
  for (const [path, size] of files) writeBytes(join(folder, path), size);
  await writeMarker(folder, {
    format: 1,
    repo,
    revision: 'main',
    variants: ['q4'],
    files: files.map(([path, size]) => ({ path, size })),
    completedAt: '2025-01-01T00:00:00Z',
  });
  return folder;
}

/** A download that stopped in the middle of its int8 graph; returns its folder. */
function cancelled(root: string, repo: string, partialBytes: number): string {
  const folder = modelFolder(root, repo, 'main');
  writeBytes(join(folder, 'config.json'), 100);
  writeBytes(join(folder, 'onnx/model_int8.onnx.partial'), partialBytes);
  writeFileSync(join(folder, 'onnx/model_int8.onnx.partial.json'), '{}');
  return folder;
}

/** Picks the items whose label contains any of `labels` in the multi-select pick; records what it offered. */
function pickItems(...labels: string[]): { offered: any[] } {
  const seen = { offered: [] as any[] };
  answerQuestions((question: AskedQuestion) => {
    if (question.api !== 'showQuickPick') return undefined;
    assert.equal(question.options.canPickMany, true, 'several models can be removed at once');
    seen.offered = question.items;
    return question.items.filter((item) => labels.some((label) => String(item.label).includes(label)));
  });
  return seen;
}

function lastNotification(api: AskedQuestion['api']): string {
  return questionsAsked.filter((question) => question.api === api).at(-1)?.text ?? '';
}

test('the command is contributed under Relay, registered and documented', () => {
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
  const contributed = manifest.contributes.commands.find((c: { command: string }) => c.command === REMOVE_DOWNLOADED_MODELS_COMMAND);
  assert.deepEqual(contributed, { command: 'relay.removeDownloadedModels', title: 'Remove Downloaded Models', category: 'Relay' });
  assert.match(readFileSync(join(REPO_ROOT, 'src/extension/extension.ts'), 'utf8'), /registerCommand\(REMOVE_DOWNLOADED_MODELS_COMMAND/);
  assert.match(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'), /Relay: Remove Downloaded Models/);
  assert.match(readFileSync(join(REPO_ROOT, 'media/walkthrough/model.md'), 'utf8'), /Relay: Remove Downloaded Models/);
});

test('an empty or missing store says so, and where it is, instead of an empty pick', async () => {
  const stub = newContext();
  const before = questionsAsked.length;
  await removeDownloadedModels(stub.context);
  const asked = questionsAsked.slice(before);
  assert.deepEqual(
    asked.map((question) => question.api),
    ['showInformationMessage'],
  );
  assert.match(asked[0].text, /no downloaded models to remove: the model store \(.*\) is empty or does not exist yet/);
  assert.ok(asked[0].text.includes(join(stub.globalStorage, 'models')), asked[0].text);
});

test('the pick shows each folder with its size, variants, incomplete downloads and the one in use; removing the one in use clears the setting', async () => {
  const stub = newContext();
  const root = stub.globalStorage;
  const inUse = await downloaded(root, 'onnx-community/Qwen3-0.6B-ONNX', 40_000);
  const partial = cancelled(root, 'onnx-community/Qwen3-1.7B-ONNX', 25_000);
  const inUseBytes = 41_200 + statSync(join(inUse, COMPLETION_MARKER)).size;
  resetSettings({ 'relay.slm.modelFolder': inUse, 'relay.slm.variant': 'q4' });
  // The release must come while the folder is still there: models are let go of before removal.
  const released: { folder: unknown; present: boolean }[] = [];
  commands.executeCommand = async (command: string, ...args: unknown[]) => {
    if (command === RELEASE_MODEL_FOLDER_COMMAND) released.push({ folder: args[0], present: existsSync(String(args[0])) });
    return undefined;
  };
  const pick = pickItems('Qwen3-0.6B');
  answerWarnings((warning) => (warning.options?.modal ? 'Remove' : undefined));
  const warningsBefore = warningsShown.length;

  await removeDownloadedModels(stub.context);

  const byLabel = (text: string) => pick.offered.find((item) => String(item.label).includes(text));
  const used = byLabel('onnx-community/Qwen3-0.6B-ONNX@main');
  assert.equal(used.description, `${formatBytes(inUseBytes)} · q4 · in use (relay.slm.modelFolder)`);
  assert.equal(used.detail, inUse);
  const cut = byLabel('onnx-community/Qwen3-1.7B-ONNX@main');
  assert.equal(cut.description, `${formatBytes(100 + 25_000 + 2)} · int8 (incomplete) · incomplete download`);
  assert.equal(cut.detail, partial);
  const partialsOnly = byLabel('Partial downloads only');
  assert.match(partialsOnly.description, /^25\.0 KB in 1 folder; their finished files stay$/);

  const [modal] = warningsShown.slice(warningsBefore);
  assert.equal(modal.message, `Remove 1 downloaded model and free ${formatBytes(inUseBytes)}?`);
  assert.match(
    modal.options?.detail ?? '',
    /is the small model in use \(relay\.slm\.modelFolder\): the setting is cleared, so Relay answers with the embedded demo model until you pick another with "Relay: Select Model"/,
  );

  assert.deepEqual(released, [{ folder: inUse, present: true }]);
  assert.ok(!existsSync(inUse), 'the folder in use is removed');
  assert.ok(existsSync(partial), 'the folder not picked stays');
  assert.ok(!settings.has('relay.slm.modelFolder'), 'relay.slm.modelFolder is back to its default (the embedded demo)');
  assert.ok(!settings.has('relay.slm.variant'), 'the variant picked for that folder goes with it');
  assert.match(
    lastNotification('showInformationMessage'),
    /^Relay: removed onnx-community\/Qwen3-0\.6B-ONNX@main; 4\d\.\d KB freed\. relay\.slm\.modelFolder was cleared: the small model is the embedded demo until you pick another with "Relay: Select Model"\.$/,
  );
});

test('closing the modal removes nothing and keeps the settings', async () => {
  const stub = newContext();
  const folder = await downloaded(stub.globalStorage, 'onnx-community/Qwen3-0.6B-ONNX', 1_000);
  resetSettings({ 'relay.slm.modelFolder': folder });
  pickItems('Qwen3-0.6B');
  answerWarnings(undefined);
  await removeDownloadedModels(stub.context);
  assert.ok(existsSync(join(folder, 'onnx/model_q4.onnx')));
  assert.equal(settings.get('relay.slm.modelFolder'), folder);
});

test('a folder another window is downloading into is refused by name, with the path; the others are removed and counted', async () => {
  const stub = newContext();
  const root = stub.globalStorage;
  const busy = await downloaded(root, 'onnx-community/Qwen3-0.6B-ONNX', 1_000);
  const free = await downloaded(root, 'onnx-community/Qwen3-1.7B-ONNX', 3_000);
  // The test runner that started this process is alive: it holds the download lock.
  writeFileSync(join(busy, LOCK_FILE), `${process.ppid} feedbeef`);
  const pick = pickItems('Qwen3-0.6B', 'Qwen3-1.7B');
  answerWarnings('Remove');
  await removeDownloadedModels(stub.context);

  assert.match(pick.offered.find((item) => String(item.label).includes('0.6B')).description, /being downloaded now/);
  assert.ok(!existsSync(free));
  assert.ok(existsSync(join(busy, 'onnx/model_q4.onnx')), 'the folder being downloaded into is untouched');
  const error = lastNotification('showErrorMessage');
  assert.match(
    error,
    /^Relay: \d+(\.\d+)? KB freed; 1 of 2 could not be removed \(wholly or at all\)\. onnx-community\/Qwen3-0\.6B-ONNX@main: .* is being downloaded \(in this or another VS Code window\)/,
  );
  assert.ok(error.includes(busy), error);
});

test('partial downloads can go alone: the finished files stay, the freed size is reported', async () => {
  const stub = newContext();
  const root = stub.globalStorage;
  const folder = cancelled(root, 'onnx-community/Qwen3-1.7B-ONNX', 50_000);
  pickItems('Partial downloads only');
  answerWarnings('Remove');
  const warningsBefore = warningsShown.length;
  await removeDownloadedModels(stub.context);
  assert.match(warningsShown[warningsBefore].message, /^Remove partial downloads and free 50\.0 KB\?$/);
  assert.ok(existsSync(join(folder, 'config.json')), 'the finished files stay');
  assert.ok(!existsSync(join(folder, 'onnx/model_int8.onnx.partial')));
  assert.equal(lastNotification('showInformationMessage'), 'Relay: removed the partial downloads of onnx-community/Qwen3-1.7B-ONNX@main; 50.0 KB freed.');
});

test('a folder in use written in quotes (Explorer\'s "Copy as path"), which answers read as the folder, is in use here too', async () => {
  const stub = newContext();
  const inUse = await downloaded(stub.globalStorage, 'onnx-community/Qwen3-0.6B-ONNX', 40_000);
  resetSettings({ 'relay.slm.modelFolder': `"${inUse}"` });
  const pick = pickItems('Qwen3-0.6B');
  answerWarnings((warning) => (warning.options?.modal ? 'Remove' : undefined));
  await removeDownloadedModels(stub.context);
  assert.match(pick.offered[0]?.description ?? '', / · in use \(relay\.slm\.modelFolder\)$/);
  assert.ok(!existsSync(inUse));
  assert.ok(!settings.has('relay.slm.modelFolder'), 'cleared: the next answer is the embedded demo, not "folder does not exist"');
});

test('while an answer is being written with the model in use, its folder is left, and the message says how to go on', async () => {
  const stub = newContext();
  const folder = await downloaded(stub.globalStorage, 'onnx-community/Qwen3-0.6B-ONNX', 1_000);
  resetSettings({ 'relay.provider.kind': 'onnx-local', 'relay.provider.model': join(folder, '') });
  // RelayService.releaseFolder answers false while an answer runs.
  commands.executeCommand = async () => false as never;
  pickItems('Qwen3-0.6B');
  answerWarnings('Remove');
  await removeDownloadedModels(stub.context);
  assert.ok(existsSync(join(folder, 'onnx/model_q4.onnx')));
  assert.equal(settings.get('relay.provider.model'), join(folder, ''), 'the setting stays with its folder');
  assert.match(
    lastNotification('showErrorMessage'),
    /An answer is being written with onnx-community\/Qwen3-0\.6B-ONNX@main, so .* was not touched\. Wait for it, or stop it \(Relay: Stop\), then remove the model again\./,
  );
});

test('on Windows, a model another window has loaded is warned of, its mapped weights stop the removal, and it stays whole with its setting', async () => {
  const stub = newContext();
  const root = stub.globalStorage;
  const repo = 'onnx-community/Qwen3-0.6B-ONNX';
  const folder = await downloaded(root, repo, 2_000);
  // A cancelled download of another variant, bigger than the graph: removed (bytes freed) before the refusal.
  writeBytes(join(folder, 'onnx/model_fp16.onnx.partial'), 5_000);
  resetSettings({ 'relay.slm.modelFolder': folder, 'relay.slm.variant': 'q4' });
  // Another window (the test runner: alive, and not started by this process) has the model loaded.
  writeFileSync(join(folder, `${IN_USE_PREFIX}${process.ppid}`), JSON.stringify({ pid: process.ppid, parentPid: 1 }));
  const mapped = join(folder, 'onnx/model_q4.onnx');
  const rmRefusingMapped = async (path: string, options: { force?: boolean; recursive?: boolean }): Promise<void> => {
    if (path === mapped || mapped.startsWith(path + sep))
      throw Object.assign(new Error('EBUSY: resource busy or locked'), { code: 'EBUSY', syscall: 'unlink', path: mapped });
    await rm(path, options);
  };
  // This window let go of what it had loaded from the folder.
  commands.executeCommand = async () => true as never;
  const pick = pickItems('Qwen3-0.6B');
  answerWarnings((warning) => (warning.options?.modal ? 'Remove' : undefined));
  const warningsBefore = warningsShown.length;

  await removeDownloadedModels(stub.context, { platform: 'win32', maxWaitMs: 0, rm: rmRefusingMapped });

  assert.match(pick.offered[0].description, new RegExp(`loaded elsewhere \\(process ${process.ppid}\\)`));
  assert.match(
    warningsShown[warningsBefore].options?.detail ?? '',
    new RegExp(
      `is loaded in another VS Code window or by the relay CLI \\(process ${process.ppid}\\): Windows refuses to delete its weights while it is loaded there`,
    ),
  );
  assert.equal(modelStatus(root, repo, 'main').state, 'complete', 'the other window loads it again');
  assert.ok(existsSync(join(folder, 'config.json')));
  assert.ok(!existsSync(join(folder, 'onnx/model_fp16.onnx.partial')), 'some bytes were freed');
  assert.equal(settings.get('relay.slm.modelFolder'), folder, 'the setting every window shares stays with its whole model');
  assert.equal(settings.get('relay.slm.variant'), 'q4');
  const error = lastNotification('showErrorMessage');
  assert.match(
    error,
    new RegExp(
      `^Relay: ${formatBytes(5_000).replace('.', '\\.')} freed; 1 of 1 could not be removed \\(wholly or at all\\)\\. ${repo}@main: Cannot remove .* \\(EBUSY\\): the file is in use by another process: another VS Code window or the relay CLI \\(process ${process.ppid}\\) has the model loaded`,
    ),
  );
  assert.ok(error.includes(mapped), error);
  assert.doesNotMatch(error, /Relay: Stop|was cleared/);
});
