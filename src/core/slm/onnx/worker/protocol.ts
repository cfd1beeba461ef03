/**
 * The message protocol between the SLM child process and its client: one map of
 * methods (params and result), requests carrying an id, responses and streamed tokens
 * answering it, and a cancel message for a request in flight.
 */
import type { LocalRuntimeOptions } from '../localRuntime';
import type { ServedRuntimeOptions } from '../../served/servedRuntime';
import type { ServedSlmCheck } from '../../served/serverCheck';
import type { Fix } from '../../../fixes';
import type { SentRequest } from '../../../providers/types';
import type { ChatMessage, GenerateOptions, GenerateResult, GeneratedToken, ModelInfo, PrefillOptions, PrefillProgress, PrefillResult } from '../../types';

export interface WorkerMethods {
  load: { params: { folder: string; options: LocalRuntimeOptions }; result: { info: ModelInfo } };
  /** Opens the SLM on a server instead (relay.slm.kind other than onnx): the folder's tokenizer and chat template here, the decoding there. */
  loadServed: { params: { options: ServedRuntimeOptions }; result: { info: ModelInfo } };
  /** Asks the server what it can do for the relay (serverCheck.ts); only after loadServed. Cancel stops it (the request fails). */
  checkServed: { params: Record<string, never>; result: ServedSlmCheck };
  renderChat: { params: { messages: ChatMessage[]; addGenerationPrompt?: boolean; thinking?: boolean }; result: string };
  /** The conversation rendered by the chat template of another folder (relay.provider.templateFolder), with the generation prompt. */
  renderTemplate: { params: { path: string; messages: ChatMessage[]; thinking?: boolean }; result: string };
  countTokens: { params: { text: string }; result: number };
  createSession: { params: Record<string, never>; result: { sessionId: string } };
  /** Streams `progress` messages while a long prompt is read; a cancel stops it between chunks (the request fails). */
  prefill: { params: { sessionId: string; text: string; readAhead?: PrefillOptions['readAhead'] }; result: PrefillResult };
  /** Streams `token` messages, then answers with the result (stopReason 'cancelled' after a cancel). */
  generate: { params: { sessionId: string; options: GenerateOptions }; result: GenerateResult };
  /** Streams `progress` messages while a text longer than one step is read, as prefill does; it has no cancel. */
  append: { params: { sessionId: string; text: string }; result: { tokenCount: number; recomputedTokens: number } };
  disposeSession: { params: { sessionId: string }; result: null };
  /** Releases the model; the process exits after answering. */
  shutdown: { params: Record<string, never>; result: null };
}

export type WorkerMethod = keyof WorkerMethods;
export type ParamsOf<M extends WorkerMethod> = WorkerMethods[M]['params'];
export type ResultOf<M extends WorkerMethod> = WorkerMethods[M]['result'];

export type RequestMessage = {
  [M in WorkerMethod]: { type: 'request'; id: number; method: M; params: ParamsOf<M> };
}[WorkerMethod];

export interface CancelMessage {
  type: 'cancel';
  /** Id of the request to stop. */
  id: number;
}

export type ParentToWorkerMessage = RequestMessage | CancelMessage;

export interface SerializedError {
  name: string;
  message: string;
  /** ModelFolderError's file and problem, so the client can rebuild it. */
  file?: string;
  problem?: string;
  /** The fix the error carries (a template that does not render: open the settings; no runtime for this platform: pick a model on a server). */
  fix?: Fix;
}

export type WorkerToParentMessage =
  | { type: 'response'; id: number; ok: true; result: unknown }
  | { type: 'response'; id: number; ok: false; error: SerializedError }
  | { type: 'token'; id: number; token: GeneratedToken }
  | { type: 'progress'; id: number; progress: PrefillProgress }
  /**
   * A render (renderChat, renderTemplate) begins now: sent as it starts, not as it arrives. It
   * may wait behind a forward pass (ONNX Runtime's run() holds this process's event loop for a
   * whole prefill chunk), and its deadline counts from here, so that the wait is not its time.
   */
  | { type: 'started'; id: number }
  /** A request a served SLM sent to its server (of whichever call made it: the client has one answer at a time). */
  | { type: 'served-request'; request: SentRequest };

export function isParentToWorkerMessage(value: unknown): value is ParentToWorkerMessage {
  const v = value as { type?: unknown; id?: unknown } | null;
  return !!v && (v.type === 'request' || v.type === 'cancel') && typeof v.id === 'number';
}

type Shape = (value: unknown) => boolean;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount: Shape = (value) => Number.isSafeInteger(value) && (value as number) >= 0;
const isOptionalString: Shape = (value) => value === undefined || typeof value === 'string';
const isToken: Shape = (value) => isRecord(value) && typeof value.id === 'number' && typeof value.text === 'string';
const isProgress: Shape = (value) => isRecord(value) && isCount(value.done) && isCount(value.total) && isCount(value.reusedTokens);
const isSerializedError: Shape = (value) =>
  isRecord(value) &&
  typeof value.name === 'string' &&
  typeof value.message === 'string' &&
  isOptionalString(value.file) &&
  isOptionalString(value.problem) &&
  isOptionalString(value.fix);
const isLoaded: Shape = (value) =>
  isRecord(value) &&
  isRecord(value.info) &&
  typeof value.info.folder === 'string' &&
  typeof value.info.modelType === 'string' &&
  Array.isArray(value.info.eosTokenIds) &&
  isRecord(value.info.backend);

/** What the client reads of each method's result (optional fields aside). */
const RESULT_SHAPES: { readonly [M in WorkerMethod]: Shape } = {
  load: isLoaded,
  loadServed: isLoaded,
  checkServed: isRecord,
  renderChat: (value) => typeof value === 'string',
  renderTemplate: (value) => typeof value === 'string',
  countTokens: isCount,
  createSession: (value) => isRecord(value) && typeof value.sessionId === 'string',
  prefill: (value) => isRecord(value) && isCount(value.tokenCount),
  generate: (value) =>
    isRecord(value) &&
    Array.isArray(value.tokens) &&
    value.tokens.every(isToken) &&
    typeof value.text === 'string' &&
    typeof value.stopReason === 'string' &&
    isCount(value.contextLength),
  append: (value) => isRecord(value) && isCount(value.tokenCount),
  disposeSession: (value) => value === null,
  shutdown: (value) => value === null,
};

/**
 * Why `value` is not a message of the protocol from the worker, or undefined when it is one.
 * The worker runs what a model folder brings (ONNX graphs, a chat template): its messages are
 * checked, not trusted. A response's result is checked against its method (resultProblem).
 */
export function workerMessageProblem(value: unknown): string | undefined {
  if (!isRecord(value)) return 'a message that is not an object';
  const { type } = value;
  if (type === 'served-request') return isRecord(value.request) && typeof value.request.url === 'string' ? undefined : 'a served-request without a URL';
  if (type !== 'response' && type !== 'token' && type !== 'progress' && type !== 'started') return `a message of unknown type ${JSON.stringify(type)}`;
  if (!Number.isSafeInteger(value.id)) return `a ${type} message without a numeric id`;
  if (type === 'token' && !isToken(value.token)) return 'a token message without a token';
  if (type === 'progress' && !isProgress(value.progress)) return 'a progress message without its counts';
  if (type !== 'response') return undefined;
  // A result is checked against its call's method (resultProblem).
  if (value.ok === true) return undefined;
  if (value.ok === false) return isSerializedError(value.error) ? undefined : 'a failed response whose error has no name and message';
  return 'a response that is neither ok nor failed';
}

/** Why `result` is not what `method` answers, or undefined when it is. */
export function resultProblem(method: WorkerMethod, result: unknown): string | undefined {
  return RESULT_SHAPES[method](result) ? undefined : `a ${method} response whose result has the wrong shape`;
}
