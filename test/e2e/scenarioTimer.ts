// Times each e2e scenario and, when one fails, saves what the user would have seen
// (a "<name>-failed" screenshot) and the last console lines of the workbench.
import type { VsCodeSession } from './vscodeSession';

export class ScenarioTimer {
  private readonly seconds: Record<string, number> = {};

  constructor(
    private readonly label: string,
    private readonly session: () => VsCodeSession | undefined,
  ) {}

  /** Wraps a scenario body for `it(...)`. */
  timed(name: string, fn: () => Promise<void>): () => Promise<void> {
    return async () => {
      const started = Date.now();
      try {
        await fn();
      } catch (error) {
        const vscode = this.session();
        await vscode?.screenshot(`${name}-failed`).catch(() => undefined);
        const console = vscode?.consoleLines.slice(-15).join('\n') ?? '';
        throw new Error(`${(error as Error).message}${console ? `\nLast console lines:\n${console}` : ''}`, { cause: error });
      } finally {
        this.seconds[name] = Math.round((Date.now() - started) / 100) / 10;
      }
    };
  }

  /** One line with every scenario's time, for the suite's `after`. */
  summary(): string {
    const scenarios = Object.entries(this.seconds)
      .map(([name, s]) => `${name} ${s} s`)
      .join(', ');
    return scenarios ? `[e2e ${this.label}] scenarios: ${scenarios}` : '';
  }
}
