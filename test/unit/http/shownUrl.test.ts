// quotedAddress hides a login wherever the URL parser would read one: it takes the login up
// to the LAST @ of the address's authority, after "//" or, for http(s), right after the
// scheme ("http:alice:pw@host" is http://alice:pw@host/).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quotedAddress } from '../../../src/core/http/shownUrl';
// The registry first: base.ts is loaded through it, as the providers load it.
import '../../../src/core/providers/registry';
import { parseBaseUrl } from '../../../src/core/providers/base';
import { ADDRESSES_WITH_PASSWORD, SECRET } from './loginAddresses';

test('quotedAddress shows no part of a password the URL parser reads, whatever the address looks like', () => {
  const addresses = [`htps://alice:p@${SECRET}@gw.example/v1`, ...ADDRESSES_WITH_PASSWORD, `htps://alice:p@${SECRET}\\x@gw.example/v1`];
  for (const address of addresses) {
    const login = new URL(address);
    assert.ok(login.password.length > 0, `the parser reads a password in ${JSON.stringify(address)}`);
    const shown = quotedAddress(address);
    assert.ok(!shown.includes('Secret') && !shown.includes('p@'), `${JSON.stringify(address)} shows ${shown}`);
    assert.match(shown, /\*\*\*@/, shown);
    assert.match(shown, /gw\.example|127\.0\.0\.1/, `the host is still shown: ${shown}`);
  }
});

test('quotedAddress of an address that does not parse hides up to its LAST @, across "/" (a base64 password holds "/")', () => {
  for (const [address, shown] of [
    ['https://alice:Zm9v/YmFy+cXV4@gw.example/v1', '"https://***@gw.example/v1"'],
    ['https://alice:Zm9v/Ym?Fy#cXV4@gw.example/v1', '"https://***@gw.example/v1"'],
    ['//alice:Zm9v/YmFy@gw.example/v1', '"//***@gw.example/v1"'],
  ]) {
    assert.throws(() => new URL(address), TypeError, `${address} does not parse`);
    assert.equal(quotedAddress(address), shown);
  }
  // As the provider's error quotes it.
  assert.throws(
    () => parseBaseUrl('https://alice:Zm9v/YmFy+cXV4@gw.example/v1'),
    (error: Error) => !error.message.includes('YmFy') && error.message.includes('"https://***@gw.example/v1"'),
  );
});

test('quotedAddress of an address that parses reads no login after its host ends ("/", "?", "#", and "\\" for http(s))', () => {
  for (const address of ['https://gw.example?to=a@b', 'https://gw.example/v1?to=a@b', 'https://gw.example#a@b', 'https://gw.example\\v1@b']) {
    assert.equal(quotedAddress(address), `"${address}"`);
  }
  assert.equal(quotedAddress(`https://alice:${SECRET}@gw.example?to=a@b`), '"https://***@gw.example?to=a@b"');
});

test('quotedAddress leaves an address without a login as written', () => {
  for (const address of ['https://api.openai.com/v1', 'localhost:8000/v1', 'gw.example:8443/v1?x=1', 'http://[::1:8000/v1', '']) {
    assert.equal(quotedAddress(address), `"${address}"`);
  }
});

test("the provider's error for a base URL without http(s) quotes it without its password", () => {
  assert.throws(
    () => parseBaseUrl(`htps://alice:p@${SECRET}@gw.example/v1`),
    (error: Error) => !error.message.includes('Secret') && /"htps:\/\/\*\*\*@gw\.example\/v1" has no http:\/\/ or https:\/\//.test(error.message),
  );
});
