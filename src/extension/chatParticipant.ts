/**
 * `@relay` in VS Code's Chat view: the same relay answer as the commands (through
 * RelayService), streamed as Markdown with the LLM's spans in italics and a stats footer.
 * Stopping the chat request stops the answer. Where the host has no chat API (older VS
 * Code, some forks), nothing is registered.
 */
import * as vscode from 'vscode';
import { ChatAnswerFormatter, historyToMessages, markdownLiteral, statsFooter, type HistoryTurn } from './chatMarkdown';
import { promptWithAttachments, readReferences } from './chatReferences';
import { fixCommand } from './fixCommands';
import type { RelayService } from './relayService';
import { sentAnything } from './sentRequests';
import { promptReadingText } from '../shared/promptReading';

export const CHAT_PARTICIPANT_ID = 'relay.chat';

interface RelayChatResult extends vscode.ChatResult {
  /** `prompt`: the user's message as the relay was sent it (trimmed, its attachments after it), for the follow-ups' history. */
  metadata: { answer: string; prompt?: string };
}

/** Plain text of an earlier response: our metadata when it is ours, else its Markdown. */
function answerOf(turn: vscode.ChatResponseTurn): string {
  const metadata = (turn.result as Partial<RelayChatResult>).metadata;
  if (metadata && typeof metadata.answer === 'string') return metadata.answer;
  return turn.response.map((part) => (part instanceof vscode.ChatResponseMarkdownPart ? part.value.value : '')).join('');
}

/**
 * The earlier turns as they were sent: a request as its answer's metadata recorded it (with
 * its attachments: a follow-up about an attached file still sees it, and its prompt starts as
 * the kept caches and the LLM's cache hold it), else as typed, trimmed as a new one is.
 */
function historyOf(context: vscode.ChatContext): HistoryTurn[] {
  const turns: HistoryTurn[] = [];
  for (const turn of context.history) {
    if (turn.participant !== CHAT_PARTICIPANT_ID) continue;
    if (turn instanceof vscode.ChatRequestTurn) turns.push({ kind: 'request', prompt: turn.prompt.trim() });
    else if (turn instanceof vscode.ChatResponseTurn) {
      const sent = (turn.result as Partial<RelayChatResult>).metadata?.prompt;
      const request = turns.at(-1);
      if (typeof sent === 'string' && request?.kind === 'request') request.prompt = sent;
      turns.push({ kind: 'response', answer: answerOf(turn) });
    }
  }
  return turns;
}

function handlerFor(service: RelayService): vscode.ChatRequestHandler {
  return async (request, context, stream, token): Promise<RelayChatResult> => {
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
    // Said before the answer, as written (file names are the workspace's): what the answer does not see.
    if (references.skipped.length > 0) stream.markdown(`_Not attached:_ ${markdownLiteral(references.skipped.join('; '))}\n\n`);
    const formatter = new ChatAnswerFormatter();
    stream.progress('The small model is writing…');
    let started = false;
    // Stop only our own answer: the listener goes away as soon as it ends.
    const cancel = token.onCancellationRequested(() => {
      if (started) service.stop();
    });
    const sent = promptWithAttachments(prompt, references.attached);
    try {
      started = true;
      const outcome = await service.answer(
        historyToMessages(historyOf(context), sent),
        {
          onEvent: (event, model) => {
            if (event.type === 'call-start') stream.progress(`${event.model} is writing up to ${event.requestedTokens} tokens…`);
            if (event.type === 'prompt-reading' && event.done < event.total) stream.progress(promptReadingText(event.done, event.total, event.reusedTokens));
            const markdown = formatter.push(event, model);
            if (markdown) stream.markdown(markdown);
          },
        },
        undefined,
        { readAhead: true },
      );
      started = false;
      const closing = formatter.closeOpenBlocks();
      if (closing) stream.markdown(closing);
      if (outcome.error) {
        // The message may quote a server: it renders as written, never as a link or an image.
        stream.markdown(`\n\n**Relay:** ${markdownLiteral(outcome.error.message)}`);
        const fix = outcome.error.fix ? fixCommand(outcome.error.fix) : undefined;
        if (fix) stream.button(fix);
      }
      if (outcome.stats) {
        stream.markdown(statsFooter(outcome.stats, formatter.llmSpans, formatter.declined));
        // Whenever anything went out (a declined call's token count, the small model's server), not only on calls.
        const record = service.sentRequests.last;
        if (record && sentAnything(record)) stream.button({ command: 'relay.showSentToLlm', title: 'Show What Was Sent' });
      }
      return { metadata: { answer: formatter.answer, prompt: sent } };
    } finally {
      started = false;
      cancel.dispose();
    }
  };
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
