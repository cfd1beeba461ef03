// The webviews' Content-Security-Policy: nothing from outside the extension, no inline
// script, and no data: images (the view draws none, and an answer's image is shown as its
// description: a data: picture could look like anything, an LLM highlight included).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useVscodeStub } from '../extension/vscodeStub';
useVscodeStub();

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { webviewHtml } = require('../../../src/extension/webviewHtml') as typeof import('../../../src/extension/webviewHtml');

const CSP_SOURCE = 'https://file+.vscode-resource.vscode-cdn.net';

function policy(kind: 'chat' | 'answer'): Map<string, string[]> {
  const webview = { cspSource: CSP_SOURCE, asWebviewUri: (uri: { path: string }) => `${CSP_SOURCE}${uri.path}` };
  const html = webviewHtml(webview as never, { path: '/ext' } as never, kind);
  const content = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html)?.[1];
  assert.ok(content, html);
  return new Map(
    content
      .split(';')
      .map((directive) => directive.trim().split(/\s+/))
      .map(([name, ...sources]) => [name, sources]),
  );
}

test('the webviews load images from the extension only: no data: images, nothing remote', () => {
  for (const kind of ['chat', 'answer'] as const) {
    const csp = policy(kind);
    assert.deepEqual(csp.get('img-src'), [CSP_SOURCE], kind);
    assert.deepEqual(csp.get('default-src'), ["'none'"], kind);
    assert.match(csp.get('script-src')?.join(' ') ?? '', /^'nonce-[A-Za-z0-9+/=]+'$/, kind);
    for (const [name, sources] of csp) assert.ok(!sources.includes('data:') && !sources.includes('*'), `${kind}: ${name} ${sources.join(' ')}`);
  }
});
