/** HTML shell of the Relay webviews: strict CSP with a nonce, no remote content, no eval. */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';

export type WebviewKind = 'chat' | 'answer';

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'media')] };
}

export function webviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, kind: WebviewKind): string {
  const nonce = randomBytes(16).toString('base64');
  const media = (...path: string[]): vscode.Uri => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'media', ...path));
  const csp = [
    "default-src 'none'",
    `style-src ${webview.cspSource}`,
    `font-src ${webview.cspSource}`,
    // No data: images: the view draws none (its charts are inline SVG) and shows no image an answer links to.
    `img-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${media('katex', 'katex.min.css')}">
<link rel="stylesheet" href="${media('styles', 'relay.css')}">
<title>Relay</title>
</head>
<body data-view="${kind}">
<script nonce="${nonce}" src="${media(`${kind}.js`)}"></script>
</body>
</html>`;
}
