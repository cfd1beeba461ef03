// The shape every provider's API keys and the model hub's tokens have.

/**
 * What is wrong with a pasted key or token, or undefined when it has the shape every
 * provider's keys have (printable ASCII, no spaces). Checked where a key is typed and
 * before one is sent: a key with a line break or a curly quote in it fails deep in the
 * HTTP client with "Invalid character in header content", and "Bearer sk-..." pasted
 * whole is sent as "Bearer Bearer sk-..." and refused as a bad key. Never quotes the key.
 */
export function keyShapeProblem(key: string): string | undefined {
  if (/^bearer\s/i.test(key)) return "starts with 'Bearer ': paste the key alone, without 'Bearer '";
  if (/\s/.test(key)) return 'contains a space or a line break: paste the key alone, in one piece';
  for (const char of key) {
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x21 || code > 0x7e) {
      const named = code < 0x20 || code === 0x7f ? 'a control character' : `'${char}' (U+${code.toString(16).toUpperCase().padStart(4, '0')})`;
      return `contains ${named}, which keys never have: copy the key again from its provider's page`;
    }
  }
  return undefined;
}

/** An input box's check of a typed key or token (`noun`: "key", "token"): empty is allowed (it removes the stored one). */
export function typedKeyProblem(typed: string, noun: string): string | undefined {
  const problem = typed.trim() === '' ? undefined : keyShapeProblem(typed.trim());
  return problem ? `The ${noun} ${problem}.` : undefined;
}
