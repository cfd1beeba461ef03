// Generation control on the scripted model (real Qwen3 tokenizer, greedy output chosen by
// the test): stop strings across token boundaries, the confidence gate, EOS, the budget,
// appends that resume the script, cancellation.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ensureScriptedModel, scriptedExpectation, type ScriptedExpectation } from '../../fixtures/fixtures';
import { SCRIPT } from './script';
import { createLocalRuntime, type LocalRuntime } from '../../../src/core/slm/onnx/localRuntime';

let runtime: LocalRuntime;
let script: ScriptedExpectation;

before(async () => {
  const folder = await ensureScriptedModel(SCRIPT);
  script = await scriptedExpectation(SCRIPT);
  runtime = await createLocalRuntime(folder);
});
after(async () => {
  await runtime?.dispose();
});

const entry = (i: number) => script.entries[i];

describe('scripted generation', () => {
  test('a graph whose logits do not come from a MatMul loads without the last-position rewrite', () => {
    assert.equal(runtime.lastPositionLogits.enabled, false);
    assert.match(runtime.lastPositionLogits.reason ?? '', /not produced by a MatMul/);
  });

  test('prefill counts the prompt tokens; generation stops right after </call>, split over several tokens', async () => {
    const s = await runtime.createSession();
    assert.deepEqual(await s.prefill(SCRIPT.prompt), { tokenCount: script.promptIds.length, reusedTokens: 0 });
    const streamed: string[] = [];
    const r = await s.generate({ maxTokens: 100, stopStrings: ['</call>'] }, (t) => streamed.push(t.text));
    assert.ok(entry(1).ids.length >= 3, '<call>2</call> is several tokens');
    assert.equal(r.stopReason, 'stop_string');
    assert.equal(r.text, 'Let me see <call>2</call>');
    assert.equal(streamed.join(''), r.text);
    assert.deepEqual(
      r.tokens.map((t) => t.id),
      [...entry(0).ids, ...entry(1).ids],
    );
    assert.equal(r.contextLength, script.promptIds.length + entry(0).ids.length + entry(1).ids.length);
    for (const t of r.tokens) assert.ok(Math.abs(t.top1 - 0.99) < 1e-3, `top1 ${t.top1}`);
  });

  test('the confidence gate refuses the unsure token before committing it; an append resumes the script', async () => {
    const s = await runtime.createSession();
    await s.prefill(SCRIPT.prompt);
    await s.generate({ maxTokens: 100, stopStrings: ['</call>'], minTop1: 0.5 });
    const appended = await s.append(entry(2).text);
    assert.deepEqual(appended, { tokenCount: entry(2).ids.length, recomputedTokens: 0 });

    const gated = await s.generate({ maxTokens: 100, minTop1: 0.5 });
    assert.equal(gated.stopReason, 'low_confidence');
    assert.equal(gated.tokens.length, 0);
    assert.equal(gated.refusedToken?.id, entry(3).ids[0]);
    assert.ok(Math.abs(gated.refusedToken!.top1 - 0.3) < 1e-3);
    assert.ok(gated.refusedToken!.margin > 0);
    const contextAfterRefusal = gated.contextLength;
    assert.equal(contextAfterRefusal, entry(3).startPosition, 'the refused token is not in the cache');

    // Without the gate the same position yields the refused token, then the rest of the script, then EOS.
    const rest = await s.generate({ maxTokens: 100 });
    assert.equal(rest.stopReason, 'eos');
    assert.deepEqual(
      rest.tokens.map((t) => t.id),
      [...entry(3).ids, ...entry(4).ids],
    );
    assert.equal(rest.text, '. Done for real');
    assert.equal(rest.contextLength, contextAfterRefusal + entry(3).ids.length + entry(4).ids.length, 'EOS is not added');
  });

  test('the token budget stops generation and the next call continues where it stopped', async () => {
    const s = await runtime.createSession();
    await s.prefill(SCRIPT.prompt);
    const first = await s.generate({ maxTokens: 2 });
    assert.equal(first.stopReason, 'max_tokens');
    assert.equal(first.tokens.length, 2);
    const second = await s.generate({ maxTokens: 100, stopStrings: ['</call>'] });
    assert.deepEqual(
      [...first.tokens, ...second.tokens].map((t) => t.id),
      [...entry(0).ids, ...entry(1).ids],
    );
    assert.deepEqual(await s.generate({ maxTokens: 0 }), {
      tokens: [],
      text: '',
      stopReason: 'max_tokens',
      refusedToken: undefined,
      contextLength: second.contextLength,
    });
  });

  test('extra eos ids stop generation too', async () => {
    const s = await runtime.createSession();
    await s.prefill(SCRIPT.prompt);
    const r = await s.generate({ maxTokens: 100, eosTokenIds: [entry(1).ids[0]] });
    assert.equal(r.stopReason, 'eos');
    assert.deepEqual(
      r.tokens.map((t) => t.id),
      entry(0).ids,
    );
  });

  test('an aborted signal stops a generation in flight, with the tokens so far', async () => {
    const s = await runtime.createSession();
    await s.prefill(SCRIPT.prompt);
    const controller = new AbortController();
    const r = await s.generate({ maxTokens: 100 }, () => controller.abort(), controller.signal);
    assert.equal(r.stopReason, 'cancelled');
    assert.equal(r.tokens.length, 1);
    // The session is still usable and continues the script.
    const next = await s.generate({ maxTokens: 1 });
    assert.equal(next.tokens[0].id, entry(0).ids[1] ?? entry(1).ids[0]);
  });

  test('generate before prefill is a clear error', async () => {
    const s = await runtime.createSession();
    await assert.rejects(s.generate({ maxTokens: 3 }), /prefill\(\) first/);
  });
});
