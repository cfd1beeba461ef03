/**
 * Every notification Relay shows goes through here. VS Code renders `[label](command:…)`,
 * `[label](https://…)` and `[label](file:…)` in a notification's text as a link, and runs a
 * command link with its arguments when clicked (linkedText.ts, notificationsViewer.ts). Relay's
 * messages quote what servers, model repositories and files say, so such text would put any
 * command one click away: inertText breaks the link syntax, and the message reads the same.
 */
import * as vscode from 'vscode';

/** `text` with no link VS Code renders: "[label](command:x)" shows as "[label] (command:x)". */
export function inertText(text: string): string {
  return text.replace(/\]\(/g, '] (');
}

/** window.show*Message's two forms: buttons, or options (modal, detail) then buttons. */
interface ShowMessage {
  <T extends string>(message: string, ...items: T[]): Thenable<T | undefined>;
  <T extends string>(message: string, options: vscode.MessageOptions, ...items: T[]): Thenable<T | undefined>;
}

type MessageArgument = string | vscode.MessageOptions;

function inertMessage(api: 'showErrorMessage' | 'showWarningMessage' | 'showInformationMessage'): ShowMessage {
  return ((message: string, ...rest: MessageArgument[]) => {
    // Looked up at each call: window is VS Code's (or a test's stand-in) by then.
    const show = vscode.window[api] as (message: string, ...rest: MessageArgument[]) => Thenable<string | undefined>;
    const inert = rest.map((item) => (typeof item === 'string' || item.detail === undefined ? item : { ...item, detail: inertText(item.detail) }));
    return show(inertText(message), ...inert);
  }) as ShowMessage;
}

export const showError = inertMessage('showErrorMessage');
export const showWarning = inertMessage('showWarningMessage');
export const showInformation = inertMessage('showInformationMessage');

/** A progress step: its message shows after the title in the notification's text. */
type ProgressStep = { message?: string; increment?: number };

/** window.withProgress as a notification: its title and each step's message are its text, so both are made inert. */
export function withProgressNotification<R>(
  options: { title: string; cancellable?: boolean },
  task: (progress: vscode.Progress<ProgressStep>, token: vscode.CancellationToken) => Thenable<R>,
): Thenable<R> {
  return vscode.window.withProgress({ ...options, location: vscode.ProgressLocation.Notification, title: inertText(options.title) }, (progress, token) =>
    task({ report: (step) => progress.report(step.message === undefined ? step : { ...step, message: inertText(step.message) }) }, token),
  );
}
