/** `url` without user:password (an address may carry them, sent as Basic auth): what a message, a link or a record may show. */
export function withoutCredentials(url: URL): URL {
  const shown = new URL(url.href);
  shown.username = '';
  shown.password = '';
  return shown;
}
