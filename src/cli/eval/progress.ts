/**
 * `relay eval`'s progress on stderr: one bar over every answer of every row (redrawn in
 * place on a TTY, a line per 10% otherwise), labelled with the row of the last answer,
 * the rate of this session's answers (answers/min) and the time left at that rate; a line
 * when a row is complete. Answers resumed from the answers file count as done, not in the rate.
 */
import type { Output } from '../render';

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

interface RowState {
  done: number;
  correct: number;
  /** Answers of this session that failed (an error): neither right nor wrong. */
  failed: number;
  resumed: number;
  /** When this session's first answer of the row started (ms). */
  startedAt?: number;
}

export class EvalProgress {
  private done = 0;
  /** Answers finished in this session. */
  private fresh = 0;
  private startedAt: number | undefined;
  private lastDecile = -1;
  private readonly rows = new Map<string, RowState>();

  constructor(
    private readonly err: Output,
    private readonly total: number,
    private readonly perRow: number,
    private readonly now: () => number = Date.now,
  ) {}

  private row(spec: string): RowState {
    let row = this.rows.get(spec);
    if (!row) {
      row = { done: 0, correct: 0, failed: 0, resumed: 0 };
      this.rows.set(spec, row);
    }
    return row;
  }

  /** Answers of a row found in the answers file. */
  resumed(spec: string, answers: number, correct: number): void {
    const row = this.row(spec);
    row.done += answers;
    row.correct += correct;
    row.resumed += answers;
    this.done += answers;
  }

  /** A row's answers are about to start. */
  starting(spec: string): void {
    const t = this.now();
    this.startedAt ??= t;
    this.row(spec).startedAt ??= t;
  }

  /** One answer of this session finished; `failed`: with an error (left out of the row's accuracy). */
  answered(spec: string, correct: boolean, failed = false): void {
    const row = this.row(spec);
    row.done += 1;
    if (correct) row.correct += 1;
    if (failed) row.failed += 1;
    this.done += 1;
    this.fresh += 1;
    this.draw(`${spec} ${row.correct}/${row.done} correct${row.failed > 0 ? ` (${row.failed} failed)` : ''}${this.rate()}`);
    if (row.done === this.perRow) this.rowDone(spec, row);
  }

  /** The rate and time left, from this session's answers. */
  private rate(): string {
    if (this.startedAt === undefined || this.fresh === 0) return '';
    const minutes = (this.now() - this.startedAt) / 60_000;
    if (!(minutes > 0)) return '';
    const perMinute = this.fresh / minutes;
    const left = this.total - this.done;
    const rate = perMinute >= 10 ? perMinute.toFixed(0) : perMinute.toFixed(1);
    return ` · ${rate} answers/min · ${left === 0 ? `${formatDuration(minutes * 60)} in all` : `ETA ${formatDuration((left / perMinute) * 60)}`}`;
  }

  private rowDone(spec: string, row: RowState): void {
    const fresh = row.done - row.resumed;
    const seconds = row.startedAt === undefined ? 0 : (this.now() - row.startedAt) / 1000;
    const timing = fresh > 0 && seconds > 0 ? `, ${formatDuration(seconds)}, ${((fresh / seconds) * 60).toFixed(1)} answers/min` : '';
    const resumed = row.resumed > 0 ? ` (${row.resumed} from the answers file)` : '';
    // As the table's accuracy: failed answers are left out (evalTable.ts accuracyOf).
    const judged = row.done - row.failed;
    const accuracy = judged > 0 ? `${((row.correct / judged) * 100).toFixed(1)}%` : 'n/a';
    const failed = row.failed > 0 ? `, ${row.failed} failed` : '';
    this.line(`${spec}: ${row.done} answers${resumed}${failed}, ${row.correct} correct (${accuracy})${timing}`);
  }

  /** A line of its own (the bar is redrawn by the next answer). */
  line(text: string): void {
    this.err.write(this.err.isTTY ? `\r${text}\u001b[K\n` : `${text}\n`);
  }

  /** stderr for lines of their own written by others (a model's load): on a TTY the bar's line is cleared first. */
  lineWriter(): Output {
    const { err } = this;
    return { isTTY: err.isTTY, fd: err.fd, write: (text: string) => err.write(err.isTTY ? `\r\u001b[K${text}` : text) };
  }

  private draw(label: string): void {
    const width = 30;
    const filled = Math.round((this.done / this.total) * width);
    const text = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total} ${label}`;
    if (this.err.isTTY) this.err.write(`\r${text}\u001b[K${this.done === this.total ? '\n' : ''}`);
    else {
      const decile = Math.floor((this.done / this.total) * 10);
      if (decile !== this.lastDecile) {
        this.lastDecile = decile;
        this.err.write(text + '\n');
      }
    }
  }
}
