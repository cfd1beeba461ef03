/**
 * The default waits and retries of one LLM call (relay.provider.*TimeoutSeconds and the retry
 * policy). Their own module, free of imports: the money ceiling (relay/limits.ts) reads the call
 * timeout too, and importing it from base.ts closed an import cycle through the provider registry.
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_FIRST_BYTE_TIMEOUT_MS = 60_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
export const DEFAULT_CALL_TIMEOUT_MS = 300_000;
export const DEFAULT_MAX_RETRIES = 2;
export const DEFAULT_RETRY_BASE_DELAY_MS = 500;
export const DEFAULT_MAX_RETRY_DELAY_MS = 30_000;
