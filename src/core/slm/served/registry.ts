/** The SLM server kinds, one wire form each (relay.slm.kind; 'onnx' runs in Relay itself). */
import type { ServedSlmKind } from '../types';
import { completionsServerWireForm } from './completionsServer';
import { ollamaWireForm } from './ollamaServer';
import type { ServedWireForm } from './wireForm';

export const SERVED_WIRE_FORMS = {
  'completions-server': completionsServerWireForm,
  ollama: ollamaWireForm,
} satisfies Record<ServedSlmKind, ServedWireForm>;

export function wireFormOf(kind: ServedSlmKind): ServedWireForm {
  return SERVED_WIRE_FORMS[kind];
}
