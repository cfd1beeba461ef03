// placeholder until the webview app lands
export {};
