/**
 * The command line relay eval records in its files: an http(s) address's user:password is
 * masked (a secret sent as Basic auth), in --base-url's value or --base-url=; every other
 * argument stays as written, a path with "//" or an @ in it included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shellQuote } from '../../../src/cli/commandLine';
import { recordedCommandLine } from '../../../src/cli/main';

const SECRET = 'Rec0rd-Secret';

test("recordedCommandLine masks an http(s) address's login, as a value or after =", () => {
  for (const login of [`alice:${SECRET}`, SECRET, `:${SECRET}`]) {
    const recorded = recordedCommandLine(['eval', 'd.jsonl', '--base-url', `https://${login}@gw.example/v1`, `--base-url=http:${login}@127.0.0.1:8000/v1`]);
    assert.equal(recorded, "relay eval d.jsonl --base-url 'https://***@gw.example/v1' '--base-url=http:***@127.0.0.1:8000/v1'", login);
  }
});

test('recordedCommandLine leaves every argument that is no http(s) address with a login as written', () => {
  const args = [
    './data//me@corp.jsonl',
    '\\\\server\\share\\me@corp\\d.jsonl',
    'C:\\Users\\me@corp\\data.jsonl',
    '//nas/me@corp/out',
    '--out=//nas/me@corp/out',
    'https://gw.example?to=a@b',
    'ssh://git@github.com/x/y',
    'bob@example.com',
  ];
  for (const arg of args) assert.equal(recordedCommandLine(['eval', arg]), `relay eval ${shellQuote(arg)}`);
  assert.equal(recordedCommandLine(['eval', './data//me@corp.jsonl', '--out=//nas/me@corp/out']), 'relay eval ./data//me@corp.jsonl --out=//nas/me@corp/out');
});
