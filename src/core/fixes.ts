/**
 * The fixes an error can offer, from the provider that raised it to the button in the
 * view: one list, typed end to end (the webview checks messages against it too).
 */
export const FIXES = ['set-key', 'open-settings', 'pick-model', 'retry'] as const;

export type Fix = (typeof FIXES)[number];
