// Runs inside VS Code desktop's extension host (loaded by @vscode/test-electron through
// test/electron/run.mjs). A small runner of its own: the extension host has no test CLI.
import assert from 'node:assert/strict';
import * as vscode from 'vscode';

const EXTENSION_ID = 'relay-decoding.relay-decoding';

interface Manifest {
  contributes: { commands: { command: string; title: string }[] };
}

const tests: [string, () => Promise<void>][] = [
  [
    'the extension activates',
    async () => {
      const extension = vscode.extensions.getExtension(EXTENSION_ID);
      assert.ok(extension, `${EXTENSION_ID} is not loaded`);
      await extension.activate();
      assert.equal(extension.isActive, true);
    },
  ],
  [
    'every contributed command has a handler',
    async () => {
      const extension = vscode.extensions.getExtension(EXTENSION_ID);
      assert.ok(extension);
      await extension.activate();
      const contributed = (extension.packageJSON as Manifest).contributes.commands.map((c) => c.command);
      assert.ok(contributed.length >= 7, `expected the seven Relay commands, found ${contributed.join(', ')}`);
      const registered = new Set(await vscode.commands.getCommands(true));
      const missing = contributed.filter((id) => !registered.has(id));
      assert.deepEqual(missing, [], `contributed but not registered: ${missing.join(', ')}`);
    },
  ],
  [
    '"Relay: Open Chat" runs without error',
    async () => {
      await vscode.commands.executeCommand('relay.openChat');
    },
  ],
];

export async function run(): Promise<void> {
  let passed = 0;
  const failures: string[] = [];
  for (const [name, test] of tests) {
    try {
      await test();
      passed += 1;
      console.log(`✔ ${name}`);
    } catch (error) {
      failures.push(name);
      console.log(`✖ ${name}\n  ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  }
  console.log(`${passed} passed, ${failures.length} failed`);
  if (failures.length > 0) throw new Error(`${failures.length} test(s) failed in VS Code: ${failures.join('; ')}`);
}
