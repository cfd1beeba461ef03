/** The providers module: what the relay engine, the CLI and the extension import. */
export * from './types';
export { createProvider } from './factory';
export { ProviderError, isProviderError, scrubSecrets, type ProviderErrorCode, type ProviderFix } from './errors';
export { EnvKeySource, MemoryKeySource, apiKeyName, envVarsForKind } from './secrets';
export { costOf, resolvePrice, resolvePriceWithSource, priceNote, builtInPrice, PRICE_CATALOG, type PriceOverrides } from './pricing';
export { estimateTokens } from './usage';
export { loadChatTemplateRenderer, rendererFromTemplate } from './chatTemplate';
