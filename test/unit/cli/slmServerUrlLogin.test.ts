/**
 * The served SLM's address is refused with its login masked: a user:password written there
 * is a secret, whether or not the address parses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../../src/cli/args';
import { defaultConfig } from '../../../src/cli/config';
import { checkModelSettings } from '../../../src/cli/setup';

const SECRET = 'Slm-Secret';

test("the small model's server address is quoted without its password when it is not a URL or not http(s)", () => {
  const cases: Array<[string, RegExp]> = [
    [`http://alice:${SECRET}@[::1/v1`, /^The small model's server address "http:\/\/\*\*\*@\[::1\/v1" is not a URL\. Fix /],
    [`ftp://alice:${SECRET}@gw.example/v1`, /^The small model's server address "ftp:\/\/\*\*\*@gw\.example\/v1" has no http:\/\/ or https:\/\/\. Fix /],
  ];
  for (const [serverUrl, said] of cases) {
    const config = defaultConfig();
    config.slm = { ...config.slm, kind: 'completions-server', serverUrl, serverModel: 's' };
    assert.throws(
      () => checkModelSettings(config),
      (error: Error) => error instanceof UsageError && !error.message.includes(SECRET) && said.test(error.message),
      serverUrl,
    );
  }
});
