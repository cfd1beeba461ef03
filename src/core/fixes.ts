/**
 * The fixes an error can offer, from the provider that raised it to the button in the
 * view: one list, typed end to end (the webview checks messages against it too).
 * - set-key: the provider's API key ("Relay: Set API Key").
 * - open-settings: the relay.* settings (VS Code: the setting refused, where its value is written).
 * - pick-model: the small model ("Relay: Select Model").
 * - llm-model: the large model's name at its provider (relay.provider.model).
 * - retry: the same again.
 * - try-demo: the embedded demo ("Relay: Try the Demo"), for a set-up not done yet.
 */
export const FIXES = ['set-key', 'open-settings', 'pick-model', 'llm-model', 'retry', 'try-demo'] as const;

export type Fix = (typeof FIXES)[number];
