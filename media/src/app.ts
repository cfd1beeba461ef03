/**
 * The Relay webview app shared by the chat panel and the answer view: builds the whole
 * DOM (the host's body is empty), validates every host message, and posts typed
 * messages back. The view mode comes from `document.body.dataset.view`.
 */
import { MAX_MESSAGE_TEXT, parseHostMessage, type FixAction, type HostMessage, type StatsView, type WebviewMessage } from '../../src/shared/webviewProtocol';
import { button, h, svg } from './view/dom';
import { cumulativeCosts, finishNote, formatUsd, polylinePoints } from './view/format';
import { TurnView } from './view/turnView';
import { isStats, isTurn } from './view/validate';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

type View = 'chat' | 'answer';

/** How long the user pauses writing before the draft goes to the host. */
const DRAFT_PAUSE_MS = 400;

/** Why Enter did nothing while an answer is written (Send is off then; a keyboard user sees no button turn off). */
const STILL_ANSWERING_ERROR = 'Relay is still answering: send this when it ends, or press Escape to stop it.';
/** The same, when the answer is another view's: Escape cannot stop it from here. */
const STILL_ANSWERING_ELSEWHERE_ERROR = 'Relay is still answering in another view: send this when it ends.';
/** The same, while "Relay: Test Provider" runs: no answer is being written, and no Stop ends a test. */
const TESTING_PROVIDER_ERROR = 'Relay is testing the provider ("Relay: Test Provider"): send this when the test ends.';
/** Why Stop does nothing while another view's answer is written: its hover, and its description for a screen reader. */
const STOP_ELSEWHERE_REASON = 'The answer being written is not this view\'s: stop it where it was asked, or run "Relay: Stop"';
/** Why Stop does nothing during a provider test: the test is no answer; its notification cancels it. */
const STOP_DURING_TEST_REASON = 'Relay is testing the provider, not writing an answer: the test ends on its own, or cancel it in its notification';
/**
 * How the host words an answer the user stopped before it began (relayService.ts and
 * engine.ts StoppedError): a turn-error, but stopped, not failed.
 */
const STOPPED_BEFORE_START = 'Stopped before the answer began';

export function startApp(): void {
  const view: View = document.body.dataset.view === 'answer' ? 'answer' : 'chat';
  new RelayApp(view, acquireVsCodeApi()).start();
}

class RelayApp {
  private readonly turns = new Map<string, TurnView>();
  /**
   * No live region: the host ends the busy state before the answer's last render (its whole
   * text, stats and buttons) and 'init' restores the whole history, so a live log would read
   * every answer again once it ends and the history at every load (keeping it busy through
   * those would hang on the order of the host's messages). While an answer streams it is not
   * read either way (a busy log is quiet, and token by token it would be noise): the
   * announcer says when it starts and ends, and the answer is read where it stands.
   */
  private readonly turnList = h('div', { className: 'relay-turns', attrs: { role: 'region', 'aria-label': 'Conversation' } });
  private readonly banner = h('div', { className: 'relay-banner', attrs: { role: 'status' } });
  /** The warning the banner shows now: the same one is not drawn again (a status re-read, a focused button lost). */
  private bannerWarning: string | undefined;
  private readonly emptyHint = h('p', { className: 'relay-empty-hint' });
  /**
   * Says once that an answer started and that it ended (the conversation is no live region,
   * so no token is read out as it comes); visually hidden, outside the conversation.
   */
  private readonly announcer = h('div', { className: 'relay-announcer relay-sr-only', attrs: { role: 'status', 'aria-live': 'polite' } });
  private readonly stopButton = button('Stop', () => this.stop(), { title: 'Stop generating' });
  /** Why Stop does nothing (another view's answer): its description, so a keyboard and a screen reader reach it, not only its hover. */
  private readonly stopReason = h('span', { className: 'relay-sr-only', attrs: { id: 'relay-stop-reason' } });
  /** This view's answer is being written: Stop (and Escape) stop it. */
  private canStop = false;
  /**
   * Focus went from Stop, turned off, to the main region while the answer it stopped had no
   * buttons yet (the host says busy ends before the answer's turn-done): its first action takes it then.
   */
  private focusOnFinish = false;
  private readonly sendButton = button('Send', () => this.send(), { className: 'relay-button relay-button-primary' });
  private readonly input = h('textarea', {
    className: 'relay-input',
    attrs: { id: 'chat-input', rows: '3', placeholder: 'Ask Relay… (Enter to send, Shift+Enter for a new line)', 'aria-label': 'Message' },
  });
  /** Why the message in the input was not sent (too long): shown under it while it stands. */
  private readonly inputError = h('div', { attrs: { id: 'chat-input-error' } });
  /** The input error says only that an answer is being written: it goes when the answer ends. */
  private inputErrorIsBusy = false;
  /** The announcement waiting for the next frame (the announcer is emptied first, so the same text twice is read twice). */
  private announceFrame: number | undefined;
  private readonly chart = h('figure', { className: 'relay-chart' });
  private busy = false;
  /** Relay is busy with "Relay: Test Provider", not an answer (Send's and Stop's reasons say so). */
  private testingProvider = false;
  private setupWarning: string | undefined;
  /** The draft is told to the host once the user pauses (its start is read into the SLM's cache while they write). */
  private draftTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Whether the view follows the answer being written: true while the user is at the end,
   * false once they scroll up. Kept by a scroll listener, so a span reads no layout.
   */
  private stickToEnd = true;
  /** scrollTop at the last scroll event: a smaller one is the user scrolling up. */
  private lastScrollTop = 0;
  /** A scroll to the end is asked for the next animation frame (at most one per frame). */
  private scrollPending = false;

  constructor(
    private readonly view: View,
    private readonly vscode: VsCodeApi,
  ) {}

  start(): void {
    document.body.classList.add(`relay-view-${this.view}`);
    this.emptyHint.textContent =
      this.view === 'chat'
        ? 'Ask anything. The small model answers on this machine; the large model writes only the few tokens it is asked for. New to Relay? "Relay: Try the Demo" shows the idea with no set-up.'
        : 'Select code and run "Relay: Explain Selection" or "Relay: Solve Problem"; "Relay: Try the Demo" shows the idea with no set-up.';
    const toolbar = h('header', { className: 'relay-toolbar' }, [
      legend(),
      h('div', { className: 'relay-toolbar-buttons' }, [
        this.stopButton,
        this.stopReason,
        this.view === 'chat' && button('New chat', () => this.post({ type: 'new-chat' }), { title: 'Start a new conversation' }),
      ]),
    ]);
    this.banner.hidden = true;
    this.chart.hidden = true;
    const main = h('main', { className: 'relay-main', attrs: { tabindex: '-1' } }, [
      this.banner,
      this.emptyHint,
      this.turnList,
      this.view === 'answer' && this.chart,
      this.announcer,
    ]);
    document.body.append(toolbar, main);
    if (this.view === 'chat') document.body.append(this.composer());
    this.setBusy(false);
    window.addEventListener('scroll', () => this.onScroll(), { passive: true });
    document.addEventListener('keydown', (event) => this.onKeyDown(event));
    window.addEventListener('message', (event: MessageEvent) => {
      const message = parseHostMessage(event.data);
      if (message) this.receive(message);
    });
    this.post({ type: 'ready' });
  }

  private post(message: WebviewMessage): void {
    this.vscode.postMessage(message);
  }

  /** Stop: stops this view's answer; does nothing while another view's is written (the button is aria-disabled then). */
  private stop(): void {
    if (this.canStop) this.post({ type: 'stop' });
  }

  /**
   * Escape stops this view's answer (as Stop does) from the composer or anywhere else, except
   * in a text field that uses Escape itself: Stop is far from the input by Tab.
   */
  private onKeyDown(event: KeyboardEvent): void {
    if (event.key !== 'Escape' || event.isComposing || event.defaultPrevented || !this.canStop) return;
    const target = event.target;
    const otherTextField = target !== this.input && target instanceof HTMLElement && (target.isContentEditable || target.matches('input, textarea, select'));
    if (otherTextField) return;
    event.preventDefault();
    this.stop();
  }

  private composer(): HTMLElement {
    const draft = (this.vscode.getState() as { draft?: unknown } | undefined)?.draft;
    if (typeof draft === 'string') this.input.value = draft;
    this.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      }
    });
    this.input.addEventListener('input', () => {
      this.vscode.setState({ draft: this.input.value });
      if (this.input.value.length <= MAX_MESSAGE_TEXT) this.showInputError(undefined);
      this.scheduleDraft();
    });
    return h('footer', { className: 'relay-composer' }, [this.input, this.inputError, h('div', { className: 'relay-composer-buttons' }, [this.sendButton])]);
  }

  /** Shows (or, undefined, removes) the reason the message in the input was not sent. */
  private showInputError(message: string | undefined): void {
    this.inputErrorIsBusy = false;
    if (!message) {
      this.inputError.replaceChildren();
      this.input.removeAttribute('aria-invalid');
      this.input.removeAttribute('aria-describedby');
      return;
    }
    this.inputError.replaceChildren(
      h('div', { className: 'relay-error', attrs: { role: 'alert' } }, [h('span', { className: 'relay-error-text', text: message })]),
    );
    this.input.setAttribute('aria-invalid', 'true');
    this.input.setAttribute('aria-describedby', this.inputError.id);
  }

  /** Tells the host the draft once the user pauses (while idle: an answer being written is not slowed by reading ahead). */
  private scheduleDraft(): void {
    clearTimeout(this.draftTimer);
    this.draftTimer = setTimeout(() => {
      // A draft over the limit could never be sent: the host would refuse it.
      if (!this.busy && this.input.value.trim() && this.input.value.length <= MAX_MESSAGE_TEXT) this.post({ type: 'draft', text: this.input.value });
    }, DRAFT_PAUSE_MS);
  }

  private send(): void {
    const text = this.input.value;
    if (!text.trim()) return;
    if (this.busy) {
      this.showInputError(this.canStop ? STILL_ANSWERING_ERROR : this.testingProvider ? TESTING_PROVIDER_ERROR : STILL_ANSWERING_ELSEWHERE_ERROR);
      this.inputErrorIsBusy = true;
      return;
    }
    if (text.length > MAX_MESSAGE_TEXT) {
      // The host refuses a longer message: keep it here, and say why it stays.
      const count = (n: number) => n.toLocaleString('en-US');
      this.showInputError(
        `Not sent: this message is ${count(text.length)} characters long, and Relay takes at most ${count(MAX_MESSAGE_TEXT)}. Shorten it, then send it again.`,
      );
      return;
    }
    this.showInputError(undefined);
    clearTimeout(this.draftTimer);
    this.post({ type: 'send', text });
    this.input.value = '';
    this.vscode.setState({ draft: '' });
    // Sent with the Send button: Send turns off while the answer is written, so focus goes back to where the next message is written.
    this.input.focus();
  }

  private receive(message: HostMessage): void {
    switch (message.type) {
      case 'init': {
        this.clear();
        const turns = message.turns.filter(isTurn);
        // The host names the answer it is writing for this view: every other turn is shown as it is.
        const running = message.busy && message.runningTurnId !== undefined ? turns.find((turn) => turn.id === message.runningTurnId) : undefined;
        for (const turn of turns) {
          // The answer being written goes on streaming: the spans still to come append to it.
          const view = turn === running ? TurnView.streaming(turn, this.turnActions()) : TurnView.restored(turn, this.turnActions());
          this.addTurn(view, turn.demo?.pairOf);
        }
        this.showSetupWarning(message.setupWarning);
        this.setBusy(message.busy, message.busy && message.runningTurnId !== undefined, message.testingProvider === true);
        this.afterTurnsChanged();
        this.scrollToEnd();
        return;
      }
      case 'turn-start':
        if (!isTurn(message.turn) || this.turns.has(message.turn.id)) return;
        this.addTurn(TurnView.streaming(message.turn, this.turnActions()), message.turn.demo?.pairOf);
        if (message.turn.role === 'assistant') this.announce('Relay is answering…');
        this.afterTurnsChanged();
        this.scrollToEnd();
        return;
      case 'turns-removed':
        for (const id of message.turnIds) this.removeTurn(id);
        this.afterTurnsChanged();
        return;
      case 'thinking-opened':
        this.turns.get(message.turnId)?.openThinking();
        return;
      case 'span':
        this.turns.get(message.turnId)?.appendSpan(message.source, message.text, message.tokens, message.model, message.host, message.approximate);
        if (this.stickToEnd) this.scheduleScrollToEnd();
        return;
      case 'waiting':
        this.turns.get(message.turnId)?.showWaiting(message.host, message.waitedMs, message.retrying, message.reasoningModel);
        return;
      case 'reading':
        this.turns.get(message.turnId)?.showReading(message.done, message.total, message.reusedTokens, message.reader);
        return;
      case 'loading':
        this.turns.get(message.turnId)?.showLoading(message, message.waitedMs);
        return;
      case 'turn-done': {
        const turn = this.turns.get(message.turnId);
        const stats = isStats(message.stats) ? message.stats : undefined;
        turn?.finish(stats);
        // A failed answer was announced by its turn-error: "finished" would contradict it.
        const finished = finishedText(stats);
        if (turn?.role === 'assistant' && finished) this.announce(finished);
        if (turn) this.focusFinished(turn);
        this.afterTurnsChanged();
        return;
      }
      case 'turn-error': {
        const turn = this.turns.get(message.turnId);
        turn?.fail(message.message, message.fix);
        turn?.finish();
        // Said here only (the error box under the answer is no alert): read once, not again whenever its footer is drawn.
        if (turn?.role === 'assistant') this.announce(message.message.startsWith(STOPPED_BEFORE_START) ? message.message : `Answer failed: ${message.message}`);
        if (turn) this.focusFinished(turn);
        this.scrollToEnd();
        return;
      }
      case 'cleared':
        this.clear();
        this.afterTurnsChanged();
        return;
      case 'busy':
        this.setBusy(message.busy, message.own === true, message.testingProvider === true);
        return;
      case 'setup':
        this.showSetupWarning(message.setupWarning);
        return;
      case 'demo-result':
        this.turns.get(message.turnId)?.setDemoResult(message.result);
        return;
      case 'call-figures':
        this.turns.get(message.turnId)?.setCallFigures(message);
        return;
      case 'not-sent': {
        // Back where it was written, before anything typed since, so nothing the user wrote is lost.
        const since = this.input.value;
        this.input.value = since.trim() ? `${message.text}\n${since}` : message.text;
        this.vscode.setState({ draft: this.input.value });
        this.showInputError(`Not sent: ${message.reason}`);
        return;
      }
      case 'call-declined':
        this.turns.get(message.turnId)?.markDeclined(message);
        return;
    }
  }

  private turnActions() {
    return { view: this.view, post: (message: WebviewMessage) => this.post(message), announce: (text: string) => this.announce(text) };
  }

  /** Appends a turn; a demo's "small model alone" answer goes beside the answer it is compared with. */
  private addTurn(turn: TurnView, pairOf?: string): void {
    const twin = pairOf !== undefined ? this.turns.get(pairOf) : undefined;
    this.turns.set(turn.id, turn);
    if (twin && !twin.element.parentElement?.classList.contains('relay-demo-pair')) {
      const pair = h('div', { className: 'relay-demo-pair', attrs: { role: 'group', 'aria-label': 'The demo answer beside the small model alone' } });
      // Moving the answer drops the focus it holds (Compare, pressed): it comes back to the same action, or the first.
      const focusedAction = focusedLabelIn(twin.element);
      twin.element.replaceWith(pair);
      pair.append(twin.element, turn.element);
      twin.markPaired();
      if (focusedAction !== undefined) twin.focusAction(focusedAction);
    } else this.turnList.append(turn.element);
  }

  /** A turn goes (Retry on an earlier chat answer); a demo pair left empty goes with it. */
  private removeTurn(id: string): void {
    const turn = this.turns.get(id);
    if (!turn) return;
    this.turns.delete(id);
    const parent = turn.element.parentElement;
    const hadFocus = turn.element.contains(document.activeElement);
    turn.element.remove();
    if (parent?.classList.contains('relay-demo-pair') && parent.childElementCount === 0) parent.remove();
    if (hadFocus) this.focusAfterRemoval();
  }

  private clear(): void {
    this.focusOnFinish = false;
    const hadFocus = this.turnList.contains(document.activeElement);
    this.turns.clear();
    this.turnList.replaceChildren();
    if (hadFocus) this.focusAfterRemoval();
  }

  /**
   * Where focus goes when the turn holding it went (Retry, a new chat): the composer, or in the
   * answer view the main region (the answer that replaces it has no actions until it ends).
   */
  private focusAfterRemoval(): void {
    if (this.view === 'chat') this.input.focus();
    else (this.turnList.closest('main') as HTMLElement | null)?.focus();
  }

  private afterTurnsChanged(): void {
    this.emptyHint.hidden = this.turns.size > 0;
    this.renderBanner();
    if (this.view === 'answer') this.renderChart();
  }

  /**
   * busy: an answer is being written (Send waits, one answer at a time); own: it is this view's
   * (Stop stops it); testingProvider: what keeps Relay busy is a provider test, not an answer.
   */
  private setBusy(busy: boolean, own = false, testingProvider = false): void {
    // What was written while an answer was being written is read once it ends.
    if (this.busy && !busy) this.scheduleDraft();
    if (!busy && this.inputErrorIsBusy) this.showInputError(undefined);
    this.busy = busy;
    const focused = document.activeElement;
    this.canStop = busy && own;
    this.testingProvider = busy && testingProvider;
    // Another view's answer: Stop stays focusable (aria-disabled, a click does nothing), so its reason is reached by Tab and read as its description.
    const elsewhere = busy && !own;
    this.stopButton.disabled = !busy;
    const reason = this.testingProvider ? STOP_DURING_TEST_REASON : STOP_ELSEWHERE_REASON;
    this.stopButton.title = elsewhere ? reason : 'Stop generating';
    this.stopReason.textContent = elsewhere ? reason : '';
    if (elsewhere) {
      this.stopButton.setAttribute('aria-disabled', 'true');
      this.stopButton.setAttribute('aria-describedby', this.stopReason.id);
    } else {
      this.stopButton.removeAttribute('aria-disabled');
      this.stopButton.removeAttribute('aria-describedby');
    }
    this.sendButton.disabled = busy;
    this.turnList.setAttribute('aria-busy', String(busy));
    document.body.classList.toggle('relay-busy', busy);
    // A button that turns off under the focus (Stop once the answer ends) would hold it, disabled: it goes on.
    if ((focused === this.stopButton || focused === this.sendButton) && (focused as HTMLButtonElement).disabled) this.moveFocusOn();
  }

  /** Where focus goes from a button that turned off: the composer, or the last answer's first action. */
  private moveFocusOn(): void {
    if (this.view === 'chat') {
      this.input.focus();
      return;
    }
    const lastAnswer = [...this.turns.values()].filter((turn) => turn.role === 'assistant').pop();
    const action = lastAnswer?.element.querySelector<HTMLElement>('.relay-actions button:not(:disabled)');
    if (action) {
      action.focus();
      return;
    }
    // The answer is not finished yet (busy ends before its turn-done): main holds focus until it is.
    this.mainRegion()?.focus();
    this.focusOnFinish = lastAnswer !== undefined;
  }

  /** An answer finished while focus waited on main for it (moveFocusOn): its first action takes focus, unless the user moved it meanwhile. */
  private focusFinished(turn: TurnView): void {
    if (!this.focusOnFinish || turn.role !== 'assistant') return;
    this.focusOnFinish = false;
    const active = document.activeElement;
    if (active === this.mainRegion() || active === document.body || active === null) turn.focusAction();
  }

  private mainRegion(): HTMLElement | null {
    return this.turnList.closest('main');
  }

  /**
   * Said once by the polite status. Emptied now and set on the next frame: a screen reader
   * reads a change, so the same text twice in a row (two calls waiting) is read twice.
   */
  private announce(text: string): void {
    this.announcer.textContent = '';
    if (this.announceFrame !== undefined) cancelAnimationFrame(this.announceFrame);
    this.announceFrame = requestAnimationFrame(() => {
      this.announceFrame = undefined;
      this.announcer.textContent = text;
    });
  }

  private showSetupWarning(warning: string | undefined): void {
    this.setupWarning = warning;
    this.renderBanner();
  }

  /**
   * The set-up banner, except under a demo answer: the demo runs without the user's set-up,
   * and its "Set up a real model" button is the way on (the banner is back with the next answer).
   */
  private renderBanner(): void {
    const warning = this.setupWarning;
    const lastAnswer = [...this.turns.values()].filter((turn) => turn.role === 'assistant').pop();
    this.banner.hidden = !warning || lastAnswer?.demoView !== undefined;
    // Drawn again only when the warning changed: the same one redrawn is a status read again, and a button holding focus lost.
    if (this.banner.hidden || !warning || warning === this.bannerWarning) return;
    this.bannerWarning = warning;
    const fix = (action: FixAction, label: string) => button(label, () => this.post({ type: 'fix', action }));
    this.banner.replaceChildren(
      h('span', { className: 'relay-banner-text', text: warning }),
      h('span', { className: 'relay-banner-buttons' }, [
        fix('set-key', 'Set API Key'),
        fix('pick-model', 'Select Model'),
        fix('open-settings', 'Open Settings'),
        // Nothing set up yet: the demo shows what Relay does meanwhile (it needs no account, no network).
        fix('try-demo', 'Try the Demo'),
      ]),
    );
  }

  private isNearEnd(): boolean {
    const scroller = document.scrollingElement ?? document.documentElement;
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }

  /**
   * At most one per frame (scroll events come with rendering): scrolling up leaves the end
   * (unless still near it); scrolling down, ours included, keeps following, and comes back
   * to it when the user reaches the end. Reads layout only when the answer is not followed
   * or the view moved up, never per span.
   */
  private onScroll(): void {
    const scroller = document.scrollingElement ?? document.documentElement;
    const top = scroller.scrollTop;
    if (top < this.lastScrollTop || !this.stickToEnd) this.stickToEnd = this.isNearEnd();
    this.lastScrollTop = top;
  }

  /** Follows the end from now on (a new turn, an init, an error) and goes there. */
  private scrollToEnd(): void {
    this.stickToEnd = true;
    this.scheduleScrollToEnd();
  }

  /** Scrolls to the end on the next animation frame, once however many spans came meanwhile. */
  private scheduleScrollToEnd(): void {
    if (this.scrollPending) return;
    this.scrollPending = true;
    requestAnimationFrame(() => {
      this.scrollPending = false;
      if (!this.stickToEnd) return;
      const scroller = document.scrollingElement ?? document.documentElement;
      // Past the end is clamped to it: no scrollHeight read.
      scroller.scrollTop = Number.MAX_SAFE_INTEGER;
    });
  }

  /**
   * Cumulative cost of the answers the view shows: relay versus an LLM-only estimate. Named for
   * what it sums: the turn cap drops old answers (their money was spent), and answers restored
   * from earlier sessions count; the savings view (Relay: Show Savings) has every answer.
   */
  private renderChart(): void {
    // The demo's costs are estimates of a toy pair, not this session's spending.
    const stats = [...this.turns.values()]
      .filter((turn) => !turn.demoView)
      .map((turn) => turn.statsView)
      .filter((entry) => entry !== undefined);
    const points = cumulativeCosts(stats);
    this.chart.hidden = points.length < 2;
    if (this.chart.hidden) return;
    const width = 240;
    const height = 60;
    const last = points[points.length - 1];
    const max = Math.max(last.llmOnly, last.relay);
    const line = (values: number[], className: string) =>
      svg('polyline', { points: polylinePoints(values, max, width, height), class: className, fill: 'none' });
    const title = svg('title');
    title.textContent = `Cost of the answers above: relay ${formatUsd(last.relay)}, LLM-only ${formatUsd(last.llmOnly)} (est.); every answer's is in Relay: Show Savings`;
    const chart = svg('svg', { viewBox: `-2 -2 ${width + 4} ${height + 4}`, role: 'img', class: 'relay-chart-svg', preserveAspectRatio: 'none' }, [
      title,
      svg('line', { x1: '0', y1: String(height), x2: String(width), y2: String(height), class: 'relay-chart-axis' }),
      line(
        points.map((point) => point.llmOnly),
        'relay-chart-llm-only',
      ),
      line(
        points.map((point) => point.relay),
        'relay-chart-relay',
      ),
    ]);
    this.chart.replaceChildren(
      h('figcaption', { text: 'Cost of the answers above' }),
      chart,
      h('div', { className: 'relay-chart-legend' }, [
        h('span', { className: 'relay-key relay-key-relay', text: `Relay ${formatUsd(last.relay)}` }),
        h('span', { className: 'relay-key relay-key-llm-only', text: `LLM only ${formatUsd(last.llmOnly)} (est.)` }),
      ]),
    );
  }
}

/**
 * What the status says when an answer ends, with the calls skipped in it (relay.maxCostRatio:
 * only a small ring marks each in the text); nothing for a failed one (its error is announced).
 */
function finishedText(stats: StatsView | undefined): string | undefined {
  if (!stats) return 'Answer finished.';
  if (stats.finishReason === 'error') return undefined;
  const declined = stats.declinedCalls ?? 0;
  const skipped = declined > 0 ? ` ${declined} large-model ${declined === 1 ? 'call' : 'calls'} skipped (over the cost limit).` : '';
  if (stats.finishReason === 'cancelled') return `Answer stopped.${skipped}`;
  // Ended early by a limit: its note under the answer says which.
  if (finishNote(stats.finishReason)) return `Answer stopped early; the note under it says why.${skipped}`;
  const percent = Math.round(stats.llmTokenShare * 100);
  return (percent > 0 ? `Answer finished; the large model wrote ${percent}% of it.` : 'Answer finished; the small model wrote all of it.') + skipped;
}

/** The label of the button or summary that holds focus inside `root`, or undefined when focus is elsewhere. */
function focusedLabelIn(root: HTMLElement): string | undefined {
  const focused = document.activeElement;
  if (!(focused instanceof HTMLElement) || !root.contains(focused)) return undefined;
  return (focused.textContent ?? '').trim();
}

function legend(): HTMLElement {
  return h('div', { className: 'relay-legend', attrs: { role: 'group', 'aria-label': 'Colour legend' } }, [
    h('span', { className: 'relay-key relay-key-slm', text: 'Small model (local)' }),
    h('span', { className: 'relay-key relay-key-llm', text: 'Large model' }),
  ]);
}
