// Finds, measures and stops the processes one end-to-end run started. Every process the
// harness spawns carries RELAY_E2E_RUN=<id> in its environment, and children inherit it,
// so code-server's extension host, pty host and Chromium's helpers are all found too.
import { readdirSync, readFileSync } from 'node:fs';

export const RUN_MARKER_VARIABLE = 'RELAY_E2E_RUN';

export interface ProcessInfo {
  pid: number;
  command: string;
  /** Proportional set size in KiB (shared pages split between sharers), else RSS. */
  memoryKiB: number;
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return ''; // the process exited between listing and reading
  }
}

function isZombie(pid: number): boolean {
  const stat = readOrEmpty(`/proc/${pid}/stat`);
  // Field 3, after the parenthesised command name (which may itself hold spaces).
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
}

function memoryOf(pid: number): number {
  const rollup = readOrEmpty(`/proc/${pid}/smaps_rollup`);
  const pss = /^Pss:\s+(\d+) kB/m.exec(rollup);
  if (pss) return Number(pss[1]);
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(readOrEmpty(`/proc/${pid}/status`));
  return rss ? Number(rss[1]) : 0;
}

/** Live (non-zombie) processes whose environment carries this run's marker. */
export function processesOfRun(runId: string): ProcessInfo[] {
  const needle = `\0${RUN_MARKER_VARIABLE}=${runId}\0`;
  const found: ProcessInfo[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    if (!`\0${readOrEmpty(`/proc/${pid}/environ`)}`.includes(needle)) continue;
    if (isZombie(pid)) continue;
    const command = readOrEmpty(`/proc/${pid}/cmdline`).split('\0').join(' ').trim().slice(0, 160);
    found.push({ pid, command, memoryKiB: memoryOf(pid) });
  }
  return found;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until no process of the run is left or `ms` passed; `each` goes to every process found on each poll. */
async function waitUntilGone(runId: string, ms: number, each?: NodeJS.Signals): Promise<ProcessInfo[]> {
  const deadline = Date.now() + ms;
  let left = processesOfRun(runId);
  while (left.length > 0 && Date.now() < deadline) {
    if (each) for (const p of left) signal(p.pid, each);
    await sleep(100);
    left = processesOfRun(runId);
  }
  return left;
}

/**
 * SIGTERM to every process of the run, SIGKILL to what is left after graceMs, and throws
 * naming any survivor: a test run must leave nothing behind on a shared machine.
 */
export async function stopRun(runId: string, graceMs = 5000): Promise<void> {
  for (const p of processesOfRun(runId)) signal(p.pid, 'SIGTERM');
  const lingering = await waitUntilGone(runId, graceMs);
  for (const p of lingering) signal(p.pid, 'SIGKILL');
  // SIGKILL again to whatever appears meanwhile: a parent killed a moment ago may have forked
  // one more child first (code-server's file watcher, seen once on CI), which no list held.
  const left = await waitUntilGone(runId, 5000, 'SIGKILL');
  if (left.length > 0) {
    throw new Error(`Processes of end-to-end run ${runId} survived SIGKILL: ${left.map((p) => `${p.pid} ${p.command}`).join('; ')}`);
  }
}

/** Samples the memory of the run's processes (plus this runner) until stopped. */
export class MemorySampler {
  peakKiB = 0;
  private timer: NodeJS.Timeout;

  constructor(
    private readonly runId: string,
    intervalMs = 1000,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    const children = processesOfRun(this.runId).reduce((sum, p) => sum + p.memoryKiB, 0);
    this.peakKiB = Math.max(this.peakKiB, children + memoryOf(process.pid));
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peakKiB;
  }
}
