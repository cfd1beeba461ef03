/**
 * The words for a usage Relay capped (Usage.outputCapped, src/core/providers/usage.ts): the
 * server reported more output than one call can write and the call was billed at that ceiling.
 * One text for every surface (span hover, @relay footer, CLI, the LLM-alone note).
 */
export const OUTPUT_CAPPED = 'output capped: the server reported more than one call can write';
