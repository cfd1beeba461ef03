/**
 * OpenAI's pro models against a FakeServer. Their Responses stream: what OpenAI sends at once
 * (response.created, in_progress, a reasoning item with no summary), a silence while the model
 * reasons, then the text. The silence lasts until the test opens a gate (it saw what it waits
 * for), bounded, so that a test whose gate never opens fails on its assertions, never hangs.
 * Also the test file's server on OpenAI's API, and providers of a model on it.
 */
import type { ServerResponse } from 'node:http';
import { after, before, beforeEach } from 'node:test';
import { createProvider } from '../../../../src/core/providers/factory';
import { forgetLearnedFacts } from '../../../../src/core/providers/modelCapabilities';
import { MemoryKeySource } from '../../../../src/core/providers/secrets';
import type { LlmProvider, ProviderConfig } from '../../../../src/core/providers/types';
import { loopbackAgent, sendJson, startFakeServer, type FakeServer, type Responder } from './harness';

const event = (data: Record<string, unknown>) => `event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`;

export const PRO_PRELUDE =
  event({ type: 'response.created', response: { id: 'resp_1', status: 'in_progress' } }) +
  event({ type: 'response.in_progress', response: { id: 'resp_1', status: 'in_progress' } }) +
  event({ type: 'response.output_item.added', output_index: 0, item: { id: 'rs_1', type: 'reasoning', summary: [] } });

const MESSAGE_OPENS =
  event({ type: 'response.output_item.done', output_index: 0, item: { id: 'rs_1', type: 'reasoning', summary: [] } }) +
  event({ type: 'response.output_item.added', output_index: 1, item: { id: 'msg_1', type: 'message', role: 'assistant', content: [] } });
const delta = (text: string) => event({ type: 'response.output_text.delta', item_id: 'msg_1', output_index: 1, content_index: 0, delta: text });
/** The usage a pro model's answer reports: most of its output is billed reasoning. */
export const PRO_USAGE = { input_tokens: 40, output_tokens: 300, output_tokens_details: { reasoning_tokens: 296 } };
const COMPLETED = event({ type: 'response.completed', response: { id: 'resp_1', status: 'completed', usage: PRO_USAGE } });

/** The reasoning done: the message opened and its first `pieces` of text. */
export function proTextBegins(pieces: readonly string[]): string {
  return MESSAGE_OPENS + pieces.map(delta).join('');
}

/** More `pieces` of the text, then the end and the usage. */
export function proTextEnds(pieces: readonly string[]): string {
  return pieces.map(delta).join('') + COMPLETED;
}

/** The text, its end and the usage: what comes once the reasoning is done. */
export function proText(pieces: readonly string[]): string {
  return proTextBegins(pieces) + proTextEnds([]);
}

/** A gate the test opens when it saw what it waits for; `opened` also resolves after `boundMs` (a failure guard, not a timing). */
export class Gate {
  private release!: () => void;
  private readonly released = new Promise<void>((resolve) => (this.release = resolve));
  isOpen = false;

  open(): void {
    this.isOpen = true;
    this.release();
  }

  opened(boundMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, boundMs)));
    return Promise.race([this.released, bound]).finally(() => clearTimeout(timer));
  }
}

const GATE_BOUND_MS = 15_000;

/** The prelude at once, silence until `gate` opens (bounded), then `pieces` and the end. */
export function reasonsUntil(gate: Gate, pieces: readonly string[]): Responder {
  return async (_request, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    res.write(PRO_PRELUDE);
    await gate.opened(GATE_BOUND_MS);
    if (!res.destroyed) res.end(proText(pieces));
  };
}

/** OpenAI's free token count (asked for an answer's figures) answered at once, 40 tokens; any other request by `respond`. */
export function countingTokens(respond: Responder): Responder {
  return (request, res) =>
    request.path.endsWith('/responses/input_tokens') ? sendJson(res, 200, { object: 'response.input_tokens', input_tokens: 40 }) : respond(request, res);
}

/** The key the providers of these tests hold. */
export const openAiKeys = () => new MemoryKeySource({ 'openai-chat': 'sk-test-pro-reasoning-0123456789abcdef' });

export interface OpenAiServer {
  /** Started before the file's tests, closed after them. */
  readonly server: FakeServer;
  /** A provider of `model` on OpenAI's API (api.openai.com, answered by the server), with `config` (its timeouts). */
  provider(model: string, config: Partial<ProviderConfig>): LlmProvider;
}

/**
 * The calling test file's server on OpenAI's API (`fallback` answers what no test queued);
 * before each test its queue and what was learned of models are cleared.
 */
export function useOpenAiServer(fallback: Responder): OpenAiServer {
  let server: FakeServer | undefined;
  const used: OpenAiServer = {
    get server() {
      if (!server) throw new Error('the server starts before the tests');
      return server;
    },
    provider: (model, config) =>
      createProvider({ kind: 'openai-chat', baseUrl: 'http://api.openai.com/v1', model, ...config }, openAiKeys(), {
        agents: { http: loopbackAgent(used.server.url) },
      }),
  };
  before(async () => {
    server = await startFakeServer(fallback);
  });
  after(() => server?.close());
  beforeEach(() => {
    forgetLearnedFacts();
    used.server.queue.length = 0;
  });
  return used;
}
