// What identifies a hosted model's answers in the LLM call ledger: the provider,
// the model, and the sampling parameters that change the answer. Never the API
// key (it changes no answer, and ledger keys must not hold secrets).
import type { ModelIdentity } from '../ledgered-model.js';

export interface HostedParams {
  model: string;
  baseUrl?: string;
  temperature?: number;
  maxTokens?: number;
  topP?: number;
}

export function hostedIdentity(provider: string, p: HostedParams): ModelIdentity {
  return {
    provider,
    model: p.model,
    params: {
      ...(p.baseUrl ? { baseUrl: p.baseUrl } : {}),
      temperature: p.temperature,
      maxTokens: p.maxTokens,
      topP: p.topP,
    },
  };
}
