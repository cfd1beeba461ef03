import * as vscode from 'vscode';
import type { AskUser } from './keyStore';

/** The user's yes or no in a modal dialog (default: no): where a key or token may go. */
export const askModal: AskUser = async (question, detail, yes) => (await vscode.window.showWarningMessage(question, { modal: true, detail }, yes)) === yes;
