/**
 * Typed provider errors. Every message says what to do, and nothing that reaches a
 * message (server bodies included) may carry an API key: all text is scrubbed first.
 */

export type ProviderErrorCode =
  | 'auth'
  | 'rate_limit'
  | 'quota'
  | 'model_not_found'
  | 'network'
  | 'timeout'
  | 'bad_response'
  | 'bad_request'
  | 'cancelled'
  | 'server';

/** A hint the UI turns into a button. */
export type ProviderFix = 'set-key' | 'open-settings' | 'pick-model' | 'retry' | undefined;

export interface ProviderErrorDetails {
  fix?: ProviderFix;
  /** HTTP status, when the server answered. */
  status?: number;
  /** Whether trying again may help (the retry loop reads this). */
  retryable?: boolean;
  /** What the server asked us to wait (Retry-After), in milliseconds. */
  retryAfterMs?: number;
  /** True when some text of this call had already been streamed to the caller. */
  textStreamed?: boolean;
}

export class ProviderError extends Error {
  readonly code: ProviderErrorCode;
  readonly fix: ProviderFix;
  readonly status?: number;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  textStreamed: boolean;

  constructor(code: ProviderErrorCode, message: string, details: ProviderErrorDetails = {}, secrets: readonly string[] = []) {
    // Scrub before super(): the stack trace embeds the message.
    super(scrubSecrets(message, secrets));
    this.name = 'ProviderError';
    this.code = code;
    this.fix = details.fix;
    this.status = details.status;
    this.retryable = details.retryable ?? false;
    this.retryAfterMs = details.retryAfterMs;
    this.textStreamed = details.textStreamed ?? false;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, fix: this.fix, status: this.status, message: this.message };
  }
}

export function isProviderError(value: unknown): value is ProviderError {
  return value instanceof ProviderError;
}

const REDACTED = '[redacted]';

/**
 * Removes API keys from text: the known key values, anything shaped like a key
 * (sk-..., Bearer ...), header assignments (x-api-key: ..., api-key=...), and masked
 * fragments of a known key that servers echo back ("sk-abc***xyz").
 */
export function scrubSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length > 0) out = out.split(secret).join(REDACTED);
  }
  out = out
    .replace(/\b(Bearer|Basic)\s+[^\s"',;}]+/gi, `$1 ${REDACTED}`)
    .replace(/((?:x-api-key|api-key|api_key|apikey|authorization|key)["']?\s*[:=]\s*["']?)[^\s"',;}&]+/gi, `$1${REDACTED}`)
    .replace(/\bsk-[A-Za-z0-9_*.-]{4,}/g, REDACTED);
  const known = secrets.filter((s) => s.length >= 8);
  if (known.length > 0) {
    out = out.replace(/[A-Za-z0-9_*.-]{6,}/g, (word) => {
      const fragments = word.split(/[*.]+/).filter((part) => part.length >= 4);
      return fragments.some((part) => known.some((key) => key.includes(part))) ? REDACTED : word;
    });
  }
  return out;
}

/** What to show when no key is stored for a service that needs one. */
export function missingKeyError(kind: string, envHint: string): ProviderError {
  return new ProviderError(
    'auth',
    `No API key is set for the ${kind} provider. Set the key with 'Relay: Set API Key' (CLI: set ${envHint}).`,
    { fix: 'set-key' },
  );
}
