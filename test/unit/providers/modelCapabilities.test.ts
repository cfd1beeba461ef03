import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProviderError } from '../../../src/core/providers/errors';
import { anthropicModelTraits, lowestEffort, openAiModelTraits, parseClaudeVersion } from '../../../src/core/providers/modelCapabilities';
import { refusalOf } from '../../../src/core/providers/refusals';

test('claude ids: both namings, dated, aliased, dotted and cloud-prefixed ids read to family and version', () => {
  const cases: Array<[string, string, number, number]> = [
    ['claude-3-haiku-20240307', 'haiku', 3, 0],
    ['claude-3-5-haiku-latest', 'haiku', 3, 5],
    ['claude-3-7-sonnet-20250219', 'sonnet', 3, 7],
    ['claude-sonnet-4-20250514', 'sonnet', 4, 0],
    ['claude-opus-4-1-20250805', 'opus', 4, 1],
    ['claude-haiku-4-5@20251001', 'haiku', 4, 5],
    ['claude-opus-4-6', 'opus', 4, 6],
    ['claude-opus-4.6', 'opus', 4, 6],
    ['anthropic.claude-sonnet-4-6-v1:0', 'sonnet', 4, 6],
    ['claude-opus-5', 'opus', 5, 0],
    ['claude-fable-5', 'fable', 5, 0],
  ];
  for (const [id, family, major, minor] of cases) assert.deepEqual(parseClaudeVersion(id), { family, major, minor }, id);
  assert.equal(parseClaudeVersion('claude-nova-latest'), undefined);
  assert.equal(parseClaudeVersion('my-gateway-alias'), undefined);
});

test('anthropic table: prefill up to 4.5, refused from 4.6; sampling any / one / none; minimum cacheable length', () => {
  const t = (id: string) => {
    const { prefill, sampling, minCacheTokens } = anthropicModelTraits(id);
    return [prefill, sampling, minCacheTokens];
  };
  assert.deepEqual(t('claude-3-5-haiku-latest'), ['yes', 'any', 2048]);
  assert.deepEqual(t('claude-3-7-sonnet-latest'), ['yes', 'any', 1024]);
  assert.deepEqual(t('claude-sonnet-4-20250514'), ['yes', 'any', 1024]);
  assert.deepEqual(t('claude-opus-4-1'), ['yes', 'one', 1024]);
  assert.deepEqual(t('claude-sonnet-4-5'), ['yes', 'one', 1024]);
  assert.deepEqual(t('claude-haiku-4-5'), ['yes', 'one', 4096]);
  assert.deepEqual(t('claude-opus-4-5'), ['yes', 'one', 4096]);
  assert.deepEqual(t('claude-opus-4-6'), ['no', 'one', 4096]);
  assert.deepEqual(t('claude-sonnet-4-6'), ['no', 'one', 1024]);
  assert.deepEqual(t('claude-opus-4-7'), ['no', 'none', 4096]);
  assert.deepEqual(t('claude-opus-4-8'), ['no', 'none', 1024]);
  assert.deepEqual(t('claude-sonnet-5'), ['no', 'none', 1024]);
  assert.deepEqual(t('claude-opus-5'), ['no', 'none', 512]);
  assert.deepEqual(t('claude-fable-5'), ['no', 'none', 512]);
  assert.deepEqual(t('claude-nova-latest'), ['unknown', 'any', 1024]);
});

test('openai table: reasoning models, their lowest effort, what they refuse, and whether reasoning can be turned off (only with "none")', () => {
  const t = (id: string) => {
    const { reasoning, lowestEffort: effort, sampling, needsMaxCompletionTokens, reasoningUnavoidable } = openAiModelTraits(id);
    return [reasoning, effort, sampling, needsMaxCompletionTokens, reasoningUnavoidable];
  };
  assert.deepEqual(t('gpt-4o-mini'), [false, undefined, 'any', false, false]);
  assert.deepEqual(t('gpt-4.1'), [false, undefined, 'any', false, false]);
  assert.deepEqual(t('gpt-5'), [true, 'minimal', 'refused', true, true]);
  assert.deepEqual(t('gpt-5-mini-2025-08-07'), [true, 'minimal', 'refused', true, true]);
  assert.deepEqual(t('openai/gpt-5-nano'), [true, 'minimal', 'refused', true, true]);
  assert.deepEqual(t('gpt-5-chat-latest'), [false, undefined, 'any', false, false]);
  assert.deepEqual(t('gpt-5-pro'), [true, 'high', 'refused', true, true]);
  assert.deepEqual(t('gpt-5.1'), [true, 'none', 'with-effort-none', true, false]);
  assert.deepEqual(t('gpt-5.2-2025-12-11'), [true, 'none', 'with-effort-none', true, false]);
  assert.deepEqual(t('gpt-5.5'), [true, 'none', 'with-effort-none', true, false]);
  assert.deepEqual(t('o1'), [true, 'low', 'refused', true, true]);
  assert.deepEqual(t('o1-mini'), [true, undefined, 'refused', true, true]);
  assert.deepEqual(t('o3-mini'), [true, 'low', 'refused', true, true]);
  assert.deepEqual(t('o4-mini'), [true, 'low', 'refused', true, true]);
  assert.deepEqual(t('deepseek-chat'), [false, undefined, 'any', false, false]);
  // OpenRouter variants are the model itself; fine-tuned ids and local tags keep their reading.
  assert.deepEqual(t('openai/gpt-5:nitro'), t('gpt-5'));
  assert.deepEqual(t('openai/gpt-5.1:thinking'), t('gpt-5.1'));
  assert.deepEqual(t('openai/o3:online'), t('o3'));
  assert.deepEqual(t('openai/gpt-4o-mini:extended'), t('gpt-4o-mini'));
  assert.deepEqual(t('ft:gpt-4o-mini:org::abc123'), [false, undefined, 'any', false, false]);
  assert.deepEqual(t('ft:gpt-4o-mini-2024-07-18:my-org:custom-suffix:abc123'), [false, undefined, 'any', false, false]);
  assert.deepEqual(t('gpt-oss:20b'), [false, undefined, 'any', false, false]);
  assert.equal(lowestEffort(['medium', 'low', 'high']), 'low');
  assert.equal(lowestEffort(['banana']), undefined);
});

const refused = (message: string, status = 400) =>
  new ProviderError('bad_request', `api.example.com refused the request (HTTP ${status}). Check the provider settings. The server said: ${message}`, {
    status,
  });

test("refusals: the servers' words map to one fix each; other 400s are not refusals", () => {
  const chat = {
    model: 'm',
    messages: [{ role: 'user' }],
    max_tokens: 4,
    temperature: 0.7,
    top_p: 0.9,
    seed: 1,
    reasoning_effort: 'minimal',
    prompt_cache_key: 'k',
    stream_options: {},
  };
  assert.deepEqual(
    refusalOf(refused("Unsupported value: 'temperature' does not support 0.7 with this model. Only the default (1) value is supported."), chat),
    { type: 'drop', field: 'temperature' },
  );
  assert.deepEqual(refusalOf(refused("Unsupported parameter: 'top_p' is not supported with this model."), chat), { type: 'drop', field: 'top_p' });
  assert.deepEqual(refusalOf(refused("Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."), chat), {
    type: 'token-field',
    use: 'max_completion_tokens',
  });
  assert.deepEqual(
    refusalOf(
      refused("Unsupported value: 'minimal' is not supported with the 'gpt-5.1' model. Supported values are: 'none', 'low', 'medium', and 'high'."),
      chat,
    ),
    {
      type: 'effort',
      effort: 'none',
    },
  );
  assert.deepEqual(refusalOf(refused("Unsupported parameter: 'reasoning_effort' is not supported with this model."), chat), {
    type: 'drop',
    field: 'reasoning_effort',
  });
  assert.deepEqual(
    refusalOf(refused("[{'type': 'literal_error', 'loc': ('body', 'reasoning_effort'), 'msg': \"Input should be 'low', 'medium' or 'high'\"}]"), {
      ...chat,
      reasoning_effort: 'none',
    }),
    { type: 'effort', effort: 'low' },
  );
  assert.deepEqual(refusalOf(refused("Invalid 'prompt_cache_key': string too long. Expected a string with maximum length 64."), chat), {
    type: 'drop',
    field: 'prompt_cache_key',
  });
  assert.deepEqual(refusalOf(refused('Unrecognized request argument supplied: stream_options'), chat), { type: 'drop', field: 'stream_options' });
  assert.deepEqual(refusalOf(refused("[{'type': 'extra_forbidden', 'loc': ('body', 'prompt_cache_key'), 'msg': 'Extra inputs are not permitted'}]"), chat), {
    type: 'drop',
    field: 'prompt_cache_key',
  });
  assert.deepEqual(refusalOf(refused('`temperature` and `top_p` cannot both be specified for this model. Please use only one.'), chat), {
    type: 'drop',
    field: 'top_p',
  });
  assert.deepEqual(refusalOf(refused('`temperature` is deprecated for this model.'), chat), { type: 'drop', field: 'temperature' });
  // Not refusals of a field: the error stands.
  assert.equal(refusalOf(refused("Invalid value for 'temperature'."), chat), undefined);
  assert.equal(refusalOf(refused('messages: roles must alternate'), chat), undefined);
  assert.equal(refusalOf(new ProviderError('auth', 'Unsupported parameter: temperature', { status: 401 }), chat), undefined);
  // A field the request did not carry is never the one refused.
  assert.equal(refusalOf(refused("Unsupported parameter: 'top_k' is not supported with this model."), chat), undefined);

  const prefill = { model: 'claude', messages: [{ role: 'user' }, { role: 'assistant' }] };
  const message = 'This model does not support assistant message prefill. The conversation must end with a user message.';
  assert.deepEqual(refusalOf(refused(message), prefill), { type: 'no-prefill' });
  assert.equal(refusalOf(refused(message), { ...prefill, messages: [{ role: 'user' }] }), undefined, 'not a prefill request: nothing to change');
});
