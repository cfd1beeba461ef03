// A RelayService stand-in for the conversation tests, with what Conversation relies on of
// the real one (src/extension/relayService.ts): one answer at a time (a second is refused
// with its message), `busy` and onDidChangeBusy fired as an answer starts (before its first
// await) and as it ends, stop() ending the answer in flight. Each answer writes its
// scripted spans; a held answer then waits for release() or stop().
import assert from 'node:assert/strict';
import type { AnswerStats, RelayEvent } from '../../../src/core/relay/events';
import type { ChatMessage } from '../../../src/core/slm/types';
import { parseHostMessage, type ChatTurnView, type HostMessage } from '../../../src/shared/webviewProtocol';
import { MemoryMemento } from './vscodeStub';

export const FAKE_STATS: AnswerStats = {
  mode: 'money-aware',
  slmTokens: 3,
  llmTokens: 1,
  llmTokenShare: 0.25,
  calls: 1,
  llmUsage: { inputTokens: 100, outputTokens: 1, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false },
  costUsd: 0.0001,
  llmOnlyCostUsd: 0.001,
  savedUsd: 0.0009,
  elapsedMs: 200,
  finishReason: 'eos',
};

type Sink = { onEvent(event: RelayEvent, model: string, destination?: string): void };

interface Held {
  release(): void;
  /** Resolves once the held answer has written its first spans and waits. */
  waiting: Promise<void>;
}

export class FakeRelayService {
  /** The messages each answer was sent, in order (refused ones included). */
  readonly sent: ChatMessage[][] = [];
  /** How many times stop() ended an answer. */
  stops = 0;
  private current: { stop(): void } | undefined;
  private listeners: ((busy: boolean) => void)[] = [];
  private count = 0;
  private nextHeld: { release: () => void; released: Promise<void>; waiting: () => void } | undefined;
  /** The next answers fail with this error (and no stats), when set. */
  failWith: string | undefined;

  get busy(): boolean {
    return this.current !== undefined;
  }

  onDidChangeBusy = (listener: (busy: boolean) => void) => {
    this.listeners.push(listener);
    return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  };

  async setupWarning(): Promise<string | undefined> {
    return undefined;
  }

  readAheadDraft(): void {}

  /** The next answer writes its first half, then waits for release() (or stop()). */
  holdNext(): Held {
    let release!: () => void;
    let waiting!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const waited = new Promise<void>((resolve) => (waiting = resolve));
    this.nextHeld = { release, released, waiting };
    return { release, waiting: waited };
  }

  async answer(messages: ChatMessage[], sink: Sink): Promise<{ answer: string; stats?: AnswerStats; error?: { message: string; fix?: 'retry' } }> {
    this.sent.push(messages);
    if (this.current) return { answer: '', error: { message: 'Relay is already writing an answer. Stop it first ("Relay: Stop").' } };
    const held = this.nextHeld;
    this.nextHeld = undefined;
    let stopped = false;
    let stop!: () => void;
    const stoppedPromise = new Promise<void>((resolve) => (stop = resolve));
    this.current = {
      stop: () => {
        stopped = true;
        stop();
      },
    };
    for (const listener of [...this.listeners]) listener(true);
    const n = ++this.count;
    let answer = '';
    const write = (text: string) => {
      answer += text;
      sink.onEvent({ type: 'span', source: 'slm', text, tokens: 1 }, 'small');
    };
    try {
      write(`Answer ${n}, first half.`);
      if (held) {
        held.waiting();
        await Promise.race([held.released, stoppedPromise]);
      }
      if (stopped) return { answer, error: { message: 'Stopped.' } };
      if (this.failWith) return { answer, error: { message: this.failWith, fix: 'retry' } };
      write(' Second half.');
      return { answer, stats: FAKE_STATS };
    } finally {
      this.current = undefined;
      for (const listener of [...this.listeners]) listener(false);
    }
  }

  stop(): boolean {
    if (!this.current) return false;
    this.stops++;
    this.current.stop();
    return true;
  }
}

/** The workspace-state key conversations are saved under in these tests. */
export const CONVERSATION_KEY = 'relay.turns';

/**
 * A real Conversation of `view` on `service`, saved in `state`, attached to a stand-in
 * webview that checks every message as the webview would parse it and keeps a copy of it
 * (as posted then). The caller has put the VS Code stand-in in place (useVscodeStub).
 */
export function openConversation(view: 'chat' | 'answer', service: FakeRelayService, state = new MemoryMemento()) {
  // Loaded here, after the caller's stub is in place (it imports 'vscode').
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Conversation } = require('../../../src/extension/conversation') as typeof import('../../../src/extension/conversation');
  const conversation = new Conversation(view, service as never, () => undefined, { state, key: CONVERSATION_KEY });
  const posted: HostMessage[] = [];
  conversation.attach({
    post: (message) => {
      assert.deepEqual(parseHostMessage(message), message, `the webview would refuse ${JSON.stringify(message)}`);
      posted.push(JSON.parse(JSON.stringify(message)) as HostMessage);
    },
  });
  return { conversation, posted, state };
}

/** A turn's text. */
export const turnText = (turn: ChatTurnView): string => turn.spans.map((span) => span.text).join('');
