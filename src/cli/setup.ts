/** Builds the CLI's small model and LLM provider from its settings. */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { createLocalRuntime, type LocalRuntime } from '../core/slm/localRuntime';
import { createProvider } from '../core/providers/factory';
import { loadChatTemplateRenderer } from '../core/providers/chatTemplate';
import { OnnxLocalProvider } from '../core/providers/onnxLocal';
import { priceNote, resolvePriceWithSource } from '../core/providers/pricing';
import { EnvKeySource } from '../core/providers/secrets';
import type { LlmProvider, ModelPrice, PromptRenderer } from '../core/providers/types';
import type { ChatMessage } from '../core/slm/types';
import type { RelayOptions } from '../core/relay/engine';
import type { RelayMode } from '../core/relay/events';
import { readSlmRelayTraits, resolveRelayMode } from '../core/relay/modeResolution';
import { UsageError } from './args';
import type { CliConfig } from './config';

export async function openSlm(config: CliConfig): Promise<LocalRuntime> {
  if (!config.slm.folder) {
    throw new UsageError(
      "No small model folder is set. Pass --slm <folder> (an ONNX export such as onnx-community/Qwen3-0.6B-ONNX), set RELAY_SLM or slm.modelFolder in ~/.relay/config.json, or try 'relay demo'.",
    );
  }
  if (!existsSync(config.slm.folder)) throw new UsageError(`The small model folder does not exist: ${config.slm.folder}`);
  return createLocalRuntime(config.slm.folder, { variant: config.slm.variant, q4Compute: config.slm.q4Compute });
}

/**
 * The paper reuses the SLM's prompt string for the LLM (raw continuation of the same
 * text). The SLM renders asynchronously, the provider's renderer is synchronous, so each
 * conversation's SLM prompt is rendered before its answer and looked up by the renderer.
 */
export class SlmPromptBook {
  private readonly prompts = new Map<string, string>();
  constructor(
    private readonly slm: LocalRuntime,
    private readonly thinking = false,
  ) {}

  async prepare(messages: ChatMessage[]): Promise<string> {
    const prompt = await this.slm.renderChat(messages, { addGenerationPrompt: true, thinking: this.thinking });
    this.prompts.set(JSON.stringify(messages), prompt);
    return prompt;
  }

  readonly renderer: PromptRenderer = (messages, partialAnswer) => {
    const prompt = this.prompts.get(JSON.stringify(messages));
    if (prompt === undefined) throw new Error('Internal error: the SLM prompt of this conversation was not prepared before the LLM call.');
    return prompt + partialAnswer;
  };
}

export interface OpenedLlm {
  provider: LlmProvider;
  price: ModelPrice | undefined;
  /** Where the price came from, shown beside the savings. */
  priceNote?: string;
  /** Key of the running totals: kind and model. */
  modelKey: string;
  dispose(): Promise<void>;
}

export async function openLlm(config: CliConfig, slm?: LocalRuntime, book?: SlmPromptBook): Promise<OpenedLlm> {
  const { kind, baseUrl, model, templateFolder } = config.provider;
  if (!model) {
    throw new UsageError(`No LLM model is set for the ${kind} provider. Pass --model <name> (or set RELAY_MODEL), or use --mode slm-only.`);
  }
  const countTokens = slm ? (text: string): number => slm.encode(text).length : undefined;
  let extra: LocalRuntime | undefined;
  let provider: LlmProvider;
  if (kind === 'onnx-local') {
    if (!existsSync(model)) throw new UsageError(`For the onnx-local provider, --model is the LLM's model folder; it does not exist: ${model}`);
    extra = await createLocalRuntime(model);
    // Same prompt string as the SLM's when both share a tokenizer (the paper's set-up).
    const renderPrompt = book ? async (request: { messages: ChatMessage[]; partialAnswer: string }) => book.renderer(request.messages, request.partialAnswer) : undefined;
    provider = new OnnxLocalProvider(extra, basename(model), { renderPrompt });
  } else {
    const needsTemplate = kind === 'openai-completions' || kind === 'ollama';
    let templateRenderer: PromptRenderer | undefined;
    if (needsTemplate && templateFolder) templateRenderer = await loadChatTemplateRenderer(templateFolder, { variables: { enable_thinking: config.slm.thinking } });
    else if (needsTemplate && book) templateRenderer = book.renderer;
    else if (needsTemplate && config.slm.folder) templateRenderer = await loadChatTemplateRenderer(config.slm.folder, { variables: { enable_thinking: config.slm.thinking } });
    else if (kind === 'openai-completions') {
      throw new UsageError('The openai-completions provider renders the prompt with a chat template: pass --template-folder <model folder> or --slm <folder>.');
    }
    const t = config.timeouts;
    provider = createProvider(
      {
        kind,
        baseUrl,
        model,
        templateRenderer,
        connectTimeoutMs: t.connectSeconds * 1000,
        firstByteTimeoutMs: t.firstByteSeconds * 1000,
        idleTimeoutMs: t.idleSeconds * 1000,
        callTimeoutMs: t.callSeconds * 1000,
      },
      new EnvKeySource(process.env, config.keys),
      { countTokens },
    );
  }
  const resolved = resolvePriceWithSource(kind, model, config.prices, baseUrl);
  return {
    provider,
    price: resolved.price ?? undefined,
    priceNote: priceNote(resolved),
    modelKey: `${kind}:${kind === 'onnx-local' ? basename(model) : model}`,
    dispose: async () => {
      await extra?.dispose();
    },
  };
}

/** The configured mode with 'auto' decided by the SLM folder (src/core/relay/modeResolution.ts). */
export function resolvedMode(config: CliConfig): RelayMode {
  return resolveRelayMode(config.mode, readSlmRelayTraits(config.slm.folder));
}

/** The engine options shared by solve, explain and eval. */
export function relayOptions(config: CliConfig, slm: LocalRuntime, llm: OpenedLlm | undefined): Omit<RelayOptions, 'messages'> {
  const traits = readSlmRelayTraits(config.slm.folder);
  return {
    mode: resolveRelayMode(config.mode, traits),
    commandReplacement: traits.commandReplacement,
    slm,
    llm: llm?.provider,
    price: llm?.price,
    priceNote: llm?.priceNote,
    maxTurns: config.maxTurns,
    tokenBudget: config.tokenBudget,
    maxLlmCalls: config.limits.maxLlmCalls,
    maxCostUsd: config.limits.maxCostUsd,
    maxStallMs: config.limits.maxStallSeconds * 1000,
    slmSampling: { temperature: config.temperature, seed: config.seed },
    llmTemperature: config.temperature,
    llmSeed: config.seed,
    confidence: config.confidence,
    router: { llmProbability: config.router.llmProbability, seed: config.seed ?? 0 },
  };
}
