/**
 * Reading an HTTP 400 (or 422) that refuses one part of a request, so the provider can
 * send the same call again without it. Nothing was generated, so the refused request is
 * not billed. Only refusals of something the request really carried count, and only in
 * the words servers use for "this model does not take that" (not "that value is out of
 * range": a temperature of 5 stays an error the user must see). One refusal is of the
 * endpoint, not of a field: OpenAI's Responses-only models on /chat/completions (HTTP 404).
 */
import { ProviderError } from './errors';
import { escapeRegExp } from '../../shared/escapeRegExp';
import type { StreamResponse } from './http';
import { REASONING_EFFORTS, lowestEffort, type ReasoningEffort } from './modelCapabilities';

export type Refusal =
  /** Anthropic: "This model does not support assistant message prefill. The conversation must end with a user message." */
  | { type: 'no-prefill' }
  /** Send the request without this field (temperature, top_p, seed, prompt_cache_key...). */
  | { type: 'drop'; field: string }
  /** Carry N in the other field ("Use 'max_completion_tokens' instead"). */
  | { type: 'token-field'; use: 'max_tokens' | 'max_completion_tokens' }
  /** Send this reasoning_effort instead (the lowest the server listed; "low" where a model that only thinks refused "none"). */
  /** `tentative`: read from words that say nothing of the effort (Google's catch-all): kept only if the call sent again is taken. */
  | { type: 'effort'; effort: ReasoningEffort; tentative?: boolean }
  /** Send the call to /responses: the model is not served on /chat/completions (OpenAI's 404, Azure's 400). */
  | { type: 'responses-only' };

/**
 * OpenAI's words for a Responses-only model on /chat/completions (HTTP 404; the model is named
 * by its own 404 so errorFromStatus calls it model_not_found), and Azure OpenAI's (HTTP 400
 * OperationNotSupported), in the sources of modelCapabilities.ts.
 */
const RESPONSES_ONLY = /only supported in v1\/responses|chatCompletion operation does not work with the specified model/i;

/**
 * Gemini's words for effort "none" (a thinking budget of 0) sent to a model that only thinks:
 * 2.5 Pro's "Budget 0 is invalid. This model only works in thinking mode." (snailyp/gemini-balance#206,
 * mozilla-ai/any-llm#1294), Vertex's "The model does not support setting thinking_budget to 0"
 * (earendil-works/pi#3460). Gemini 3.x models that refuse "none" say only "Request contains an
 * invalid argument." (buxuku/SmartSub#439): read so only where that is all they say.
 */
const THINKING_ONLY = /only works in thinking mode|budget 0 is invalid|does not support setting thinking_budget to 0/i;
const GOOGLE_INVALID_ARGUMENT = /^\s*request contains an invalid argument\.?\s*$/i;
/** The effort sent instead: the lowest that thinks, which Gemini's OpenAI-compatible API documents for every thinking model (a 1,024-token budget on 2.5). */
const LOWEST_THINKING_EFFORT: ReasoningEffort = 'low';

/** Words of a refusal of a parameter as such (OpenAI, Anthropic, vLLM/pydantic, LiteLLM...). */
const REFUSED =
  /unsupported (?:value|parameter)|not supported|does not support|unrecognized (?:request )?argument|unknown (?:field|parameter|argument)|is deprecated|not permitted|cannot both be specified|not allowed|unexpected keyword|extra_forbidden/i;

/**
 * Fields the provider adds on its own: any 400 that names one of them is about it. Anthropic's
 * thinking and output_config: Fable's "\"thinking.type.disabled\" is not supported for this model".
 */
const OWN_FIELDS = ['stream_options', 'prompt_cache_key', 'reasoning_effort', 'thinking', 'output_config'];
/** Fields that carry the caller's wishes: dropped only on a refusal in so many words. */
const CALLER_FIELDS = ['temperature', 'top_p', 'top_k', 'seed'];

function names(text: string, field: string): boolean {
  const spelled = field.replace(/_/g, '[_.]');
  return new RegExp(`(?:^|[^a-z_])${spelled}(?:[^a-z_]|$)`, 'i').test(text);
}

/** Where in `text` a field is first named (for the first one a message refuses); -1 if not. */
function position(text: string, field: string): number {
  const spelled = field.replace(/_/g, '[_.]');
  const found = new RegExp(`(?:^|[^a-z_])(${spelled})(?:[^a-z_]|$)`, 'i').exec(text);
  return found ? found.index : -1;
}

/**
 * What the server refused in `body`, if the error is such a refusal. `body` is the JSON
 * that was sent (its top-level fields are what can be dropped). A field is named by the
 * server's words or by its error.param (ProviderError.param): OpenAI's "Invalid value: 'none'.
 * Supported values are: ..." names the field it refuses only there.
 */
export function refusalOf(error: unknown, body: Record<string, unknown>): Refusal | undefined {
  if (!(error instanceof ProviderError)) return undefined;
  // The server's own words (errorFromStatus puts them after "The server said:").
  const said = error.message.indexOf('The server said:');
  const text = said >= 0 ? error.message.slice(said + 'The server said:'.length) : error.message;
  const sent = (field: string) => body[field] !== undefined;
  const param = error.param;
  const named = (field: string) => names(text, field) || (param !== undefined && names(param, field));
  // A chat request (it has messages) the server refused for the endpoint, not for a field.
  const endpointRefused = (error.status === 404 || error.status === 400) && (error.code === 'model_not_found' || error.code === 'bad_request');
  if (endpointRefused && sent('messages') && RESPONSES_ONLY.test(text)) return { type: 'responses-only' };

  if (error.code !== 'bad_request') return undefined;
  if (error.status !== 400 && error.status !== 422) return undefined;

  if (/does not support assistant message prefill|conversation must end with a user message/i.test(text)) {
    const messages = body.messages as Array<{ role?: string }> | undefined;
    return messages?.[messages.length - 1]?.role === 'assistant' ? { type: 'no-prefill' } : undefined;
  }
  // Anthropic from Opus 4.1 / Sonnet 4.5 on: keep the temperature, the knob the engine sets.
  if (/temperature`? and `?top_p`? cannot both be specified/i.test(text) && sent('top_p')) return { type: 'drop', field: 'top_p' };

  if (belowThinking(body.reasoning_effort) && THINKING_ONLY.test(text)) return { type: 'effort', effort: LOWEST_THINKING_EFFORT };
  if (belowThinking(body.reasoning_effort) && GOOGLE_INVALID_ARGUMENT.test(text)) return { type: 'effort', effort: LOWEST_THINKING_EFFORT, tentative: true };
  if (
    sent('reasoning_effort') &&
    (named('reasoning_effort') || /'(?:none|minimal|low|medium|high|xhigh|max)' is not supported with/i.test(text) || invalidValue(text, body.reasoning_effort))
  ) {
    // OpenAI: "Supported values are: 'none', 'low', ..." (after "Unsupported value: ..." or "Invalid value: 'none'."); pydantic servers (vLLM): "Input should be 'low', 'medium' or 'high'";
    // Vertex's Gemini: "Expected 'reasoning_effort' to be one of: 'high','low','medium','minimal'".
    const listed = /(?:supported values are|input should be|to be one of):?([^.\]}]*)/i.exec(text)?.[1] ?? '';
    const supported = [...listed.matchAll(/'([a-z]+)'/gi)].map((m) => m[1].toLowerCase()).filter((v) => (REASONING_EFFORTS as readonly string[]).includes(v));
    const effort = lowestEffort(supported);
    if (effort && effort !== body.reasoning_effort) return { type: 'effort', effort };
    return { type: 'drop', field: 'reasoning_effort' };
  }

  const refused = REFUSED.test(text);
  if (sent('max_tokens') && /use '?max_completion_tokens'? instead/i.test(text)) return { type: 'token-field', use: 'max_completion_tokens' };
  if (refused && sent('max_tokens') && named('max_tokens') && !named('max_completion_tokens')) return { type: 'token-field', use: 'max_completion_tokens' };
  if (refused && sent('max_completion_tokens') && named('max_completion_tokens')) return { type: 'token-field', use: 'max_tokens' };

  // Streaming refused for the model (OpenAI: "Your organization must be verified to stream this model",
  // o1's "'stream' does not support true with this model", pro models that do not stream): the answer comes whole.
  if (sent('stream') && named('stream') && (refused || /verified to stream/i.test(text))) return { type: 'drop', field: 'stream' };
  for (const field of OWN_FIELDS) if (sent(field) && named(field)) return { type: 'drop', field };
  if (/cache_control/i.test(text) && refused && JSON.stringify(body).includes('"cache_control"')) return { type: 'drop', field: 'cache_control' };
  if (!refused) return undefined;
  // The field error.param names first, then the first the words name.
  const rank = (field: string) => (param !== undefined && names(param, field) ? -1 : position(text, field));
  const candidates = CALLER_FIELDS.filter((field) => sent(field) && named(field)).sort((a, b) => rank(a) - rank(b));
  return candidates.length > 0 ? { type: 'drop', field: candidates[0] } : undefined;
}

/** OpenAI's "Invalid value: '<the value sent>'. Supported values are: ...", which names no field in its words. */
function invalidValue(text: string, value: unknown): boolean {
  return typeof value === 'string' && new RegExp(`invalid value: '${escapeRegExp(value)}'\\.?\\s*supported values are`, 'i').test(text);
}

/** An effort sent that thinks less than LOWEST_THINKING_EFFORT ("none", "minimal"). */
function belowThinking(effort: unknown): boolean {
  const at = REASONING_EFFORTS.indexOf(effort as ReasoningEffort);
  return at >= 0 && at < REASONING_EFFORTS.indexOf(LOWEST_THINKING_EFFORT);
}

/** A call fixes at most this many refusals (one per field), then reports the error. */
export const MAX_FIXES_PER_CALL = 4;

/**
 * Sends what `build` makes; when the server refuses part of it, `learn` records the fix
 * (for the model, so later calls are right at once) and the call is sent again, rebuilt.
 * `learn` returns false when it cannot help (nothing new to change): the error stands; or, for
 * a tentative refusal, how to take the fix back, which happens when the call sent again is
 * refused in the same words (the words were not about what was changed).
 * The refused requests were not billed (a 400 generates nothing).
 */
export async function sendAdapting<P extends { body: Record<string, unknown> }>(
  build: () => P,
  send: (plan: P) => Promise<StreamResponse>,
  learn: (refusal: Refusal, plan: P) => boolean | { undo: () => void },
): Promise<{ response: StreamResponse; plan: P }> {
  let tentative: { undo: () => void; said: string } | undefined;
  for (let fixes = 0; ; fixes++) {
    const plan = build();
    try {
      return { response: await send(plan), plan };
    } catch (error) {
      const said = error instanceof Error ? error.message : String(error);
      const refusal = tentative?.said === said || fixes >= MAX_FIXES_PER_CALL ? undefined : refusalOf(error, plan.body);
      const learned = refusal ? learn(refusal, plan) : false;
      if (!learned) {
        // The call was never taken after a tentative fix (refused the same, or failing for
        // another cause: a 429, a dropped connection, Stop): the fix is not known to help.
        tentative?.undo();
        throw error;
      }
      if (typeof learned === 'object') tentative = { undo: learned.undo, said };
    }
  }
}
