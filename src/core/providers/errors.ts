/**
 * Typed provider errors. Every message says what to do, and nothing that reaches a
 * message (server bodies included) may carry an API key: all text is scrubbed first.
 * The hints that name a fix (for the VS Code way and the CLI way) live here too.
 */
import type { Fix } from '../fixes';
import { settingRef } from '../settingNames';
import { escapeRegExp } from '../../shared/escapeRegExp';

export type ProviderErrorCode =
  'auth' | 'rate_limit' | 'quota' | 'model_not_found' | 'network' | 'timeout' | 'bad_response' | 'bad_request' | 'cancelled' | 'server';

/** A hint the UI turns into a button (src/core/fixes.ts). */
export type ProviderFix = Fix | undefined;

export interface ProviderErrorDetails {
  fix?: ProviderFix;
  /** HTTP status, when the server answered. */
  status?: number;
  /** Whether trying again may help (the retry loop reads this). */
  retryable?: boolean;
  /** What the server asked us to wait (Retry-After), in milliseconds. */
  retryAfterMs?: number;
  /** A few words for a progress line ("no response for 60 s"); default: "HTTP <status>" or the code. */
  summary?: string;
  /** The request field the server's error names in error.param (OpenAI's bodies), for reading a refusal (refusals.ts). */
  param?: string;
}

export class ProviderError extends Error {
  readonly code: ProviderErrorCode;
  readonly fix: ProviderFix;
  readonly status?: number;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  /** A few words for a progress line, e.g. the reason of a retry: "HTTP 503", "no response for 60 s". */
  readonly summary: string;
  /** The request field the server named in error.param ("reasoning_effort", "reasoning.effort"), if any: not shown. */
  readonly param?: string;
  /**
   * True when bytes of a success response body had arrived before the call failed: the
   * service may bill the call, and it was not retried. Set by the retry loop.
   */
  responseStarted = false;

  constructor(code: ProviderErrorCode, message: string, details: ProviderErrorDetails = {}, secrets: readonly string[] = []) {
    // Scrub before super(): the stack trace embeds the message.
    super(scrubSecrets(message, secrets));
    this.name = 'ProviderError';
    this.code = code;
    this.fix = details.fix;
    this.status = details.status;
    this.retryable = details.retryable ?? false;
    this.retryAfterMs = details.retryAfterMs;
    this.summary = scrubSecrets(details.summary ?? (details.status ? `HTTP ${details.status}` : code.replace(/_/g, ' ')), secrets);
    this.param = details.param;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, fix: this.fix, status: this.status, responseStarted: this.responseStarted, message: this.message };
  }
}

export function isProviderError(value: unknown): value is ProviderError {
  return value instanceof ProviderError;
}

const REDACTED = '[redacted]';
/** A known secret this long is scrubbed wherever it appears, inside other text too; a shorter one only as a whole word. */
const SUBSTRING_SECRET_CHARS = 8;

/**
 * Removes API keys and tokens from text: the known values, anything shaped like one
 * (sk-..., hf_..., Bearer ...), header assignments (x-api-key: ..., api-key=...), and
 * masked fragments of a known key that servers echo back ("sk-abc***xyz").
 */
export function scrubSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= SUBSTRING_SECRET_CHARS) out = out.split(secret).join(REDACTED);
    // A short one (a test key such as "x") only where it stands alone: inside words it would garble the message, not hide a key.
    else if (secret.length > 0) out = out.replace(new RegExp(`(?<![A-Za-z0-9_-])${escapeRegExp(secret)}(?![A-Za-z0-9_-])`, 'g'), REDACTED);
  }
  out = out
    // A scheme followed by a word in lower case is prose ("missing bearer token"), not a credential.
    .replace(/\b(Bearer|Basic)\s+([^\s"',;}]+)/gi, (found, scheme: string, token: string) => (/^[a-z]+$/.test(token) ? found : `${scheme} ${REDACTED}`))
    .replace(/((?:x-api-key|api-key|api_key|apikey|authorization|key)["']?\s*[:=]\s*["']?)[^\s"',;}&]+/gi, `$1${REDACTED}`)
    .replace(/\bsk-[A-Za-z0-9_*.-]{4,}/g, REDACTED)
    // Hugging Face access tokens (the model hub's).
    .replace(/\bhf_[A-Za-z0-9]{8,}/g, REDACTED);
  const known = secrets.filter((s) => s.length >= 8);
  if (known.length > 0) {
    out = out.replace(/[A-Za-z0-9_*.-]{6,}/g, (word) => {
      const fragments = word.split(/[*.]+/).filter((part) => part.length >= 4);
      return fragments.some((part) => known.some((key) => key.includes(part))) ? REDACTED : word;
    });
  }
  return out;
}

/** Where a kind's key comes from: "Set the key with 'Relay: Set API Key' (CLI: set RELAY_API_KEY or OPENAI_API_KEY)". */
export function setKeyHint(keyEnv: readonly string[]): string {
  return `Set the key with 'Relay: Set API Key' (CLI: set ${keyEnv.join(' or ')})`;
}

/** What to show when no key is stored for a service that needs one. */
export function missingKeyError(kind: string, keyEnv: readonly string[]): ProviderError {
  return new ProviderError('auth', `No API key is set for the ${kind} provider. ${setKeyHint(keyEnv)}.`, { fix: 'set-key' });
}

/** "60 s", "0.2 s": durations in messages are in seconds, the unit of the settings. */
export function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  if (seconds >= 10) return `${Math.round(seconds)} s`;
  const tenths = Math.round(seconds * 10) / 10;
  return `${tenths > 0 ? tenths : Math.round(seconds * 1000) / 1000} s`;
}

/** The one text per fix, naming the VS Code way and the CLI way (lower case: it follows "Fix: "). */
export function fixHint(fix: ProviderFix): string {
  switch (fix) {
    case 'set-key':
      return "set the key with 'Relay: Set API Key' (CLI: the RELAY_API_KEY environment variable or the provider's own)";
    case 'open-settings':
      return 'check the provider settings, relay.provider.* (CLI: --provider, --base-url, --model; see relay help)';
    case 'pick-model':
      return "pick another small model with 'Relay: Select Model' (CLI: --slm)";
    case 'llm-model':
      return `pick another model in ${settingRef('model')}`;
    case 'retry':
      return 'try again in a moment';
    case 'try-demo':
      return "see the idea with no set-up: 'Relay: Try the Demo' (CLI: relay demo)";
    default:
      return '';
  }
}

/**
 * The fix of a provider or engine error code, for callers that only have the code (the
 * extension gets `{ code, message }` events).
 */
export function fixForCode(code: string): ProviderFix {
  switch (code) {
    case 'auth':
      return 'set-key';
    case 'model_not_found':
      return 'llm-model';
    case 'bad_request':
    case 'bad_response':
    case 'quota':
      return 'open-settings';
    case 'rate_limit':
    case 'network':
    case 'timeout':
    case 'server':
      return 'retry';
    default:
      return undefined;
  }
}
