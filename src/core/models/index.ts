/** Model downloads from the model hub (no VS Code): listing, variant files, resumable verified download, store layout. */
export * from './errors';
export * from './hubApi';
export { DEFAULT_HUB_TIMEOUTS, type HubTimeouts } from './hubHttp';
export * from './modelStore';
export * from './variantFiles';
export * from './downloader';
