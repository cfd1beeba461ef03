/**
 * The settings enums package.json repeats from the registries (provider kinds, relay
 * policies, model variants, caching choices). VS Code reads the manifest as plain JSON, so
 * it cannot import them: `npm run manifest` writes them, and a unit test fails while the
 * manifest differs. Adding a provider or a policy stays one file plus one registry entry.
 */
import { CACHING_CHOICES, CACHING_DESCRIPTIONS } from '../src/core/providers/billing';
import { PROVIDER_KINDS, PROVIDERS } from '../src/core/providers/registry';
import { RELAY_POLICIES, SETTINGS_MODES } from '../src/core/relay/policies/registry';
import { SERVED_WIRE_FORMS } from '../src/core/slm/served/registry';
import { SLM_KINDS, VARIANT_CHOICES } from '../src/core/slm/types';

interface EnumSetting {
  enum?: string[];
  enumDescriptions?: string[];
}

/** relay.slm.kind's own choice: the folder run by Relay (the served kinds are described by their wire forms). */
const ONNX_KIND_DESCRIPTION = 'The ONNX folder (relay.slm.modelFolder), run by Relay on this machine.';

/** What each registry-derived setting must offer; `auto` is each setting's own first choice. */
function derivedEnums(current: Record<string, EnumSetting>): Record<string, EnumSetting> {
  const autoDescription = current['relay.mode']?.enumDescriptions?.[0] ?? 'Chosen from the small model and the prices.';
  return {
    'relay.provider.kind': { enum: [...PROVIDER_KINDS], enumDescriptions: PROVIDER_KINDS.map((k) => PROVIDERS[k].label) },
    'relay.mode': { enum: ['auto', ...SETTINGS_MODES], enumDescriptions: [autoDescription, ...SETTINGS_MODES.map((m) => RELAY_POLICIES[m].description)] },
    'relay.slm.variant': { enum: [...VARIANT_CHOICES] },
    'relay.slm.kind': { enum: [...SLM_KINDS], enumDescriptions: SLM_KINDS.map((k) => (k === 'onnx' ? ONNX_KIND_DESCRIPTION : SERVED_WIRE_FORMS[k].label)) },
    'relay.provider.caching': { enum: [...CACHING_CHOICES], enumDescriptions: CACHING_CHOICES.map((c) => CACHING_DESCRIPTIONS[c]) },
  };
}

/** The manifest with every registry-derived enum as the registries say (a copy; other fields untouched). */
export function withRegistryEnums<T extends { contributes: { configuration: { properties: Record<string, EnumSetting> } } }>(manifest: T): T {
  const copy = structuredClone(manifest);
  const properties = copy.contributes.configuration.properties;
  for (const [name, enums] of Object.entries(derivedEnums(properties))) {
    if (!properties[name]) throw new Error(`package.json has no setting ${name}.`);
    Object.assign(properties[name], enums);
  }
  return copy;
}
