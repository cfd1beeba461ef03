/** `url` without user:password (an address may carry them, sent as Basic auth): what a message, a link or a record may show. */
export function withoutCredentials(url: URL): URL {
  const shown = new URL(url.href);
  shown.username = '';
  shown.password = '';
  return shown;
}

/**
 * What of `url`'s user:password no message may show: the password as written and decoded,
 * and the Basic auth value Node sends for it (base64 of the decoded "user:password"), which a
 * server may echo back. None when the URL carries no password.
 */
export function loginSecrets(url: URL): string[] {
  if (!url.password) return [];
  const user = decodedPart(url.username);
  const password = decodedPart(url.password);
  return [url.password, password, Buffer.from(`${user}:${password}`).toString('base64')];
}

/** A user or password part percent-decoded, as Node decodes it for Basic auth; as written where it has a stray %. */
function decodedPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/**
 * Where the URL parser reads a login: after "//" (or "\\"), or right after an http(s)-like
 * scheme with any slashes ("http:alice:pw@host" is http://alice:pw@host/), up to the LAST @
 * before the path ("alice:p@ss@host" is alice with the password "p@ss").
 */
const LOGIN = /^([\x00-\x20]*[a-z][a-z\d+.-]*:[/\\]*)[^/]*@|(\/\/|\\\\)[^/]*@/gi;

/** An address as the user wrote it, quoted in a message without its user:password part (it may not even parse as a URL). */
export function quotedAddress(text: string): string {
  return `"${loginMasked(asParsed(text))}"`;
}

/**
 * `text` (a command-line argument, a setting) as a record of what the user wrote may keep it:
 * where it holds a user:password the URL parser would read, or it does not parse and looks
 * like it does, that part masked as quotedAddress masks it (unquoted); else as written.
 */
export function maskedLogin(text: string): string {
  const read = asParsed(text);
  const masked = loginMasked(read);
  if (masked === read) return text;
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  // The pattern reads more than the parser: "C:\Users\me@corp\data.jsonl" and "https://gw?to=a@b" parse with no login.
  return url !== undefined && !url.username && !url.password ? text : masked;
}

/**
 * An address as a record that is compared keeps it: where it parses, as the URL parser reads
 * it without user:password (which do not change what the server is, and are secret); where
 * it does not, as maskedLogin shows it.
 */
export function addressWithoutLogin(text: string): string {
  try {
    return withoutCredentials(new URL(text)).href;
  } catch {
    return maskedLogin(text);
  }
}

/** `text` without the tabs and newlines that the URL parser drops ("ht\ttp://a:b@host" is http://a:b@host/). */
const asParsed = (text: string): string => text.replace(/[\t\n\r]/g, '');

const loginMasked = (text: string): string =>
  text.replace(LOGIN, (_login, schemeStart: string | undefined, slashes: string | undefined) => `${schemeStart ?? slashes}***@`);
