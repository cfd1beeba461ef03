/**
 * Token ratios (money.ts) per SLM and LLM pair: they belong to the two tokenizers, so one
 * object serves every answer of a pair. Kept for the life of the process; an adapter that
 * can keep state across sessions (the extension's globalState) gives a backing, so the
 * ratios learned in one session price the first call of the next and its LLM-alone
 * estimate, instead of counting in the SLM's tokens until a call reports its usage.
 */
import { TokenRatios, type TokenRatiosSnapshot } from './money';

/** Where ratios are kept between sessions: VS Code's Memento has this shape. */
export interface KeyValueBacking {
  get(key: string): unknown;
  update(key: string, value: unknown): PromiseLike<void> | void;
}

/** The backing's key: one record of snapshots by pair. */
export const TOKEN_RATIOS_STATE_KEY = 'relay.tokenRatios';
/** Pairs kept, the most recently taught last. */
export const MAX_TOKEN_RATIO_PAIRS = 32;

export class TokenRatioStore {
  private readonly ratios = new Map<string, TokenRatios>();
  /**
   * What this store wrote and the backing may not show yet (a write applies later), by pair:
   * read over the backing's record until its write has ended.
   */
  private readonly unsaved = new Map<string, TokenRatiosSnapshot>();

  constructor(private readonly backing?: KeyValueBacking) {}

  /** The ratios of one pair (its key names the SLM and the LLM), restored from the backing the first time. */
  of(pair: string): TokenRatios {
    const known = this.ratios.get(pair);
    if (known) {
      // Most recently used last, so the oldest goes first.
      this.ratios.delete(pair);
      this.ratios.set(pair, known);
      return known;
    }
    if (this.ratios.size >= MAX_TOKEN_RATIO_PAIRS) this.ratios.delete(this.ratios.keys().next().value as string);
    const ratios = TokenRatios.restore(this.stored()[pair]) ?? new TokenRatios();
    if (this.backing) ratios.onLearned = () => this.save(pair, ratios.snapshot());
    this.ratios.set(pair, ratios);
    return ratios;
  }

  /**
   * The backing's record as it is now, read at every use: other windows (other extension hosts)
   * share it and write their pairs to it, so a copy read once would give their pairs back stale
   * or drop them when written whole. This store's own writes not yet shown are laid over it.
   */
  private stored(): Record<string, unknown> {
    let value: unknown;
    try {
      value = this.backing?.get(TOKEN_RATIOS_STATE_KEY);
    } catch {
      value = undefined;
    }
    const record = typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...(value as Record<string, unknown>) } : {};
    // Taught here after what the backing shows, in the order they were taught.
    for (const [pair, snapshot] of this.unsaved) {
      delete record[pair];
      record[pair] = snapshot;
    }
    return record;
  }

  /** Writes the pair this store taught into the backing's current record: the other pairs stay as the backing has them. */
  private save(pair: string, snapshot: TokenRatiosSnapshot): void {
    const record = this.stored();
    delete record[pair];
    record[pair] = snapshot;
    const pairs = Object.keys(record);
    for (const old of pairs.slice(0, Math.max(0, pairs.length - MAX_TOKEN_RATIO_PAIRS))) {
      delete record[old];
      this.unsaved.delete(old);
    }
    this.unsaved.delete(pair);
    this.unsaved.set(pair, snapshot);
    const written = () => {
      if (this.unsaved.get(pair) === snapshot) this.unsaved.delete(pair);
    };
    // Ratios that were not saved are learned again; a failed write must not fail an answer.
    try {
      Promise.resolve(this.backing?.update(TOKEN_RATIOS_STATE_KEY, record)).then(written, written);
    } catch {
      written();
    }
  }
}

/** The process-wide store, for adapters without a backing (the CLI, the benchmarks). */
export const PROCESS_TOKEN_RATIOS = new TokenRatioStore();
