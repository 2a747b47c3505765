// `google` provider: LangChain's ChatGoogleGenerativeAI (the Gemini API,
// POST {baseUrl}/v1beta/models/{model}:generateContent, key in the
// x-goog-api-key header). @langchain/google-genai is pinned to 2.3.2: its
// engines allow Node 20 and its peer range covers @langchain/core 1.4.0.
//
// Differences from plain ChatGoogleGenerativeAI:
//   - per-call temperature / maxTokens / topP / seed / stop: the package reads
//     only its instance settings (it ignores a call's `stop`, which the tag
//     protocol needs); Gemini's generationConfig takes a seed;
//   - LangChain's retries are off (maxRetries 0; the SDK has none): retries,
//     Retry-After (Gemini's RetryInfo detail, agents/limits.ts) and the breaker
//     live in the gate;
//   - the call's abort signal and the request timeout reach the HTTP request
//     (the package passes neither), and a timed-out request fails as a
//     retryable timeout, not as an abort;
//   - the endpoint is always explicit (https://generativelanguage.googleapis.com
//     unless the spec gives `baseUrl`);
//   - answers are flattened to text + tool_calls, and tool call ids — which
//     the API does not need back (function responses go by name) and the
//     package makes up at random — are derived from the call, so a rerun asks
//     the ledger the same question.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { ChatGoogleGenerativeAI } from '@langchain/google-genai';
import type { BaseMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';
import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import type { ModelIdentity } from '../ledgered-model.js';
import { hostedIdentity, type HostedParams } from './identity.js';
import { flattenResult } from './content.js';

export const GOOGLE_DEFAULT_URL = 'https://generativelanguage.googleapis.com';

/** `baseUrl`: Without the /v1beta path: the SDK adds /v1beta/models/{model}:generateContent. */
export interface SwirlGoogleParams extends HostedParams {
  apiKey: string;
  timeoutMs?: number;
}

interface PerCall {
  temperature?: number;
  maxTokens?: number;
  topP?: number;
  seed?: number;
  stop?: string[];
}

type GenerateRequest = Parameters<ChatGoogleGenerativeAI['completionWithRetry']>[0];
/** The SDK model the package keeps (private there). */
interface GenerativeClient {
  generateContent(request: GenerateRequest, options?: { signal?: AbortSignal; timeout?: number }): ReturnType<ChatGoogleGenerativeAI['completionWithRetry']>;
}

/** The abort signal of the call in progress (the package does not hand it to completionWithRetry). */
const callSignal = new AsyncLocalStorage<AbortSignal | undefined>();

export class SwirlChatGoogle extends ChatGoogleGenerativeAI {
  readonly swirl: SwirlGoogleParams;

  constructor(p: SwirlGoogleParams) {
    super({
      model: p.model,
      apiKey: p.apiKey,
      baseUrl: p.baseUrl ?? GOOGLE_DEFAULT_URL,
      maxRetries: 0,
      ...(p.temperature !== undefined ? { temperature: p.temperature } : {}),
      ...(p.maxTokens !== undefined ? { maxOutputTokens: p.maxTokens } : {}),
      ...(p.topP !== undefined ? { topP: p.topP } : {}),
    });
    this.swirl = p;
  }

  override invocationParams(options?: this['ParsedCallOptions']) {
    const params = super.invocationParams(options);
    const o = (options ?? {}) as PerCall;
    const g = { ...params.generationConfig } as NonNullable<typeof params.generationConfig> & { seed?: number };
    if (o.stop?.length) g.stopSequences = o.stop;
    if (o.temperature !== undefined) g.temperature = o.temperature;
    if (o.maxTokens !== undefined) g.maxOutputTokens = o.maxTokens;
    if (o.topP !== undefined) g.topP = o.topP;
    if (o.seed !== undefined) g.seed = o.seed;
    return { ...params, generationConfig: g };
  }

  override async completionWithRetry(request: GenerateRequest, options?: this['ParsedCallOptions']) {
    const signal = options?.signal ?? callSignal.getStore();
    return this.caller.callWithOptions({ ...(signal ? { signal } : {}) }, async () => {
      try {
        return await (this as unknown as { client: GenerativeClient }).client.generateContent(request, { ...(signal ? { signal } : {}), ...(this.swirl.timeoutMs !== undefined ? { timeout: this.swirl.timeoutMs } : {}) });
      } catch (e) {
        // The SDK reports its own timeout as an abort; only the caller's signal is one.
        if ((e as Error).constructor?.name === 'GoogleGenerativeAIAbortError' && !signal?.aborted) {
          throw Object.assign(new Error(`request timed out after ${this.swirl.timeoutMs ?? '?'} ms (${this.swirl.model})`), { name: 'TimeoutError' });
        }
        throw e;
      }
    });
  }

  override async _generate(messages: BaseMessage[], options: this['ParsedCallOptions'], runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    const result = await callSignal.run(options.signal, () => super._generate(messages, options, runManager));
    return flattenResult(result, (call, i) => `call_${i}_${createHash('sha256').update(JSON.stringify([call.name, call.args])).digest('hex').slice(0, 12)}`);
  }

  ledgerIdentity(): ModelIdentity {
    return hostedIdentity('google', this.swirl);
  }
}
