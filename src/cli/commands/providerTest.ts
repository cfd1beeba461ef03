/** `relay provider test`: the provider test (src/core/providers/providerTest.ts) on the terminal. */
import { runProviderTest } from '../../core/providers/providerTest';
import type { LlmProvider, ModelPrice } from '../../core/providers/types';
import { terminalSafe, waitLines, type Output } from '../render';

/** The report on stdout, each line terminal-safe (they quote the server); the wait on stderr. True when it passed. */
export async function printProviderTest(
  provider: LlmProvider,
  prices: ModelPrice | null,
  io: { stdout: Output; stderr: Output },
  signal?: AbortSignal,
): Promise<boolean> {
  const { ok } = await runProviderTest(provider, prices, (line) => io.stdout.write(terminalSafe(line) + '\n'), {
    signal,
    onWait: waitLines(provider.host, (line) => io.stderr.write(`relay: ${line}\n`)),
  });
  return ok;
}
