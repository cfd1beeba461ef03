/**
 * The models a small model's server says it serves, for the error that says it does not
 * serve the one set: one short GET of its model list, bounded in time and size, the names
 * cleaned and few (a server's text is untrusted). Undefined where the list could not be
 * had: the error is then said without it.
 */
import type { IncomingMessage } from 'node:http';
import { openExchange, readBounded } from '../../http/exchange';
import { shownServerText, type ServedWireForm } from './wireForm';

/** The whole request, connect to last byte: the user is waiting for the error this adds to. */
const MODEL_LIST_DEADLINE_MS = 5_000;
/** A list of hundreds of models (Ollama's tags carry details per model) fits; more is not read. */
const MODEL_LIST_BYTES = 1024 * 1024;
export const MODEL_NAMES_SHOWN = 8;
const MODEL_NAME_CHARS = 80;

export interface ServedModelList {
  /** At most MODEL_NAMES_SHOWN names, cleaned and bounded (a cut one ends in "…"). */
  names: string[];
  /** Names listed besides those. */
  more: number;
}

export interface ServedModelsOptions {
  signal?: AbortSignal;
  /** The whole request's deadline (default MODEL_LIST_DEADLINE_MS). */
  deadlineMs?: number;
}

export async function servedModels(wireForm: ServedWireForm, url: URL, options: ServedModelsOptions = {}): Promise<ServedModelList | undefined> {
  const { signal, deadlineMs = MODEL_LIST_DEADLINE_MS } = options;
  const endpoint = wireForm.modelsEndpoint(url);
  let text: string;
  try {
    text = await openExchange<Error, string>({
      url: endpoint,
      method: 'GET',
      headers: { accept: 'application/json' },
      // A connection of its own: a body left unread never goes back to a pool.
      agent: false,
      signal,
      // One deadline for the whole exchange: the timer armed here runs on past the connection.
      connectTimeoutMs: deadlineMs,
      connected: () => undefined,
      errors: {
        own: (_error): _error is Error => false,
        cancelled: () => new Error('cancelled'),
        connectTimeout: () => new Error('timed out'),
        network: (error) => error,
      },
      response: (res: IncomingMessage, exchange) => {
        if ((res.statusCode ?? 0) !== 200) {
          exchange.fail(new Error(`HTTP ${res.statusCode}`));
          return;
        }
        readBounded(res, MODEL_LIST_BYTES, { stopAtLimit: true }).then(
          ({ text: body, overflowed }) => {
            exchange.end();
            res.destroy();
            if (overflowed) exchange.reject(new Error('too long'));
            else exchange.resolve(body);
          },
          (error: Error) => exchange.fail(error),
        );
      },
    });
  } catch {
    return undefined;
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  // Distinct names before they are cut, so that two which differ only past the cut both count.
  const names = [...new Set(wireForm.modelNames(body))].map((name) => shownServerText(name, MODEL_NAME_CHARS)).filter((name) => name.length > 0);
  return { names: names.slice(0, MODEL_NAMES_SHOWN), more: Math.max(0, names.length - MODEL_NAMES_SHOWN) };
}
