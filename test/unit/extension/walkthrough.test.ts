// The manifest's set-up contributions hold together: every walkthrough page exists, every
// command a step links to or completes on is contributed, the chat participant and the
// hub endpoint setting are declared as the code expects.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOT = join(__dirname, '..', '..', '..');
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const commands = new Set<string>(manifest.contributes.commands.map((c: { command: string }) => c.command));

test('every walkthrough step has its page and links only to commands that exist', () => {
  const [walkthrough] = manifest.contributes.walkthroughs;
  assert.equal(walkthrough.id, 'relay.gettingStarted');
  const stepIds = walkthrough.steps.map((s: { id: string }) => s.id);
  assert.deepEqual(stepIds, ['tryDemo', 'chooseProvider', 'setApiKey', 'pickModel', 'privacy', 'trySolve']);
  for (const step of walkthrough.steps) {
    assert.ok(existsSync(join(ROOT, step.media.markdown)), `${step.media.markdown} exists`);
    for (const [, command] of String(step.description).matchAll(/\(command:([\w.]+)/g)) {
      assert.ok(command.startsWith('workbench.') || commands.has(command), `${step.id} links to ${command}, which is contributed`);
    }
    for (const event of step.completionEvents as string[]) {
      const [kind, name] = event.split(':');
      if (kind === 'onCommand') assert.ok(commands.has(name), `${step.id} completes on ${name}, which is contributed`);
      if (kind === 'onSettingChanged') assert.ok(name in manifest.contributes.configuration.properties, `${name} is a setting`);
    }
  }
});

test('the @relay participant, the new commands and the hub endpoint setting are declared', () => {
  assert.deepEqual(
    manifest.contributes.chatParticipants.map((p: { id: string; name: string }) => [p.id, p.name]),
    [['relay.chat', 'relay']],
  );
  for (const command of ['relay.selectModel', 'relay.showSentToLlm', 'relay.setHubToken']) assert.ok(commands.has(command), command);
  const endpoint = manifest.contributes.configuration.properties['relay.models.hubEndpoint'];
  assert.equal(endpoint.default, 'https://huggingface.co');
  assert.ok(
    !Object.keys(manifest.contributes.configuration.properties).some((key) => /(hub|access)Token|api_?key|secret|password/i.test(key)),
    'no secret is a setting',
  );
});
