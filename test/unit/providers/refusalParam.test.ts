/**
 * Refusals that name the refused field only in OpenAI's error.param ("Invalid value: 'none'.
 * Supported values are: ..."), read from the error bodies as errorFromStatus reads them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorFromStatus } from '../../../src/core/providers/http';
import { refusalView } from '../../../src/core/providers/openaiResponses';
import { refusalOf } from '../../../src/core/providers/refusals';

const URL_CHAT = new URL('https://api.openai.com/v1/chat/completions');

/** The error of an HTTP 400 with OpenAI's error object. */
const openAi400 = (message: string, param: string | null, code = 'invalid_value') =>
  errorFromStatus(400, {}, JSON.stringify({ error: { message, type: 'invalid_request_error', param, code } }), URL_CHAT, [], []);

const chat = { model: 'm', messages: [{ role: 'user' }], max_completion_tokens: 4, temperature: 0.7, reasoning_effort: 'none', prompt_cache_key: 'k' };

test("OpenAI's invalid_value of an effort (the field in param only) is read on chat and on /responses, the lowest listed chosen", () => {
  const message = "Invalid value: 'none'. Supported values are: 'minimal', 'low', 'medium', and 'high'.";
  assert.deepEqual(refusalOf(openAi400(message, 'reasoning_effort'), chat), { type: 'effort', effort: 'minimal' });
  // The Responses API names it reasoning.effort; its body is read under chat's name.
  const responses = refusalView({ model: 'm', input: [], max_output_tokens: 16, reasoning: { effort: 'none' } });
  assert.deepEqual(refusalOf(openAi400(message, 'reasoning.effort'), responses), { type: 'effort', effort: 'minimal' });
  // A proxy that passes the words on without param: the value sent, refused with a list of efforts.
  assert.deepEqual(refusalOf(openAi400(message, null), chat), { type: 'effort', effort: 'minimal' });
});

test('a field named in param only is the one refused: an own field is dropped, a caller field only in words of refusal', () => {
  assert.deepEqual(refusalOf(openAi400('This field is not accepted for this deployment.', 'prompt_cache_key', 'unknown_parameter'), chat), {
    type: 'drop',
    field: 'prompt_cache_key',
  });
  assert.deepEqual(refusalOf(openAi400('Unsupported value: does not support 0.7 with this model.', 'temperature', 'unsupported_value'), chat), {
    type: 'drop',
    field: 'temperature',
  });
  // A value out of range stays an error the user sees, param or not.
  assert.equal(refusalOf(openAi400("Invalid value for 'temperature': must be between 0 and 2.", 'temperature'), chat), undefined);
  assert.equal(refusalOf(openAi400('Invalid value: 5. Must be between 0 and 2.', 'temperature'), chat), undefined);
  // A param that is no field name (untrusted text) names nothing.
  assert.equal(refusalOf(openAi400('Bad request.', "reasoning_effort'); drop"), chat), undefined);
});
