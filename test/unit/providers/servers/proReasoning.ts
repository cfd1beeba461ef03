/**
 * OpenAI's Responses stream of a pro model, for a FakeServer: what OpenAI sends at once
 * (response.created, in_progress, a reasoning item with no summary), a silence while the model
 * reasons, then the text. The silence lasts until the test opens a gate (it saw what it waits
 * for), bounded, so that a test whose gate never opens fails on its assertions, never hangs.
 */
import type { ServerResponse } from 'node:http';
import type { Responder } from './harness';

const event = (data: Record<string, unknown>) => `event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`;

export const PRO_PRELUDE =
  event({ type: 'response.created', response: { id: 'resp_1', status: 'in_progress' } }) +
  event({ type: 'response.in_progress', response: { id: 'resp_1', status: 'in_progress' } }) +
  event({ type: 'response.output_item.added', output_index: 0, item: { id: 'rs_1', type: 'reasoning', summary: [] } });

const MESSAGE_OPENS =
  event({ type: 'response.output_item.done', output_index: 0, item: { id: 'rs_1', type: 'reasoning', summary: [] } }) +
  event({ type: 'response.output_item.added', output_index: 1, item: { id: 'msg_1', type: 'message', role: 'assistant', content: [] } });
const delta = (text: string) => event({ type: 'response.output_text.delta', item_id: 'msg_1', output_index: 1, content_index: 0, delta: text });
const USAGE = { input_tokens: 40, output_tokens: 300, output_tokens_details: { reasoning_tokens: 296 } };
const COMPLETED = event({ type: 'response.completed', response: { id: 'resp_1', status: 'completed', usage: USAGE } });

/** The text, its end and the usage: what comes once the reasoning is done. */
export function proText(pieces: readonly string[]): string {
  return MESSAGE_OPENS + pieces.map(delta).join('') + COMPLETED;
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
