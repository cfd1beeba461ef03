/**
 * How long a served SLM's requests wait (servedRuntime.ts): a cold server may load its model
 * before the first byte; a busy one queues. The answer's silence ceiling stays above the
 * connect and first-byte waits (compose.ts), so a slow server is reported by its own timeout.
 * Bytes that carry no token (keep-alives) do not extend these waits (servedRuntime.ts).
 */
import type { HttpTimeouts } from '../../providers/http';

export const SERVED_SLM_TIMEOUTS: Readonly<HttpTimeouts> = { connectTimeoutMs: 10_000, firstByteTimeoutMs: 300_000, idleTimeoutMs: 60_000 };

/**
 * Tries a served SLM's request makes at a silent server: one, as a timeout is not retried
 * (servedRuntime.ts sends a request again only after a 400 or 422 to a prompt of token ids,
 * an answer of the server, not its silence).
 */
export const SERVED_SLM_SILENT_TRIES = 1;
