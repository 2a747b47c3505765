// `anthropic` provider: LangChain's ChatAnthropicMessages (the Messages API,
// POST {baseUrl}/v1/messages). @langchain/anthropic is pinned to 1.5.11: its
// engines allow Node 20 and its peer range covers @langchain/core 1.4.0.
//
// Differences from plain ChatAnthropic, as in providers/openai.ts:
//   - temperature / maxTokens / topP may be set per call (the episode loop and
//     judges pass them as call options);
//   - LangChain's and the SDK's own retries are off (maxRetries 0): retries,
//     Retry-After and the circuit breaker live in agents/limits.ts;
//   - the endpoint is always explicit (the default https://api.anthropic.com
//     unless the spec gives `baseUrl`), so ANTHROPIC_BASE_URL or a LangSmith
//     gateway variable in the worker's environment cannot redirect calls;
//   - answers are flattened to text + tool_calls (providers/content.ts);
//   - stop sequences made only of whitespace are dropped: the API rejects them.
// The Messages API has no seed: `seed` still keys the ledger (samples stay
// distinct) but does not make the provider's sampling reproducible.
import { ChatAnthropicMessages, type ChatAnthropicCallOptions } from '@langchain/anthropic';
import type { BaseMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';
import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import type { ModelIdentity } from '../ledgered-model.js';
import { hostedIdentity, type HostedParams } from './identity.js';
import { flattenResult } from './content.js';

export const ANTHROPIC_DEFAULT_URL = 'https://api.anthropic.com';

export interface SwirlAnthropicCallOptions extends ChatAnthropicCallOptions {
  temperature?: number;
  maxTokens?: number;
  topP?: number;
}

/** `baseUrl`: Without the /v1 path: the SDK adds /v1/messages. */
export interface SwirlAnthropicParams extends HostedParams {
  apiKey: string;
  timeoutMs?: number;
}

export class SwirlChatAnthropic extends ChatAnthropicMessages<SwirlAnthropicCallOptions> {
  readonly swirl: SwirlAnthropicParams;

  constructor(p: SwirlAnthropicParams) {
    super({
      model: p.model,
      apiKey: p.apiKey,
      anthropicApiUrl: p.baseUrl ?? ANTHROPIC_DEFAULT_URL,
      maxRetries: 0,
      ...(p.temperature !== undefined ? { temperature: p.temperature } : {}),
      ...(p.maxTokens !== undefined ? { maxTokens: p.maxTokens } : {}),
      ...(p.topP !== undefined ? { topP: p.topP } : {}),
      clientOptions: { maxRetries: 0, ...(p.timeoutMs !== undefined ? { timeout: p.timeoutMs } : {}) },
    });
    this.swirl = p;
  }

  override invocationParams(options?: this['ParsedCallOptions']) {
    const params = super.invocationParams(options);
    if (options?.temperature !== undefined) params.temperature = options.temperature;
    if (options?.topP !== undefined) params.top_p = options.topP;
    if (options?.maxTokens !== undefined) params.max_tokens = options.maxTokens;
    if (params.stop_sequences) {
      const stop = params.stop_sequences.filter((s) => s.trim() !== '');
      params.stop_sequences = stop.length ? stop : undefined;
    }
    return params;
  }

  override async _generate(messages: BaseMessage[], options: this['ParsedCallOptions'], runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    return flattenResult(await super._generate(messages, options, runManager));
  }

  ledgerIdentity(): ModelIdentity {
    return hostedIdentity('anthropic', this.swirl);
  }
}
