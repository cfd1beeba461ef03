/**
 * A scripted model (test/fixtures/scriptedModel.ts) for the provider test of an onnx-local LLM:
 * its output depends on positions alone, so it writes CONTINUATION only after exactly the
 * prompt the test should send, the test's conversation through the model's own chat template
 * (Qwen3's), then the partial answer. Any other prompt (the partial answer alone) gets other text.
 */
import { PROVIDER_TEST_REQUEST } from '../../../src/core/providers/providerTest';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { ensureScriptedModel } from '../../fixtures/fixtures';

/** What the model writes after the right prompt (six tokens, then its end: under the test's 8). */
export const CONTINUATION = ' 4, 5,';

/** The model's folder, and the conversation as its template renders it (the prompt before the partial answer). */
export async function scriptedProviderTestLlm(): Promise<{ folder: string; rendered: string }> {
  // Any scripted folder has the same template; the final one is scripted for the prompt it renders.
  const bootstrap = await ensureScriptedModel({ prompt: 'x', timeline: [{ text: ' y' }], endWithEos: true });
  const runtime = await createLocalRuntime(bootstrap);
  const rendered = await runtime.renderChat(PROVIDER_TEST_REQUEST.messages, { addGenerationPrompt: true });
  await runtime.dispose();
  const folder = await ensureScriptedModel({ prompt: rendered + PROVIDER_TEST_REQUEST.partialAnswer, timeline: [{ text: CONTINUATION }], endWithEos: true });
  return { folder, rendered };
}
