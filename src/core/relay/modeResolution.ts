/**
 * What a small model's folder says about relaying, and the 'auto' mode built on it,
 * shared by the extension and the CLI. config.json may carry:
 * - `relay_trained: true`: the model was trained to write `<call>N</call>` (RelayLLM), so
 *   'auto' picks command mode; any other model gets money-aware mode where the LLM's price is
 *   known, else confidence mode (resolveRelayMode).
 * - `relay_llm_context`: how its commands appeared in the LLM's context during training:
 *   'commands_as_space' (the paper: each command replaced by a space) or
 *   'commands_removed' (the demo models of training/). Absent: the paper's space.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RelayMode } from './events';
import { readModelFile } from '../slm/modelFolder';

/** A mode as a user sets it: a concrete mode, or 'auto' (decided by the model folder). */
export type RequestedMode = RelayMode | 'auto';

export interface SlmRelayTraits {
  /** config.json says relay_trained: true. */
  trainedToCall: boolean;
  /** What replaces a command in the LLM's context (RelayOptions.commandReplacement); undefined = the paper's space. */
  commandReplacement: string | undefined;
}

const LLM_CONTEXT: Record<string, string> = { commands_as_space: ' ', commands_removed: '' };

/**
 * Reads the relay fields of `folder`/config.json. A folder without a readable config.json
 * (missing, not JSON, no regular file, too large: modelFileProblem) has no relay traits
 * (the runtime reports a broken folder itself); a relay field with a
 * value this version does not know is an error naming the field and the values it takes.
 */
export function readSlmRelayTraits(folder: string): SlmRelayTraits {
  const file = join(folder, 'config.json');
  let config: Record<string, unknown>;
  try {
    // Read in the extension host: a config.json that is no regular file (a FIFO would block, /dev/zero never ends) or is far too large is not read.
    const parsed: unknown = existsSync(file) ? JSON.parse(readModelFile(file)) : {};
    // null or an array is no config (the model folder's loader says so); it has no relay fields.
    config = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    config = {};
  }
  const context = config.relay_llm_context;
  if (context !== undefined && (typeof context !== 'string' || !(context in LLM_CONTEXT))) {
    throw new Error(
      `${file}: relay_llm_context is ${JSON.stringify(context)}; it must be one of ${Object.keys(LLM_CONTEXT).join(', ')} (or left out for the paper's space).`,
    );
  }
  // "yes" or 1 would silently leave a trained model in confidence mode: a value other than true or false is named.
  const trained = config.relay_trained;
  if (trained !== undefined && typeof trained !== 'boolean') {
    throw new Error(
      `${file}: relay_trained is ${JSON.stringify(trained)}; it must be true or false (without quotes), or left out for a model not trained to call.`,
    );
  }
  return {
    trainedToCall: trained === true,
    commandReplacement: typeof context === 'string' ? LLM_CONTEXT[context] : undefined,
  };
}

/** 'auto' -> command mode for models trained to call; for all others the money-aware relay when the LLM's price is known, else confidence mode; other modes as given. */
export function resolveRelayMode(requested: RequestedMode, traits: SlmRelayTraits, llm: { priceKnown?: boolean } = {}): RelayMode {
  if (requested !== 'auto') return requested;
  if (traits.trainedToCall) return 'command';
  return llm.priceKnown ? 'money-aware' : 'confidence';
}
