/**
 * `~` in a path setting, read alike by the CLI (flags, RELAY_* variables, ~/.relay/config.json)
 * and by VS Code (relay.slm.modelFolder, relay.provider.templateFolder, onnx-local's
 * relay.provider.model): no shell expands it in a quoted value, after `=` or in a settings file.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * `path` with a leading `~/` (or `~` alone; `~\` on Windows) as the home folder; anything
 * else (`~user/`, a `~` further in) as it is.
 */
/**
 * A path as a user pasted it: one pair of surrounding double quotes dropped (Windows Explorer's
 * "Copy as path" adds them, cmd's `set VAR="..."` keeps them), then `~` expanded (expandHome).
 */
export function pastedPath(path: string, home: string = homedir(), platform: NodeJS.Platform = process.platform): string {
  return expandHome(path.replace(/^"(.*)"$/, '$1'), home, platform);
}

export function expandHome(path: string, home: string = homedir(), platform: NodeJS.Platform = process.platform): string {
  if (path === '~') return home;
  if (path.startsWith('~/') || (platform === 'win32' && path.startsWith('~\\'))) return join(home, path.slice(2));
  return path;
}
