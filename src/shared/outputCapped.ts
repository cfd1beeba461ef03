/**
 * The words for a usage Relay capped (Usage.outputCapped, src/core/providers/usage.ts): the
 * server reported more output than one call can write and the call was billed at that ceiling.
 * One text for every surface (span hover, @relay footer, CLI, the LLM-alone note).
 */
export const OUTPUT_CAPPED = 'output capped: the server reported more than one call can write';

/**
 * The words for a call whose usage the server did not report (Usage.estimated, not capped): Relay
 * counted it. One text for the span hover and the @relay footer's call lines.
 */
export const USAGE_NOT_REPORTED = 'estimated: the server reported no usage';
