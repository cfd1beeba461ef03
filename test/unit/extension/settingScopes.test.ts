// Which settings a workspace may set, and which are the machine's: read from the manifest VS
// Code enforces, checked against the rule (where data and keys go, what runs, prices and
// spending ceilings come from the user only; where the small model runs and the paths it
// reads are the extension host's machine's) and against the README's settings table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RELAY_POLICIES, SETTINGS_MODES } from '../../../src/core/relay/policies/registry';
import { PROVIDERS, PROVIDER_KINDS } from '../../../src/core/providers/registry';
import { withRegistryEnums } from '../../../scripts/manifestEnums';
import { SLM_KINDS } from '../../../src/core/slm/types';
import { SERVED_WIRE_FORMS } from '../../../src/core/slm/served/registry';

const ROOT = join(__dirname, '..', '..', '..');
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const settings: Record<string, { scope?: string }> = manifest.contributes.configuration.properties;

/** Settings a workspace may set, and why that is safe. */
const WORKSPACE_SETTINGS: Record<string, string> = {
  // Restricted: an untrusted workspace could pick fp32 (4-8x the memory) or a temperature that spoils billed answers.
  'relay.slm.variant': 'picks a file inside the model folder the user chose (restricted); per machine, as that folder (machine-overridable)',
  'relay.slm.q4Compute': "the arithmetic of the user's own model (restricted)",
  'relay.temperature': 'sampling only (restricted)',
  'relay.confidence.threshold': "how the answer is shared between the user's models, within the user's ceilings (restricted)",
  'relay.confidence.spanTokens': 'as above (restricted)',
  'relay.maxLlmShare': 'as above (restricted)',
  'relay.maxTurns': 'as above (restricted)',
  'relay.tokenBudget': 'as above (restricted)',
  'relay.slm.thinking': 'more tokens of the same models, within the ceilings (restricted)',
};

/**
 * The paths Relay reads on the extension host's machine, which in a remote window (Remote-SSH,
 * WSL, Dev Containers) is the remote one. Machine-scoped, VS Code reads them there from the
 * remote machine's settings alone and writes "Relay: Select Model"'s choice there, so no
 * window points at another machine's folder; no workspace sets them either. (Not
 * 'application-machine': an extension's manifest has no such scope, VS Code reads it as
 * window, which a workspace may set.) Where the prompts go (relay.slm.kind, serverUrl,
 * serverModel) stays application-scoped: a dev container's devcontainer.json, which the
 * repository writes, sets machine settings.
 */
const MACHINE_SETTINGS = ['relay.slm.modelFolder', 'relay.provider.templateFolder'];

test("every setting that decides where data and keys go, what runs, prices or spending is application scoped, or machine scoped where it is the machine's", () => {
  for (const [name, setting] of Object.entries(settings)) {
    if (name in WORKSPACE_SETTINGS) {
      const expected = /machine-overridable/.test(WORKSPACE_SETTINGS[name]) ? 'machine-overridable' : undefined;
      assert.equal(setting.scope, expected, `${name} a workspace may set: ${WORKSPACE_SETTINGS[name]}`);
      continue;
    }
    const expected = MACHINE_SETTINGS.includes(name) ? 'machine' : 'application';
    assert.equal(setting.scope, expected, `${name} has scope ${setting.scope ?? 'window'}: classify it (a workspace could set it)`);
  }
  for (const name of [
    'relay.provider.baseUrl',
    'relay.provider.kind',
    'relay.models.hubEndpoint',
    'relay.localOnly',
    'relay.mode',
    'relay.slm.kind',
    'relay.slm.serverUrl',
  ]) {
    assert.equal(settings[name].scope, 'application', name);
  }
  for (const name of MACHINE_SETTINGS) assert.equal(settings[name].scope, 'machine', name);
});

test("paths on this machine (and the variant chosen with the folder) are left out of Settings Sync: another machine's folder is elsewhere", () => {
  const synced = manifest.contributes.configuration.properties as Record<string, { ignoreSync?: boolean }>;
  for (const name of ['relay.slm.modelFolder', 'relay.slm.variant', 'relay.provider.templateFolder']) assert.equal(synced[name].ignoreSync, true, name);
});

test('Restricted Mode: supported with limits, and every non-workspace setting and the money knobs are restricted', () => {
  const untrusted = manifest.capabilities?.untrustedWorkspaces;
  assert.equal(untrusted?.supported, 'limited');
  const restricted = new Set<string>(untrusted.restrictedConfigurations);
  for (const [name, setting] of Object.entries(settings)) {
    const expected = setting.scope !== undefined || /restricted/.test(WORKSPACE_SETTINGS[name] ?? '');
    assert.equal(restricted.has(name), expected, `${name} restricted: ${restricted.has(name)}`);
  }
});

test("the README's settings table says each setting's scope", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const rows = readme.split('\n').filter((line) => line.startsWith('| `relay.'));
  for (const [name, setting] of Object.entries(settings)) {
    const row = rows.find((line) => line.split('|')[1].includes(`\`${name}\``));
    assert.ok(row, `${name} has a row`);
    const scope = row.split('|')[2].trim();
    const restricted = /restricted/.test(WORKSPACE_SETTINGS[name] ?? '') ? ', restricted' : '';
    assert.equal(scope, `${setting.scope ?? 'workspace'}${restricted}`, name);
  }
});

test("the relay.mode setting offers exactly the registry's modes, with its descriptions", () => {
  const mode = settings['relay.mode'] as { enum: string[]; enumDescriptions: string[] };
  assert.deepEqual(mode.enum, ['auto', ...SETTINGS_MODES]);
  assert.deepEqual(
    mode.enumDescriptions.slice(1),
    SETTINGS_MODES.map((m) => RELAY_POLICIES[m].description),
  );
});

test("the relay.provider.kind setting offers exactly the registry's providers, with their labels", () => {
  const kind = settings['relay.provider.kind'] as { enum: string[]; enumDescriptions: string[] };
  assert.deepEqual(kind.enum, PROVIDER_KINDS);
  assert.deepEqual(
    kind.enumDescriptions,
    PROVIDER_KINDS.map((k) => PROVIDERS[k].label),
  );
});

test('the relay.slm.kind setting offers exactly the SLM kinds, onnx by default, the servers described by their wire forms', () => {
  const kind = settings['relay.slm.kind'] as { enum: string[]; enumDescriptions: string[]; default: string };
  assert.deepEqual(kind.enum, SLM_KINDS);
  assert.equal(kind.default, 'onnx');
  assert.deepEqual(kind.enumDescriptions.slice(1), [SERVED_WIRE_FORMS['completions-server'].label, SERVED_WIRE_FORMS.ollama.label]);
});

test('every settings enum that repeats a registry equals it (npm run manifest writes them)', () => {
  assert.deepEqual(manifest, withRegistryEnums(manifest), 'package.json differs from the registries: run npm run manifest');
  const variant = settings['relay.slm.variant'] as { enum: string[] };
  assert.ok(variant.enum.includes('q4f16') && variant.enum[0] === 'auto', 'the variants come from the registry');
});

test('descriptions say where a setting acts: the modes of the hand-off knobs, the models a temperature reaches, the machine of a path or address', () => {
  const described = settings as Record<string, { description?: string; markdownDescription?: string }>;
  const text = (name: string) => described[name].description ?? described[name].markdownDescription ?? '';
  // maxTurns is read by command mode alone (policies/registry.ts); the confidence gate and span also drive money-aware.
  assert.match(text('relay.maxTurns'), /^Command mode only\b/);
  assert.match(text('relay.confidence.threshold'), /^Confidence and money-aware modes:/);
  assert.match(text('relay.confidence.spanTokens'), /^Confidence mode: .*Money-aware mode: the fewest/);
  // Anthropic takes [0, 1] (anthropic.ts); models that refuse sampling are sent no temperature (modelCapabilities.ts).
  assert.match(text('relay.temperature'), /Anthropic takes at most 1/);
  assert.match(text('relay.temperature'), /Models that refuse a temperature are sent none.*gpt-5.*Claude from 4\.7 on/);
  for (const name of ['relay.slm.modelFolder', 'relay.slm.serverUrl'])
    assert.match(text(name), /In a remote window \(Remote-SSH[^)]*\) Relay runs on the remote machine/, name);
});
