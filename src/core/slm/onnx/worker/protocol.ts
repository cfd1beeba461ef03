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
import type { ChatMessage, GenerateOptions, GenerateResult, GeneratedToken, ModelInfo, PrefillProgress, PrefillResult } from '../../types';

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
  prefill: { params: { sessionId: string; text: string }; result: PrefillResult };
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

export function isWorkerToParentMessage(value: unknown): value is WorkerToParentMessage {
  const v = value as { type?: unknown; id?: unknown; request?: { url?: unknown } } | null;
  if (v?.type === 'served-request') return typeof v.request === 'object' && v.request !== null && typeof v.request.url === 'string';
  return !!v && (v.type === 'response' || v.type === 'token' || v.type === 'progress' || v.type === 'started') && typeof v.id === 'number';
}
