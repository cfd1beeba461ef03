// What a record keeps of an address the user wrote: maskedLogin (a command line's argument)
// masks a login the URL parser reads, and leaves everything else as written;
// addressWithoutLogin (a setting compared between runs) drops it, so two logins compare equal.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressWithoutLogin, maskedLogin } from '../../../src/core/http/shownUrl';
import { ADDRESSES_WITH_PASSWORD, SECRET } from './loginAddresses';

test('maskedLogin and addressWithoutLogin keep no part of a password the URL parser reads', () => {
  const addresses = [...ADDRESSES_WITH_PASSWORD, `https://alice:p@${SECRET}@[::1/v1`];
  for (const address of addresses) {
    for (const kept of [maskedLogin(address), addressWithoutLogin(address)]) {
      assert.ok(!kept.includes('Secret') && !kept.includes('p@'), `${JSON.stringify(address)} kept as ${kept}`);
      assert.match(kept, /gw\.example|127\.0\.0\.1|::1/, `the host is kept: ${kept}`);
    }
    assert.match(maskedLogin(address), /\*\*\*@/);
  }
  assert.equal(addressWithoutLogin(`https://alice:${SECRET}@gw.example/v1`), 'https://gw.example/v1');
  assert.equal(addressWithoutLogin(`https://alice:${SECRET}@gw.example`), addressWithoutLogin('https://gw.example'), 'compared as the parser reads it');
});

test('maskedLogin and addressWithoutLogin of an address that does not parse hide up to its LAST @, across "/"', () => {
  for (const address of ['https://alice:Zm9v/YmFy+cXV4@gw.example/v1', 'https://alice:Zm9v/Ym?Fy@gw.example/v1']) {
    assert.equal(maskedLogin(address), 'https://***@gw.example/v1');
    assert.equal(addressWithoutLogin(address), 'https://***@gw.example/v1');
  }
  assert.equal(maskedLogin('https://tok_5ecret@gw.example/v1'), 'https://***@gw.example/v1', 'a username alone is a login');
});

test('maskedLogin leaves what has no login as written: paths, a query with an @, any argument', () => {
  for (const text of [
    'https://api.openai.com/v1',
    'https://gw.example?to=a@b',
    'https://gw.example#a@b',
    'C:\\Users\\me@corp\\data.jsonl',
    'data.jsonl',
    '--modes',
    'a\tb',
    '',
  ]) {
    assert.equal(maskedLogin(text), text);
  }
  assert.equal(addressWithoutLogin(''), '');
});
