/**
 * "Relay: Test Provider": a tiny continuation from the configured LLM before any answer
 * depends on it (RelayService.testProvider). The report goes to the Relay output channel;
 * a notification says how it went, with the button that fixes a failure. Cancellable.
 */
import type { WaitTick } from '../core/providers/waitClock';
import { reasoningWaitText } from '../shared/reasoningWait';
import { fixCommand, runFix } from './fixCommands';
import { showError, showInformation, showWarning, withProgressNotification } from './notifications';
import type { RelayService } from './relayService';

/** The part of an output channel the report uses. */
export interface ReportChannel {
  clear(): void;
  appendLine(line: string): void;
  show(preserveFocus?: boolean): void;
}

const DETAILS = 'Show Details';

export async function testProvider(service: Pick<RelayService, 'testProvider'>, output: ReportChannel): Promise<void> {
  output.clear();
  const result = await withProgressNotification({ title: 'Relay: testing the LLM provider', cancellable: true }, async (progress, token) => {
    const controller = new AbortController();
    const cancelled = token.onCancellationRequested(() => controller.abort());
    try {
      return await service.testProvider((line) => output.appendLine(line), {
        signal: controller.signal,
        onWait: (tick) => progress.report({ message: waitText(tick) }),
      });
    } finally {
      cancelled.dispose();
    }
  });
  if (result.ok) {
    const shown = result.warning ? showWarning(`Relay: ${result.summary} ${result.warning}`, DETAILS) : showInformation(`Relay: ${result.summary}`, DETAILS);
    if ((await shown) === DETAILS) output.show(true);
    return;
  }
  const fix = result.fix ? fixCommand(result.fix, result.summary) : undefined;
  const picked = await showError(`Relay: provider test: ${result.summary}`, ...(fix ? [fix.title] : []), DETAILS);
  if (picked === DETAILS) output.show(true);
  else if (fix && result.fix && picked === fix.title) runFix(result.fix, result.summary);
}

/** "waiting for an answer… 5 s", the retry's reason (the provider's words, scrubbed of keys), the model reasoning first, or "receiving…". */
function waitText(tick: WaitTick): string {
  const seconds = Math.floor(tick.waitedMs / 1000);
  if (tick.state === 'receiving') return 'receiving…';
  if (tick.state === 'reasoning') return reasoningWaitText(tick.model ?? 'the model', seconds);
  return tick.state === 'retrying' && tick.note ? `${tick.note}; trying again (${seconds} s so far)` : `waiting for an answer… ${seconds} s`;
}
