// Turns a Plan model config into a LangChain chat model on the worker.
// Embedded models are found by name under .swirl/models (installed by setup);
// secrets are read from the worker's environment here, never from the Plan.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import type { PlanModel } from '../compiler/plan-types.js';
import { DEFAULT_EMBEDDED_MODEL, EMBEDDED_MODEL_FILES } from '../compiler/model-files.js';
import { checkPinnedFile } from '../store/pinned-files.js';
import { LlamaCppChat } from './llama-cpp-chat.js';
import { LedgeredChatModel, type LedgerContext } from './ledgered-model.js';
import { classifyError, gateRunner, type GateLimits, type GateRunner } from './limits.js';
import { SwirlChatOpenAI } from './providers/openai.js';
import { SwirlChatAnthropic } from './providers/anthropic.js';
import { SwirlChatGoogle } from './providers/google.js';
import { parseDuration } from '../compiler/duration.js';
import type { LlmLedger, ModelPrice } from '../store/ledger.js';
import { redact, registerSecret } from '../runtime/redact.js';

/**
 * Embedded GGUF models by the name specs use (measured in docs/models.md):
 * name → file under the models folder. `npm run setup` installs gemma3-270m
 * and smollm2-135m; the Qwen models (0.5b: 491 MB, 1.5b: 1.1 GB) only with
 * `npm run setup -- --models NAME`. The table (with each file's pinned
 * sha256) is compiler/model-files.ts.
 */
export const EMBEDDED_MODELS: Record<string, string> = Object.fromEntries(Object.entries(EMBEDDED_MODEL_FILES).map(([k, v]) => [k, v.file]));

/** The command that installs an embedded model that is missing. */
export function installCommand(model: string): string {
  return model === 'gemma3-270m' ? 'npm run setup' : `npm run setup -- --models ${model}`;
}

export interface ModelContext {
  modelsDir: string;
  projectRoot: string;
  /** LoRA adapter to apply (a trained policy); a model with its own `adapter` refuses a second one. */
  loraPath?: string;
  /** Where API keys are read from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

const cache = new Map<string, BaseChatModel>();

/**
 * The GGUF file of a llama-cpp model on this worker: an embedded model under
 * the models folder, else a project-relative path. With `sha256` (the Plan's
 * `modelSha256`) the file must still be the one the Plan was compiled against
 * (no link out of its folder, same content), else `E_FILE_CHANGED`.
 */
export function resolveModelPath(model: string, ctx: ModelContext, sha256?: string): string {
  const embedded = EMBEDDED_MODELS[model];
  const file = embedded ? path.join(ctx.modelsDir, embedded) : path.resolve(ctx.projectRoot, model);
  if (!existsSync(file) && (embedded || sha256 === undefined)) {
    throw ApplicationFailure.nonRetryable(
      embedded ? `embedded model ${model} is not installed (${file}); install it with \`${installCommand(model)}\` on this worker` : `model file ${model} not found (${file})`,
      'ConfigError',
      embedded ? `run \`${installCommand(model)}\` on this worker` : undefined,
    );
  }
  return embedded ? checkPinnedFile(ctx.modelsDir, embedded, sha256, `model ${model}`) : checkPinnedFile(ctx.projectRoot, model, sha256, `model file`);
}

/**
 * The LoRA adapter a llama-cpp model runs with: the model's own `adapter`
 * (project-relative, checked against the Plan's `adapterSha256` like a model
 * file), else the trained policy the stage applies (`ctx.loraPath`). Both at
 * once is refused: the compiler reports it (E_ADAPTER_NOT_ALLOWED); this
 * guards Plans made elsewhere.
 */
export function resolveAdapterPath(name: string, m: PlanModel, ctx: ModelContext): string | undefined {
  if (typeof m.adapter !== 'string') return ctx.loraPath;
  if (ctx.loraPath) {
    throw ApplicationFailure.nonRetryable(
      `model ${name} has adapter ${m.adapter}, and the stage applies a trained policy (${ctx.loraPath}) to it too: one adapter applies per model`,
      'ConfigError',
      'give the train stage, or the evaluate stage with a `policy` input, a model without `adapter`',
    );
  }
  return checkPinnedFile(ctx.projectRoot, m.adapter, typeof m.adapterSha256 === 'string' ? m.adapterSha256 : undefined, 'adapter file');
}

export function chatModelFor(name: string, m: PlanModel, ctx: ModelContext): BaseChatModel {
  // A llama-cpp model's files (model, adapter) are checked on every use (a stat once their hashes are known): a swapped file fails the stage.
  const file = m.provider === 'llama-cpp' ? resolveModelPath(String(m.model ?? DEFAULT_EMBEDDED_MODEL), ctx, typeof m.modelSha256 === 'string' ? m.modelSha256 : undefined) : '';
  const loraPath = m.provider === 'llama-cpp' ? resolveAdapterPath(name, m, ctx) : ctx.loraPath;
  const key = JSON.stringify([name, m, loraPath ?? '']);
  const hit = cache.get(key);
  if (hit) return hit;
  let model: BaseChatModel;
  switch (m.provider) {
    case 'llama-cpp': {
      model = new LlamaCppChat({
        modelPath: file,
        modelName: String(m.model ?? name),
        ...(typeof m.contextSize === 'number' ? { contextSize: m.contextSize } : {}),
        ...(typeof m.threads === 'number' ? { threads: m.threads } : {}),
        // `parallel` is the spec's name; `sequences` the older one (still accepted).
        ...(typeof (m.parallel ?? m.sequences) === 'number' ? { sequences: Number(m.parallel ?? m.sequences) } : {}),
        ...(typeof m.kvReuse === 'boolean' ? { kvReuse: m.kvReuse } : {}),
        ...(typeof m.temperature === 'number' ? { temperature: m.temperature } : {}),
        ...(typeof m.maxTokens === 'number' ? { maxTokens: m.maxTokens } : {}),
        ...(typeof m.topP === 'number' ? { topP: m.topP } : {}),
        ...(loraPath ? { loraPath } : {}),
      });
      break;
    }
    case 'openai':
    case 'openai-compatible':
      model = openAIModel(name, m, ctx.env ?? process.env);
      break;
    case 'anthropic':
      model = anthropicModel(name, m, ctx.env ?? process.env);
      break;
    case 'google':
      model = googleModel(name, m, ctx.env ?? process.env);
      break;
    default:
      throw ApplicationFailure.nonRetryable(`model provider ${m.provider} is not available in this version of swirl (model ${name})`, 'ConfigError', 'use llama-cpp, openai-compatible, openai, anthropic or google');
  }
  cache.set(key, model);
  return model;
}

// --- hosted providers (agents/providers/) ---

/** The API key of a model, from the worker's environment variable the Plan names (`apiKeyEnv`); never from the Plan itself. */
export function apiKeyOf(name: string, m: PlanModel, env: NodeJS.ProcessEnv, exampleVar?: string): string | undefined {
  if (m.apiKeyEnv) {
    const key = env[m.apiKeyEnv];
    if (!key) throw ApplicationFailure.nonRetryable(`model ${name}: environment variable ${m.apiKeyEnv} is not set on this worker`, 'ConfigError', `export ${m.apiKeyEnv}=… in the worker's environment`);
    // From here on the key is written `${env:NAME}` in every error, log line and printed message.
    registerSecret(key, m.apiKeyEnv);
    return key;
  }
  if (exampleVar) throw ApplicationFailure.nonRetryable(`model ${name}: provider ${m.provider} needs \`apiKey: \${env:${exampleVar}}\``, 'ConfigError', `add \`apiKey: \${env:${exampleVar}}\` to the model and export ${exampleVar} on the worker`);
  return undefined;
}

function modelNameOf(name: string, m: PlanModel): string {
  if (typeof m.model !== 'string') throw ApplicationFailure.nonRetryable(`model ${name}: provider ${m.provider} needs \`model\` (the name the endpoint serves)`, 'ConfigError');
  return m.model;
}

/** The settings every hosted provider takes the same way. */
function commonParams(m: PlanModel) {
  const timeout = typeof m.requestTimeout === 'string' ? parseDuration(m.requestTimeout) : undefined;
  return {
    ...(typeof m.baseUrl === 'string' ? { baseUrl: m.baseUrl } : {}),
    ...(typeof m.temperature === 'number' ? { temperature: m.temperature } : {}),
    ...(typeof m.maxTokens === 'number' ? { maxTokens: m.maxTokens } : {}),
    ...(typeof m.topP === 'number' ? { topP: m.topP } : {}),
    ...(timeout !== undefined ? { timeoutMs: timeout } : {}),
  };
}

function openAIModel(name: string, m: PlanModel, env: NodeJS.ProcessEnv): BaseChatModel {
  const provider = m.provider as 'openai' | 'openai-compatible';
  if (provider === 'openai-compatible' && typeof m.baseUrl !== 'string') throw ApplicationFailure.nonRetryable(`model ${name}: provider openai-compatible needs a baseUrl`, 'ConfigError', 'add `baseUrl: http://HOST:PORT/v1` to the model');
  const model = modelNameOf(name, m);
  const apiKey = apiKeyOf(name, m, env, provider === 'openai' ? 'OPENAI_API_KEY' : undefined);
  // Local endpoints (vLLM, llama-server, Ollama) accept any key; the SDK insists on one.
  return new SwirlChatOpenAI({ provider, model, apiKey: apiKey ?? 'not-needed', ...commonParams(m) });
}

function anthropicModel(name: string, m: PlanModel, env: NodeJS.ProcessEnv): BaseChatModel {
  const model = modelNameOf(name, m);
  return new SwirlChatAnthropic({ model, apiKey: apiKeyOf(name, m, env, 'ANTHROPIC_API_KEY')!, ...commonParams(m) });
}

function googleModel(name: string, m: PlanModel, env: NodeJS.ProcessEnv): BaseChatModel {
  const model = modelNameOf(name, m);
  return new SwirlChatGoogle({ model, apiKey: apiKeyOf(name, m, env, 'GOOGLE_API_KEY')!, ...commonParams(m) });
}

/** The worker-wide limits of a spec model (concurrency, rates, retries, breaker). */
export function gateFor(name: string, m: PlanModel): GateRunner {
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const limits: GateLimits = {};
  for (const [k, v] of [['concurrency', num(m.concurrency)], ['requestsPerMinute', num(m.requestsPerMinute)], ['tokensPerMinute', num(m.tokensPerMinute)]] as const) if (v !== undefined) limits[k] = v;
  // The breaker: `breaker: { failures, cooldown }` (failed attempts in a row, then how long the model counts as down).
  const breaker = m.breaker as { failures?: number; cooldown?: string } | undefined;
  if (typeof breaker?.failures === 'number') limits.breakerThreshold = breaker.failures;
  if (typeof breaker?.cooldown === 'string') limits.breakerCooldownMs = parseDuration(breaker.cooldown);
  // Local models retry nothing by default: their failures are not transient.
  if (m.provider === 'llama-cpp') limits.maxAttempts = 1;
  return gateRunner(`${name}:${JSON.stringify(m)}`, limits, name);
}

/**
 * A refused key (401 / 403) is a configuration error: the call was tried once
 * (the gate does not retry it) and the activity must not be retried either.
 * It fails non-retryably, naming the env variable to check; the endpoint's
 * message is kept, redacted (gateways echo the key they got).
 */
export function authChecked(gate: GateRunner, name: string, m: PlanModel): GateRunner {
  return {
    async run(fn, opts) {
      try {
        return await gate.run(fn, opts);
      } catch (e) {
        const c = classifyError(e);
        if (c.kind !== 'auth') throw e;
        const detail = redact(((e as Error).message ?? String(e)).slice(0, 300));
        const hint = authHint(m.apiKeyEnv);
        // Hint in the message too: `swirl status` / `history` show the message.
        throw ApplicationFailure.nonRetryable(`model ${name}: the endpoint refused the API key (${c.status ?? 'auth'}), not retried: ${detail} (hint: ${hint})`, 'ModelAuthFailed', hint);
      }
    },
  };
}

/** The hint of a ModelAuthFailed failure: which variable to check, on which worker. */
export function authHint(env: string | undefined): string {
  return env ? `check ${env} in the worker's environment (the key is wrong, expired or lacks access to this model)` : 'the model has no apiKey: add `apiKey: ${env:NAME}` and export NAME on the worker';
}

export function priceOf(m: PlanModel): ModelPrice | undefined {
  const p = m.price as Partial<ModelPrice> | undefined;
  return p && typeof p.inputPerMTok === 'number' && typeof p.outputPerMTok === 'number' ? { inputPerMTok: p.inputPerMTok, outputPerMTok: p.outputPerMTok } : undefined;
}

/**
 * A spec model wrapped for exactly-once calls: the chat model of `chatModelFor`,
 * behind the worker-wide gate of the model and the LLM call ledger. Use this
 * for every model call in an activity (rollouts, judges, evaluation).
 */
export function ledgeredModelFor(name: string, m: PlanModel, ctx: ModelContext, ledger: LlmLedger, context: LedgerContext): LedgeredChatModel {
  const price = priceOf(m);
  return new LedgeredChatModel(chatModelFor(name, m, ctx), ledger, { ...context, gate: authChecked(gateFor(name, m), name, m), ...(price ? { price } : {}) });
}
