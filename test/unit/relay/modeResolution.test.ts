/** 'auto' mode and the relay fields of a model folder's config.json, shared by the CLI and the extension. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSlmRelayTraits, resolveRelayMode } from '../../../src/core/relay/modeResolution';

const REPO = join(__dirname, '..', '..', '..');

function folderWith(config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'relay-mode-'));
  writeFileSync(join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
  return dir;
}

test('the shipped demo SLM is trained to call: auto picks command mode, commands removed from the LLM context', () => {
  const traits = readSlmRelayTraits(join(REPO, 'models', 'relay-demo-slm'));
  assert.deepEqual(traits, { trainedToCall: true, commandReplacement: '' });
  assert.equal(resolveRelayMode('auto', traits), 'command');
  assert.equal(resolveRelayMode('confidence', traits), 'confidence', 'an explicit mode wins');
});

test("any other model gets confidence mode under auto, and the paper's space", () => {
  const dirs = [folderWith({ model_type: 'qwen3' }), folderWith('not json'), mkdtempSync(join(tmpdir(), 'relay-mode-'))];
  try {
    for (const dir of dirs) {
      const traits = readSlmRelayTraits(dir);
      assert.deepEqual(traits, { trainedToCall: false, commandReplacement: undefined }, dir);
      assert.equal(resolveRelayMode('auto', traits), 'confidence');
      assert.equal(resolveRelayMode('slm-only', traits), 'slm-only');
    }
    const llm = readSlmRelayTraits(join(REPO, 'models', 'relay-demo-llm'));
    assert.equal(resolveRelayMode('auto', llm), 'confidence');
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
});

test("relay_llm_context: the paper's space, or an unknown value named with the values it takes", () => {
  const space = folderWith({ relay_trained: true, relay_llm_context: 'commands_as_space' });
  const bad = folderWith({ relay_trained: true, relay_llm_context: 'commands_deleted' });
  try {
    assert.deepEqual(readSlmRelayTraits(space), { trainedToCall: true, commandReplacement: ' ' });
    assert.throws(() => readSlmRelayTraits(bad), /relay_llm_context is "commands_deleted"; it must be one of commands_as_space, commands_removed/);
  } finally {
    rmSync(space, { recursive: true, force: true });
    rmSync(bad, { recursive: true, force: true });
  }
});

test('relay_trained: true or false; "yes", 1 or "true" are named, not taken for false', () => {
  for (const value of ['yes', 1, 'true', null]) {
    const folder = folderWith({ relay_trained: value });
    try {
      assert.throws(
        () => readSlmRelayTraits(folder),
        new RegExp(`relay_trained is ${JSON.stringify(JSON.stringify(value)).slice(1, -1)}; it must be true or false \\(without quotes\\)`),
      );
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  }
  for (const value of [true, false]) {
    const folder = folderWith({ relay_trained: value });
    try {
      assert.equal(readSlmRelayTraits(folder).trainedToCall, value);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  }
});

test('a config.json that holds null or an array has no relay fields (the folder loader names it), not a TypeError', () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-traits-'));
  try {
    for (const text of ['null', '[1, 2]']) {
      writeFileSync(join(dir, 'config.json'), text);
      assert.deepEqual(readSlmRelayTraits(dir), { trainedToCall: false, commandReplacement: undefined }, text);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
