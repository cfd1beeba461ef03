// The conversation the relay scenarios replay: a scripted ONNX SLM (test/fixtures, real
// Qwen3 tokenizer) whose greedy decoding writes a known answer with one <call>N</call>,
// and the exact text a local LLM server has to send for the SLM to resume its script.
//
// The scripted model predicts from the absolute position only, so one timeline serves
// both the answer view (first question) and the chat panel (first and second question):
// the first answer ends with <|im_end|> (EOS); the timeline then pads with one-token
// filler up to the length of the second turn's prompt, where the second answer begins.
import { ensureScriptedModel, scriptedExpectation, type ScriptSpec } from '../fixtures/fixtures';
import type { ScriptEntry } from '../fixtures/scriptedModel';
import { createLocalRuntime } from '../../src/core/slm/onnx/localRuntime';
import type { ChatMessage } from '../../src/core/slm/types';

export const FIRST_QUESTION = 'What is two plus three? Show the steps.';
export const SECOND_QUESTION = 'And two plus four?';
/** The LLM's words: a list item's continuation, so the mark must survive Markdown lists. */
export const LLM_TEXT = ' three more';
/** How the LLM server streams LLM_TEXT (one piece per token). */
export const LLM_PIECES = [' three', ' more'];

const FIRST_ANSWER: ScriptEntry[] = [
  { text: 'Steps:\n\n1. Start at two.\n2. Count' },
  { text: `<call>${LLM_PIECES.length}</call>` },
  { text: LLM_TEXT, source: 'external' },
  { text: ': three, four, five.\n\nSo $2 + 3 = \\boxed{5}$.' },
];
const SECOND_ANSWER: ScriptEntry[] = [{ text: 'Two plus four is **6**.' }];
const END_OF_TURN: ScriptEntry = { text: '<|im_end|>' };
const FILLER: ScriptEntry = { text: ' x' };

/**
 * The settings that run the script: its SLM folder in command mode, greedy, the LLM at `serverUrl`
 * (openai-completions) priced at $3/$15 per million, and no money ceiling (`relay.maxCostRatio`
 * null: the scenarios are about the call itself; see relay.test.ts for why the default would
 * test the ceiling instead).
 */
export function relayScriptSettings(folder: string, serverUrl: string, llmModel: string): Record<string, unknown> {
  return {
    'relay.slm.modelFolder': folder,
    'relay.mode': 'command',
    'relay.temperature': 0,
    'relay.provider.kind': 'openai-completions',
    'relay.provider.baseUrl': `${serverUrl}/v1`,
    'relay.provider.model': llmModel,
    'relay.prices.inputPerMTok': 3,
    'relay.prices.outputPerMTok': 15,
    'relay.maxCostRatio': null,
  };
}

export interface RelayScript {
  /** The scripted SLM's folder (relay.slm.modelFolder). */
  folder: string;
  /** The answers as the user sees them: commands removed, the LLM's text in place. */
  firstAnswer: string;
  secondAnswer: string;
  /** SLM tokens of the first answer (its command included, as the engine counts them) and LLM tokens. */
  firstAnswerSlmTokens: number;
  firstAnswerLlmTokens: number;
  /** The SLM text written before the call: what a stopped answer keeps. */
  textBeforeCall: string;
}

const visible = (entries: ScriptEntry[]) =>
  entries
    .filter((entry) => !/^<call>/.test(entry.text))
    .map((entry) => entry.text)
    .join('');

/** Builds (or reuses) the scripted model folder; about 10 s the first time, cached after. */
export async function buildRelayScript(): Promise<RelayScript> {
  // Any scripted folder renders prompts with the real Qwen3 template and tokenizer.
  const bootstrap = await createLocalRuntime(await ensureScriptedModel({ prompt: 'x', timeline: [{ text: ' y' }], endWithEos: true }));
  const firstAnswer = visible(FIRST_ANSWER);
  const secondAnswer = visible(SECOND_ANSWER);
  let spec: ScriptSpec;
  try {
    const firstTurn: ChatMessage[] = [{ role: 'user', content: FIRST_QUESTION }];
    const prompt = await bootstrap.renderChat(firstTurn, { addGenerationPrompt: true });
    // The chat panel's second prompt: the whole conversation so far, as Conversation.history() sends it.
    const secondPrompt = await bootstrap.renderChat([...firstTurn, { role: 'assistant', content: firstAnswer }, { role: 'user', content: SECOND_QUESTION }], {
      addGenerationPrompt: true,
    });
    const firstTurnEntries = [...FIRST_ANSWER, END_OF_TURN];
    const withoutFiller = await scriptedExpectation({ prompt, timeline: firstTurnEntries });
    const fillerCount = (await bootstrap.countTokens(secondPrompt)) - withoutFiller.allIds.length;
    if (fillerCount < 0) throw new Error(`the second prompt is shorter than the first turn's timeline by ${-fillerCount} tokens; lengthen SECOND_QUESTION`);
    spec = { prompt, timeline: [...firstTurnEntries, ...Array.from({ length: fillerCount }, () => FILLER), ...SECOND_ANSWER, END_OF_TURN], endWithEos: true };
  } finally {
    await bootstrap.dispose();
  }
  const expectation = await scriptedExpectation(spec);
  const tokensOf = (entries: ScriptEntry[]) => entries.reduce((sum, entry) => sum + expectation.entries.find((e) => e.text === entry.text)!.ids.length, 0);
  const llmTokens = tokensOf(FIRST_ANSWER.filter((entry) => entry.source === 'external'));
  if (llmTokens !== LLM_PIECES.length) throw new Error(`LLM_TEXT is ${llmTokens} tokens, but the script calls for ${LLM_PIECES.length}`);
  return {
    folder: await ensureScriptedModel(spec),
    firstAnswer,
    secondAnswer,
    firstAnswerSlmTokens: tokensOf(FIRST_ANSWER.filter((entry) => entry.source !== 'external')),
    firstAnswerLlmTokens: llmTokens,
    textBeforeCall: FIRST_ANSWER[0].text,
  };
}
