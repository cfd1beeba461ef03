/**
 * Text put in a Markdown code block inside a prompt (a selection, a file, an attachment):
 * the fence is longer than any run of backticks the text holds, so code that contains ```
 * (Markdown, docs, template strings) cannot close the block early and turn the rest into prose.
 */
export function fencedCode(text: string, info = ''): string {
  const longest = Math.max(2, ...[...text.matchAll(/`{3,}/g)].map((match) => match[0].length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${info}\n${text}\n${fence}`;
}
