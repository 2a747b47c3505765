// LedgeredChatModel: a LangChain chat model that sends every call through the
// LLM call ledger (store/ledger.ts), so a call that already completed — in an
// earlier attempt of a retried activity, before a worker was killed, in an
// earlier run of the same Plan — is answered from the ledger instead of being
// made (and paid for) again.
//
// API
//   new LedgeredChatModel(inner, ledger, { purpose, runId?, stageId?, sampleKey?, gate?, price?, identity? })
//     inner     any LangChain BaseChatModel (LlamaCppChat, ChatOpenAI, a fake)
//     ledger    an LlmLedger (SqliteLedger for workers, MemoryLedger for tests)
//     purpose   'rollout' | 'judge' | 'eval' | 'sample' | 'reward'
//     runId, stageId   recorded with each use (never part of the key)
//     sampleKey part of the key: requests that are otherwise identical but must
//               be sampled independently get different keys (e.g. `q17#3`)
//     gate      a ModelGate or its episode-thread proxy (agents/limits.ts): concurrency, rate limits, retries, breaker
//     price     { inputPerMTok, outputPerMTok } in USD, for the cost column
//     identity  { provider, model, adapter?, params? } — defaults to the inner
//               model's `ledgerIdentity()` when it has one
//   model.invoke(messages, { seed, stop, temperature, maxTokens, topP, signal, … })
//     the key covers provider, model, adapter, the inner model's own default
//     parameters, the call's temperature/maxTokens/topP/stop/seed/tools, the
//     messages and the sample key; signal/callbacks/tags/metadata are not part of it.
//   model.withLedgerContext({ stageId, sampleKey, … })  a copy with other context
//   model.lastCall   { key, reused, latencyMs } of the most recent call (for trajectories)
//
// For a judge call, the easy route is agents/models.ts:
//   const judge = ledgeredModelFor('judge', plan.models.judge, { modelsDir, projectRoot }, ledger,
//                                  { purpose: 'judge', runId, stageId, sampleKey: `${trajectoryId}/step-${i}` });
//   const verdict = await judge.invoke([new HumanMessage(prompt)], { seed: 0, stop: ['</judgment>'] });
import { BaseChatModel, type BaseChatModelCallOptions, type BindToolsInput } from '@langchain/core/language_models/chat_models';
import { AIMessage, type BaseMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';
import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import { convertToOpenAITool } from '@langchain/core/utils/function_calling';
import { checkBudget } from './budget.js';
import { logprobsOf, type TokenLogprob } from './judges/probability.js';
import type { GateRunner } from './limits.js';
import { callCost, ledgerKey, LOCAL_OWNER, type CallMeta, type CallPurpose, type CompletedCall, type LedgerRequest, type LlmLedger, type ModelPrice } from '../store/ledger.js';

/** What identifies a model for the ledger, beyond the call's own options. */
export interface ModelIdentity {
  provider: string;
  model: string;
  /** Content hash of an adapter (LoRA) or other weights on top of `model`. */
  adapter?: string;
  /** The model's default decoding parameters (those a call does not override still shape the answer). */
  params?: Record<string, unknown>;
}

/** Chat models that can say who they are (LlamaCppChat, swirl's OpenAI models). */
export interface LedgerIdentified {
  ledgerIdentity(): ModelIdentity;
}

export interface LedgerContext {
  purpose: CallPurpose;
  runId?: string;
  stageId?: string;
  sampleKey?: string;
}

export interface LedgeredOptions extends LedgerContext {
  gate?: GateRunner;
  price?: ModelPrice;
  identity?: ModelIdentity;
}

export interface LedgeredCallOptions extends BaseChatModelCallOptions {
  temperature?: number;
  maxTokens?: number;
  topP?: number;
  /** Sampler truncation (llama-cpp): 0 = the whole vocabulary. */
  topK?: number;
  minP?: number;
  seed?: number;
  tools?: unknown[];
  /** Ask for per-token log-probs (OpenAI shape in `response_metadata.logprobs`); the ledger keeps them. */
  logprobs?: boolean;
  topLogprobs?: number;
  /** Overrides the model's sample key for this call. */
  sampleKey?: string;
}

/** Call options that shape the answer (everything else — signal, callbacks, tags — does not). */
const KEYED_OPTIONS = ['temperature', 'maxTokens', 'topP', 'topK', 'minP', 'stop', 'tools', 'tool_choice', 'response_format', 'parallel_tool_calls', 'strict', 'logprobs', 'topLogprobs'] as const;

export function identityOf(model: BaseChatModel): ModelIdentity {
  const m = model as unknown as Partial<LedgerIdentified> & { model?: string; modelName?: string };
  if (typeof m.ledgerIdentity === 'function') return m.ledgerIdentity();
  return { provider: model._llmType(), model: String(m.model ?? m.modelName ?? model.getName()) };
}

/** The canonical JSON form of a message for the key: role, text, tool calls; no ids or metadata that vary between runs. */
export function canonicalMessage(m: BaseMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { type: m._getType(), content: m.content };
  const ai = m as AIMessage;
  if (ai.tool_calls?.length) out.tool_calls = ai.tool_calls.map((t) => ({ name: t.name, args: t.args, id: t.id }));
  const tc = (m as { tool_call_id?: string }).tool_call_id;
  if (tc) out.tool_call_id = tc;
  if (m.name) out.name = m.name;
  return out;
}

/** What the ledger stores of an answer: a StoredMessage-like `{type: 'ai', data: {content, tool_calls?, invalid_tool_calls?, logprobs?}}`. */
interface StoredAnswer {
  type: 'ai';
  data: { content: string; tool_calls?: NonNullable<AIMessage['tool_calls']>; invalid_tool_calls?: NonNullable<AIMessage['invalid_tool_calls']>; logprobs?: TokenLogprob[] };
}

export function storedOf(msg: AIMessage): StoredAnswer {
  const content = typeof msg.content === 'string' ? msg.content : JSON.stringify(msg.content);
  const logprobs = logprobsOf(msg.response_metadata);
  return {
    type: 'ai',
    data: {
      content,
      ...(msg.tool_calls?.length ? { tool_calls: msg.tool_calls.map((t) => ({ name: t.name, args: t.args, id: t.id, type: 'tool_call' as const })) } : {}),
      // A malformed call (its text and the parse error) ends a tool-calls episode as no_action: keep it.
      ...(msg.invalid_tool_calls?.length ? { invalid_tool_calls: msg.invalid_tool_calls.map((t) => ({ name: t.name, args: t.args, id: t.id, error: t.error, type: 'invalid_tool_call' as const })) } : {}),
      // Log-probs asked for (a probability judge): token, log-prob and the alternatives, nothing else of the provider's metadata.
      ...(logprobs ? { logprobs: logprobs.map((t) => ({ token: t.token, logprob: t.logprob, ...(t.id !== undefined ? { id: t.id } : {}), ...(t.top_logprobs ? { top_logprobs: t.top_logprobs.map((a) => ({ token: a.token, logprob: a.logprob })) } : {}) })) } : {}),
    },
  };
}

export function messageOf(call: CompletedCall): AIMessage {
  const stored = call.response as StoredAnswer;
  return new AIMessage({
    content: stored.data.content,
    ...(stored.data.tool_calls?.length ? { tool_calls: stored.data.tool_calls } : {}),
    ...(stored.data.invalid_tool_calls?.length ? { invalid_tool_calls: stored.data.invalid_tool_calls } : {}),
    usage_metadata: { input_tokens: call.inputTokens, output_tokens: call.outputTokens, total_tokens: call.inputTokens + call.outputTokens },
    response_metadata: { ledger: { key: call.key, latencyMs: call.latencyMs }, ...(stored.data.logprobs ? { logprobs: { content: stored.data.logprobs } } : {}) },
  });
}

/**
 * A signal for one model request that follows `parent` and lets go of it
 * afterwards. The OpenAI SDK adds an abort listener to the signal of every
 * request and never removes it; handed the shard activity's signal directly,
 * a shard would collect one listener per call until it ends (memory, and a
 * MaxListenersExceededWarning after 10 calls).
 */
export function linkedSignal(parent?: AbortSignal): { signal?: AbortSignal; done(): void } {
  if (!parent) return { done() {} };
  const child = new AbortController();
  if (parent.aborted) child.abort(parent.reason);
  const onAbort = () => child.abort(parent.reason);
  parent.addEventListener('abort', onAbort, { once: true });
  return { signal: child.signal, done: () => parent.removeEventListener('abort', onAbort) };
}

/** A claim on a call in flight lasts this long unless renewed (every third of it while the call runs). */
const CLAIM_TTL_MS = 30_000;
const CLAIM_POLL_MS = 500;

// Calls with the same key in flight in this process share one model call.
const inFlight = new Map<string, Promise<CompletedCall>>();

export class LedgeredChatModel extends BaseChatModel<LedgeredCallOptions> {
  readonly inner: BaseChatModel;
  readonly ledger: LlmLedger;
  readonly opts: LedgeredOptions;
  lastCall?: { key: string; reused: boolean; latencyMs: number };

  constructor(inner: BaseChatModel, ledger: LlmLedger, opts: LedgeredOptions) {
    super({});
    this.inner = inner;
    this.ledger = ledger;
    this.opts = opts;
  }

  override _llmType(): string {
    // Called by the base constructor, before `inner` is set.
    return `ledgered(${this.inner?._llmType() ?? 'model'})`;
  }

  withLedgerContext(ctx: Partial<LedgeredOptions>): LedgeredChatModel {
    return new LedgeredChatModel(this.inner, this.ledger, { ...this.opts, ...ctx });
  }

  /** Tools travel as call options (OpenAI format) to the inner model, and are part of the key. */
  override bindTools(tools: BindToolsInput[], kwargs?: Partial<LedgeredCallOptions>) {
    // A model that cannot take tools would silently ignore them.
    if (typeof this.inner.bindTools !== 'function') throw new Error(`native tool calling (protocol tool-calls) is not available for ${this.inner._llmType()}; use protocol tags, or a llama-cpp / openai / openai-compatible model`);
    return this.withConfig({ tools: tools.map((t) => convertToOpenAITool(t as never)), ...kwargs } as Partial<LedgeredCallOptions>);
  }

  /** The ledger request for these messages and options (exported for audits and tests). */
  requestFor(messages: BaseMessage[], options: Partial<LedgeredCallOptions>): LedgerRequest {
    const id = this.opts.identity ?? identityOf(this.inner);
    const params: Record<string, unknown> = { ...(id.params ?? {}) };
    for (const k of KEYED_OPTIONS) {
      const v = (options as Record<string, unknown>)[k];
      if (v !== undefined) params[k] = v;
    }
    const sampleKey = options.sampleKey ?? this.opts.sampleKey;
    return {
      provider: id.provider,
      model: id.model,
      params,
      messages: messages.map(canonicalMessage),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(sampleKey !== undefined ? { sampleKey } : {}),
      ...(id.adapter ? { adapter: id.adapter } : {}),
    };
  }

  override async _generate(messages: BaseMessage[], options: this['ParsedCallOptions'], _runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    const req = this.requestFor(messages, options);
    const key = ledgerKey(req);
    const meta: CallMeta = { purpose: this.opts.purpose, ...(this.opts.runId !== undefined ? { runId: this.opts.runId } : {}), ...(this.opts.stageId !== undefined ? { stageId: this.opts.stageId } : {}) };
    let reused = true;
    let call = await this.ledger.lookup(key);
    if (!call) {
      // A call to pay for: the run's budget (agents/budget.ts) must not be spent yet. Reused calls are free.
      if (!inFlight.has(key)) await checkBudget(this.ledger);
      let p = inFlight.get(key);
      if (!p) {
        reused = false;
        p = this.callInner(key, req, meta, messages, options);
        inFlight.set(key, p);
        p.finally(() => inFlight.delete(key)).catch(() => undefined);
      }
      call = await p;
    }
    await this.ledger.recordUse(key, meta, reused);
    this.lastCall = { key, reused, latencyMs: call.latencyMs };
    const message = messageOf(call);
    const text = typeof message.content === 'string' ? message.content : JSON.stringify(message.content);
    return { generations: [{ text, message }], llmOutput: { tokenUsage: { promptTokens: call.inputTokens, completionTokens: call.outputTokens }, ledger: { key, reused } } };
  }

  private async callInner(key: string, req: LedgerRequest, meta: CallMeta, messages: BaseMessage[], options: this['ParsedCallOptions']): Promise<CompletedCall> {
    // Another live process making the same call (two attempts of one shard): wait for its result.
    for (;;) {
      if ((await this.ledger.claim(key, LOCAL_OWNER, CLAIM_TTL_MS)).claimed) break;
      await new Promise((r) => setTimeout(r, CLAIM_POLL_MS));
      options.signal?.throwIfAborted();
      const done = await this.ledger.lookup(key);
      if (done) return done;
    }
    const renew = setInterval(() => void this.ledger.claim(key, LOCAL_OWNER, CLAIM_TTL_MS).catch(() => undefined), CLAIM_TTL_MS / 3);
    try {
      return await this.callInnerClaimed(key, req, meta, messages, options);
    } catch (e) {
      await this.ledger.release(key, LOCAL_OWNER).catch(() => undefined);
      throw e;
    } finally {
      clearInterval(renew);
    }
  }

  private async callInnerClaimed(key: string, req: LedgerRequest, meta: CallMeta, messages: BaseMessage[], options: this['ParsedCallOptions']): Promise<CompletedCall> {
    const { sampleKey: _sk, ...innerOptions } = options as LedgeredCallOptions;
    // What a request may cost if it is never answered (a crash mid-flight): charged to the run's budget until it is.
    const promptTokens = req.messages.reduce<number>((a, m) => a + JSON.stringify(m).length / 4, 0);
    const maxOut = options.maxTokens ?? 0;
    const estimate = { tokens: Math.round(promptTokens + maxOut), costUsd: callCost(this.opts.price, promptTokens, maxOut) };
    const once = async () => {
      const attempt = await this.ledger.recordAttempt(key, meta, estimate);
      const link = linkedSignal(options.signal);
      const t0 = performance.now();
      try {
        const res = (await this.inner.invoke(messages, { ...innerOptions, ...(link.signal ? { signal: link.signal } : {}) } as never)) as AIMessage;
        await this.ledger.finishAttempt(attempt, 'answered');
        return { res, latencyMs: performance.now() - t0 };
      } catch (e) {
        await this.ledger.finishAttempt(attempt, 'failed').catch(() => undefined);
        throw e;
      } finally {
        link.done();
      }
    };
    const { res, latencyMs } = this.opts.gate
      ? await this.opts.gate.run(once, {
          ...(options.signal ? { signal: options.signal } : {}),
          estimateTokens: estimate.tokens,
          tokensUsed: (r) => (r.res.usage_metadata?.input_tokens ?? 0) + (r.res.usage_metadata?.output_tokens ?? 0),
        })
      : await once();
    const inputTokens = res.usage_metadata?.input_tokens ?? 0;
    const outputTokens = res.usage_metadata?.output_tokens ?? 0;
    return this.ledger.recordCompletion({
      key,
      provider: req.provider,
      model: req.model,
      ...meta,
      response: storedOf(res),
      inputTokens,
      outputTokens,
      latencyMs: Math.round(latencyMs * 10) / 10,
      costUsd: callCost(this.opts.price, inputTokens, outputTokens),
      completedAt: new Date().toISOString(),
    });
  }
}
