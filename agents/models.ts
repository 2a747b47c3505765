// Turns a Plan model config into a LangChain chat model on the worker.
// Embedded models are found by name under .swirl/models (installed by setup);
// secrets are read from the worker's environment here, never from the Plan.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import type { PlanModel } from '../compiler/plan-types.js';
import { LlamaCppChat } from './llama-cpp-chat.js';

/**
 * Embedded GGUF models by the name specs use (measured in docs/models.md).
 * `npm run setup` installs gemma3-270m and smollm2-135m; qwen2.5-coder-1.5b
 * (1.1 GB) only with `npm run setup -- --models qwen2.5-coder-1.5b`.
 * Keep in step with MODELS in trainer/swirl_trainer/models.py.
 */
export const EMBEDDED_MODELS: Record<string, string> = {
  'gemma3-270m': 'gemma-3-270m-q4_k_m.gguf',
  'smollm2-135m': 'SmolLM2-135M-Instruct.Q4_1.gguf',
  'qwen2.5-coder-1.5b': 'qwen2.5-coder-1.5b-instruct-q4_k_m.gguf',
};

/** The command that installs an embedded model that is missing. */
export function installCommand(model: string): string {
  return model === 'gemma3-270m' ? 'npm run setup' : `npm run setup -- --models ${model}`;
}

export interface ModelContext {
  modelsDir: string;
  projectRoot: string;
  /** LoRA adapter to apply (a trained policy). */
  loraPath?: string;
}

const cache = new Map<string, BaseChatModel>();

export function resolveModelPath(model: string, ctx: ModelContext): string {
  const embedded = EMBEDDED_MODELS[model];
  const file = embedded ? path.join(ctx.modelsDir, embedded) : path.resolve(ctx.projectRoot, model);
  if (!existsSync(file)) {
    throw ApplicationFailure.nonRetryable(
      embedded ? `embedded model ${model} is not installed (${file}); install it with \`${installCommand(model)}\` on this worker` : `model file ${model} not found (${file})`,
      'ConfigError',
      embedded ? `run \`${installCommand(model)}\` on this worker` : undefined,
    );
  }
  return file;
}

export function chatModelFor(name: string, m: PlanModel, ctx: ModelContext): BaseChatModel {
  const key = JSON.stringify([name, m, ctx.loraPath ?? '']);
  const hit = cache.get(key);
  if (hit) return hit;
  let model: BaseChatModel;
  switch (m.provider) {
    case 'llama-cpp': {
      const file = resolveModelPath(String(m.model ?? 'gemma3-270m'), ctx);
      model = new LlamaCppChat({
        modelPath: file,
        modelName: String(m.model ?? name),
        ...(typeof m.contextSize === 'number' ? { contextSize: m.contextSize } : {}),
        ...(typeof m.temperature === 'number' ? { temperature: m.temperature } : {}),
        ...(typeof m.maxTokens === 'number' ? { maxTokens: m.maxTokens } : {}),
        ...(typeof m.topP === 'number' ? { topP: m.topP } : {}),
        ...(ctx.loraPath ? { loraPath: ctx.loraPath } : {}),
      });
      break;
    }
    default:
      throw ApplicationFailure.nonRetryable(`model provider ${m.provider} is not available in this version of swirl (model ${name})`, 'ConfigError', 'use provider llama-cpp for now');
  }
  cache.set(key, model);
  return model;
}
