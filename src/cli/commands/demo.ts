/**
 * `relay demo`: the relay on the embedded default, with no account and no network. The
 * trained demo SLM (command mode, as its config.json asks under 'auto') writes the answer
 * and calls the trained demo LLM, run locally by the onnx-local provider, on a question
 * where it asks for help. Greedy decoding on both sides, so every run prints the same.
 */
import { createLocalRuntime } from '../../core/slm/onnx/localRuntime';
import { OnnxLocalProvider } from '../../core/providers/onnxLocal';
import { collectRelay } from '../../core/relay/engine';
import { answersMatch, extractAnswer } from '../../core/relay/answerExtraction';
import { readSlmRelayTraits, resolveRelayMode } from '../../core/relay/modeResolution';
import type { RelayEvent } from '../../core/relay/events';
import { UsageError } from '../args';
import { DEMO_PRICE_MODEL, DEMO_QUESTION, demoPrice, demoPriceNote, demoReference, demoStatsPriceNote, demoTaskProblem, findDemoModels } from '../demoModels';
import {
  allOf,
  answerWithError,
  errorKeeper,
  exitCodeOf,
  printableJson,
  statsJson,
  statsLine,
  streamRenderer,
  terminalSafe,
  useColour,
  type Output,
} from '../render';
import { reportedLoad } from '../loadLines';
import { modelFolderName } from '../../shared/modelLoading';
import { solveMessages } from './ask';

export { DEMO_PRICE_MODEL, demoPrice } from '../demoModels';

/** Without colour the LLM's text is shown in [brackets] (said so above the answer). */
function bracketRenderer(out: Output): (event: RelayEvent) => void {
  const plain = streamRenderer(out, false);
  return (event) => (event.type === 'span' && event.source === 'llm' ? out.write(`[${terminalSafe(event.text)}]`) : plain(event));
}

export async function runDemo(io: { stdout: Output; stderr: Output }, options: { json: boolean; signal: AbortSignal; question?: string }): Promise<number> {
  const out = io.stdout;
  const question = options.question ?? DEMO_QUESTION;
  const reference = demoReference(question);
  if (reference === null) {
    throw new UsageError(demoTaskProblem(question));
  }
  const models = findDemoModels();
  const price = demoPrice();
  const traits = readSlmRelayTraits(models.slmFolder);
  const mode = resolveRelayMode('auto', traits);
  // Loaded one after the other: each said on stderr as it begins (stdout is the demo's).
  const slm = await reportedLoad(io.stderr, { model: 'small', name: modelFolderName(models.slmFolder) }, () => createLocalRuntime(models.slmFolder));
  const llmRuntime = await reportedLoad(io.stderr, { model: 'large', name: modelFolderName(models.llmFolder) }, () => createLocalRuntime(models.llmFolder));
  try {
    const messages = solveMessages(question, { plain: true });
    // Both models share the tokenizer and the prompt format: the LLM continues the SLM's very prompt.
    const prompt = await slm.renderChat(messages, { addGenerationPrompt: true });
    const llm = new OnnxLocalProvider(llmRuntime, 'relay-demo-llm (local ONNX)', { renderPrompt: async (request) => prompt + request.partialAnswer });
    const colour = useColour(out) && !options.json;
    out.write(
      [
        'Relay demo: a small model (SLM) writes the answer and hands a few tokens to a large model (LLM).',
        'Both are tiny models trained in training/ on one task (a*b+c=? with worked steps, one token per character):',
        `an SLM of 0.45M parameters trained to write <call>N</call> where it is unsure (${mode} mode), and an LLM of 3.3M`,
        'parameters that writes the N characters. Both run here, on the CPU, greedily (the same output every run).',
        demoPriceNote(price),
        '',
        `Question: ${question}`,
        `Answer (${colour ? 'LLM characters in colour' : 'LLM characters in [brackets]'}):`,
        '',
      ].join('\n'),
    );
    const common = {
      slm,
      messages,
      prompt,
      price,
      priceNote: demoStatsPriceNote(),
      slmSampling: { temperature: 0 },
      llmTemperature: 0,
      signal: options.signal,
    };
    const failure = errorKeeper();
    const { answer, stats } = await collectRelay(
      { ...common, mode, llm, commandReplacement: traits.commandReplacement },
      allOf(
        // The error as solve's: on stderr, where `relay demo > out.txt` cannot hide it; inline on a terminal.
        answerWithError(io, colour ? streamRenderer(out, true) : bracketRenderer(out), { json: options.json }),
        // ... and in the JSON line, as solve's.
        failure.record,
      ),
    );
    const predicted = extractAnswer(answer);
    const correct = answersMatch(predicted, reference);
    // The same SLM without help, for comparison (commands hidden and ignored).
    const alone = options.signal.aborted ? undefined : await collectRelay({ ...common, mode: 'slm-only' });
    const aloneAnswer = alone ? extractAnswer(alone.answer) : null;
    const aloneCorrect = aloneAnswer !== null && answersMatch(aloneAnswer, reference);
    const verdict = (ok: boolean): string => (ok ? 'correct' : 'wrong');
    // The answers are model text: printed terminal-safe, like the streamed spans.
    const shown = (text: string | null): string => (text === null ? '(none)' : terminalSafe(text));
    out.write(`\n\nReference: ${reference}. Relay: ${shown(predicted)} (${verdict(correct)}).`);
    if (alone) out.write(` The SLM alone writes "${shown(alone.answer)}": ${shown(aloneAnswer)} (${verdict(aloneCorrect)}).`);
    out.write(`\n${statsLine(stats, colour)}\n`);
    if (options.json) {
      const extra = {
        demo: true,
        question,
        answer,
        reference,
        correct,
        slm_alone_answer: alone?.answer ?? null,
        slm_alone_correct: alone ? aloneCorrect : null,
        price_model: DEMO_PRICE_MODEL,
        price_note: demoStatsPriceNote(),
        ...failure.json(),
      };
      out.write(printableJson(statsJson(stats, extra)) + '\n');
    }
    return exitCodeOf(stats.finishReason);
  } finally {
    await llmRuntime.dispose();
    await slm.dispose();
  }
}
