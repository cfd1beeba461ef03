/**
 * Billing servers of bench:cost: real HTTP servers on 127.0.0.1 (port 0) that speak the
 * OpenAI chat-completions streaming format (SSE, a final usage chunk with
 * prompt_tokens_details.cached_tokens when stream_options.include_usage) or the Anthropic
 * Messages streaming format (message_start with the cache read and write counts,
 * content_block_delta, message_delta with output_tokens, message_stop), and bill each
 * request by one caching rule:
 * - openai-prefix: prompts of 1,024 tokens or more; the cached prefix is 1,024 + a whole
 *   number of 128-token steps of the longest token prefix shared with any earlier request
 *   since begin() (the price of cached tokens, 50% or 90% off, is the client's business);
 * - breakpoints: Anthropic's explicit cache_control breakpoints: the longest prefix that an
 *   earlier request wrote (at one of its breakpoints, 1,024 tokens or more) and that ends at
 *   one of this request's breakpoints or at one of the LOOKBACK_BLOCKS content block
 *   boundaries before one is read (Anthropic looks back about 20 blocks from a breakpoint
 *   for a hit); from there to the request's last breakpoint is written;
 * - none: no caching.
 * The server counts tokens with its own tokenizer (text.ts, serverTokens), not the SLM's.
 *
 * What it writes: the trace's reference answer. It finds how much of the reference the
 * request's partial answer already covers (a prefilled or `prefix: true` assistant turn,
 * or the assistant turn before Relay's "continue" instruction) and streams the next
 * max_tokens (max_completion_tokens) tokens of it, finishing with 'length', or 'stop' at
 * the end of the reference. A client that closes the connection is billed only for the
 * tokens streamed before it did. Every request is booked in `ledger`. Token counts
 * (POST /v1/messages/count_tokens, /v1/responses/input_tokens) are answered free, as the
 * services do: the input a request of that body would be billed for, not booked.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { CONTINUE_INSTRUCTION } from '../../src/core/providers/seam';
import { alignEnd, serverTokens } from './text';

export type BillingRule = 'openai-prefix' | 'breakpoints' | 'none';
export type WireFormat = 'openai' | 'anthropic';

export const CACHE_MIN_TOKENS = 1024;
export const OPENAI_CACHE_STEP = 128;
/** Most bytes of a request body read. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Most tokens one response streams, whatever max_tokens says. */
const MAX_STREAM_TOKENS = 100_000;

/** One billed request. */
export interface BilledCall {
  /** All input tokens, cached and written ones included. */
  inputTokens: number;
  cachedTokens: number;
  cacheWriteTokens: number;
  /** Tokens streamed (billed): fewer than planned when the client closed the connection. */
  outputTokens: number;
  plannedTokens: number;
  maxTokens: number;
  finish: 'length' | 'stop' | 'cancelled';
  /** Where in the reference the request's partial answer ended (characters). */
  startChar: number;
  /** Whether the partial answer lined up with the reference without searching. */
  alignedExactly: boolean;
}

/** Token ids: the same text, the same id, for the whole life of a server. */
class Vocabulary {
  private readonly ids = new Map<string, number>();
  id(token: string): number {
    let id = this.ids.get(token);
    if (id === undefined) {
      id = this.ids.size + 1;
      this.ids.set(token, id);
    }
    return id;
  }
}

/** OpenAI's automatic prefix caching over the requests seen since reset(). */
export class PrefixCache {
  private readonly seen: Int32Array[] = [];

  constructor(
    readonly minTokens = CACHE_MIN_TOKENS,
    readonly step = OPENAI_CACHE_STEP,
  ) {}

  reset(): void {
    this.seen.length = 0;
  }

  /** The cached tokens of a request of these token ids; the request is then remembered. */
  bill(ids: Int32Array): number {
    let shared = 0;
    for (const earlier of this.seen) {
      const n = Math.min(earlier.length, ids.length);
      let i = 0;
      while (i < n && earlier[i] === ids[i]) i++;
      if (i > shared) shared = i;
    }
    this.seen.push(ids);
    if (ids.length < this.minTokens || shared < this.minTokens) return 0;
    return this.minTokens + Math.floor((shared - this.minTokens) / this.step) * this.step;
  }
}

/** How many content block boundaries before a breakpoint Anthropic checks for a cache hit ("about 20"). */
export const LOOKBACK_BLOCKS = 20;

/** Anthropic's explicit breakpoints over the requests seen since reset(). */
export class BreakpointCache {
  private readonly written = new Set<string>();

  constructor(readonly minTokens = CACHE_MIN_TOKENS) {}

  reset(): void {
    this.written.clear();
  }

  /**
   * Read and written tokens of a request of these token ids with breakpoints after the
   * given numbers of tokens and content blocks ending at `blockEnds`; its breakpoints are
   * then written (only breakpoints write; a hit may also end at a block boundary up to
   * LOOKBACK_BLOCKS before one).
   */
  bill(ids: Int32Array, breakpoints: number[], blockEnds: number[] = []): { read: number; write: number } {
    const keys = prefixKeys(ids);
    const usable = [...new Set(breakpoints)].filter((b) => b >= this.minTokens && b <= ids.length).sort((a, b) => a - b);
    const ends = [...new Set(blockEnds)].sort((a, b) => a - b);
    let read = 0;
    for (const b of usable) {
      const before = ends.filter((e) => e < b).slice(-LOOKBACK_BLOCKS);
      for (const at of [b, ...before]) if (at >= this.minTokens && this.written.has(keys(at))) read = Math.max(read, at);
    }
    const last = usable.length > 0 ? usable[usable.length - 1] : 0;
    const write = Math.max(0, last - read);
    for (const b of usable) this.written.add(keys(b));
    return { read, write };
  }
}

/** A key for each prefix length: two 32-bit rolling hashes (a collision is not a concern at these sizes). */
function prefixKeys(ids: Int32Array): (length: number) => string {
  const h1 = new Uint32Array(ids.length + 1);
  const h2 = new Uint32Array(ids.length + 1);
  for (let i = 0; i < ids.length; i++) {
    h1[i + 1] = (Math.imul(h1[i], 1_000_003) + ids[i]) >>> 0;
    h2[i + 1] = (Math.imul(h2[i] ^ 0x9e3779b9, 16_777_619) + ids[i] * 31) >>> 0;
  }
  return (length) => `${length}:${h1[length]}:${h2[length]}`;
}

export interface BillingServerOptions {
  format: WireFormat;
  rule: BillingRule;
  /** Tokens streamed per millisecond (the server waits 1 ms after each such group); default 8. */
  tokensPerMs?: number;
}

/** What a request asks for, read from its body. */
interface Parsed {
  ids: Int32Array;
  breakpoints: number[];
  /** Where each content block ends (token counts), for Anthropic's lookback. */
  blockEnds: number[];
  partial: string;
  maxTokens: number;
  includeUsage: boolean;
  stream: boolean;
  model: string;
}

export class BillingServer {
  readonly ledger: BilledCall[] = [];
  private reference = '';
  private readonly vocabulary = new Vocabulary();
  private readonly prefix = new PrefixCache();
  private readonly breakpoints = new BreakpointCache();
  private readonly sockets = new Set<Socket>();
  private nextId = 1;

  private constructor(
    private readonly server: Server,
    readonly origin: string,
    readonly options: BillingServerOptions,
  ) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(options: BillingServerOptions): Promise<BillingServer> {
    const holder: { server?: BillingServer } = {};
    const server = createServer((req, res) => {
      holder.server!.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: { type: 'api_error', message: String(error) } });
        else res.destroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('the billing server has no port');
    holder.server = new BillingServer(server, `http://127.0.0.1:${address.port}`, options);
    return holder.server;
  }

  /** The base URL for the provider: `/v1` under the origin for OpenAI, the origin for Anthropic. */
  get baseUrl(): string {
    return this.options.format === 'openai' ? `${this.origin}/v1` : this.origin;
  }

  /** Starts a run: the answer to write, an empty cache, an empty ledger. */
  begin(reference: string): void {
    this.reference = reference;
    this.prefix.reset();
    this.breakpoints.reset();
    this.ledger.length = 0;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    const expected = this.options.format === 'openai' ? '/v1/chat/completions' : '/v1/messages';
    const counting = this.options.format === 'openai' ? '/v1/responses/input_tokens' : '/v1/messages/count_tokens';
    if (req.method === 'POST' && path === counting) {
      await this.countTokens(req, res);
      return;
    }
    if (req.method !== 'POST' || path !== expected) {
      sendJson(res, 404, { error: { type: 'not_found_error', message: `No route ${req.method} ${path}; this server answers POST ${expected}.` } });
      return;
    }
    const text = await readBody(req);
    if (text === undefined) {
      sendJson(res, 413, { error: { type: 'request_too_large', message: 'The request body is too large.' } });
      return;
    }
    let parsed: Parsed;
    try {
      const body = JSON.parse(text);
      parsed = this.options.format === 'openai' ? this.parseOpenAi(body) : this.parseAnthropic(body);
    } catch (error) {
      sendJson(res, 400, { error: { type: 'invalid_request_error', message: error instanceof Error ? error.message : String(error) } });
      return;
    }
    // Billed input: the cache is read and written when the request arrives.
    let cached = 0;
    let written = 0;
    if (this.options.rule === 'openai-prefix') cached = this.prefix.bill(parsed.ids);
    else if (this.options.rule === 'breakpoints') ({ read: cached, write: written } = this.breakpoints.bill(parsed.ids, parsed.breakpoints, parsed.blockEnds));

    // The answer: the reference after what the partial answer covers.
    const aligned = parsed.partial.length > 0 ? alignEnd(this.reference, 0, parsed.partial) : { end: 0, exact: true };
    const rest = serverTokens(this.reference.slice(aligned.end));
    const planned = Math.min(parsed.maxTokens, rest.length, MAX_STREAM_TOKENS);
    const call: BilledCall = {
      inputTokens: parsed.ids.length,
      cachedTokens: cached,
      cacheWriteTokens: written,
      outputTokens: 0,
      plannedTokens: planned,
      maxTokens: parsed.maxTokens,
      finish: planned >= rest.length ? 'stop' : 'length',
      startChar: aligned.end,
      alignedExactly: aligned.exact,
    };
    this.ledger.push(call);
    const pieces = rest.slice(0, planned);
    if (!parsed.stream) {
      call.outputTokens = planned;
      this.sendWhole(res, parsed, call, pieces.join(''));
      return;
    }
    if (this.options.format === 'openai') await this.streamOpenAi(res, parsed, call, pieces);
    else await this.streamAnthropic(res, parsed, call, pieces);
  }

  /** The free token count (Anthropic's count_tokens, OpenAI's input_tokens): the request's input as it would be billed, nothing booked. */
  private async countTokens(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readBody(req);
    try {
      const body = JSON.parse(text ?? '');
      if (this.options.format === 'openai') {
        const input = typeof body?.input === 'string' ? [{ role: 'user', content: body.input }] : body?.input;
        sendJson(res, 200, { object: 'response.input_tokens', input_tokens: this.parseOpenAi({ messages: input }).ids.length });
      } else {
        sendJson(res, 200, { input_tokens: this.parseAnthropic({ ...body, max_tokens: 1 }).ids.length });
      }
    } catch (error) {
      sendJson(res, 400, { error: { type: 'invalid_request_error', message: error instanceof Error ? error.message : String(error) } });
    }
  }

  private parseOpenAi(body: any): Parsed {
    if (!Array.isArray(body?.messages) || body.messages.length === 0) throw new Error('messages must be a non-empty array');
    const messages = body.messages.map((m: any) => ({ role: String(m?.role), content: contentText(m?.content) }));
    const tokens: string[] = [];
    for (const m of messages) tokens.push(`<|${m.role}|>`, ...serverTokens(m.content), '<|end|>');
    tokens.push('<|assistant|>');
    const last = messages[messages.length - 1];
    const before = messages[messages.length - 2];
    let partial = '';
    if (last.role === 'assistant') partial = last.content;
    else if (last.role === 'user' && last.content === CONTINUE_INSTRUCTION && before?.role === 'assistant') partial = before.content;
    return {
      ids: this.ids(tokens),
      breakpoints: [],
      blockEnds: [],
      partial,
      maxTokens: maxTokensOf(body.max_completion_tokens ?? body.max_tokens),
      includeUsage: body.stream_options?.include_usage === true,
      stream: body.stream === true,
      model: String(body.model ?? ''),
    };
  }

  private parseAnthropic(body: any): Parsed {
    if (!Array.isArray(body?.messages) || body.messages.length === 0) throw new Error('messages: at least one message is required');
    if (typeof body.max_tokens !== 'number') throw new Error('max_tokens: Field required');
    const tokens: string[] = [];
    const breakpoints: number[] = [];
    const blockEnds: number[] = [];
    const blocksOf = (content: unknown): Array<{ text: string; cache: boolean }> =>
      typeof content === 'string'
        ? [{ text: content, cache: false }]
        : Array.isArray(content)
          ? content.map((b: any) => ({ text: typeof b?.text === 'string' ? b.text : '', cache: b?.cache_control?.type === 'ephemeral' }))
          : [];
    const add = (role: string, content: unknown): string => {
      tokens.push(`<|${role}|>`);
      let text = '';
      for (const block of blocksOf(content)) {
        // Each block is tokenized on its own: a block boundary is a token boundary, so the prefix up to a breakpoint is stable.
        tokens.push(...serverTokens(block.text));
        text += block.text;
        blockEnds.push(tokens.length);
        if (block.cache) breakpoints.push(tokens.length);
      }
      return text;
    };
    if (body.system !== undefined) add('system', body.system);
    const texts = body.messages.map((m: any) => ({ role: String(m?.role), text: add(String(m?.role), m?.content) }));
    const last = texts[texts.length - 1];
    const before = texts[texts.length - 2];
    let partial = '';
    if (last.role === 'assistant') partial = last.text;
    else if (last.role === 'user' && last.text === CONTINUE_INSTRUCTION && before?.role === 'assistant') partial = before.text;
    return {
      ids: this.ids(tokens),
      breakpoints,
      blockEnds,
      partial,
      maxTokens: maxTokensOf(body.max_tokens),
      includeUsage: true,
      stream: body.stream === true,
      model: String(body.model ?? ''),
    };
  }

  private ids(tokens: string[]): Int32Array {
    const ids = new Int32Array(tokens.length);
    for (let i = 0; i < tokens.length; i++) ids[i] = this.vocabulary.id(tokens[i]);
    return ids;
  }

  /** Writes the pieces one event each, paced, counting them into `call`; false when the client closed first. */
  private async streamPieces(res: ServerResponse, call: BilledCall, pieces: string[], event: (piece: string) => string): Promise<boolean> {
    let closed = false;
    res.on('close', () => {
      if (!res.writableFinished) closed = true;
    });
    const perMs = Math.max(1, this.options.tokensPerMs ?? 8);
    for (let i = 0; i < pieces.length; i++) {
      if (closed || res.destroyed) return false;
      const ok = res.write(event(pieces[i]));
      call.outputTokens += 1;
      if (!ok)
        await new Promise<void>((resolve) => {
          res.once('drain', resolve);
          res.once('close', resolve);
        });
      if ((i + 1) % perMs === 0) await new Promise<void>((resolve) => setTimeout(resolve, 1));
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return !(closed || res.destroyed);
  }

  private async streamOpenAi(res: ServerResponse, parsed: Parsed, call: BilledCall, pieces: string[]): Promise<void> {
    const id = `chatcmpl-bench${this.nextId++}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: parsed.model, system_fingerprint: 'fp_bench', choices, ...extra })}\n\n`;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]));
    const complete = await this.streamPieces(res, call, pieces, (text) => chunk([{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }]));
    if (!complete) {
      call.finish = 'cancelled';
      return;
    }
    res.write(chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: call.finish }]));
    if (parsed.includeUsage) res.write(chunk([], { usage: openAiUsage(call) }));
    res.end('data: [DONE]\n\n');
  }

  private async streamAnthropic(res: ServerResponse, parsed: Parsed, call: BilledCall, pieces: string[]): Promise<void> {
    const send = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(
      send('message_start', {
        message: {
          id: `msg_bench${this.nextId++}`,
          type: 'message',
          role: 'assistant',
          model: parsed.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { ...anthropicInput(call), output_tokens: 1 },
        },
      }),
    );
    res.write(send('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
    res.write(send('ping', {}));
    const complete = await this.streamPieces(res, call, pieces, (text) => send('content_block_delta', { index: 0, delta: { type: 'text_delta', text } }));
    if (!complete) {
      call.finish = 'cancelled';
      return;
    }
    res.write(send('content_block_stop', { index: 0 }));
    res.write(
      send('message_delta', {
        delta: { stop_reason: call.finish === 'stop' ? 'end_turn' : 'max_tokens', stop_sequence: null },
        usage: { output_tokens: call.outputTokens },
      }),
    );
    res.end(send('message_stop', {}));
  }

  private sendWhole(res: ServerResponse, parsed: Parsed, call: BilledCall, text: string): void {
    if (this.options.format === 'openai') {
      sendJson(res, 200, {
        id: `chatcmpl-bench${this.nextId++}`,
        object: 'chat.completion',
        model: parsed.model,
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: call.finish }],
        usage: openAiUsage(call),
      });
    } else {
      sendJson(res, 200, {
        id: `msg_bench${this.nextId++}`,
        type: 'message',
        role: 'assistant',
        model: parsed.model,
        content: [{ type: 'text', text }],
        stop_reason: call.finish === 'stop' ? 'end_turn' : 'max_tokens',
        usage: { ...anthropicInput(call), output_tokens: call.outputTokens },
      });
    }
  }
}

function openAiUsage(call: BilledCall): Record<string, unknown> {
  return {
    prompt_tokens: call.inputTokens,
    completion_tokens: call.outputTokens,
    total_tokens: call.inputTokens + call.outputTokens,
    prompt_tokens_details: { cached_tokens: call.cachedTokens, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/** Anthropic's input_tokens leaves out cache reads and writes. */
function anthropicInput(call: BilledCall): Record<string, number> {
  return {
    input_tokens: call.inputTokens - call.cachedTokens - call.cacheWriteTokens,
    cache_creation_input_tokens: call.cacheWriteTokens,
    cache_read_input_tokens: call.cachedTokens,
  };
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((part: any) => (typeof part?.text === 'string' ? part.text : '')).join('');
  return '';
}

function maxTokensOf(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1) return MAX_STREAM_TOKENS;
  return Math.min(Math.floor(value), MAX_STREAM_TOKENS);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** The body as text, or undefined past MAX_BODY_BYTES. */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts).toString('utf8');
}
