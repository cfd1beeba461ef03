/**
 * Stand-ins for a chat request's response stream and cancellation token, as VS Code's behave
 * after Stop: $invokeAgent (extHostChatAgents2.ts) waits at most 1 s for the handler
 * (raceCancellationWithTimeout) and then closes the stream, after which every write throws.
 */

export const STREAM_CLOSED = 'Response stream has been closed';

/**
 * A ChatResponseStream that records what the handler streamed, closed on Stop: once the token is
 * cancelled a write throws, as VS Code's does once a wind-down outlasts its second (closed at
 * once here, the slowest wind-down, with nothing timed). `parts`: each markdown write, as the
 * view's response parts hold them.
 */
export function recordingStream(token?: { isCancellationRequested: boolean }) {
  const out = { markdown: '', parts: [] as string[], progress: [] as string[], buttons: [] as { command: string; title: string }[] };
  const write = (record: () => void): void => {
    if (token?.isCancellationRequested) throw new Error(STREAM_CLOSED);
    record();
  };
  return {
    out,
    stream: {
      markdown: (text: string) => write(() => ((out.markdown += text), out.parts.push(text))),
      progress: (text: string) => write(() => out.progress.push(text)),
      button: (command: { command: string; title: string }) => write(() => out.buttons.push(command)),
    },
  };
}

/** A CancellationToken and its cancel (Stop), with its listeners to see them removed. */
export function cancellationToken() {
  const listeners: (() => void)[] = [];
  const token = {
    isCancellationRequested: false,
    onCancellationRequested: (listener: () => void) => {
      listeners.push(listener);
      return { dispose: () => listeners.splice(listeners.indexOf(listener), 1) };
    },
  };
  return { token, cancel: () => ((token.isCancellationRequested = true), [...listeners].forEach((l) => l())), listeners };
}
