/**
 * The extension's API keys, each bound to the origin (scheme + host + port) it was
 * entered for, in VS Code's SecretStorage. A key goes to another origin only after the
 * user said yes to that very move ("Send your openai-chat key for api.openai.com to
 * collector.example?", default No), and never in clear text to a host off this machine
 * without a yes for that origin; both answers are remembered. Written against small
 * interfaces (no 'vscode' import) so the rules are unit-tested as they run.
 */
import { baseUrlOf, isClearTextRemote } from '../core/providers/endpoints';
import { apiKeyName, clearTextWithheld, legacyApiKeyName } from '../core/providers/secrets';
import type { KeyDecision, KeySource, ProviderKind } from '../core/providers/types';
import { settingRef } from '../core/settingNames';

export interface SecretStorageLike {
  get(name: string): PromiseLike<string | undefined>;
  store(name: string, value: string): PromiseLike<void>;
  delete(name: string): PromiseLike<void>;
}

export interface MementoLike {
  get<T>(name: string): T | undefined;
  update(name: string, value: unknown): PromiseLike<void>;
}

/** Asks the user a yes/no question (a modal dialog in VS Code); anything but yes is no. */
export type AskUser = (question: string, detail: string, yes: string) => Promise<boolean>;

/** Which origins hold a key, per kind (SecretStorage cannot list its names). */
const ORIGINS_STATE = 'relay.keyOrigins';
/** Remembered answers: "<kind> <from> -> <to>" (a key moving) and "clear-text <origin>". */
const CONSENTS_STATE = 'relay.keyConsents';

export class KeyStore implements KeySource {
  /** One question at a time per subject: parallel calls share the answer. */
  private readonly asking = new Map<string, Promise<boolean>>();

  constructor(
    private readonly secrets: SecretStorageLike,
    private readonly state: MementoLike,
    private readonly ask: AskUser,
  ) {}

  /** Stores the key for `kind` at `origin` (replacing one there); earlier answers about sending keys to or from there no longer apply. */
  async store(kind: ProviderKind, origin: string, key: string): Promise<void> {
    await this.secrets.store(apiKeyName(kind, origin), key);
    const origins = this.origins(kind);
    if (!origins.includes(origin)) await this.setOrigins(kind, [...origins, origin]);
    await this.forgetAnswersAbout(origin);
  }

  async remove(kind: ProviderKind, origin: string): Promise<void> {
    await this.secrets.delete(apiKeyName(kind, origin));
    await this.setOrigins(
      kind,
      this.origins(kind).filter((o) => o !== origin),
    );
  }

  /** Whether a call to `url` can get a key: one stored for its origin, or one elsewhere the user may agree to send. */
  hasKeyFor(kind: ProviderKind, url: URL): boolean {
    const origins = this.origins(kind);
    return origins.includes(url.origin) || origins.some((from) => this.answer(moveSubject(kind, from, url.origin)) !== false);
  }

  /** Keys stored before keys were bound to origins move to the origin they were used with. */
  async migrateLegacy(kind: ProviderKind, configuredBaseUrl: string | undefined): Promise<void> {
    const legacy = await this.secrets.get(legacyApiKeyName(kind));
    if (!legacy) return;
    const url = baseUrlOf(kind, configuredBaseUrl);
    if (url && !this.origins(kind).includes(url.origin)) await this.store(kind, url.origin, legacy);
    await this.secrets.delete(legacyApiKeyName(kind));
  }

  async keyFor(kind: ProviderKind, url: URL): Promise<KeyDecision> {
    const origin = url.origin;
    let key = await this.secrets.get(apiKeyName(kind, origin));
    if (!key) {
      const from = this.origins(kind).find((o) => o !== origin);
      if (!from) return {};
      const subject = moveSubject(kind, from, origin);
      const yes = await this.decide(
        subject,
        `Send your ${kind} API key for ${from} to ${origin}?`,
        `The key was stored for ${from}. ${origin} is another server: it would receive the key and what you ask Relay. ` +
          `Relay asks once per server and remembers the answer; storing a key for ${origin} with "Relay: Set API Key" replaces it.`,
        'Send the Key',
      );
      if (!yes) {
        return {
          withheld:
            `Relay did not send your ${kind} API key (stored for ${from}) to ${origin}: you said no. ` +
            `Store a key for ${origin} with 'Relay: Set API Key', or point ${settingRef('baseUrl')} back to ${from}.`,
        };
      }
      key = await this.secrets.get(apiKeyName(kind, from));
      if (!key) return {};
    }
    if (isClearTextRemote(url)) {
      const yes = await this.decide(
        `clear-text ${origin}`,
        `Send your API key to ${origin} over plain HTTP?`,
        `${origin} is not on this machine and does not use https: the key and your code would cross the network unencrypted.`,
        'Send Unencrypted',
      );
      if (!yes)
        return {
          withheld: clearTextWithheld(
            url,
            `answer yes when Relay asks to send it unencrypted (store the key again with 'Relay: Set API Key' to be asked again)`,
          ),
        };
    }
    return { key };
  }

  private async decide(subject: string, question: string, detail: string, yes: string): Promise<boolean> {
    const known = this.answer(subject);
    if (known !== undefined) return known;
    let pending = this.asking.get(subject);
    if (!pending) {
      pending = this.ask(question, detail, yes).then(async (answer) => {
        await this.state.update(CONSENTS_STATE, { ...this.consents(), [subject]: answer });
        return answer;
      });
      this.asking.set(subject, pending);
      void pending.finally(() => this.asking.delete(subject));
    }
    return pending;
  }

  private answer(subject: string): boolean | undefined {
    return this.consents()[subject];
  }

  private consents(): Record<string, boolean> {
    return this.state.get<Record<string, boolean>>(CONSENTS_STATE) ?? {};
  }

  private async forgetAnswersAbout(origin: string): Promise<void> {
    const kept = Object.entries(this.consents()).filter(([subject]) => !subject.split(' ').includes(origin));
    await this.state.update(CONSENTS_STATE, Object.fromEntries(kept));
  }

  private origins(kind: ProviderKind): string[] {
    return this.state.get<Record<string, string[]>>(ORIGINS_STATE)?.[kind] ?? [];
  }

  private async setOrigins(kind: ProviderKind, origins: string[]): Promise<void> {
    await this.state.update(ORIGINS_STATE, { ...(this.state.get<Record<string, string[]>>(ORIGINS_STATE) ?? {}), [kind]: origins });
  }
}

function moveSubject(kind: ProviderKind, from: string, to: string): string {
  return `${kind} ${from} -> ${to}`;
}
