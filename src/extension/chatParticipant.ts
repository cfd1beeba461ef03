/**
 * `@relay` in VS Code's Chat view: the same relay answer as the commands (through
 * RelayService), streamed as Markdown with the LLM's spans in italics and a stats footer.
 * Stopping the chat request stops the answer. Where the host has no chat API (older VS
 * Code, some forks), nothing is registered.
 */
import * as vscode from 'vscode';
import { showInformation } from './notifications';
import { ChatAnswerFormatter, answerFromMarkdown, historyToMessages, markdownLiteral, statsFooter, statsSummary, type HistoryTurn } from './chatMarkdown';
import { promptWithAttachments, readReferences } from './chatReferences';
import { fixCommand } from './fixCommands';
import type { RelayService } from './relayService';
import { sentAnything } from './sentRequests';
import { modelLoadingText } from '../shared/modelLoading';
import { promptReadingText } from '../shared/promptReading';
import { reasoningWaitText } from '../shared/reasoningWait';
import { withoutThinking } from '../core/relay/thinking';

export const CHAT_PARTICIPANT_ID = 'relay.chat';

interface RelayChatResult extends vscode.ChatResult {
  /**
   * `prompt`: the user's message as the relay was sent it (trimmed, its attachments after it), for the follow-ups' history;
   * `thinkingOpened`: the answer starts in a reasoning its prompt opened (withoutThinking's openedByPrompt).
   */
  metadata: { answer: string; prompt?: string; thinkingOpened?: boolean };
}

/**
 * What a response streamed, kept for its follow-ups: after Stop, VS Code keeps only the
 * Markdown streamed before it (no result, so no metadata), and the next question's history
 * is read from that Markdown, notices and italics included. The Markdown is looked up here to
 * find the answer as it was and the prompt as it was sent.
 */
interface StreamedResponse {
  /** The request as typed, trimmed (several answers may stream the same Markdown). */
  typed: string;
  /** The prompt as the relay was sent it. */
  prompt: string;
  /** Everything streamed before the stop (VS Code drops what comes after). */
  markdown: string;
  /** The plain answer at the last write. */
  answer: string;
  /** The answer starts in a reasoning its prompt opened. */
  thinkingOpened: boolean;
  /** After each write: the Markdown's length then, and the answer's (the view may have kept fewer writes than were made). */
  writes: { markdownLength: number; answerLength: number }[];
}

/** The last responses streamed in this window, oldest first. */
class StreamedResponses {
  private readonly kept: StreamedResponse[] = [];
  constructor(private readonly max = 50) {}

  begin(typed: string, prompt: string): StreamedResponse {
    const response: StreamedResponse = { typed, prompt, markdown: '', answer: '', thinkingOpened: false, writes: [] };
    this.kept.push(response);
    if (this.kept.length > this.max) this.kept.splice(0, this.kept.length - this.max);
    return response;
  }

  /** The answer and prompt behind `markdown` as the view kept it (a request's response, up to some write), if it was streamed here. */
  find(typed: string, markdown: string): { answer: string; prompt: string; thinkingOpened: boolean } | undefined {
    if (!markdown) return undefined;
    for (let i = this.kept.length - 1; i >= 0; i -= 1) {
      const response = this.kept[i];
      if (response.typed !== typed || !response.markdown.startsWith(markdown)) continue;
      const write = response.writes.find((w) => w.markdownLength === markdown.length);
      if (write) return { answer: response.answer.slice(0, write.answerLength), prompt: response.prompt, thinkingOpened: response.thinkingOpened };
    }
    return undefined;
  }
}

/** The Markdown the view kept of an earlier response. */
function markdownOf(turn: vscode.ChatResponseTurn): string {
  return turn.response.map((part) => (part instanceof vscode.ChatResponseMarkdownPart ? part.value.value : '')).join('');
}

/**
 * The earlier turns as they were sent: a request as its answer's metadata recorded it (with
 * its attachments: a follow-up about an attached file still sees it, and its prompt starts as
 * the kept caches and the LLM's cache hold it), else as typed, trimmed as a new one is. A
 * response without metadata (stopped) is found by its Markdown among those streamed here,
 * else read back from that Markdown without Relay's notices and italics. An answer is sent
 * without its thinking (withoutThinking), as every turn sends it.
 */
function historyOf(context: vscode.ChatContext, streamed: StreamedResponses): HistoryTurn[] {
  const turns: HistoryTurn[] = [];
  for (const turn of context.history) {
    if (turn.participant !== CHAT_PARTICIPANT_ID) continue;
    if (turn instanceof vscode.ChatRequestTurn) turns.push({ kind: 'request', prompt: turn.prompt.trim() });
    else if (turn instanceof vscode.ChatResponseTurn) {
      const request = turns.at(-1);
      const metadata = (turn.result as Partial<RelayChatResult> | undefined)?.metadata;
      const markdown = markdownOf(turn);
      const kept =
        metadata && typeof metadata.answer === 'string'
          ? metadata
          : (streamed.find(request?.kind === 'request' ? request.prompt : '', markdown) ?? { answer: answerFromMarkdown(markdown) });
      if (typeof kept.prompt === 'string' && request?.kind === 'request') request.prompt = kept.prompt;
      // Without its thinking: historyToMessages leaves out an answer that was only thinking, with its request.
      turns.push({ kind: 'response', answer: withoutThinking(kept.answer, kept.thinkingOpened === true) });
    }
  }
  return turns;
}

/** The writes @relay makes to a response. */
interface ResponseWrites {
  markdown(text: string): void;
  progress(text: string): void;
  button(command: vscode.Command): void;
}

/**
 * `response` until Stop, then nothing: VS Code drops what is streamed after Stop, and closes the
 * stream a second later, after which a write throws ("Response stream has been closed") and
 * would end the handler before the stopped answer's figures are said.
 */
function writesUntilStopped(response: vscode.ChatResponseStream, token: vscode.CancellationToken): ResponseWrites {
  const open = (): boolean => !token.isCancellationRequested;
  return {
    markdown: (text) => {
      if (open()) response.markdown(text);
    },
    progress: (text) => {
      if (open()) response.progress(text);
    },
    button: (command) => {
      if (open()) response.button(command);
    },
  };
}

function handlerFor(service: RelayService): vscode.ChatRequestHandler {
  const streamed = new StreamedResponses();
  return async (request, context, response, token): Promise<RelayChatResult> => {
    const stream = writesUntilStopped(response, token);
    const prompt = request.prompt.trim();
    if (!prompt) {
      stream.markdown('Ask `@relay` a question: the small local model writes the answer and hands a few tokens to the LLM you configured.');
      return { metadata: { answer: '' } };
    }
    if (token.isCancellationRequested) return { metadata: { answer: '' } };
    // #file, #selection and dragged files: the answer is about them.
    const references = await readReferences(request.references);
    if (!references.ok) {
      stream.markdown(`**Relay:** ${markdownLiteral(references.message)}`);
      return { metadata: { answer: '' } };
    }
    const sent = promptWithAttachments(prompt, references.attached);
    const messages = historyToMessages(historyOf(context, streamed), sent);
    const formatter = new ChatAnswerFormatter();
    const record = streamed.begin(prompt, sent);
    /** Streams `markdown`, and records it, while the view still keeps what is streamed (not after Stop). */
    const say = (markdown: string): void => {
      if (token.isCancellationRequested) return;
      stream.markdown(markdown);
      record.markdown += markdown;
      record.answer = formatter.answer;
      record.thinkingOpened = formatter.thinkingOpened;
      record.writes.push({ markdownLength: record.markdown.length, answerLength: formatter.answer.length });
    };
    // Said before the answer, as written (file names are the workspace's): what the answer does not see.
    if (references.skipped.length > 0) say(`_Not attached:_ ${markdownLiteral(references.skipped.join('; '))}\n\n`);
    stream.progress('The small model is writing…');
    let started = false;
    /** The load the answer waits on was said (once per load, not per tick). */
    let loadTold = false;
    /** The LLM call in flight was said to reason (once per call, not per tick). */
    let reasoningTold = false;
    // Stop only our own answer: the listener goes away as soon as it ends.
    const cancel = token.onCancellationRequested(() => {
      if (started) service.stop();
    });
    try {
      started = true;
      const outcome = await service.answer(
        messages,
        {
          onEvent: (event, model) => {
            if (event.type === 'call-start') {
              reasoningTold = false;
              stream.progress(`${event.model} is writing up to ${event.requestedTokens} tokens…`);
            }
            // A pro model reasons for minutes before it writes: said once, as the answer view says it.
            if (event.type === 'call-wait' && event.state === 'reasoning' && event.model && !reasoningTold) {
              reasoningTold = true;
              stream.progress(`${event.host}: ${reasoningWaitText(event.model)}`);
            }
            if (event.type === 'prompt-reading' && event.done < event.total)
              stream.progress(promptReadingText(event.done, event.total, event.reusedTokens, event.reader));
            const markdown = formatter.push(event, model);
            if (markdown) say(markdown);
          },
          // The first answer of a session (or one after the model's process ended) waits on a load: said, not "writing".
          onLoading: (load, waitedMs) => {
            if (waitedMs !== null && !loadTold) stream.progress(modelLoadingText(load));
            loadTold = waitedMs !== null;
          },
        },
        undefined,
        { readAhead: true },
      );
      started = false;
      const closing = formatter.closeOpenBlocks();
      if (closing) say(closing);
      if (outcome.error) {
        // The message may quote a server: it renders as written, never as a link or an image.
        say(`\n\n**Relay:** ${markdownLiteral(outcome.error.message)}`);
        const fix = outcome.error.fix ? fixCommand(outcome.error.fix, outcome.error.message) : undefined;
        if (fix) stream.button(fix);
      }
      if (outcome.stats) {
        say(statsFooter(outcome.stats, formatter.llmSpans, formatter.declined));
        // Whenever anything went out (a declined call's token count, the small model's server), not only on calls.
        const sentRecord = service.sentRequests.last;
        const showSent = sentRecord !== undefined && sentAnything(sentRecord);
        if (showSent) stream.button({ command: 'relay.showSentToLlm', title: 'Show What Was Sent' });
        // After Stop the view drops the footer and the button: the figures are said where they survive.
        if (token.isCancellationRequested) stoppedNotice(statsSummary(outcome.stats, formatter.declined.length), showSent);
      }
      return { metadata: { answer: formatter.answer, prompt: sent, ...(formatter.thinkingOpened ? { thinkingOpened: true } : {}) } };
    } finally {
      started = false;
      cancel.dispose();
    }
  };
}

/** A stopped answer's figures, as a notification (with Show What Was Sent when anything went out). */
function stoppedNotice(summary: string, showSent: boolean): void {
  const show = 'Show What Was Sent';
  void showInformation(`Relay: @relay's answer stopped. ${summary}.`, ...(showSent ? [show] : [])).then((choice) => {
    if (choice === show) void vscode.commands.executeCommand('relay.showSentToLlm');
  });
}

/** Registers `@relay` when the host has the chat API; undefined (and no error) where it has not. */
export function registerChatParticipant(extensionUri: vscode.Uri, service: RelayService): vscode.Disposable | undefined {
  const chat = (vscode as { chat?: Partial<typeof vscode.chat> }).chat;
  if (typeof chat?.createChatParticipant !== 'function') return undefined;
  try {
    const participant = chat.createChatParticipant(CHAT_PARTICIPANT_ID, handlerFor(service));
    participant.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'icon.png');
    return participant;
  } catch (error) {
    // A host that declares the API but refuses the participant: the rest of Relay works without it.
    console.warn(`Relay: the @relay chat participant is not available here (${error instanceof Error ? error.message : String(error)}).`);
    return undefined;
  }
}
