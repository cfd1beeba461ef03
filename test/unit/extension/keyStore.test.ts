// Keys bound to the origin they were entered for (src/extension/keyStore.ts), with the
// user's answers scripted: what is sent where, what is asked, what is remembered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyStore, LEGACY_HUB_TOKEN_SECRET, MODEL_HUB, type MementoLike, type SecretStorageLike } from '../../../src/extension/keyStore';

class MemorySecrets implements SecretStorageLike {
  readonly values = new Map<string, string>();
  async get(name: string) {
    return this.values.get(name);
  }
  async store(name: string, value: string) {
    this.values.set(name, value);
  }
  async delete(name: string) {
    this.values.delete(name);
  }
}

class MemoryState implements MementoLike {
  readonly values = new Map<string, unknown>();
  get<T>(name: string): T | undefined {
    return this.values.get(name) as T | undefined;
  }
  async update(name: string, value: unknown) {
    this.values.set(name, value);
  }
}

function setUp(answers: boolean[] = []) {
  const secrets = new MemorySecrets();
  const state = new MemoryState();
  const questions: string[] = [];
  const keys = new KeyStore(secrets, state, async (question) => {
    questions.push(question);
    return answers.shift() ?? false;
  });
  return { secrets, state, questions, keys };
}

const OPENAI = new URL('https://api.openai.com/v1');
const COLLECTOR = new URL('https://collector.example/v1');

test('a key goes to the origin it was stored for without a question', async () => {
  const { keys, questions, secrets } = setUp();
  await keys.store('openai-chat', OPENAI.origin, 'sk-user');
  assert.deepEqual(await keys.keyFor('openai-chat', OPENAI), { key: 'sk-user' });
  assert.deepEqual(questions, []);
  assert.equal(secrets.values.get('relay.apiKey.openai-chat@https://api.openai.com'), 'sk-user', 'stored per kind and origin');
  assert.deepEqual(await keys.keyFor('anthropic', new URL('https://api.anthropic.com')), {}, "another kind's key is not this one");
});

test('another origin: the user is asked once, "no" sends no key and is remembered', async () => {
  const { keys, questions } = setUp([false]);
  await keys.store('openai-chat', OPENAI.origin, 'sk-user');
  const first = await keys.keyFor('openai-chat', COLLECTOR);
  assert.equal(first.key, undefined);
  assert.match(
    first.withheld ?? '',
    /did not send your openai-chat API key \(stored for https:\/\/api\.openai\.com\) to https:\/\/collector\.example: you said no/,
  );
  assert.deepEqual(questions, ['Send your openai-chat API key for https://api.openai.com to https://collector.example?']);
  assert.equal((await keys.keyFor('openai-chat', COLLECTOR)).key, undefined);
  assert.equal(questions.length, 1, 'the answer is remembered');
  assert.equal(await keys.hasKeyFor('openai-chat', COLLECTOR), false, 'the set-up warning says there is no key for it');
  assert.equal(await keys.hasKeyFor('openai-chat', OPENAI), true);
});

test('"yes" sends the key there from now on; a key stored for that origin later replaces the answer', async () => {
  const { keys, questions } = setUp([true]);
  await keys.store('openai-chat', OPENAI.origin, 'sk-user');
  assert.deepEqual(await keys.keyFor('openai-chat', COLLECTOR), { key: 'sk-user' });
  assert.deepEqual(await keys.keyFor('openai-chat', COLLECTOR), { key: 'sk-user' });
  assert.equal(questions.length, 1);
  await keys.store('openai-chat', COLLECTOR.origin, 'sk-collector');
  assert.deepEqual(await keys.keyFor('openai-chat', COLLECTOR), { key: 'sk-collector' });
  assert.deepEqual(await keys.keyFor('openai-chat', OPENAI), { key: 'sk-user' }, 'each origin keeps its own key');
});

test('parallel calls share one question', async () => {
  const { keys, questions } = setUp([false, true]);
  await keys.store('openai-chat', OPENAI.origin, 'sk-user');
  const decisions = await Promise.all([keys.keyFor('openai-chat', COLLECTOR), keys.keyFor('openai-chat', COLLECTOR)]);
  assert.equal(questions.length, 1);
  assert.deepEqual(
    decisions.map((d) => d.key),
    [undefined, undefined],
  );
});

test('plain HTTP: never in clear text to another machine without a yes; loopback needs none', async () => {
  const { keys, questions } = setUp([false]);
  const remote = new URL('http://10.0.0.5:8000/v1');
  const local = new URL('http://127.0.0.1:8000/v1');
  await keys.store('openai-completions', remote.origin, 'sk-remote');
  await keys.store('openai-completions', local.origin, 'sk-local');
  const refused = await keys.keyFor('openai-completions', remote);
  assert.equal(refused.key, undefined);
  assert.match(refused.withheld ?? '', /plain HTTP to a host off this machine/);
  assert.deepEqual(questions, ['Send your API key to http://10.0.0.5:8000 over plain HTTP?']);
  assert.deepEqual(await keys.keyFor('openai-completions', local), { key: 'sk-local' });
  assert.equal(questions.length, 1, 'nothing asked for this machine');
});

test('plain HTTP to 127.0.0.2 asks first: VS Code sends only localhost, 127.0.0.1 and [::1] direct, so a proxy may read the rest', async () => {
  const { keys, questions } = setUp([false]);
  const proxied = new URL('http://127.0.0.2:8000/v1');
  await keys.store('openai-completions', proxied.origin, 'sk-vllm');
  const refused = await keys.keyFor('openai-completions', proxied);
  assert.equal(refused.key, undefined);
  assert.deepEqual(questions, ['Send your API key to http://127.0.0.2:8000 over plain HTTP?']);
  assert.match(
    refused.withheld ?? '',
    /plain HTTP to 127\.0\.0\.2, a loopback address a proxy may carry \(VS Code sends every address but localhost, 127\.0\.0\.1 and \[::1\] through http\.proxy or HTTP_PROXY\)/,
  );
  for (const direct of ['http://localhost:8000/v1', 'http://[::1]:8000/v1']) {
    await keys.store('openai-completions', new URL(direct).origin, 'sk-here');
    assert.deepEqual(await keys.keyFor('openai-completions', new URL(direct)), { key: 'sk-here' }, direct);
  }
  assert.equal(questions.length, 1, 'nothing asked for the addresses sent direct');
});

test('a key stored before origins were bound moves to the origin it was used with', async () => {
  const { keys, secrets } = setUp();
  secrets.values.set('relay.apiKey.openai-chat', 'sk-old');
  secrets.values.set('relay.apiKey.openai-completions', 'sk-vllm');
  await keys.migrateLegacy('openai-chat', undefined);
  await keys.migrateLegacy('openai-completions', 'http://127.0.0.1:8001/v1');
  assert.deepEqual(await keys.keyFor('openai-chat', OPENAI), { key: 'sk-old' }, 'the kind default');
  assert.deepEqual(await keys.keyFor('openai-completions', new URL('http://127.0.0.1:8001/v1')), { key: 'sk-vllm' }, 'the configured server');
  assert.equal(secrets.values.has('relay.apiKey.openai-chat'), false, 'the unbound name is gone');
  await keys.remove('openai-chat', OPENAI.origin);
  assert.deepEqual(await keys.keyFor('openai-chat', OPENAI), {});
  assert.equal(await keys.hasKeyFor('openai-chat', OPENAI), false);
});

test("the model hub's token is bound to the hub it was entered for: a mirror asks first, plain HTTP off this machine too, and the messages name the hub's command and setting", async () => {
  const { keys, questions, secrets } = setUp([false, false]);
  const hub = new URL('https://huggingface.co');
  const mirror = new URL('https://hf-mirror.example');
  await keys.store(MODEL_HUB, hub.origin, 'hf_usertoken123');
  assert.equal(secrets.values.get('relay.models.hubToken@https://huggingface.co'), 'hf_usertoken123');
  assert.deepEqual(await keys.keyFor(MODEL_HUB, hub), { key: 'hf_usertoken123' });
  assert.deepEqual(await keys.keyFor('openai-chat', OPENAI), {}, 'no API key is the hub token');

  const moved = await keys.keyFor(MODEL_HUB, mirror);
  assert.equal(moved.key, undefined);
  assert.deepEqual(questions, ['Send your model hub token for https://huggingface.co to https://hf-mirror.example?']);
  assert.match(moved.withheld ?? '', /Store one for https:\/\/hf-mirror\.example with 'Relay: Set Model Hub Token', or point relay\.models\.hubEndpoint back/);

  const lan = new URL('http://10.0.0.9:8080');
  await keys.store(MODEL_HUB, lan.origin, 'hf_lantoken456');
  const clear = await keys.keyFor(MODEL_HUB, lan);
  assert.equal(clear.key, undefined);
  assert.equal(questions[1], 'Send your model hub token to http://10.0.0.9:8080 over plain HTTP?');
  assert.match(clear.withheld ?? '', /did not send your model hub token to http:\/\/10\.0\.0\.9:8080.*Use https:\/\/ in relay\.models\.hubEndpoint/);
  // An API key's "yes" for that origin is not the token's.
  const { keys: other, questions: asked } = setUp([true, false]);
  await other.store('openai-completions', lan.origin, 'sk-lan');
  await other.store(MODEL_HUB, lan.origin, 'hf_lantoken456');
  assert.deepEqual(await other.keyFor('openai-completions', lan), { key: 'sk-lan' });
  assert.equal((await other.keyFor(MODEL_HUB, lan)).key, undefined);
  assert.equal(asked.length, 2, 'asked once for each');
});

test('a hub token stored before tokens were bound moves to the endpoint it was being sent to', async () => {
  const { keys, secrets } = setUp();
  secrets.values.set(LEGACY_HUB_TOKEN_SECRET, 'hf_oldtoken789');
  await keys.migrateLegacy(MODEL_HUB, 'https://huggingface.co');
  assert.equal(secrets.values.has(LEGACY_HUB_TOKEN_SECRET), false, 'the unbound name is gone');
  assert.deepEqual(await keys.keyFor(MODEL_HUB, new URL('https://huggingface.co')), { key: 'hf_oldtoken789' });
  await keys.remove(MODEL_HUB, 'https://huggingface.co');
  assert.deepEqual(await keys.keyFor(MODEL_HUB, new URL('https://huggingface.co')), {});
});

test("another window's key: its secret counts before this window's list of origins has it, and a key removed there no longer counts here", async () => {
  // Both windows share VS Code's secret storage; this window's copy of globalState (the origins) arrives later.
  const { keys, secrets } = setUp();
  secrets.values.set('relay.apiKey.openai-chat@https://api.openai.com', 'sk-other-window');
  assert.equal(await keys.hasKeyFor('openai-chat', OPENAI), true, 'no "No API key" while the key is there');
  assert.equal(await keys.hasKeyFor('openai-chat', COLLECTOR), false, 'a key of another origin is not one for this one');
  await keys.store('openai-chat', OPENAI.origin, 'sk-this-window');
  secrets.values.delete('relay.apiKey.openai-chat@https://api.openai.com');
  assert.equal(await keys.hasKeyFor('openai-chat', OPENAI), false, 'removed in the other window: the stale list does not bring it back');
});
