/**
 * Seeded randomness for the random query router: the same seed and query always go to
 * the same model, so evaluations are reproducible and modes compare side by side.
 */

/** mulberry32: a small, well-mixed 32-bit generator; returns numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a hash of a string, to give every query its own draw under one seed. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** One draw per (seed, query): true when the query goes to the LLM. */
export function routeToLlm(llmProbability: number, seed: number, queryKey: string): boolean {
  if (!(llmProbability >= 0 && llmProbability <= 1)) {
    throw new Error(`The random router's LLM probability must be between 0 and 1 (got ${llmProbability}).`);
  }
  return seededRandom((seed ^ hashString(queryKey)) >>> 0)() < llmProbability;
}

/** The k-th seed of a stream of seeds from one seed (k = 0 gives the seed itself). */
export function deriveSeed(seed: number, k: number): number {
  return (seed + Math.imul(k, 0x9e3779b9)) >>> 0;
}
