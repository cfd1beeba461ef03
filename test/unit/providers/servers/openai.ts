/**
 * Speaks OpenAI's /v1/completions and /v1/chat/completions streaming wire format:
 * `data: {json}\n\n` frames, a final chunk with finish_reason, the usage chunk with empty
 * choices (stream_options.include_usage), `data: [DONE]`, and OpenAI's error bodies.
 *
 * Models of FAKE_GPTS behave as OpenAI documents its reasoning models (late 2026): they
 * refuse `max_tokens` (use max_completion_tokens), a `temperature` other than 1 and
 * `top_p` (gpt-5.1 and later take them while reasoning_effort is "none", their default),
 * and reasoning_effort values they do not support (listing those they do); they reason
 * before they write, the hidden reasoning tokens coming out of max_completion_tokens (a
 * short limit returns no text, finish "length", and is billed) and reported in
 * usage.completion_tokens_details.reasoning_tokens, part of completion_tokens. Each piece
 * of text is one token. Other model ids are served without these checks.
 *
 * POST .../responses speaks OpenAI's Responses API (writeResponsesStream): typed events
 * (`event: response.output_text.delta` ...), `response.completed` with the usage (input_tokens,
 * input_tokens_details, output_tokens, output_tokens_details), `response.incomplete` at
 * max_output_tokens, no [DONE]; unknown fields and max_output_tokens under 16 are refused as
 * the API refuses them. Models of RESPONSES_ONLY_GPTS are served there only: chat answers them
 * with OpenAI's 404 "This model is only supported in v1/responses...". They reason as
 * FAKE_GPTS do, with the efforts they take under `reasoning.effort`, and refuse temperature
 * and top_p.
 */
import type { ServerResponse } from 'node:http';
import { sendJson, writeFrames, type RecordedRequest, type Responder, type StreamShape } from './harness';

export interface OpenAiStreamScript extends StreamShape {
  pieces: string[];
  finishReason?: 'length' | 'stop' | 'content_filter' | null;
  /** false: no usage chunk; an object: overrides. */
  usage?: false | { prompt_tokens: number; completion_tokens: number; cached_tokens?: number; cache_write_tokens?: number; reasoning_tokens?: number };
  /** Report usage as DeepSeek does: prompt_cache_hit_tokens / prompt_cache_miss_tokens (from cached_tokens). */
  deepseekUsage?: boolean;
  /** Reasoning tokens a FAKE_GPTS model spends per effort (default: none 0, minimal 0, low 16, medium 64, high 256). */
  reasoning?: Partial<Record<string, number>>;
  /** ': keep-alive' comment frames between the data frames. */
  keepAlive?: boolean;
  crlf?: boolean;
  /** Leave out `data: [DONE]`. */
  omitDone?: boolean;
  /** An error object sent after this many text pieces. */
  errorAfterPieces?: { after: number; error: unknown };
}

export interface FakeGpt {
  /** The reasoning_effort values the model takes, and the one it uses when none is sent. */
  efforts: string[];
  defaultEffort: string;
  /** refused: no temperature other than 1, no top_p; with-effort-none: only while the effort is "none". */
  sampling: 'refused' | 'with-effort-none';
}

export const FAKE_GPTS: Record<string, FakeGpt> = {
  'gpt-5': { efforts: ['minimal', 'low', 'medium', 'high'], defaultEffort: 'medium', sampling: 'refused' },
  'gpt-5-mini': { efforts: ['minimal', 'low', 'medium', 'high'], defaultEffort: 'medium', sampling: 'refused' },
  'gpt-5-nano': { efforts: ['minimal', 'low', 'medium', 'high'], defaultEffort: 'medium', sampling: 'refused' },
  'gpt-5.1': { efforts: ['none', 'low', 'medium', 'high'], defaultEffort: 'none', sampling: 'with-effort-none' },
  'gpt-5.2': { efforts: ['none', 'low', 'medium', 'high', 'xhigh'], defaultEffort: 'none', sampling: 'with-effort-none' },
  'o4-mini': { efforts: ['low', 'medium', 'high'], defaultEffort: 'medium', sampling: 'refused' },
  // An Azure deployment of gpt-5-mini under a name of its own: Relay's table cannot place it.
  'team-gpt5-deployment': { efforts: ['minimal', 'low', 'medium', 'high'], defaultEffort: 'medium', sampling: 'refused' },
};

/** Responses-only models (modelCapabilities.ts has the sources), and one the table cannot place. */
export const RESPONSES_ONLY_GPTS: Record<string, { efforts: string[]; defaultEffort: string }> = {
  'gpt-5-pro': { efforts: ['high'], defaultEffort: 'high' },
  'o3-pro': { efforts: ['low', 'medium', 'high'], defaultEffort: 'medium' },
  'gpt-5.1-codex': { efforts: ['low', 'medium', 'high'], defaultEffort: 'medium' },
  // An Azure deployment of a codex model under a name of its own.
  'team-reviewer': { efforts: ['low', 'medium', 'high'], defaultEffort: 'medium' },
};

/** OpenAI's answer to a Responses-only model on /chat/completions. */
export const RESPONSES_ONLY_MESSAGE = 'This model is only supported in v1/responses and not in v1/chat/completions.';

/** The fields a Responses request may carry here (the API takes more; Relay sends no others). */
const RESPONSES_FIELDS = new Set([
  'model',
  'input',
  'instructions',
  'max_output_tokens',
  'reasoning',
  'temperature',
  'top_p',
  'prompt_cache_key',
  'stream',
  'store',
]);

const REASONING_SPENT: Record<string, number> = { none: 0, minimal: 0, low: 16, medium: 64, high: 256, xhigh: 1024 };

const quoteList = (values: string[]) => {
  const quoted = values.map((v) => `'${v}'`);
  return quoted.length > 1 ? `${quoted.slice(0, -1).join(', ')}, and ${quoted[quoted.length - 1]}` : quoted.join('');
};

/** The 400 the real API sends for what a reasoning model refuses; undefined when the request passes. */
function reasoningRefusal(body: any): { message: string; param: string; code: string } | undefined {
  const model = FAKE_GPTS[body?.model];
  if (!model) return undefined;
  if (body.max_tokens !== undefined) {
    return {
      message: "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
      param: 'max_tokens',
      code: 'unsupported_parameter',
    };
  }
  const effort = body.reasoning_effort ?? model.defaultEffort;
  if (!model.efforts.includes(effort)) {
    return {
      message: `Unsupported value: '${effort}' is not supported with the '${body.model}' model. Supported values are: ${quoteList(model.efforts)}.`,
      param: 'reasoning_effort',
      code: 'unsupported_value',
    };
  }
  const samplingOk = model.sampling === 'with-effort-none' && effort === 'none';
  if (!samplingOk && body.temperature !== undefined && body.temperature !== 1) {
    return {
      message: `Unsupported value: 'temperature' does not support ${body.temperature} with this model. Only the default (1) value is supported.`,
      param: 'temperature',
      code: 'unsupported_value',
    };
  }
  if (!samplingOk && body.top_p !== undefined)
    return { message: "Unsupported parameter: 'top_p' is not supported with this model.", param: 'top_p', code: 'unsupported_parameter' };
  return undefined;
}

function isChat(request: RecordedRequest): boolean {
  return request.path.includes('/chat/completions');
}

function isResponses(request: RecordedRequest): boolean {
  return /\/responses$/.test(request.path);
}

export function openAiStream(script: OpenAiStreamScript): Responder {
  return (request, res) => writeOpenAiStream(request, res, script);
}

async function writeOpenAiStream(request: RecordedRequest, res: ServerResponse, script: OpenAiStreamScript): Promise<void> {
  if (isResponses(request)) return writeResponsesStream(request, res, script);
  if (RESPONSES_ONLY_GPTS[request.body?.model]) {
    return sendJson(res, 404, { error: { message: RESPONSES_ONLY_MESSAGE, type: 'invalid_request_error', param: 'model', code: null } });
  }
  const refused = reasoningRefusal(request.body);
  if (refused) return sendJson(res, 400, { error: { message: refused.message, type: 'invalid_request_error', param: refused.param, code: refused.code } });
  const chat = isChat(request);
  // A reasoning model thinks first: its hidden tokens come out of max_completion_tokens.
  const gpt = FAKE_GPTS[request.body?.model];
  let pieces = script.pieces;
  let reasoning: number | undefined;
  let finishReason = script.finishReason;
  if (gpt) {
    const effort = request.body.reasoning_effort ?? gpt.defaultEffort;
    const limit = Number(request.body.max_completion_tokens ?? Infinity);
    reasoning = Math.min(limit, script.reasoning?.[effort] ?? REASONING_SPENT[effort] ?? 0);
    const visible = Math.max(0, limit - reasoning);
    if (pieces.length > visible) {
      pieces = pieces.slice(0, visible);
      finishReason = 'length';
    }
  }
  const model = request.body?.model ?? 'model';
  const eol = script.crlf ? '\r\n' : '\n';
  const frame = (data: string) => `data: ${data}${eol}${eol}`;
  const chunk = (text: string, finish: string | null) =>
    JSON.stringify(
      chat
        ? {
            id: 'chatcmpl-1',
            object: 'chat.completion.chunk',
            created: 1,
            model,
            choices: [{ index: 0, delta: text ? { content: text } : {}, logprobs: null, finish_reason: finish }],
          }
        : { id: 'cmpl-1', object: 'text_completion', created: 1, model, choices: [{ index: 0, text, logprobs: null, finish_reason: finish }] },
    );
  const frames: string[] = [];
  if (chat)
    frames.push(
      frame(
        JSON.stringify({
          id: 'chatcmpl-1',
          object: 'chat.completion.chunk',
          created: 1,
          model,
          choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
        }),
      ),
    );
  pieces.forEach((piece, i) => {
    if (script.errorAfterPieces && i === script.errorAfterPieces.after) frames.push(frame(JSON.stringify(script.errorAfterPieces.error)));
    frames.push(frame(chunk(piece, null)));
    if (script.keepAlive) frames.push(`: keep-alive${eol}${eol}`);
  });
  if (script.errorAfterPieces && script.errorAfterPieces.after >= pieces.length) frames.push(frame(JSON.stringify(script.errorAfterPieces.error)));
  if (finishReason !== null) frames.push(frame(chunk('', finishReason ?? 'length')));
  if (script.usage !== false && request.body?.stream_options?.include_usage) {
    const usage = script.usage
      ? { reasoning_tokens: reasoning, ...script.usage }
      : { prompt_tokens: 40, completion_tokens: pieces.length + (reasoning ?? 0), cached_tokens: 0, reasoning_tokens: reasoning };
    frames.push(
      frame(
        JSON.stringify({
          id: 'x',
          object: chat ? 'chat.completion.chunk' : 'text_completion',
          created: 1,
          model,
          choices: [],
          usage: {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens: usage.prompt_tokens + usage.completion_tokens,
            ...(script.deepseekUsage
              ? { prompt_cache_hit_tokens: usage.cached_tokens ?? 0, prompt_cache_miss_tokens: usage.prompt_tokens - (usage.cached_tokens ?? 0) }
              : {
                  prompt_tokens_details: {
                    cached_tokens: usage.cached_tokens ?? 0,
                    ...(usage.cache_write_tokens !== undefined ? { cache_write_tokens: usage.cache_write_tokens } : {}),
                  },
                }),
            ...(usage.reasoning_tokens !== undefined ? { completion_tokens_details: { reasoning_tokens: usage.reasoning_tokens } } : {}),
          },
        }),
      ),
    );
  }
  if (!script.omitDone) frames.push(frame('[DONE]'));
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': 'req_1' });
  await writeFrames(res, frames, script);
}

/** The 400 the Responses API sends for a request it refuses; undefined when the request passes. */
function responsesRefusal(body: any): { message: string; param: string | null; code: string } | undefined {
  const unknown = Object.keys(body ?? {}).find((field) => !RESPONSES_FIELDS.has(field));
  if (unknown) return { message: `Unknown parameter: '${unknown}'.`, param: unknown, code: 'unknown_parameter' };
  if (typeof body?.model !== 'string' || body.input === undefined)
    return { message: "Missing required parameter: 'input'.", param: 'input', code: 'missing_required_parameter' };
  if (typeof body.max_output_tokens === 'number' && body.max_output_tokens < 16) {
    return {
      message: `Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got ${body.max_output_tokens} instead.`,
      param: 'max_output_tokens',
      code: 'integer_below_min_value',
    };
  }
  const model = RESPONSES_ONLY_GPTS[body.model];
  if (!model) return undefined;
  const effort = body.reasoning?.effort ?? model.defaultEffort;
  if (!model.efforts.includes(effort)) {
    return {
      message: `Unsupported value: '${effort}' is not supported with the '${body.model}' model. Supported values are: ${quoteList(model.efforts)}.`,
      param: 'reasoning.effort',
      code: 'unsupported_value',
    };
  }
  for (const field of ['temperature', 'top_p']) {
    if (body[field] !== undefined)
      return { message: `Unsupported parameter: '${field}' is not supported with this model.`, param: field, code: 'unsupported_parameter' };
  }
  return undefined;
}

/**
 * POST /responses, streamed as OpenAI streams it: each event as `event: <type>` and its JSON
 * with a sequence_number. The script's pieces are the text (one token each), its usage (in chat's
 * names) the bill; `finishReason: 'content_filter'` ends incomplete for that reason, null with no
 * final event; `errorAfterPieces.error` is written as an event of its own `type`.
 */
async function writeResponsesStream(request: RecordedRequest, res: ServerResponse, script: OpenAiStreamScript): Promise<void> {
  const refused = responsesRefusal(request.body);
  if (refused) return sendJson(res, 400, { error: { message: refused.message, type: 'invalid_request_error', param: refused.param, code: refused.code } });
  const body = request.body;
  const gpt = RESPONSES_ONLY_GPTS[body.model];
  const limit = Number(body.max_output_tokens ?? Infinity);
  const effort = body.reasoning?.effort ?? gpt?.defaultEffort;
  const reasoning = gpt ? Math.min(limit, script.reasoning?.[effort] ?? REASONING_SPENT[effort] ?? 0) : undefined;
  const visible = Math.max(0, limit - (reasoning ?? 0));
  const pieces = script.pieces.slice(0, visible);
  const incomplete = script.finishReason === 'content_filter' ? 'content_filter' : pieces.length < script.pieces.length ? 'max_output_tokens' : undefined;
  const given = script.usage || undefined;
  const usage = {
    input_tokens: given?.prompt_tokens ?? 40,
    input_tokens_details: {
      cached_tokens: given?.cached_tokens ?? 0,
      ...(given?.cache_write_tokens !== undefined ? { cache_write_tokens: given.cache_write_tokens } : {}),
    },
    output_tokens: given?.completion_tokens ?? pieces.length + (reasoning ?? 0),
    output_tokens_details: { reasoning_tokens: given?.reasoning_tokens ?? reasoning ?? 0 },
    total_tokens: 0,
  };
  usage.total_tokens = usage.input_tokens + usage.output_tokens;
  const eol = script.crlf ? '\r\n' : '\n';
  let sequence = 0;
  const event = (data: Record<string, unknown>) =>
    `event: ${String(data.type)}${eol}data: ${JSON.stringify({ ...data, sequence_number: sequence++ })}${eol}${eol}`;
  const response = (status: string, extra: Record<string, unknown> = {}) => ({
    id: 'resp_1',
    object: 'response',
    created_at: 1,
    model: body.model,
    status,
    store: body.store ?? true,
    output: [],
    usage: null,
    ...extra,
  });
  const item = { id: 'msg_1', type: 'message', role: 'assistant', status: 'in_progress', content: [] };
  const frames = [
    event({ type: 'response.created', response: response('in_progress') }),
    event({ type: 'response.in_progress', response: response('in_progress') }),
    event({ type: 'response.output_item.added', output_index: 0, item: { id: 'rs_1', type: 'reasoning', summary: [] } }),
    event({ type: 'response.output_item.done', output_index: 0, item: { id: 'rs_1', type: 'reasoning', summary: [] } }),
    event({ type: 'response.output_item.added', output_index: 1, item }),
    event({
      type: 'response.content_part.added',
      item_id: 'msg_1',
      output_index: 1,
      content_index: 0,
      part: { type: 'output_text', text: '', annotations: [] },
    }),
  ];
  pieces.forEach((piece, i) => {
    if (script.errorAfterPieces && i === script.errorAfterPieces.after) frames.push(event(script.errorAfterPieces.error as Record<string, unknown>));
    frames.push(event({ type: 'response.output_text.delta', item_id: 'msg_1', output_index: 1, content_index: 0, delta: piece }));
    if (script.keepAlive) frames.push(`: keep-alive${eol}${eol}`);
  });
  if (script.errorAfterPieces && script.errorAfterPieces.after >= pieces.length) frames.push(event(script.errorAfterPieces.error as Record<string, unknown>));
  const text = pieces.join('');
  const part = { type: 'output_text', text, annotations: [] };
  frames.push(
    event({ type: 'response.output_text.done', item_id: 'msg_1', output_index: 1, content_index: 0, text }),
    event({ type: 'response.content_part.done', item_id: 'msg_1', output_index: 1, content_index: 0, part }),
    event({ type: 'response.output_item.done', output_index: 1, item: { ...item, status: incomplete ? 'incomplete' : 'completed', content: [part] } }),
  );
  const output = [{ ...item, status: incomplete ? 'incomplete' : 'completed', content: [part] }];
  if (script.finishReason !== null) {
    frames.push(
      incomplete
        ? event({ type: 'response.incomplete', response: response('incomplete', { output, usage, incomplete_details: { reason: incomplete } }) })
        : event({ type: 'response.completed', response: response('completed', { output, usage }) }),
    );
  }
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': 'req_1' });
  await writeFrames(res, frames, script);
}

/** An OpenAI error response. */
export function openAiError(status: number, message: string, type: string, code: string | null, headers: Record<string, string> = {}): Responder {
  return (_request, res) => sendJson(res, status, { error: { message, type, param: null, code } }, headers);
}

export const openAiErrors = {
  badKey: (key: string) =>
    openAiError(
      401,
      `Incorrect API key provided: ${key.slice(0, 6)}***${key.slice(-4)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
      'invalid_request_error',
      'invalid_api_key',
    ),
  rateLimited: (retryAfter: string) =>
    openAiError(429, 'Rate limit reached for requests', 'requests', 'rate_limit_exceeded', {
      'retry-after': retryAfter,
      'x-ratelimit-limit-requests': '500',
      'x-ratelimit-remaining-requests': '0',
    }),
  quota: () => openAiError(429, 'You exceeded your current quota, please check your plan and billing details.', 'insufficient_quota', 'insufficient_quota'),
  noModel: (model: string) =>
    openAiError(404, `The model \`${model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found'),
  badRequest: () => openAiError(400, "Invalid value for 'temperature'.", 'invalid_request_error', null),
  server: () => openAiError(500, 'The server had an error while processing your request. Sorry about that!', 'server_error', null),
  unavailable: () => openAiError(503, 'The engine is currently overloaded, please try again later', 'server_error', null),
};

/** Checks `Authorization: Bearer <key>` as OpenAI does, then runs the responder. */
export function requireBearer(key: string, next: Responder): Responder {
  return (request, res) => {
    if (request.headers.authorization !== `Bearer ${key}`) {
      const given = String(request.headers.authorization ?? '').replace(/^Bearer /, '');
      return openAiErrors.badKey(given || 'none-given')(request, res);
    }
    return next(request, res);
  };
}

/**
 * A server that refuses fields it does not know, as strict OpenAI-compatible servers do
 * (vLLM and other pydantic-based servers: HTTP 400 "Extra inputs are not permitted").
 */
export function refusesFields(fields: string[], next: Responder): Responder {
  return (request, res) => {
    const extra = fields.find((field) => request.body?.[field] !== undefined);
    if (extra) {
      return sendJson(res, 400, {
        object: 'error',
        message: `[{'type': 'extra_forbidden', 'loc': ('body', '${extra}'), 'msg': 'Extra inputs are not permitted', 'input': ${JSON.stringify(request.body[extra])}}]`,
        type: 'BadRequestError',
        param: null,
        code: 400,
      });
    }
    return next(request, res);
  };
}

/** POST /v1/responses/input_tokens as OpenAI documents it: a Responses body, answered with {object, input_tokens}. */
export function openAiInputTokens(count: (body: any) => number): Responder {
  return (request, res) => {
    if (request.path !== '/v1/responses/input_tokens')
      return sendJson(res, 404, { error: { message: `no route ${request.path}`, type: 'invalid_request_error', param: null, code: null } });
    if (typeof request.body?.model !== 'string' || request.body?.input === undefined) {
      return sendJson(res, 400, { error: { message: 'model and input are required', type: 'invalid_request_error', param: null, code: null } });
    }
    sendJson(res, 200, { object: 'response.input_tokens', input_tokens: count(request.body) });
  };
}

/**
 * An upstream error as OpenRouter passes it on: {"error":{"message":"Provider returned
 * error","code":<status>,"metadata":{"raw":"<the upstream's body, as a string>",
 * "provider_name":...}},"user_id":...}.
 */
export function openRouterError(status: number, upstream: unknown, providerName = 'OpenAI'): Responder {
  const raw = typeof upstream === 'string' ? upstream : JSON.stringify(upstream, null, 2);
  return (_request, res) =>
    sendJson(res, status, { error: { message: 'Provider returned error', code: status, metadata: { raw, provider_name: providerName } }, user_id: 'user_1' });
}
