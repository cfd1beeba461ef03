/**
 * `relay demo`: the relay on the embedded default, with no account and no network. The
 * SLM and the LLM are local generated models (see demoModels.ts); the LLM is priced at a
 * named hosted model's list price so the savings figure means something.
 */
import { createLocalRuntime } from '../../core/slm/localRuntime';
import { OnnxLocalProvider } from '../../core/providers/onnxLocal';
import { builtInPrice } from '../../core/providers/pricing';
import type { ModelPrice } from '../../core/providers/types';
import { collectRelay } from '../../core/relay/engine';
import { relayHome } from '../config';
import { ensureDemoModels } from '../demoModels';
import { statsJson, statsLine, streamRenderer, useColour, type Output } from '../render';

/** The reference price of the demo's LLM: OpenAI gpt-4o's list price, from the price table. */
export const DEMO_PRICE_MODEL = 'gpt-4o';

export function demoPrice(): ModelPrice {
  const price = builtInPrice('openai-chat', DEMO_PRICE_MODEL);
  if (!price) throw new Error(`The price table has no ${DEMO_PRICE_MODEL}; the demo needs a reference price.`);
  return price;
}

export async function runDemo(io: { stdout: Output; stderr: Output }, options: { json: boolean; signal: AbortSignal; home?: string }): Promise<number> {
  const out = io.stdout;
  const models = await ensureDemoModels(options.home ?? relayHome(), (line) => io.stderr.write(line + '\n'));
  const price = demoPrice();
  const slm = await createLocalRuntime(models.slmFolder);
  const llmRuntime = await createLocalRuntime(models.llmFolder);
  try {
    const llm = new OnnxLocalProvider(llmRuntime, 'demo-llm (local ONNX)', {
      renderPrompt: async (request) => models.llmPrompt(request.partialAnswer),
    });
    out.write(
      [
        'Relay demo: a small model (SLM) writes the answer and hands a few tokens to a large model (LLM).',
        'Both models here are generated fixtures: real Qwen3 tokenizer and ONNX graphs, but they replay a fixed',
        'script and do not reason. Their text is meaningless as an answer until trained demo models exist (issue 8).',
        `The local LLM is priced as if it were OpenAI ${DEMO_PRICE_MODEL} (list price: $${price.inputPerMTok}/M input, $${price.outputPerMTok}/M output tokens).`,
        '',
        `Question: ${models.messages[0].content}`,
        'Answer' + (useColour(out) && !options.json ? ' (LLM tokens in colour)' : '') + ':',
        '',
      ].join('\n'),
    );
    const colour = useColour(out) && !options.json;
    const { stats } = await collectRelay(
      {
        mode: 'command',
        slm,
        llm,
        messages: models.messages,
        prompt: models.prompt,
        price,
        slmSampling: { temperature: 0 },
        llmTemperature: 0,
        signal: options.signal,
      },
      streamRenderer(out, colour),
    );
    out.write(`\n\n${statsLine(stats, colour)}\n`);
    if (options.json) out.write(JSON.stringify(statsJson(stats, { demo: true, price_model: DEMO_PRICE_MODEL })) + '\n');
    return stats.finishReason === 'error' ? 1 : stats.finishReason === 'cancelled' ? 130 : 0;
  } finally {
    await llmRuntime.dispose();
    await slm.dispose();
  }
}
