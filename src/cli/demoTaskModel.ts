/** `relay solve`, `relay explain` and `relay eval` refuse a demo model named as the small model, for what it cannot answer. */
import type { RelayMode } from '../core/relay/events';
import { UsageError } from './args';
import { shellQuote } from './commandLine';
import type { CliConfig } from './config';
import { DEMO_TASK_WORDS, demoReference, demoTaskProblem, isDemoTaskModel } from './demoModels';
import { terminalSafe } from './render';
import { OWN_SLM_EXAMPLE, resolvedMode, slmFolderWords } from './setup';

/**
 * Refuses `relay solve` (`question`) or `relay explain` (no question) where the small model of
 * `config` is a demo-task model (isDemoTaskModel) in this process that would write the answer
 * to anything but its task sent as is: blank or garbage, with exit 0. Passes another model, a
 * model on a server, llm-only (the small model writes nothing), and its task's question with
 * --plain-prompt.
 */
export function checkDemoTaskModel(config: CliConfig, question?: string): void {
  const problem = demoTaskModelProblem(config, question);
  if (problem) throw new UsageError(problem);
}

/**
 * Refuses a `relay eval` row run in `mode` whose small model (config.slm) is a demo-task model
 * sent every question with the step-by-step suffix (neither --plain-prompt nor --demo): each
 * answer would be garbage, scored as wrong, with nothing else said.
 */
export function checkDemoTaskEvalRow(config: CliConfig, mode: RelayMode): void {
  if (config.plainPrompt || !writesWithDemoTaskModel(config, () => mode)) return;
  throw new UsageError(
    `${demoModelWords(config)} It reads its task's questions as they are, and relay eval adds ${SUFFIX_WORDS} to every question: ` +
      'add --plain-prompt (relay eval --demo runs the demo models so). For other questions pass --slm a small model of your own.',
  );
}

/** Whether the small model of `config` is a demo-task model in this process that writes answers in its `mode` (llm-only: none). */
function writesWithDemoTaskModel(config: CliConfig, mode: () => RelayMode): boolean {
  return config.slm.kind === 'onnx' && Boolean(config.slm.folder) && isDemoTaskModel(config.slm.folder) && mode() !== 'llm-only';
}

const demoModelWords = (config: CliConfig): string =>
  `The small model ${terminalSafe(slmFolderWords(config))} is a demo model (its config.json has relay_task).`;

/** What solveMessages adds to a question without --plain-prompt, as the refusals name it. */
const SUFFIX_WORDS = '"Please reason step by step..."';

function demoTaskModelProblem(config: CliConfig, question: string | undefined): string | undefined {
  if (!writesWithDemoTaskModel(config, () => resolvedMode(config))) return undefined;
  const onTask = question !== undefined && demoReference(question) !== null;
  if (onTask && config.plainPrompt) return undefined;
  const model = demoModelWords(config);
  const ownModel = `For anything else pass --slm a small model of your own: ${OWN_SLM_EXAMPLE}.`;
  if (question === undefined) return `relay explain: ${model} ${DEMO_TASK_WORDS} They cannot explain a file. ${ownModel}`;
  if (!onTask) return `${model} ${demoTaskProblem(question)} Ask those with relay demo '47*6+28=?' or relay solve --demo '47*6+28=?'. ${ownModel}`;
  const asked = shellQuote(question.trim());
  return (
    `${model} It reads its task's questions as they are, and relay solve adds ${SUFFIX_WORDS} to a question: ` +
    `add --plain-prompt, or run relay solve --demo ${asked} (or relay demo ${asked}).`
  );
}
