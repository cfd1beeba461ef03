/** The relay module: what the extension and the CLI import (see engine.ts for the protocol). */
export * from './events';
export { runRelay, collectRelay, DEFAULT_CONFIDENCE, DEFAULT_MAX_TURNS, DEFAULT_TOKEN_BUDGET, DEFAULT_TEMPERATURE, type RelayOptions, type ConfidenceOptions } from './engine';
export { CommandFilter, parseCallCount, stripCommandsForLlm, removeCommands, CALL_OPEN, CALL_CLOSE } from './commandFilter';
export { relayCostUsd, llmOnlyCostUsd, llmTokenShare, savedUsd, addUsage, emptyUsage, LLM_ONLY_ESTIMATE_NOTE } from './cost';
export { TotalsStore, emptyTotals, addTotals, totalsOfAnswer, type TotalsEntry, type TotalsFile } from './totalsStore';
export { answersMatch, extractAnswer, extractBoxed, extractLastNumber, extractReference } from './answerExtraction';
export { routeToLlm } from './random';
export { readSlmRelayTraits, resolveRelayMode, type RequestedMode, type SlmRelayTraits } from './modeResolution';
