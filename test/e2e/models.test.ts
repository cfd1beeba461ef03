// Models, set-up and privacy in a real VS Code (code-server + headless Chromium):
// "Relay: Select Model" downloads from a local hub (fakeHub: 127.0.0.1 servers that
// answer as huggingface.co and its CDN) with the progress notification and sets the
// model folder; the downloaded model answers "Solve Problem" in local-only mode;
// "Relay: Show What Was Sent" then says nothing was sent; with an LLM (a local
// OpenAI-compatible server) it shows the request body that server received.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from './packageExtension';
import { VsCodeSession } from './vscodeSession';
import { bytes, demoRepoFiles, FakeHub } from '../unit/models/fakeHub';
import { startFakeServer, type FakeServer } from '../unit/providers/servers/harness';
import { openAiStream } from '../unit/providers/servers/openai';

const REPO = 'onnx-community/Tiny-ONNX';
const DEMO = join(REPO_ROOT, 'models', 'relay-demo-slm');

describe('models and privacy in VS Code', () => {
  let vscode: VsCodeSession | undefined;
  let hub: FakeHub;
  let llm: FakeServer | undefined;

  before(async () => {
    hub = await FakeHub.start({ [REPO]: { commit: 'c'.repeat(40), files: { ...demoRepoFiles(), 'onnx/model_fp16.onnx': bytes(2_000_000, 3) } } });
    // The extension runs unpacked from the repository (as extensionHost.test.ts does): build it first.
    const build = spawnSync(process.execPath, ['esbuild.config.mjs'], { cwd: REPO_ROOT, stdio: 'inherit' });
    assert.equal(build.status, 0, 'the extension builds');
    // The first transfer of the graph drops halfway: the download resumes it (Range).
    hub.cdnFaults.set('onnx/model_int8.onnx', [{ dropAfterBytes: 200_000 }]);
    vscode = await VsCodeSession.start({
      name: 'models',
      extensionDevelopmentPath: REPO_ROOT,
      settings: { 'relay.models.hubEndpoint': hub.endpoint, 'relay.localOnly': true, 'relay.temperature': 0 },
    });
  });

  after(async () => {
    await vscode?.close();
    await hub?.close();
    await llm?.close();
    if (vscode) console.log(vscode.summary());
  });

  it('Select Model downloads a hub model with progress, resumes a dropped transfer, and sets the folder', async () => {
    assert.ok(vscode);
    const page = vscode.page;
    await vscode.runCommand('Relay: Select Model');
    await page.locator('.quick-input-widget .quick-input-title', { hasText: 'Select the small model' }).waitFor({ state: 'visible' });
    await vscode.screenshot('select-model-picker');
    await vscode.answerQuickInput('Select the small model', 'Another model hub repository');
    await vscode.answerQuickInput('model hub repository', REPO);
    await page.locator('.quick-input-widget .quick-input-title', { hasText: 'which variant' }).waitFor({ state: 'visible' });
    await vscode.screenshot('select-model-variants');
    await vscode.answerQuickInput('which variant', 'int8');
    await page.locator('.notifications-toasts', { hasText: 'the small model is now' }).waitFor({ state: 'visible', timeout: 60_000 });
    await vscode.screenshot('select-model-downloaded');

    // code-server's window is a remote one: Select Model saves the folder in the machine's settings (the Remote tab).
    const settings = JSON.parse(readFileSync(vscode.machineSettingsPath, 'utf8')) as Record<string, string>;
    assert.equal(
      (JSON.parse(readFileSync(vscode.userSettingsPath, 'utf8')) as Record<string, string>)['relay.slm.modelFolder'],
      undefined,
      "not in the user's settings",
    );
    const folder = settings['relay.slm.modelFolder'];
    assert.match(folder, /globalStorage.*models[\\/]onnx-community[\\/]Tiny-ONNX@main$/);
    assert.equal(settings['relay.slm.variant'], 'int8');
    assert.ok(existsSync(join(folder, '.relay-model.json')), 'the completion marker is there');
    assert.ok(readFileSync(join(folder, 'onnx', 'model_int8.onnx')).equals(readFileSync(join(DEMO, 'onnx', 'model_int8.onnx'))));
    const cdn = hub.requests({ server: 'cdn', pathIncludes: 'model_int8' }).map((r) => r.range);
    assert.deepEqual(cdn, [undefined, 'bytes=200000-']);
    assert.equal(hub.requests({ server: 'cdn', pathIncludes: 'model_fp16' }).length, 0, 'only the chosen variant');
  });

  it('the downloaded model answers in local-only mode, and Show What Was Sent says nothing was sent', async () => {
    assert.ok(vscode);
    const page = vscode.page;
    await vscode.runCommand('Relay: Solve Problem');
    await vscode.answerQuickInput('Solve Problem', 'What is 12+7?');
    const answer = vscode.webviewFrame('webviewPanel');
    await answer
      .getByText(/\d+ tok/)
      .first()
      .waitFor({ state: 'visible', timeout: 60_000 });
    await vscode.runCommand('Relay: Show What Was Sent');
    const editor = page.locator('.editor-instance .monaco-editor .view-lines').last();
    await editor.filter({ hasText: 'Nothing was sent to the LLM' }).waitFor({ state: 'visible', timeout: 30_000 });
    await vscode.screenshot('show-what-was-sent-local-only');
  });

  it('with an LLM, Show What Was Sent shows the very request body the LLM server received', async () => {
    assert.ok(vscode);
    const page = vscode.page;
    llm = await startFakeServer(openAiStream({ pieces: [' 19'], finishReason: 'stop' }));
    await vscode.updateSettings({
      'relay.localOnly': false,
      'relay.mode': 'llm-only',
      'relay.provider.kind': 'openai-completions',
      'relay.provider.baseUrl': `${llm.url}/v1`,
      'relay.provider.model': 'local-test-llm',
    });
    await vscode.runCommand('Relay: Solve Problem');
    await vscode.answerQuickInput('Solve Problem', 'What is 12+7?');
    await vscode
      .webviewFrame('webviewPanel')
      .getByText(/Calls\s*1/)
      .first()
      .waitFor({ state: 'visible', timeout: 60_000 });
    assert.equal(llm.requests.length, 1);
    const body = llm.requests[0].body as { prompt: string; max_tokens: number };
    await vscode.runCommand('Relay: Show What Was Sent');
    const editor = page.locator('.editor-instance .monaco-editor .view-lines').last();
    await editor.filter({ hasText: `POST ${llm.url}/v1/completions` }).waitFor({ state: 'visible', timeout: 30_000 });
    await editor.filter({ hasText: `"max_tokens": ${body.max_tokens}` }).waitFor({ state: 'visible' });
    await vscode.screenshot('show-what-was-sent-llm');
  });
});
