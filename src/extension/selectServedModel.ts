/**
 * "Relay: Select Model" → "A model on a server…": asks the server's address, its kind
 * (completions server or Ollama), the model's name and the folder with its tokenizer and
 * chat template, tests the server (two short generations, in the SLM process like every
 * answer: the folder's template is a program), shows the latency and what works, and only
 * then saves relay.slm.kind, relay.slm.serverUrl, relay.slm.serverModel and
 * relay.slm.modelFolder in the user's settings (the folder, a path on the machine Relay runs
 * on, in a remote window's machine settings; there the other three, which VS Code keeps for
 * every window, only once the user says every window may switch). A failed test offers to try
 * again with the same answers filled in. A server on another machine over plain http:// is
 * sent nothing before the user says prompts may cross the network unencrypted.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { createProcessRuntime } from '../core/slm/onnx/processRuntime';
import { readTokenizerFolder } from '../core/slm/modelFolder';
import { clearTextServer, clearTextServerWarning } from '../core/slm/served/clearTextServer';
import { SERVED_WIRE_FORMS } from '../core/slm/served/registry';
import type { ServedSlmCheck } from '../core/slm/served/serverCheck';
import type { ServedSlmKind } from '../core/slm/types';
import { currentPath, currentText, localOnlyServerProblem, saveUserSettings, slmServerUrlProblem } from './settings';
import { showError, showInformation, showWarning, withProgressNotification } from './notifications';

/** What the user answered so far (the next attempt starts from it). */
interface ServedChoice {
  url: string;
  kind: ServedSlmKind;
  model: string;
  folder: string;
}

export const USE_SERVED_MODEL = 'Use This Model';
export const TRY_AGAIN = 'Try Again';
export const SEND_ANYWAY = 'Send Anyway';

const KIND_CHOICES: { slmKind: ServedSlmKind; label: string; description: string }[] = [
  { slmKind: 'completions-server', label: 'Completions server', description: `${SERVED_WIRE_FORMS['completions-server'].label}: POST /v1/completions` },
  { slmKind: 'ollama', label: 'Ollama', description: `${SERVED_WIRE_FORMS.ollama.label}: POST /api/generate` },
];

export async function selectServedModel(context: vscode.ExtensionContext): Promise<void> {
  const config = vscode.workspace.getConfiguration('relay');
  let previous: Partial<ServedChoice> = {
    url: currentText(config, 'slm.serverUrl') || undefined,
    model: currentText(config, 'slm.serverModel') || undefined,
    folder: currentPath(config, 'slm.modelFolder') || undefined,
  };
  /** Addresses the user let prompts go to unencrypted in this run: a Try Again does not ask again. */
  const sendsInClear = new Set<string>();
  for (;;) {
    const choice = await askServedChoice(previous);
    if (!choice) return;
    previous = choice;
    if (!sendsInClear.has(choice.url)) {
      if (!(await mayPromptsGoTo(choice.url))) return;
      sendsInClear.add(choice.url);
    }
    const outcome = await checkWithProgress(context, choice);
    if (outcome === 'cancelled') return;
    if (outcome instanceof Error) {
      const again = await showError(`Relay: the small model's server did not pass the test. ${outcome.message}`, TRY_AGAIN);
      if (again === TRY_AGAIN) continue;
      return;
    }
    const use = await showInformation(
      `Relay: ${choice.model} at ${choice.url} works as the small model.`,
      { modal: true, detail: servedCheckSummary(outcome) },
      USE_SERVED_MODEL,
    );
    if (use !== USE_SERVED_MODEL) return;
    const values = { 'slm.kind': choice.kind, 'slm.serverUrl': choice.url, 'slm.serverModel': choice.model, 'slm.modelFolder': choice.folder };
    // The test ran from this (remote) machine: local windows reach the address from theirs, and read their own folder.
    const everyWindow = `Local windows would send their prompts and selected code to ${choice.url} too, an address tested from this remote machine (${vscode.env.remoteName}), not from theirs, and read its tokenizer from their own relay.slm.modelFolder.`;
    const saved = await saveUserSettings(values, everyWindow);
    if (!saved) return;
    void showInformation(`Relay: the small model is now ${choice.model} at ${choice.url}${saved.everyWindow ? ' in every window, local ones included' : ''}.`);
    return;
  }
}

/**
 * Whether prompts may go to `url`: yes where they stay on this machine or are encrypted,
 * else as the user answers a modal question that names the server and the ways out.
 */
export async function mayPromptsGoTo(url: string): Promise<boolean> {
  const server = clearTextServer(url);
  if (!server) return true;
  const answer = await showWarning(
    `Relay: send prompts to ${server.host} over plain HTTP?`,
    { modal: true, detail: clearTextServerWarning(server) },
    SEND_ANYWAY,
  );
  return answer === SEND_ANYWAY;
}

/** The four answers, each step pre-filled from the last attempt (or the settings); undefined when the user backs out. */
async function askServedChoice(previous: Partial<ServedChoice>): Promise<ServedChoice | undefined> {
  const url = (
    await vscode.window.showInputBox({
      title: "Relay: the small model's server (1/4)",
      prompt: 'Its address. The prompts and your selected code go there; no API key does.',
      value: previous.url ?? SERVED_WIRE_FORMS['completions-server'].defaultUrl,
      placeHolder: `${SERVED_WIRE_FORMS['completions-server'].defaultUrl} (vLLM, SGLang, llama.cpp, LM Studio) or ${SERVED_WIRE_FORMS.ollama.defaultUrl} (Ollama)`,
      ignoreFocusOut: true,
      // Local only: the test's prompt would leave the machine, and every answer would then refuse the address saved.
      validateInput: (value) =>
        value.trim()
          ? (slmServerUrlProblem(value.trim()) ?? localOnlyServerProblem(vscode.workspace.getConfiguration('relay'), value.trim()))
          : "Give the server's address.",
    })
  )?.trim();
  if (!url) return undefined;
  const likelyOllama = new URL(url).port === '11434' || (previous.kind === 'ollama' && previous.url === url);
  const kinds = likelyOllama ? [...KIND_CHOICES].reverse() : KIND_CHOICES;
  const kind = (await vscode.window.showQuickPick(kinds, { title: 'Relay: what the server speaks (2/4)', ignoreFocusOut: true }))?.slmKind;
  if (!kind) return undefined;
  const model = (
    await vscode.window.showInputBox({
      title: "Relay: the model's name on the server (3/4)",
      prompt: kind === 'ollama' ? 'As `ollama list` shows it, e.g. qwen3:1.7b' : 'As /v1/models lists it, e.g. HINT-lab/RelayLLM-1.7B-Simple',
      value: previous.model ?? '',
      ignoreFocusOut: true,
      // Local only: the test's prompt would leave the machine, and every answer would then refuse the address saved.
      validateInput: (value) => (value.trim() ? undefined : 'Give the name the server serves the model under.'),
    })
  )?.trim();
  if (!model) return undefined;
  const folder = await askTokenizerFolder(previous.folder);
  return folder ? { url, kind, model, folder } : undefined;
}

/**
 * The folder whose tokenizer and chat template are the served model's: Relay renders the
 * prompt and counts tokens with them. Checked here (plain JSON reads), so a wrong folder
 * is said before the server is asked.
 */
async function askTokenizerFolder(current: string | undefined): Promise<string | undefined> {
  if (current && existsSync(current)) {
    const keep = await vscode.window.showQuickPick(
      [
        { label: `Use ${current}`, folder: current as string | undefined, description: 'its tokenizer and chat template must be the served model’s' },
        {
          label: 'Choose another folder…',
          folder: undefined,
          description: "the model's tokenizer.json, tokenizer_config.json, config.json (no weights needed)",
        },
      ],
      { title: "Relay: the served model's tokenizer and chat template (4/4)", ignoreFocusOut: true },
    );
    if (!keep) return undefined;
    if (keep.folder) return keep.folder;
  }
  for (;;) {
    const picked = await showFolderDialog(
      "Relay: the served model's folder: tokenizer.json, tokenizer_config.json, config.json (no weights needed) (4/4)",
      'Use this folder',
    );
    if (!picked) return undefined;
    try {
      const path = pathOnThisMachine(picked);
      readTokenizerFolder(path);
      return path;
    } catch (error) {
      const again = await showError(`Relay cannot read the tokenizer of this folder: ${(error as Error).message}`, 'Choose Another Folder');
      if (again !== 'Choose Another Folder') return undefined;
    }
  }
}

/**
 * The open dialog for a model's folder, opened in the home folder of the machine Relay runs on
 * (in a remote window the remote's: its file URIs are there); without that, a virtual workspace
 * (GitHub Repositories) opens it on its own scheme. Undefined when closed.
 */
export async function showFolderDialog(title: string, openLabel: string): Promise<vscode.Uri | undefined> {
  const picked = await vscode.window.showOpenDialog({
    canSelectFolders: true,
    canSelectFiles: false,
    canSelectMany: false,
    openLabel,
    title,
    defaultUri: vscode.Uri.file(homedir()),
  });
  return picked?.[0];
}

/** The path of a folder picked in showFolderDialog; throws what to pick instead when it is not on the disk Relay reads (a virtual or the local machine's folder). */
export function pathOnThisMachine(folder: vscode.Uri): string {
  if (folder.scheme === 'file') return folder.fsPath;
  // In a remote window "Show Local" is the wrong way: that is the local machine's disk (vscode-local).
  const fix = vscode.env.remoteName
    ? `pick a folder on the remote machine (${vscode.env.remoteName}), where Relay runs`
    : 'pick a folder on this machine (Show Local)';
  throw new Error(`it is a ${folder.scheme} folder, not one on the disk Relay reads models from: ${fix}.`);
}

/** The server test in a cancellable progress notification; its error, or 'cancelled'. */
async function checkWithProgress(context: vscode.ExtensionContext, choice: ServedChoice): Promise<ServedSlmCheck | Error | 'cancelled'> {
  const stop = new AbortController();
  try {
    return await withProgressNotification({ title: `Relay: testing ${choice.model} at ${choice.url}…`, cancellable: true }, async (_progress, token) => {
      const cancel = token.onCancellationRequested(() => stop.abort());
      const runtime = await createProcessRuntime(choice.folder, {
        served: { kind: choice.kind, url: choice.url, model: choice.model },
        workerPath: join(context.extensionPath, 'dist', 'slmWorker.js'),
      });
      try {
        return await runtime.checkServer(stop.signal);
      } finally {
        cancel.dispose();
        await runtime.dispose().catch(() => undefined);
      }
    });
  } catch (error) {
    if (stop.signal.aborted) return 'cancelled';
    return error instanceof Error ? error : new Error(String(error));
  }
}

/** What the test found, and which relay modes that allows. */
export function servedCheckSummary(check: ServedSlmCheck): string {
  const firstToken = check.firstTokenMs === undefined ? 'no token' : `first token in ${Math.round(check.firstTokenMs)} ms`;
  return [
    `Latency: ${firstToken}; ${check.tokens} tokens in ${Math.round(check.totalMs)} ms.`,
    check.logprobs
      ? check.logprobsWarning
        ? `Log-probabilities: yes, but ${check.logprobsWarning}`
        : 'Log-probabilities: yes. Every mode works: command, confidence and money-aware.'
      : 'Log-probabilities: no. Command mode only (relay.mode command, or auto with a model trained to call); confidence and money-aware modes need them.',
    check.idsMismatch
      ? "Token ids: they do not match the folder's tokenizer (the server's ids did not spell its text): relay.slm.modelFolder is probably not the served model's folder, and Relay renders the prompts with that folder's chat template and counts tokens with its tokenizer. Choose the served model's own folder."
      : check.exactTokens
        ? 'Token ids: yes. The context goes as token ids and tokens come back with theirs: the same tokens as a local run.'
        : 'Token ids: no. The server re-tokenises the text: where a seam reads back as other tokens, answers can differ from a local run.',
    'Stop strings: yes. Relay finds </call> on the stream and closes the request there, whatever the server does with stop strings.',
    check.cachedPromptTokens === undefined
      ? 'Prefix cache: not reported by the server.'
      : `Prefix cache: ${check.cachedPromptTokens} of ${check.promptTokens ?? '?'} prompt tokens of the second request came from it.`,
  ].join('\n');
}
