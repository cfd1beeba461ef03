// Reading the next chat turn ahead (readAhead.ts) on real ONNX sessions of the tiny generated
// model, given Qwen3's own chat template (which drops the empty <think></think> of earlier
// answers): without it a follow-up reuses its kept cache only up to the previous answer; with
// it, up to its own message, and decodes exactly as a runtime that keeps nothing.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ensureTinyModel } from '../../fixtures/fixtures';
import { qwen3TokenizerDir } from '../../fixtures/scriptedModel';
import { createLocalRuntime, type LocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { draftPrefix, draftReads, followUpPrefix, ReadAhead } from '../../../src/core/slm/readAhead';
import type { ChatMessage, SlmRuntime } from '../../../src/core/slm/types';

let folder: string;
let workdir: string;
const runtimes: LocalRuntime[] = [];

before(async () => {
  // The tiny model with Qwen3's template in place of its ChatML one.
  workdir = mkdtempSync(join(tmpdir(), 'relay-read-ahead-'));
  folder = join(workdir, 'tiny-qwen3-template');
  cpSync(await ensureTinyModel(), folder, { recursive: true });
  const qwen3 = JSON.parse(readFileSync(join(qwen3TokenizerDir(), 'tokenizer_config.json'), 'utf8')) as { chat_template: string };
  const configPath = join(folder, 'tokenizer_config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(configPath, JSON.stringify({ ...config, chat_template: qwen3.chat_template }));
});

after(async () => {
  for (const r of runtimes) await r.dispose();
  rmSync(workdir, { recursive: true, force: true });
});

async function runtime(kvCacheBudgetMb?: number): Promise<LocalRuntime> {
  const r = await createLocalRuntime(folder, { variant: 'fp32', ...(kvCacheBudgetMb === undefined ? {} : { kvCacheBudgetMb }) });
  runtimes.push(r);
  return r;
}

const FIRST: ChatMessage[] = [
  { role: 'system', content: 'You are a helpful assistant inside a code editor.' },
  { role: 'user', content: 'Why does this loop stop early when the list is empty?' },
];
const FOLLOW_UP = 'And what if the list holds one item only?';

/** Turn 1 as the relay answers it: prefill, generate, dispose (the runtime keeps the cache). */
async function firstTurn(rt: LocalRuntime): Promise<string> {
  const session = await rt.createSession();
  await session.prefill(await rt.renderChat(FIRST));
  const result = await session.generate({ maxTokens: 24, sampling: { temperature: 0 } });
  await session.dispose();
  // A readable answer as the conversation keeps it (this model's random weights write any bytes).
  return `The loop tests the length first. ${result.tokens.length} tokens were written.`;
}

/** Turn 2's prompt read on a new session: tokens reused, the logits of its next position, the greedy tokens. */
async function secondTurn(rt: LocalRuntime, prompt: string) {
  const session = await rt.createSession();
  const prefill = await session.prefill(prompt);
  const logits = await session.nextLogits();
  const result = await session.generate({ maxTokens: 8, sampling: { temperature: 0 } });
  await session.dispose();
  return { reused: prefill.reusedTokens ?? 0, total: prefill.tokenCount, logits, tokens: result.tokens.map((t) => t.id) };
}

test("followUpPrefix: the conversation as the next turn renders it, up to the next message's text (Qwen3 drops the earlier answer's empty <think></think>)", async () => {
  const rt = await runtime();
  const answer = 'It checks the length first.';
  const prefix = await followUpPrefix(rt, FIRST, answer);
  const next = await rt.renderChat([...FIRST, { role: 'assistant', content: answer }, { role: 'user', content: FOLLOW_UP }]);
  assert.ok(next.startsWith(prefix), 'every next prompt starts with it');
  assert.ok(prefix.endsWith('<|im_start|>user\n'), `it runs to the next message's text: ${JSON.stringify(prefix.slice(-40))}`);
  assert.ok(prefix.includes(`<|im_start|>assistant\n${answer}<|im_end|>`), 'the answer as a later turn renders it');
  // The prompt the answer was written after renders it otherwise: that is what the kept cache holds.
  const asWritten = (await rt.renderChat(FIRST)) + answer;
  assert.match(asWritten, /<think>\n\n<\/think>/);
  assert.doesNotMatch(prefix, /<think>/);
});

test('draftPrefix: a message still being written counts up to its last finished word, and its prompt starts so', async () => {
  const rt = await runtime();
  const history: ChatMessage[] = [...FIRST, { role: 'assistant', content: 'It checks the length first.' }];
  const prefix = await draftPrefix(rt, history, 'And what if the li');
  assert.ok(prefix.endsWith('<|im_start|>user\nAnd what if the'), JSON.stringify(prefix.slice(-40)));
  const sent = await rt.renderChat([...history, { role: 'user', content: FOLLOW_UP }]);
  assert.ok(sent.startsWith(prefix));
  assert.equal(await draftPrefix(rt, history, 'And what if the '), prefix, 'a trailing space ends no more words');
  assert.equal(await draftPrefix(rt, history, 'And'), await followUpPrefix(rt, FIRST, 'It checks the length first.'), 'no finished word yet');
});

test('draftReads: up to the last finished word, then whole; sent as it stands Send computes nothing and decodes as without reuse, written on it reuses up to the word being written', async () => {
  const history: ChatMessage[] = [...FIRST, { role: 'assistant', content: 'It checks the length first.' }];
  const sent = [...history, { role: 'user' as const, content: FOLLOW_UP }];
  const rt = await runtime();
  const fresh = await runtime(0);
  const prompt = await rt.renderChat(sent);
  assert.deepEqual(await draftReads(rt, history, FOLLOW_UP), [await draftPrefix(rt, history, FOLLOW_UP), prompt], 'the prompt Send renders comes last');
  assert.equal(await draftReads(rt, history, ' \n '), undefined, 'nothing written: nothing to read');

  // The user paused, then sent the text as it stood.
  const readAhead = new ReadAhead();
  readAhead.start(rt, () => draftReads(rt, history, FOLLOW_UP));
  await readAhead.settle(prompt);
  const asIs = await secondTurn(rt, prompt);
  const reference = await secondTurn(fresh, prompt);
  assert.equal(asIs.reused, asIs.total, `all ${asIs.total} tokens read ahead: Send computes nothing`);
  let maxDiff = 0;
  for (let i = 0; i < reference.logits.length; i++) maxDiff = Math.max(maxDiff, Math.abs(reference.logits[i] - asIs.logits[i]));
  assert.ok(maxDiff < 1e-3, `logits as without reuse (max |difference| ${maxDiff})`);
  assert.deepEqual(asIs.tokens, reference.tokens, 'the same greedy tokens');

  // The user paused in the middle of a word, then wrote on and sent while it was read: the start is waited for, the rest not read.
  const other = await runtime();
  const partial = 'And what if the li';
  const writing = new ReadAhead();
  writing.start(other, () => draftReads(other, history, partial));
  await writing.settle(prompt);
  const writtenOn = await secondTurn(other, prompt);
  const upToWord = other.encode(prompt.slice(0, prompt.indexOf(' list holds'))).length;
  assert.ok(writtenOn.reused >= upToWord, `${writtenOn.reused} reused, the words before the one being written end at ${upToWord}`);
  assert.ok(writtenOn.reused < writtenOn.total - 5, `the rest of the message and the generation prompt computed (${writtenOn.reused} of ${writtenOn.total})`);
});

test('a follow-up after reading ahead reuses the whole conversation up to its own message, and decodes as without reuse', async () => {
  const plain = await runtime();
  const ahead = await runtime();
  const fresh = await runtime(0);
  const answerPlain = await firstTurn(plain);
  const answer = await firstTurn(ahead);
  assert.equal(answerPlain, answer);
  const readAhead = new ReadAhead();
  readAhead.start(ahead, () => followUpPrefix(ahead, FIRST, answer));
  const prompt = await ahead.renderChat([...FIRST, { role: 'assistant', content: answer }, { role: 'user', content: FOLLOW_UP }]);
  // The follow-up starts with what is being read: settle waits for it to be read to the end.
  await readAhead.settle(prompt);
  const prefixTokens = ahead.encode(await followUpPrefix(ahead, FIRST, answer)).length;
  const withoutReadAhead = await secondTurn(plain, prompt);
  const withReadAhead = await secondTurn(ahead, prompt);
  const reference = await secondTurn(fresh, prompt);
  // Without: the kept cache parts from the prompt where the previous answer starts (its <think></think>).
  const answerStart = ahead.encode(prompt.slice(0, prompt.indexOf(answer))).length;
  assert.ok(withoutReadAhead.reused <= answerStart, `without reading ahead ${withoutReadAhead.reused} tokens reused, up to the answer at ${answerStart}`);
  // With: everything before the follow-up's own text (the tokens of the shared prefix; the last may merge with the message).
  assert.ok(withReadAhead.reused >= prefixTokens - 1, `with reading ahead ${withReadAhead.reused} of ${withReadAhead.total} reused (prefix ${prefixTokens})`);
  assert.ok(withReadAhead.reused - withoutReadAhead.reused >= ahead.encode(answer).length, 'at least the previous answer is not computed again');
  assert.equal(reference.reused, 0);
  let maxDiff = 0;
  for (let i = 0; i < reference.logits.length; i++) maxDiff = Math.max(maxDiff, Math.abs(reference.logits[i] - withReadAhead.logits[i]));
  assert.ok(maxDiff < 1e-3, `logits as without reuse (max |difference| ${maxDiff})`);
  assert.deepEqual(withReadAhead.tokens, reference.tokens, 'the same greedy tokens');
});

test('settle() stops a read-ahead in flight between chunks; what it read is kept and the runtime answers on', async () => {
  const rt = await runtime();
  const readAhead = new ReadAhead();
  let started!: () => void;
  const firstChunkRead = new Promise<void>((resolve) => (started = resolve));
  // Several prefill chunks (512 tokens each) of this model's 4,096-token window.
  const long = (await rt.renderChat(FIRST)) + 'word '.repeat(700);
  // A runtime whose sessions say when their prefill has read its first chunk.
  const watched: Pick<SlmRuntime, 'createSession' | 'info'> = {
    info: rt.info,
    async createSession() {
      const session = await rt.createSession();
      return {
        ...session,
        id: session.id,
        prefill: (text, options) =>
          session.prefill(text, {
            ...options,
            onProgress: (p) => {
              if (p.done > 0) started();
            },
          }),
        generate: session.generate.bind(session),
        append: session.append.bind(session),
        dispose: session.dispose.bind(session),
      };
    },
  };
  readAhead.start(watched, async () => long);
  await firstChunkRead;
  // Another prompt (a new conversation): the read-ahead stops.
  await readAhead.settle('<|im_start|>user\nSomething else entirely.<|im_end|>\n');
  const again = await secondTurn(rt, long);
  assert.ok(
    again.reused <= again.total - 512,
    `stopped a chunk or more before the end (${again.reused} of ${again.total} read): the rest is computed by the next prompt`,
  );
  assert.ok(again.total > 1024, `${again.total} tokens: more than one chunk`);
  assert.ok(again.reused > 0, 'the chunk read before the stop is kept');
  // Nothing in flight: settle() again returns at once, and a new read-ahead starts.
  await readAhead.settle();
});

test('an answer waiting for a long read-ahead hears its progress, as a prompt being read, and its Stop stops the read', async () => {
  const long = (await (await runtime()).renderChat(FIRST)) + 'word '.repeat(700);
  // Waited for to the end: progress up to the whole text, all of it reused by the prompt.
  const rt = await runtime();
  const readAhead = new ReadAhead();
  readAhead.start(rt, async () => long);
  const heard: { done: number; total: number }[] = [];
  await readAhead.settle(`${long} and more`, { onProgress: (p) => heard.push({ done: p.done, total: p.total }) });
  assert.ok(heard.length >= 2, `progress heard: ${JSON.stringify(heard)}`);
  assert.equal(heard.at(-1)?.done, heard.at(-1)?.total, 'to the end');
  const whole = await secondTurn(rt, `${long} and more`);
  assert.ok(whole.reused >= rt.encode(long).length - 1, `${whole.reused} of ${whole.total} reused`);
  // Stopped while waited for: the read ends between chunks, the rest is left to the prompt.
  const other = await runtime();
  const stopping = new ReadAhead();
  stopping.start(other, async () => long);
  const stop = new AbortController();
  await stopping.settle(`${long} and more`, {
    signal: stop.signal,
    onProgress: (p) => {
      if (p.done > 0) stop.abort();
    },
  });
  const rest = await secondTurn(other, `${long} and more`);
  assert.ok(rest.reused > 0 && rest.reused <= rest.total - 512, `stopped part way: ${rest.reused} of ${rest.total} read ahead`);
});

test('start reads nothing on a runtime that keeps no KV caches (a budget of 0): not even its text is asked, and the answer waits for nothing', async () => {
  const long = (await (await runtime()).renderChat(FIRST)) + 'word '.repeat(700);
  /** The runtime with its sessions and the texts asked of the read-ahead counted. */
  const counted = (rt: LocalRuntime) => {
    const count = { sessions: 0, texts: 0 };
    const counting: Pick<SlmRuntime, 'createSession' | 'info'> = {
      info: rt.info,
      createSession: () => {
        count.sessions++;
        return rt.createSession();
      },
    };
    const readAhead = new ReadAhead();
    readAhead.start(counting, async () => {
      count.texts++;
      return long;
    });
    return { count, readAhead };
  };
  const none = counted(await runtime(0));
  const heard: number[] = [];
  await none.readAhead.settle(`${long} and more`, { onProgress: (p) => heard.push(p.done) });
  assert.deepEqual(none.count, { sessions: 0, texts: 0 }, 'nothing rendered, no session opened');
  assert.deepEqual(heard, [], 'no reading for the answer to wait for');
  // The same read on a runtime that keeps them is read.
  const keeping = counted(await runtime());
  await keeping.readAhead.settle(`${long} and more`);
  assert.deepEqual(keeping.count, { sessions: 1, texts: 1 });
});
