/** `url` without user:password (an address may carry them, sent as Basic auth): what a message, a link or a record may show. */
export function withoutCredentials(url: URL): URL {
  const shown = new URL(url.href);
  shown.username = '';
  shown.password = '';
  return shown;
}

/** An address as the user wrote it, quoted in a message without its user:password part (it may not even parse as a URL). */
export function quotedAddress(text: string): string {
  return `"${text.replace(/\/\/[^/@]*@/g, '//***@')}"`;
}
