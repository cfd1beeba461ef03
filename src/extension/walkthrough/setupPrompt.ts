/**
 * When to offer the set-up prompt (no VS Code import: unit-tested): once per machine, to a
 * first-time user only, i.e. while set-up is incomplete and no `relay.*` setting has been
 * touched yet (someone who configured Relay by hand, or a test harness, is not prompted).
 */
export const FIRST_RUN_STATE_KEY = 'relay.firstRun.prompted';

export interface FirstRunFacts {
  /** The globalState flag: the prompt was shown before. */
  alreadyPrompted: boolean;
  /** What set-up is missing (RelayService.setupWarning), undefined when ready. */
  setupWarning: string | undefined;
  /** Names of relay.* settings set at user or workspace level. */
  configuredSettings: string[];
}

export function shouldOfferSetup(facts: FirstRunFacts): boolean {
  return !facts.alreadyPrompted && facts.setupWarning !== undefined && facts.configuredSettings.length === 0;
}

/**
 * The demo first: it shows the whole idea (the large model's tokens highlighted, what they
 * cost) with no account, no key and no network, and changes no setting. It replaces the
 * former "Try Offline (Local Only)", which turned a setting on and showed the small model alone.
 */
export const SETUP_CHOICES = {
  demo: 'Try the Demo',
  walkthrough: 'Open Set-up Walkthrough',
  later: 'Later',
} as const;

export function setupPromptMessage(setupWarning: string): string {
  return `Relay: a small local model writes answers and a large model you choose helps with a few tokens. Try the demo (no account, no network), or finish set-up: ${setupWarning}`;
}
