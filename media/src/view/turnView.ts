/**
 * One turn of the conversation in the DOM. An assistant turn streams: each span is
 * appended to a short plain-text tail; whenever the text so far ends a Markdown block,
 * that block is rendered once and frozen, so tokens never re-render the whole answer.
 * When the turn is done the whole answer is rendered once more (one swap, no flicker).
 */
import type {
  CallFiguresView,
  ChatTurnView,
  DeclinedCallView,
  DemoResultView,
  DemoTurnView,
  FixAction,
  SpanSource,
  SpanView,
  StatsView,
  WebviewMessage,
} from '../../../src/shared/webviewProtocol';
import { clipShortText, declinedCallView } from '../../../src/shared/webviewProtocol';
import { renderMarkdown } from '../markdown/render';
import type { SourceSegment } from '../markdown/sentinels';
import { BlockBoundaryScanner, sliceSegments } from '../markdown/streamBlocks';
import { THINK_OPEN } from '../../../src/core/relay/thinking';
import { promptReadingStart, promptReadingText, type PromptReader } from '../../../src/shared/promptReading';
import { reasoningWaitText } from '../../../src/shared/reasoningWait';
import { modelLoadingText, type ModelLoad } from '../../../src/shared/modelLoading';
import { button, h, setRenderedHtml } from './dom';
import { declinedTitle, demoNote, demoResultLine, demoTitle, finishNote, llmSpanTitle, skippedCallsNote, statItems } from './format';

type Span = SpanView;

export interface TurnActions {
  view: 'chat' | 'answer';
  post(message: Extract<WebviewMessage, { type: 'copy' | 'insert' | 'retry' | 'fix' | 'demo' }>): void;
  /** Says `text` once through the app's polite status. */
  announce(text: string): void;
}

const FIX_LABELS: Record<FixAction, string> = {
  'set-key': 'Set API Key',
  'open-settings': 'Open Settings',
  'pick-model': 'Select Model',
  'llm-model': 'Set LLM Model',
  retry: 'Retry',
  'try-demo': 'Try the Demo',
};

export class TurnView {
  readonly element: HTMLElement;
  private readonly spans: Span[];
  private readonly body: HTMLElement;
  private readonly blocks: HTMLElement;
  private readonly tail: HTMLElement;
  private readonly footer: HTMLElement;
  /**
   * "Waiting for <host>... 12 s" while the large model's server sends nothing ("<host>: <model>
   * is reasoning… 45 s" while its response began but its text has not; "Loading the small
   * model (<name>)… 12 s" while the answer waits on a load). No live region:
   * it changes every second; its start and each retry are announced once instead.
   */
  private readonly waiting: HTMLElement;
  /** What the waiting line last announced: a tick of the same wait says nothing new. */
  private waitingAnnounced: string | undefined;
  private text = '';
  private frozenUpTo = 0;
  /** Reads the text as it grows, each character once (a long code fence is not read again per line). */
  private blockScanner: BlockBoundaryScanner;
  /**
   * The SLM's template opened `<think>` in the prompt: the answer starts in its reasoning and only
   * closes it, so it is read and rendered as if `<think>` began it (thinkingOf's openedByPrompt).
   */
  private thinkingOpened: boolean;
  private stats: StatsView | undefined;
  private error: ChatTurnView['error'];
  private finished = false;
  /** "Relay: Try the Demo": which answer of the demo this is, and its check once known. */
  private demo: DemoTurnView | undefined;
  /** A demo answer shown beside its "small model alone" twin offers no second comparison. */
  private paired = false;

  constructor(
    readonly id: string,
    readonly role: 'user' | 'assistant',
    spans: readonly Span[],
    private readonly actions: TurnActions,
    /**
     * complete: a finished turn being restored (finish() renders it whole, so skip the streaming render); demo: an answer of
     * the demo; thinkingOpened: the answer starts in a reasoning its prompt opened.
     */
    options: { complete?: boolean; demo?: DemoTurnView; thinkingOpened?: boolean } = {},
  ) {
    this.demo = options.demo;
    this.thinkingOpened = options.thinkingOpened === true;
    this.blockScanner = new BlockBoundaryScanner(0, this.thinkingOpened);
    this.spans = spans.map((span) => ({ ...span }));
    this.text = this.spans.map((span) => span.text).join('');
    this.blocks = h('div', { className: 'relay-blocks' });
    this.tail = h('div', { className: 'relay-tail' });
    this.body = h('div', { className: 'relay-body' }, [this.blocks, this.tail]);
    this.footer = h('div', { className: 'relay-footer' });
    this.waiting = h('p', { className: 'relay-waiting' });
    this.waiting.hidden = true;
    const who = role === 'user' ? 'You' : this.demo ? demoTitle(this.demo) : 'Relay';
    this.element = h('article', { className: `relay-turn relay-turn-${role}`, attrs: { 'aria-label': `${who} said` } }, [
      h('div', { className: 'relay-who', text: who }),
      this.demo && this.demoNote(this.demo),
      this.body,
      this.waiting,
      this.footer,
    ]);
    if (this.demo) this.element.classList.add('relay-turn-demo', `relay-demo-${this.demo.kind}`);
    if (role === 'user') {
      this.body.classList.add('relay-user-text');
      this.tail.textContent = this.text;
      this.finished = true;
    } else if (!options.complete) {
      this.element.classList.add('relay-streaming');
      this.rebuildTail();
      this.freezeFinishedBlocks();
    }
  }

  /** A turn that is being written (from 'turn-start', or the running one of 'init'): what comes next appends to it. */
  static streaming(turn: ChatTurnView, actions: TurnActions): TurnView {
    return new TurnView(turn.id, turn.role, turn.spans, actions, { demo: turn.demo, thinkingOpened: turn.thinkingOpened });
  }

  /** Restores a finished turn (from 'init'). */
  static restored(turn: ChatTurnView, actions: TurnActions): TurnView {
    const view = new TurnView(turn.id, turn.role, turn.spans, actions, { complete: true, demo: turn.demo, thinkingOpened: turn.thinkingOpened });
    if (turn.role === 'assistant') {
      if (turn.error) view.fail(turn.error.message, turn.error.fix);
      view.finish(turn.stats);
    }
    return view;
  }

  get statsView(): StatsView | undefined {
    return this.stats;
  }

  get demoView(): DemoTurnView | undefined {
    return this.demo;
  }

  /** A demo answer was checked against its reference. */
  setDemoResult(result: DemoResultView): void {
    if (!this.demo) return;
    this.demo = { ...this.demo, result };
    this.renderFooter();
  }

  /** Shown beside its "small model alone" twin: the Compare button goes. */
  markPaired(): void {
    this.paired = true;
    this.renderFooter();
  }

  /** The demo's one line: what it is, and a link to how the pair does on the held-out set. */
  private demoNote(demo: DemoTurnView): HTMLElement {
    const note = h('p', { className: 'relay-demo-note' }, [demoNote(demo)]);
    if (demo.kind === 'relay') {
      note.append(
        ' ',
        button("The paper's table, in miniature", () => this.actions.post({ type: 'demo', action: 'paper-table' }), {
          className: 'relay-link',
          title: "Opens the README's section on how the pair does on 500 held-out questions (a file in the extension: nothing is fetched)",
        }),
      );
    }
    return note;
  }

  /** Shows how long the large model's server has been silent, or its model reasoning before it writes; null hides the line. */
  showWaiting(host: string, waitedMs: number | null, retrying?: string, reasoningModel?: string): void {
    this.setWaitingHidden(this.finished || waitedMs === null);
    if (this.waiting.hidden || waitedMs === null) return;
    const seconds = Math.floor(waitedMs / 1000);
    if (reasoningModel) {
      this.waiting.textContent = `${host}: ${reasoningWaitText(reasoningModel, seconds)}`;
      this.announceWaiting(`${host}: ${reasoningWaitText(reasoningModel)}`);
      return;
    }
    const again = retrying ? ` (trying again after: ${retrying})` : '';
    this.waiting.textContent = `Waiting for ${host}… ${seconds} s${again}`;
    this.announceWaiting(`Waiting for ${host}…${again}`);
  }

  /** How long the answer has waited on a model's load; null (the wait ended) hides the line, as the first text or reading does. */
  showLoading(load: ModelLoad, waitedMs: number | null): void {
    this.setWaitingHidden(this.finished || waitedMs === null);
    if (this.waiting.hidden || waitedMs === null) return;
    this.waiting.textContent = modelLoadingText(load, Math.floor(waitedMs / 1000));
    this.announceWaiting(modelLoadingText(load));
  }

  /** How far the small model has read a long prompt ("Reading 2,730 tokens of context… 40%"); the line goes once it is read. */
  showReading(done: number, total: number, reusedTokens: number, reader?: PromptReader): void {
    this.setWaitingHidden(this.finished || total === 0 || done >= total);
    if (this.waiting.hidden) return;
    this.waiting.textContent = promptReadingText(done, total, reusedTokens, reader);
    this.announceWaiting(`${promptReadingStart(total, reader)}…`);
  }

  private setWaitingHidden(hidden: boolean): void {
    this.waiting.hidden = hidden;
    if (hidden) this.waitingAnnounced = undefined;
  }

  /** Announces a wait when it starts or changes (a retry), not its every tick. */
  private announceWaiting(text: string): void {
    if (text === this.waitingAnnounced) return;
    this.waitingAnnounced = text;
    this.actions.announce(text);
  }

  /**
   * The answer starts in a reasoning its prompt opened ('thinking-opened', before its first span):
   * what it wrote so far, if anything, is read again as reasoning.
   */
  openThinking(): void {
    if (this.thinkingOpened || this.finished || this.role === 'user') return;
    this.thinkingOpened = true;
    this.blockScanner = new BlockBoundaryScanner(0, true);
    this.blocks.replaceChildren();
    this.frozenUpTo = 0;
    this.rebuildTail();
    this.freezeFinishedBlocks();
  }

  appendSpan(source: SpanSource, text: string, tokens: number, model?: string, host?: string, approximate?: boolean): void {
    if (this.finished || !text) return;
    this.setWaitingHidden(true);
    const last = this.spans[this.spans.length - 1];
    // Text never goes into a skipped call's marker: after one, a new span starts.
    if (last && last.source === source && !last.declined) {
      last.text += text;
      last.tokens += tokens;
      if (approximate) last.approximate = true;
    } else this.spans.push({ source, text, tokens, model, ...(host ? { host } : {}), ...(approximate ? { approximate } : {}) });
    this.text += text;
    this.appendToTail(this.spans.length - 1, text);
    if (text.includes('\n')) this.freezeFinishedBlocks();
  }

  /**
   * A call that wrote into the last LLM span ended: its figures (cost, cached share, time)
   * go into the span's hover, in the tail and in the blocks already rendered.
   */
  setCallFigures(figures: CallFiguresView): void {
    const index = this.spans.length - 1;
    const span = this.spans[index];
    if (!span || span.source !== 'llm' || span.declined) return;
    span.durationMs = figures.durationMs;
    span.calls = figures.calls;
    span.costUsd = figures.costUsd;
    if (figures.cachedShare !== undefined) span.cachedShare = figures.cachedShare;
    else delete span.cachedShare;
    if (figures.usageEstimated) span.usageEstimated = true;
    if (figures.outputCapped) span.outputCapped = true;
    if (figures.approximate) span.approximate = true;
    const title = this.titleFor(index);
    // The footer's list of the large model's parts carries the same details.
    if (this.finished) this.renderFooter();
    for (const mark of this.body.querySelectorAll<HTMLElement>(`.relay-llm[data-span="${index}"], .relay-llm[data-tail-span="${index}"]`)) mark.title = title;
  }

  /** A call was skipped here (the money ceiling): a marker at the end of the text so far, never part of the text. */
  markDeclined(declined: DeclinedCallView): void {
    if (this.finished) return;
    this.spans.push({ source: 'slm', text: '', tokens: 0, declined: declinedCallView(declined) });
    this.appendToTail(this.spans.length - 1, '');
  }

  private segments(): SourceSegment[] {
    return this.spans.map((span, index) =>
      span.declined ? { text: '', declined: index } : { text: span.text, llmIndex: span.source === 'llm' ? index : undefined },
    );
  }

  /** `segments` rendered; where they start the answer, a reasoning its prompt opened folded as if `<think>` began it. */
  private rendered(segments: SourceSegment[], startTheAnswer: boolean): string {
    // An answer of no text yet shows as none, not as an empty Thinking.
    const opened = this.thinkingOpened && startTheAnswer && this.text.trim() !== '' ? [{ text: `${THINK_OPEN}\n` }] : [];
    return renderMarkdown([...opened, ...segments], this.titleFor, this.declinedTitleFor);
  }

  private titleFor = (index: number): string => llmSpanTitle(this.spans[index]);

  private declinedTitleFor = (index: number): string => {
    const declined = this.spans[index]?.declined;
    return declined ? declinedTitle(declined) : '';
  };

  private appendToTail(spanIndex: number, text: string): void {
    const span = this.spans[spanIndex];
    if (span.declined) {
      // The element the renderer writes (markLlm.ts declinedMarker), so the tail and the rendered answer look alike.
      const title = this.declinedTitleFor(spanIndex);
      this.tail.append(h('span', { className: 'relay-declined', attrs: { role: 'img', 'aria-label': title, title, 'data-tail-span': String(spanIndex) } }));
      return;
    }
    const last = this.tail.lastElementChild as HTMLElement | null;
    if (last && last.dataset.tailSpan === String(spanIndex)) {
      (last.firstChild as Text).appendData(text);
      if (span.source === 'llm') last.title = this.titleFor(spanIndex);
      return;
    }
    const piece = h('span', { text, attrs: { 'data-tail-span': String(spanIndex) } });
    if (span.source === 'llm') {
      piece.className = 'relay-llm';
      piece.title = this.titleFor(spanIndex);
      nameMarks(piece);
    }
    this.tail.append(piece);
  }

  private rebuildTail(): void {
    this.tail.replaceChildren();
    let offset = 0;
    this.spans.forEach((span, index) => {
      // A marker at the cut belongs to what follows it (as sliceSegments decides).
      if (span.declined) {
        if (offset >= this.frozenUpTo) this.appendToTail(index, '');
        return;
      }
      const start = Math.max(this.frozenUpTo - offset, 0);
      if (start < span.text.length) this.appendToTail(index, span.text.slice(start));
      offset += span.text.length;
    });
  }

  /** Renders (once) every Markdown block that the text received so far has finished. */
  private freezeFinishedBlocks(): void {
    const boundary = this.blockScanner.scan(this.text);
    if (boundary <= this.frozenUpTo) return;
    const block = h('div', { className: 'relay-block' });
    setRenderedHtml(block, this.rendered(sliceSegments(this.segments(), this.frozenUpTo, boundary), this.frozenUpTo === 0));
    nameMarks(block);
    this.blocks.append(block);
    this.frozenUpTo = boundary;
    this.rebuildTail();
  }

  fail(message: string, fix?: FixAction): void {
    this.error = { message, fix };
    this.renderFooter();
  }

  /** The answer is complete (or stopped): render it whole and show stats and actions. */
  finish(stats?: StatsView): void {
    if (stats) this.stats = stats;
    if (this.role === 'user') return;
    if (!this.finished) {
      this.finished = true;
      this.setWaitingHidden(true);
      this.element.classList.remove('relay-streaming');
      const rendered = h('div', { className: 'relay-block' });
      setRenderedHtml(rendered, this.rendered(this.segments(), true));
      nameMarks(rendered);
      // The blocks are drawn anew: focus on a link, table or Thinking in them, and each Thinking opened, stay as they were.
      const focusedAt = focusables(this.blocks).indexOf(document.activeElement as HTMLElement);
      const opened = [...this.blocks.querySelectorAll<HTMLDetailsElement>('details.relay-thinking')].map((details) => details.open);
      this.blocks.replaceChildren(rendered);
      rendered.querySelectorAll<HTMLDetailsElement>('details.relay-thinking').forEach((details, index) => {
        if (opened[index]) details.open = true;
      });
      if (focusedAt >= 0) focusables(rendered)[focusedAt]?.focus();
      this.tail.replaceChildren();
      if (!this.text && !this.error) this.tail.append(h('em', { className: 'relay-empty', text: 'No answer.' }));
    }
    this.renderFooter();
  }

  /**
   * Focuses the footer's button or disclosure labelled `label`, else its first action;
   * false when there is none to focus (the answer is not finished).
   */
  focusAction(label?: string): boolean {
    const controls = [...this.footer.querySelectorAll<HTMLElement>('button:not(:disabled), summary')];
    const target =
      controls.find((control) => label !== undefined && (control.textContent ?? '').trim() === label) ??
      this.footer.querySelector<HTMLElement>('.relay-actions button:not(:disabled)') ??
      controls[0];
    target?.focus();
    return target !== undefined;
  }

  private renderFooter(): void {
    // The footer is built anew: focus on one of its controls comes back to the same one (or the first action).
    const focused = document.activeElement;
    const focusedLabel = focused instanceof HTMLElement && this.footer.contains(focused) ? (focused.textContent ?? '').trim() : undefined;
    const summaryWasOpen = this.footer.querySelector<HTMLDetailsElement>('.relay-llm-summary')?.open === true;
    const notesWereOpen = this.footer.querySelector<HTMLDetailsElement>('.relay-stats-notes')?.open === true;
    const parts: HTMLElement[] = [];
    if (this.error) parts.push(this.errorBox(this.error.message, this.error.fix));
    const note = this.stats && finishNote(this.stats.finishReason);
    if (note) parts.push(h('p', { className: 'relay-finish-note', text: note }));
    const skipped = this.stats && skippedCallsNote(this.stats);
    if (skipped) parts.push(h('p', { className: 'relay-finish-note relay-skipped-note', text: skipped }));
    if (this.stats) parts.push(this.statsStrip(this.stats), this.statsNotes(this.stats));
    const llmParts = this.finished && this.llmSummary();
    if (llmParts) parts.push(llmParts);
    if (this.demo?.result) {
      const { text, correct } = demoResultLine(this.demo);
      parts.push(h('p', { className: `relay-demo-result ${correct ? 'relay-demo-correct' : 'relay-demo-wrong'}`, text }));
    }
    if (this.finished) parts.push(this.actionBar());
    this.footer.replaceChildren(...parts);
    const summary = this.footer.querySelector<HTMLDetailsElement>('.relay-llm-summary');
    if (summary && summaryWasOpen) summary.open = true;
    const notes = this.footer.querySelector<HTMLDetailsElement>('.relay-stats-notes');
    if (notes && notesWereOpen) notes.open = true;
    if (focusedLabel !== undefined) this.focusAction(focusedLabel);
  }

  /**
   * The parts the large model wrote, each with its hover details (model, tokens, time, cost),
   * folded under the answer: a keyboard or screen-reader user reaches there what the marks'
   * hovers say, without a stop at every mark of a long answer.
   */
  private llmSummary(): HTMLElement | undefined {
    let parts = 0;
    let skipped = 0;
    const items = this.spans.flatMap((span, index) => {
      // A skipped call's marker says what it would have cost only in its hover: the list says it too.
      if (span.declined) {
        skipped++;
        return [h('li', { className: 'relay-skipped-call', text: `Skipped call: ${this.declinedTitleFor(index)}` })];
      }
      if (span.source !== 'llm' || !span.text.trim()) return [];
      parts++;
      return [h('li', {}, [h('q', { className: 'relay-llm-excerpt', text: excerpt(span.text) }), `: ${this.titleFor(index)}`])];
    });
    if (items.length === 0) return undefined;
    const written = parts > 0 ? `Written by the large model: ${parts} ${parts === 1 ? 'part' : 'parts'}` : 'Large model';
    const skippedText = skipped > 0 ? `${skipped} ${skipped === 1 ? 'call' : 'calls'} skipped` : '';
    return h('details', { className: 'relay-llm-summary' }, [
      h('summary', { text: [written, skippedText].filter(Boolean).join(parts > 0 ? '; ' : ': ') }),
      h('ul', { className: 'relay-llm-parts' }, items),
    ]);
  }

  private errorBox(message: string, fix?: FixAction): HTMLElement {
    // No alert: the app announces the error once (an alert here would be read again whenever the footer is drawn, and on every load).
    const box = h('div', { className: 'relay-error' }, [h('span', { className: 'relay-error-text', text: message })]);
    if (fix) {
      // Retrying needs the turn; the other fixes are commands of the host.
      const run =
        fix === 'retry' ? () => this.actions.post({ type: 'retry', turnId: this.id }) : () => this.actions.post({ type: 'fix', action: fix, turnId: this.id });
      box.append(button(FIX_LABELS[fix], run, { className: 'relay-button relay-button-primary' }));
    }
    return box;
  }

  /** The strip's figures: the demo's "small model alone" answer is the reference the relay is compared with, so it has no LLM to save against. */
  private shownStatItems(stats: StatsView): ReturnType<typeof statItems> {
    return this.demo?.kind === 'slm-only' ? statItems(stats).filter((item) => item.label !== 'Saved') : statItems(stats);
  }

  private statsStrip(stats: StatsView): HTMLElement {
    const strip = h('dl', { className: 'relay-stats', attrs: { 'aria-label': 'Answer statistics' } });
    const items = this.shownStatItems(stats);
    for (const item of items) {
      const entry = h('div', { className: 'relay-stat' }, [h('dt', { text: item.label }), h('dd', { text: item.value })]);
      entry.title = item.hint;
      strip.append(entry);
    }
    return strip;
  }

  /** What each figure of the strip means (its hover), folded under it: where a keyboard and a screen reader reach it too. */
  private statsNotes(stats: StatsView): HTMLElement {
    const items = this.shownStatItems(stats).map((item) =>
      h('li', {}, [h('span', { className: 'relay-stats-note-label', text: `${item.label}: ` }), item.hint]),
    );
    return h('details', { className: 'relay-stats-notes' }, [h('summary', { text: 'What these figures mean' }), h('ul', {}, items)]);
  }

  private actionBar(): HTMLElement {
    const post = (type: 'copy' | 'insert' | 'retry') => () => this.actions.post({ type, turnId: this.id });
    return h('div', { className: 'relay-actions' }, [
      // The demo's own buttons first: they are what a first-time user does next.
      ...this.demoActions(),
      button('Copy', post('copy'), { title: 'Copy the answer as Markdown' }),
      this.actions.view === 'answer' && button('Insert at cursor', post('insert'), { title: 'Insert the answer at the cursor of the editor' }),
      // A demo answer is greedy: asking again writes the same; "Ask another" is the demo's retry.
      !this.demo && button('Retry', post('retry'), { title: 'Ask again' }),
    ]);
  }

  private demoActions(): HTMLElement[] {
    if (this.demo?.kind !== 'relay') return [];
    const demo = (action: 'another' | 'setup') => () => this.actions.post({ type: 'demo', action });
    const buttons = [
      button('Ask another', demo('another'), {
        className: 'relay-button relay-button-primary',
        title: 'A fresh question from the held-out set, or your own a*b+c=?',
      }),
    ];
    if (!this.paired && !this.error) {
      buttons.push(
        button('Compare with the small model alone', () => this.actions.post({ type: 'demo', action: 'compare', turnId: this.id }), {
          title: 'The same question, answered by the small model with no help, side by side',
        }),
      );
    }
    buttons.push(button('Set up a real model', demo('setup'), { title: 'The set-up walkthrough: your own large model and small model' }));
    return buttons;
  }
}

/** How much of a part the summary quotes. */
const EXCERPT_CHARS = 80;

function excerpt(text: string): string {
  return clipShortText(text.replace(/\s+/g, ' ').trim(), EXCERPT_CHARS);
}

/** What in rendered Markdown takes focus (links, table regions, Thinking summaries), in document order. */
function focusables(root: HTMLElement): HTMLElement[] {
  return [...root.querySelectorAll<HTMLElement>('a[href], button, summary, [tabindex]:not([tabindex="-1"])')];
}

/**
 * Names the large model's text marks for a screen reader: "large model" where each starts
 * and ends (the mark role, as <mark> gets), so its text is known without colour or hover.
 * Math keeps its own role (the footer's list names it).
 */
function nameMarks(root: HTMLElement): void {
  const marks = root.matches('.relay-llm') ? [root] : [...root.querySelectorAll<HTMLElement>('.relay-llm')];
  for (const mark of marks) {
    if (mark.tagName !== 'SPAN' || mark.classList.contains('relay-math')) continue;
    mark.setAttribute('role', 'mark');
    mark.setAttribute('aria-roledescription', 'large model');
  }
}
