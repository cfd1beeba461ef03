/**
 * A model an answer waits on before it can begin: the small model's first load of a session,
 * a new process of it after its process ended, an onnx-local large model's load. `name`: its
 * folder's last path segment ("Qwen3-0.6B").
 */
export interface ModelLoad {
  model: 'small' | 'large';
  name: string;
  /** Its process had ended: a new one loads the model again. */
  restarting?: boolean;
}

/**
 * The one wording of that wait, for the answer view, the chat and @relay: "Loading the small
 * model (Qwen3-0.6B)… 12 s". Without `seconds`, the words without the count (what a screen
 * reader announces once, and @relay's progress line).
 */
export function modelLoadingText(load: ModelLoad, seconds?: number): string {
  return `${load.restarting ? 'Restarting' : 'Loading'} the ${load.model} model (${load.name})…${seconds === undefined ? '' : ` ${seconds} s`}`;
}

/** A model folder's last path segment (either separator, a trailing one ignored): the name a load is told by. */
export function modelFolderName(folder: string): string {
  return folder.split(/[\\/]/).filter(Boolean).pop() ?? folder;
}
