/**
 * The extension's credentials, each bound to the origin (scheme + host + port) it was
 * entered for, in VS Code's SecretStorage: the providers' API keys and the model hub's
 * access token. A credential goes to another origin only after the user said yes to that
 * very move ("Send your openai-chat API key for api.openai.com to collector.example?",
 * default No), and never in clear text to a host off this machine (or to a loopback address
 * a proxy may carry: endpoints.ts isSentDirect) without a yes for that origin; both answers
 * are remembered. Written against small interfaces (no 'vscode' import) so the rules are
 * unit-tested as they run.
 */
import { baseUrlOf, clearTextDestination, isClearTextRemote } from '../core/providers/endpoints';
import { apiKeyName, clearTextWithheld, legacyApiKeyName } from '../core/providers/secrets';
import type { KeyDecision, KeySource, ProviderKind } from '../core/providers/types';
import { settingRef } from '../core/settingNames';

/** The model hub's access token (gated models): kept by the same rules as the providers' keys. */
export const MODEL_HUB = 'model-hub';
export type CredentialKind = ProviderKind | typeof MODEL_HUB;
/** The hub token's SecretStorage name before it was bound to an origin. */
export const LEGACY_HUB_TOKEN_SECRET = 'relay.models.hubToken';

/** What a credential is called in questions and messages, where it is stored, and how the user sets it. */
interface CredentialTerms {
  /** "openai-chat API key", "model hub token". */
  name: string;
  /** "API key", "model hub token": in the clear-text question. */
  noun: string;
  secretName(origin: string): string;
  legacySecretName: string;
  setCommand: string;
  /** The setting that points it at a server. */
  setting: string;
  /** Remembered clear-text answers: the providers' keys share theirs per origin. */
  clearTextSubject(origin: string): string;
}

function termsOf(kind: CredentialKind): CredentialTerms {
  if (kind === MODEL_HUB) {
    return {
      name: 'model hub token',
      noun: 'model hub token',
      secretName: (origin) => `${LEGACY_HUB_TOKEN_SECRET}@${origin}`,
      legacySecretName: LEGACY_HUB_TOKEN_SECRET,
      setCommand: 'Relay: Set Model Hub Token',
      setting: 'relay.models.hubEndpoint',
      clearTextSubject: (origin) => `clear-text ${MODEL_HUB} ${origin}`,
    };
  }
  return {
    name: `${kind} API key`,
    noun: 'API key',
    secretName: (origin) => apiKeyName(kind, origin),
    legacySecretName: legacyApiKeyName(kind),
    setCommand: 'Relay: Set API Key',
    setting: settingRef('baseUrl'),
    clearTextSubject: (origin) => `clear-text ${origin}`,
  };
}

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
  async store(kind: CredentialKind, origin: string, key: string): Promise<void> {
    try {
      await this.secrets.store(termsOf(kind).secretName(origin), key);
    } catch (error) {
      // Linux without a keyring (or a locked one) refuses here: say so, not "the command failed".
      throw new Error(
        `VS Code could not save it in its secret storage (${(error as Error).message}). On Linux that storage needs a keyring (GNOME Keyring, KWallet; or start VS Code with --password-store=basic): fix that, then set it again.`,
      );
    }
    const origins = this.origins(kind);
    if (!origins.includes(origin)) await this.setOrigins(kind, [...origins, origin]);
    await this.forgetAnswersAbout(origin);
  }

  async remove(kind: CredentialKind, origin: string): Promise<void> {
    await this.secrets.delete(termsOf(kind).secretName(origin));
    await this.setOrigins(
      kind,
      this.origins(kind).filter((o) => o !== origin),
    );
  }

  /**
   * Whether a call to `url` can get a key: one stored for its origin, or one elsewhere the user
   * may agree to send. The secret itself is looked up, not only the list of origins: a key
   * stored in another window reaches this one's secret storage before that list (globalState)
   * does. Where secret storage cannot be read, the list answers alone.
   */
  async hasKeyFor(kind: CredentialKind, url: URL): Promise<boolean> {
    const origins = this.origins(kind);
    const stored = await Promise.resolve(this.secrets.get(termsOf(kind).secretName(url.origin))).then(
      (key) => Boolean(key),
      () => origins.includes(url.origin),
    );
    return stored || origins.some((from) => from !== url.origin && this.answer(moveSubject(kind, from, url.origin)) !== false);
  }

  /**
   * Credentials stored before they were bound to origins move to the origin they were used
   * with: a provider's configured address (or its default), the hub's endpoint.
   */
  async migrateLegacy(kind: CredentialKind, configured: string | undefined): Promise<void> {
    const terms = termsOf(kind);
    const legacy = await this.secrets.get(terms.legacySecretName);
    if (!legacy) return;
    const url = kind === MODEL_HUB ? urlOrUndefined(configured) : baseUrlOf(kind, configured);
    if (url && !this.origins(kind).includes(url.origin)) await this.store(kind, url.origin, legacy);
    await this.secrets.delete(terms.legacySecretName);
  }

  async keyFor(kind: CredentialKind, url: URL): Promise<KeyDecision> {
    const terms = termsOf(kind);
    const origin = url.origin;
    let key = await this.secrets.get(terms.secretName(origin));
    if (!key) {
      const from = this.origins(kind).find((o) => o !== origin);
      if (!from) return {};
      const subject = moveSubject(kind, from, origin);
      const yes = await this.decide(
        subject,
        `Send your ${terms.name} for ${from} to ${origin}?`,
        `It was stored for ${from}. ${origin} is another server: it would receive it${kind === MODEL_HUB ? '' : ' and what you ask Relay'}. ` +
          `Relay asks once per server and remembers the answer; storing one for ${origin} with "${terms.setCommand}" replaces it.`,
        kind === MODEL_HUB ? 'Send the Token' : 'Send the Key',
      );
      if (!yes) {
        return {
          withheld:
            `Relay did not send your ${terms.name} (stored for ${from}) to ${origin}: you said no. ` +
            `Store one for ${origin} with '${terms.setCommand}', or point ${terms.setting} back to ${from}.`,
        };
      }
      key = await this.secrets.get(terms.secretName(from));
      if (!key) return {};
    }
    if (isClearTextRemote(url)) {
      const yes = await this.decide(
        terms.clearTextSubject(origin),
        `Send your ${terms.noun} to ${origin} over plain HTTP?`,
        `It would go over plain HTTP to ${clearTextDestination(url)}: the ${terms.noun}${kind === MODEL_HUB ? '' : ' and your code'} would cross the network unencrypted.`,
        'Send Unencrypted',
      );
      if (!yes)
        return {
          withheld: clearTextWithheld(url, `answer yes when Relay asks to send it unencrypted (store it again with '${terms.setCommand}' to be asked again)`, {
            noun: terms.noun,
            setting: terms.setting,
          }),
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

  private origins(kind: CredentialKind): string[] {
    return this.state.get<Record<string, string[]>>(ORIGINS_STATE)?.[kind] ?? [];
  }

  private async setOrigins(kind: CredentialKind, origins: string[]): Promise<void> {
    await this.state.update(ORIGINS_STATE, { ...(this.state.get<Record<string, string[]>>(ORIGINS_STATE) ?? {}), [kind]: origins });
  }
}

function moveSubject(kind: CredentialKind, from: string, to: string): string {
  return `${kind} ${from} -> ${to}`;
}

function urlOrUndefined(text: string | undefined): URL | undefined {
  try {
    return text ? new URL(text) : undefined;
  } catch {
    return undefined;
  }
}
