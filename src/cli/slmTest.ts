/**
 * `relay slm test`: asks the small model's server (relay.slm.kind completions-server or
 * ollama) for two short generations and reports latency, whether it reports
 * log-probabilities (confidence and money-aware modes need them), whether tokens go both
 * ways as ids (exact), and what its prefix cache served, or the error and what to change.
 * A server on another machine over plain http:// is named on stderr first: the test prompt,
 * and every prompt after it, crosses the network unencrypted.
 */
import { existsSync } from 'node:fs';
import { settingRef } from '../core/settingNames';
import { clearTextServer, clearTextServerWarning } from '../core/slm/served/clearTextServer';
import { checkServedSlm } from '../core/slm/served/serverCheck';
import { createServedRuntime } from '../core/slm/served/servedRuntime';
import { UsageError } from './args';
import type { CliConfig } from './config';
import { checkModelSettings, NO_SERVER_MODEL, noSuchSlmFolder } from './setup';
import { terminalSafe } from './render';
import { rendersOnThread } from './templateThread';

/** `writeStderr`: the FAILED line and warnings (the CLI: on stderr, where a redirected report cannot hide them). */
export async function runSlmTest(
  config: CliConfig,
  writeLine: (line: string) => void,
  signal?: AbortSignal,
  writeStderr: (line: string) => void = writeLine,
): Promise<boolean> {
  const { kind, serverUrl, serverModel, folder } = config.slm;
  if (kind === 'onnx')
    throw new UsageError(
      `relay slm test checks a small model on a server: pass --slm-kind completions-server or ollama (${settingRef('slmKind')}), --slm-url and --slm-model.`,
    );
  if (!folder) throw new UsageError('The small model on a server needs its folder for the tokenizer and chat template: pass --slm <folder>.');
  checkModelSettings(config);
  // A missing setting or a bad value is a usage mistake (exit 2), as in relay provider test; FAILED (exit 1) is the server's.
  if (!existsSync(folder)) throw noSuchSlmFolder(config, "the served model's folder");
  if (!serverModel) throw new UsageError(NO_SERVER_MODEL);
  // Lines quote the server (its text, its errors): terminal-safe.
  const write = (line: string): void => writeLine(terminalSafe(line));
  let runtime;
  try {
    runtime = rendersOnThread(await createServedRuntime({ kind, url: serverUrl, model: serverModel, folder }), 'slm');
  } catch (error) {
    // Nothing is asked of the server yet: what fails here is a setting (the address, the folder's tokenizer files).
    throw new UsageError(terminalSafe((error as Error).message));
  }
  try {
    const where = runtime.info.backend.kind === 'onnx' ? '' : runtime.info.backend.url;
    const inClear = clearTextServer(where);
    if (inClear) writeStderr(terminalSafe(`warning: ${clearTextServerWarning(inClear)}`));
    write(`Testing ${runtime.wireForm.label}: model ${serverModel} at ${where}...`);
    const check = await checkServedSlm(runtime, { signal });
    write(`Wrote: ${JSON.stringify(check.text)} (${check.tokens} tokens)`);
    write(
      `Latency: first token ${check.firstTokenMs === undefined ? 'none' : `${Math.round(check.firstTokenMs)} ms`}, ${check.tokens} tokens in ${Math.round(check.totalMs)} ms`,
    );
    write(
      check.logprobs
        ? 'Log-probabilities: yes (the confidence gate works: confidence and money-aware modes)'
        : 'Log-probabilities: NO (command mode only; confidence and money-aware modes need a server that reports them)',
    );
    if (check.logprobsWarning) writeStderr(terminalSafe(`warning: ${check.logprobsWarning}`));
    write(
      check.idsMismatch
        ? "Tokens: the server's token ids do not spell the text it sent: the model folder (--slm, relay.slm.modelFolder) is probably not the served model's, and Relay renders prompts with its chat template and counts with its tokenizer. Point it at the served model's own folder"
        : check.exactTokens
          ? 'Tokens: exact (the context goes as token ids, generated tokens come back with their ids)'
          : 'Tokens: as text (the server re-tokenises the context: where a seam reads back as other tokens, answers can differ from the ONNX runtime)',
    );
    write('Stop strings: found by Relay on the stream (</call> closes the request there; nothing needed from the server)');
    write(
      check.cachedPromptTokens === undefined
        ? `Prefix cache: not reported by the server (${runtime.wireForm.prefixCache})`
        : `Prefix cache: ${check.cachedPromptTokens} of ${check.promptTokens ?? '?'} prompt tokens of the second request served from the cache`,
    );
    return true;
  } catch (error) {
    writeStderr(terminalSafe(`FAILED: ${(error as Error).message}`));
    return false;
  } finally {
    await runtime.dispose();
  }
}
