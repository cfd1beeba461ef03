// `vscode:prepublish` of the repository's own package.json: runs only for a bare `vsce package`
// or `vsce publish` at the root (the packaging script stages a manifest without scripts). Such
// a package would ship whatever dist/ holds (the development build) with no ONNX Runtime
// binding and no third-party notices: refuse, and name the command that builds a real one.
console.error(
  'Relay is packaged with `npm run package` (this platform), `npm run package -- --target <t>` or `npm run package -- --all`: ' +
    'it builds the production bundles and stages each platform package with its ONNX Runtime binding and ThirdPartyNotices.txt. ' +
    'A bare `vsce package` at the repository root would ship the development build without them, so it stops here.',
);
process.exit(1);
