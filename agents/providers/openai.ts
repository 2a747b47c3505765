// `openai-compatible` and `openai` providers: LangChain's ChatOpenAICompletions
// (the /v1/chat/completions API that vLLM, llama-server, Ollama and hosted
// APIs serve). @langchain/openai is pinned to 1.5.8, the newest release whose
// engines allow Node 20 (1.5.9+ need Node 22) and whose peer range covers
// @langchain/core 1.4.0.
//
// Differences from plain ChatOpenAI:
//   - temperature / maxTokens / topP / logprobs may be set per call (the episode loop and
//     judges pass them as call options), not only per instance;
//   - LangChain's and the SDK's own retries are off (maxRetries 0): retries,
//     Retry-After and the circuit breaker live in agents/limits.ts, where the
//     ledger sees every attempt;
//   - the API key comes from the worker's environment variable named in the
//     Plan (`apiKeyEnv`), read here at activity time.
import { ChatOpenAICompletions, type ChatOpenAICompletionsCallOptions } from '@langchain/openai';
import type { ModelIdentity } from '../ledgered-model.js';
import { hostedIdentity } from './identity.js';

export interface SwirlOpenAICallOptions extends ChatOpenAICompletionsCallOptions {
  temperature?: number;
  maxTokens?: number;
  topP?: number;
  /** Per-token log-probs with this many alternatives (a probability judge asks for them per call). */
  logprobs?: boolean;
  topLogprobs?: number;
}

export interface SwirlOpenAIParams {
  provider: 'openai' | 'openai-compatible';
  model: string;
  baseUrl?: string;
  apiKey: string;
  temperature?: number;
  maxTokens?: number;
  topP?: number;
  timeoutMs?: number;
}

export class SwirlChatOpenAI extends ChatOpenAICompletions<SwirlOpenAICallOptions> {
  readonly swirl: SwirlOpenAIParams;

  constructor(p: SwirlOpenAIParams) {
    super({
      model: p.model,
      apiKey: p.apiKey,
      maxRetries: 0,
      ...(p.temperature !== undefined ? { temperature: p.temperature } : {}),
      ...(p.maxTokens !== undefined ? { maxTokens: p.maxTokens } : {}),
      ...(p.topP !== undefined ? { topP: p.topP } : {}),
      ...(p.timeoutMs !== undefined ? { timeout: p.timeoutMs } : {}),
      configuration: { ...(p.baseUrl ? { baseURL: p.baseUrl } : {}), maxRetries: 0 },
    });
    this.swirl = p;
  }

  override invocationParams(options?: this['ParsedCallOptions'], extra?: { streaming?: boolean }) {
    const params = super.invocationParams(options, extra);
    if (options?.temperature !== undefined) params.temperature = options.temperature;
    if (options?.topP !== undefined) params.top_p = options.topP;
    if (options?.logprobs) {
      params.logprobs = true;
      if (options.topLogprobs !== undefined) params.top_logprobs = options.topLogprobs;
    }
    if (options?.maxTokens !== undefined) {
      if ('max_completion_tokens' in params && params.max_completion_tokens !== undefined) params.max_completion_tokens = options.maxTokens;
      else params.max_tokens = options.maxTokens;
    }
    return params;
  }

  ledgerIdentity(): ModelIdentity {
    return hostedIdentity(this.swirl.provider, this.swirl);
  }
}
