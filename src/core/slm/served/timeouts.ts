/**
 * How long a served SLM's requests wait (servedRuntime.ts): a cold server may load its model
 * before the first byte; a busy one queues. The answer's silence ceiling stays above the
 * connect and first-byte waits (compose.ts), so a slow server is reported by its own timeout.
 */
import type { HttpTimeouts } from '../../providers/http';

export const SERVED_SLM_TIMEOUTS: Readonly<HttpTimeouts> = { connectTimeoutMs: 10_000, firstByteTimeoutMs: 300_000, idleTimeoutMs: 60_000 };
