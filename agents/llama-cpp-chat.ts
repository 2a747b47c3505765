// swirl's LangChain chat model over node-llama-cpp: the embedded default.
// (@langchain/community's ChatLlamaCpp cannot bind tools, hard-codes a Llama-2
// prompt format and leaks sequences; see ../shared/stack-notes.md §2.)
// One model and one context per (file, settings) per process; calls take a
// context sequence from a small pool, so concurrent episodes do not collide.
import { BaseChatModel, type BaseChatModelCallOptions, type BaseChatModelParams, type BindToolsInput } from '@langchain/core/language_models/chat_models';
import { AIMessage, type BaseMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';
import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import { convertToOpenAITool } from '@langchain/core/utils/function_calling';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { getLlama, LlamaCompletion, readGgufFileInfo, resolveChatWrapper, type ChatWrapper, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { callEnd, parseToolCalls, renderToolPrompt } from './llama-cpp-tools.js';

export type ChatTemplate = 'gemma' | 'chatml';

export interface LlamaCppChatParams extends BaseChatModelParams {
  modelPath: string;
  /** Name shown in trajectories and ledgers. */
  modelName?: string;
  contextSize?: number;
  threads?: number;
  /**
   * Sequences per context (the spec's `parallel`): that many calls decode together, one
   * llama.cpp batch per step. Default `defaultParallel()`.
   */
  sequences?: number;
  /**
   * Keep each sequence's KV cache between calls (default true): a call evaluates only the
   * tokens after the longest prefix it shares with a free sequence — an episode's next turn
   * appends the tool result and its new turn instead of re-evaluating the conversation.
   * false: every call starts from a cleared sequence (the old mode, bit-reproducible with
   * `sequences: 1`).
   */
  kvReuse?: boolean;
  temperature?: number;
  maxTokens?: number;
  seed?: number;
  topP?: number;
  /** Prompt format; read from the GGUF when absent. */
  template?: ChatTemplate;
  /** LoRA adapter GGUF applied on top of the base model. */
  loraPath?: string;
}

export interface LlamaCppCallOptions extends BaseChatModelCallOptions {
  temperature?: number;
  maxTokens?: number;
  seed?: number;
  /** Per-call truncation (0 = the whole vocabulary); node-llama-cpp's default is 40 when unset. */
  topK?: number;
  /** Per-call nucleus (1 = off); overrides the model's `topP`. */
  topP?: number;
  /** Per-call min-p (0 = off). */
  minP?: number;
  /** Alternatives per token: not produced here (a probability judge then fails with NoLogprobsError, as before). */
  topLogprobs?: number;
  /**
   * Return each generated token's id and log-probability under the distribution it was
   * sampled from (after temperature and truncation; with temperature 0, greedy decoding,
   * the temperature-1 softmax), in the OpenAI shape
   * (`response_metadata.logprobs.content[i] = {token, logprob, id}`), covering every
   * sampled token: the stop sequence's and an end-of-turn token's too. The training
   * sampler needs them (the sampled ids are what is trained; the log-probs correct
   * for the sampler not being the trainer's policy).
   */
  logprobs?: boolean;
  /** Bound tools (OpenAI function specs, as `bindTools` and the ledger pass them): native tool calling. */
  tools?: unknown[];
}

interface Runtime {
  model: LlamaModel;
  context: LlamaContext;
  template: ChatTemplate;
  /** The GGUF's node-llama-cpp chat wrapper, resolved on the first call with tools. */
  wrapper?: ChatWrapper;
  free: LlamaContextSequence[];
  /** Calls waiting for a sequence, with their prompt (a released sequence goes to the one sharing most of it). */
  waiters: Array<{ tokens: readonly Token[]; resolve: (s: LlamaContextSequence) => void }>;
  /** Tokens evaluated vs taken from the KV cache by this runtime's calls (bench/llama-batched.ts reads them). */
  stats: { promptTokens: number; reusedTokens: number };
}

const fileIds = new Map<string, string>();

/** sha256 of a file's content, cached by path, size and mtime (adapters are rewritten in place sometimes). */
export function fileIdentity(file: string): string {
  const st = statSync(file);
  const k = `${file}:${st.size}:${st.mtimeMs}`;
  let id = fileIds.get(k);
  if (!id) {
    id = `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`;
    fileIds.set(k, id);
  }
  return id;
}

let llamaPromise: Promise<Llama> | undefined;
const runtimes = new Map<string, Promise<Runtime>>();

export async function detectTemplate(modelPath: string): Promise<ChatTemplate> {
  const info = await readGgufFileInfo(modelPath, { readTensorInfo: false });
  const md = info.metadata as { general?: { architecture?: string }; tokenizer?: { chat_template?: string } };
  const tpl = md.tokenizer?.chat_template ?? '';
  if (tpl.includes('<|im_start|>')) return 'chatml';
  if (tpl.includes('<start_of_turn>') || String(md.general?.architecture ?? '').startsWith('gemma')) return 'gemma';
  return 'chatml';
}

const models = new Map<string, Promise<LlamaModel>>();
/** Contexts with a LoRA adapter, oldest first: a training run makes a new adapter per update. */
const loraKeys: string[] = [];
const MAX_LORA_CONTEXTS = 2;

function modelFor(modelPath: string): Promise<LlamaModel> {
  let m = models.get(modelPath);
  if (!m) {
    m = (async () => {
      // All contexts of the process share `maxThreads`: node-llama-cpp's default cap is
      // max(cores, 4), so on 2 cores two contexts (a base and a trained policy) ran 4
      // threads. bench/llama-threads.ts: two 64-token answers at once took 10.8 s with the
      // default cap vs 2.7 s capped at the cores (4.05x; a first probe gave 13.6x), with
      // the same text in every mode — outputs do not depend on the thread count.
      llamaPromise ??= getLlama({ gpu: false, logLevel: 'error' as never, maxThreads: defaultThreads() });
      const llama = await llamaPromise;
      return llama.loadModel({ modelPath });
    })();
    models.set(modelPath, m);
    m.catch(() => models.delete(modelPath));
  }
  return m;
}

/** Drops the oldest adapter contexts once their sequences are all back (the base model stays loaded). */
function evictLoraContexts(): void {
  while (loraKeys.length > MAX_LORA_CONTEXTS) {
    const key = loraKeys.shift()!;
    const rt = runtimes.get(key);
    runtimes.delete(key);
    void rt?.then(async (r) => {
      const total = r.context.totalSequences;
      while (r.free.length < total) await new Promise((res) => setTimeout(res, 100));
      await r.context.dispose();
    });
  }
}

/** Threads per context when the model entry sets none: SWIRL_LLAMA_THREADS, else every core the worker sees. */
export function defaultThreads(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.SWIRL_LLAMA_THREADS);
  return Number.isInteger(n) && n >= 1 ? n : Math.max(1, availableParallelism());
}

function runtimeFor(p: LlamaCppChatParams): Promise<Runtime> {
  const sequences = p.sequences ?? defaultParallel();
  // The adapter by content too: a file rewritten in place must not keep its old context.
  const key = JSON.stringify([p.modelPath, p.loraPath ? `${p.loraPath}#${fileIdentity(p.loraPath)}` : '', p.contextSize ?? 4096, sequences, p.threads ?? 0]);
  let rt = runtimes.get(key);
  if (!rt) {
    rt = (async () => {
      // One copy of the weights per file: adapters get their own context on the shared model.
      const model = await modelFor(p.modelPath);
      const context = await model.createContext({
        contextSize: p.contextSize ?? 4096,
        sequences,
        // node-llama-cpp's default counts hardware threads; on small machines that
        // oversubscribes the cores and generation slows down by an order of magnitude.
        // SWIRL_LLAMA_THREADS sets the worker's default (the spec's `threads` wins).
        threads: p.threads ?? defaultThreads(),
        // Sliding-window models (Gemma 3) keep only the window's KV by default: a prefix
        // longer than the window can then be restored only from node-llama-cpp's checkpoints
        // and the rest is evaluated again. The full cache keeps every prefix reusable, for the
        // window layers' memory (small next to the weights at these context sizes).
        ...((p.kvReuse ?? true) ? { swaFullCache: true } : {}),
        ...(p.loraPath ? { lora: { adapters: [{ filePath: p.loraPath }] } } : {}),
      });
      if (sequences > 1) serializeSampling(context);
      const free = Array.from({ length: sequences }, () => context.getSequence());
      return { model, context, template: p.template ?? (await detectTemplate(p.modelPath)), free, waiters: [], stats: { promptTokens: 0, reusedTokens: 0 } };
    })();
    runtimes.set(key, rt);
    rt.catch(() => runtimes.delete(key));
    if (p.loraPath) {
      loraKeys.push(key);
      evictLoraContexts();
    }
  }
  return rt;
}

/**
 * Makes a context's token sampling one call at a time.
 *
 * node-llama-cpp 3.21.1 samples each sequence's next token on its own libuv
 * thread right after a batch is decoded, and llama.cpp's `llama_get_logits_ith`
 * reorders the batch's output rows in place on first use when the batch held
 * several sequences (separate KV streams). Four sequences sampling at once raced
 * on that reorder and read each other's logits: greedy answers took words from
 * the other prompts ("five prime numbers are 2, 3, population, 0"), from the first
 * token on (tests/integration/llama-batched.test.ts). Letting the rest run side
 * by side once the first has reordered the rows was slower on 2 cores (gemma3-270m,
 * 16 sequences: 81–84 vs 123–125 generated tok/s, `bench/llama-batched.ts --child`):
 * the thread hand-offs cost more than the sampling.
 */
export function serializeSampling(context: LlamaContext): void {
  const native = (context as unknown as { _ctx?: Record<string, unknown> })._ctx;
  const sample = native?.sampleToken as ((...a: unknown[]) => Promise<unknown>) | undefined;
  if (!native || typeof sample !== 'function') throw new Error('node-llama-cpp changed: LlamaContext._ctx.sampleToken not found (swirl pins node-llama-cpp 3.21.1; batched sampling needs this workaround)');
  let chain: Promise<unknown> = Promise.resolve();
  Object.defineProperty(native, 'sampleToken', {
    value: (...args: unknown[]) => {
      const next = chain.then(() => sample.apply(native, args));
      chain = next.catch(() => undefined);
      return next;
    },
  });
}

/** The sampler's truncation for a call: the call's knobs win over the model's `topP`; unset ones stay node-llama-cpp's defaults. */
function truncation(o: LlamaCppCallOptions, p: LlamaCppChatParams): { topK?: number; topP?: number; minP?: number } {
  const topP = o.topP ?? p.topP;
  return { ...(o.topK !== undefined ? { topK: o.topK } : {}), ...(topP ? { topP } : {}), ...(o.minP !== undefined ? { minP: o.minP } : {}) };
}

/** Where the first of `stops` begins in `text`, or -1. */
function firstStop(text: string, stops: readonly string[]): number {
  let at = -1;
  for (const s of stops) {
    const i = s ? text.indexOf(s) : -1;
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}

/** Tokens at the start of `a` equal to the start of `b`. */
function sharedPrefix(a: readonly Token[], b: readonly Token[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** What a sequence holding `held` tokens saves a call whose prompt is `tokens` (BOS, which LlamaCompletion prepends, aside). */
function reusable(held: readonly Token[], tokens: readonly Token[]): number {
  if (held.length === 0) return 0;
  return held[0] === tokens[0] ? sharedPrefix(held, tokens) : sharedPrefix(held.slice(1), tokens);
}

/**
 * A free sequence for a call: the one whose KV cache shares the longest prefix with
 * its prompt (an episode's earlier turn, or at least the shared instructions), so the
 * call evaluates only what is new.
 */
async function acquire(rt: Runtime, tokens: readonly Token[]): Promise<LlamaContextSequence> {
  if (rt.free.length) {
    let best = 0;
    let bestLen = -1;
    rt.free.forEach((s, i) => {
      const n = reusable(s.contextTokens, tokens);
      if (n > bestLen) [best, bestLen] = [i, n];
    });
    return rt.free.splice(best, 1)[0]!;
  }
  return new Promise((resolve) => rt.waiters.push({ tokens, resolve }));
}

function release(rt: Runtime, s: LlamaContextSequence): void {
  if (!rt.waiters.length) {
    rt.free.push(s);
    return;
  }
  const held = s.contextTokens;
  let best = 0;
  let bestLen = -1;
  rt.waiters.forEach((w, i) => {
    const n = reusable(held, w.tokens);
    if (n > bestLen) [best, bestLen] = [i, n];
  });
  rt.waiters.splice(best, 1)[0]!.resolve(s);
}

/**
 * Readies a sequence for a prompt: cleared in the isolated mode (`kvReuse: false`), else
 * kept (LlamaCompletion erases only what differs from the prompt). Counts the reuse.
 */
async function prepareSequence(rt: Runtime, seq: LlamaContextSequence, tokens: readonly Token[], kvReuse: boolean): Promise<void> {
  rt.stats.promptTokens += tokens.length;
  if (!kvReuse) {
    await seq.clearHistory();
    return;
  }
  // LlamaCompletion keeps at most all but the prompt's last token (it decodes one to sample).
  rt.stats.reusedTokens += Math.min(reusable(seq.contextTokens, tokens), Math.max(0, tokens.length - 1));
}

/** Sequences per llama-cpp context when the spec sets no `parallel`: SWIRL_LLAMA_PARALLEL, else DEFAULT_PARALLEL. */
export function defaultParallel(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.SWIRL_LLAMA_PARALLEL);
  return Number.isInteger(n) && n >= 1 ? n : DEFAULT_PARALLEL;
}

/** See docs/benchmarks.md ("Batched sampling"): the measurement behind it. */
export const DEFAULT_PARALLEL = 8;

/** The runtime statistics of a model's context (benchmarks and tests). */
export async function runtimeStats(p: LlamaCppChatParams): Promise<{ promptTokens: number; reusedTokens: number }> {
  return { ...(await runtimeFor(p)).stats };
}

function roleOf(m: BaseMessage): 'system' | 'user' | 'assistant' {
  const t = m._getType();
  return t === 'system' ? 'system' : t === 'ai' ? 'assistant' : 'user';
}

/** Renders a conversation in the model's own turn format, ending with an open assistant turn. */
export function renderPrompt(messages: BaseMessage[], template: ChatTemplate): { prompt: string; endOfTurn: string } {
  const turns = messages.map((m) => ({ role: roleOf(m), content: typeof m.content === 'string' ? m.content : JSON.stringify(m.content) }));
  if (template === 'gemma') {
    // Gemma has no system role: the system text opens the first user turn.
    const sys = turns.filter((t) => t.role === 'system').map((t) => t.content);
    const rest = turns.filter((t) => t.role !== 'system');
    if (sys.length && rest[0]?.role === 'user') rest[0] = { role: 'user', content: `${sys.join('\n\n')}\n\n${rest[0].content}` };
    const body = rest.map((t) => `<start_of_turn>${t.role === 'assistant' ? 'model' : 'user'}\n${t.content}<end_of_turn>\n`).join('');
    return { prompt: `${body}<start_of_turn>model\n`, endOfTurn: '<end_of_turn>' };
  }
  const body = turns.map((t) => `<|im_start|>${t.role}\n${t.content}<|im_end|>\n`).join('');
  return { prompt: `${body}<|im_start|>assistant\n`, endOfTurn: '<|im_end|>' };
}

export class LlamaCppChat extends BaseChatModel<LlamaCppCallOptions> {
  readonly params: LlamaCppChatParams;

  constructor(params: LlamaCppChatParams) {
    super(params);
    this.params = params;
  }

  override _llmType(): string {
    return 'swirl-llama-cpp';
  }

  get modelName(): string {
    return this.params.modelName ?? this.params.modelPath;
  }

  /** What the ledger keys calls by: the model name, the adapter's content hash, the default decoding parameters. */
  ledgerIdentity(): { provider: string; model: string; adapter?: string; params: Record<string, unknown> } {
    return {
      provider: 'llama-cpp',
      // The GGUF's name and size stand for its weights (hashing ~250 MB per process start is not worth it).
      model: `${this.modelName}@${path.basename(this.params.modelPath)}:${statSync(this.params.modelPath).size}`,
      ...(this.params.loraPath ? { adapter: fileIdentity(this.params.loraPath) } : {}),
      params: { temperature: this.params.temperature ?? 0, maxTokens: this.params.maxTokens ?? 512, topP: this.params.topP, seed: this.params.seed, template: this.params.template },
    };
  }

  /** Loads the model now (the first call would otherwise pay for it). */
  async warmUp(): Promise<void> {
    await runtimeFor(this.params);
  }

  /**
   * Native tool calling: the tools travel as a call option (OpenAI function specs),
   * as LangChain's other chat models and the ledger (agents/ledgered-model.ts) pass them.
   */
  override bindTools(tools: BindToolsInput[], kwargs?: Partial<LlamaCppCallOptions>) {
    return this.withConfig({ tools: tools.map((t) => convertToOpenAITool(t as never)), ...kwargs } as Partial<LlamaCppCallOptions>);
  }

  override async _generate(messages: BaseMessage[], options: this['ParsedCallOptions'], runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    const rt = await runtimeFor(this.params);
    if (options.tools?.length) return this.generateWithTools(rt, messages, options, runManager);
    // Alternatives (top_logprobs) would need the full distribution per token (~0.8 s a token on
    // gemma3-270m): a caller that asks for them gets no log-probs, so a probability judge
    // fails loudly (NoLogprobsError) instead of scoring 0/1 from the chosen token alone.
    if (options.logprobs && !options.topLogprobs) return this.generateWithLogprobs(rt, messages, options, runManager);
    const { prompt, endOfTurn } = renderPrompt(messages, rt.template);
    // Tokenize with special tokens parsed: `<start_of_turn>` must be the model's turn token
    // (one id), not five text tokens. The trainer tokenizes states the same way; BOS is
    // prepended by LlamaCompletion.
    const promptTokens = rt.model.tokenize(prompt, true);
    const seq = await acquire(rt, promptTokens);
    try {
      // A reused prefix changes how the prompt is split into batches, and with it the
      // floating-point results: the same seed need not give the same sample as a cleared
      // sequence would (docs/models.md, "What is reproducible").
      await prepareSequence(rt, seq, promptTokens, this.params.kvReuse ?? true);
      const completion = new LlamaCompletion({ contextSequence: seq });
      const temperature = options.temperature ?? this.params.temperature ?? 0;
      const seed = options.seed ?? this.params.seed;
      const text = await completion.generateCompletion(promptTokens, {
        maxTokens: options.maxTokens ?? this.params.maxTokens ?? 512,
        temperature,
        ...(temperature > 0 && seed !== undefined ? { seed } : {}),
        ...truncation(options, this.params),
        customStopTriggers: [...(options.stop ?? []), endOfTurn],
        ...(options.signal ? { signal: options.signal } : {}),
      });
      await runManager?.handleLLMNewToken(text);
      const inputTokens = promptTokens.length;
      const outputTokens = rt.model.tokenize(text).length;
      const message = new AIMessage({ content: text, usage_metadata: { input_tokens: inputTokens, output_tokens: outputTokens, total_tokens: inputTokens + outputTokens } });
      return { generations: [{ text, message }], llmOutput: { tokenUsage: { promptTokens: inputTokens, completionTokens: outputTokens } } };
    } finally {
      release(rt, seq);
    }
  }

  /**
   * A plain turn sampled token by token (`logprobs: true`): the same prompt, sampler
   * settings and stop sequences as LlamaCompletion, plus each sampled token's id and
   * log-probability (llama.cpp's confidence of the chosen token). The sampled ids run
   * to the end of the stop sequence (or the end-of-turn token) that ended the turn; the
   * message text stops before it, as without log-probs.
   */
  private async generateWithLogprobs(rt: Runtime, messages: BaseMessage[], options: this['ParsedCallOptions'], runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    const { prompt, endOfTurn } = renderPrompt(messages, rt.template);
    const promptTokens = rt.model.tokenize(prompt, true);
    const bos = rt.model.tokens.bos;
    const input = bos !== null && rt.model.tokens.shouldPrependBosToken && promptTokens[0] !== bos ? [bos, ...promptTokens] : [...promptTokens];
    const seq = await acquire(rt, promptTokens);
    try {
      const kvReuse = this.params.kvReuse ?? true;
      rt.stats.promptTokens += promptTokens.length;
      let keep = 0;
      if (kvReuse) {
        // Keep the shared prefix, but evaluate at least the prompt's last token (it yields the first sample).
        keep = Math.min(sharedPrefix(seq.contextTokens, input), input.length - 1);
        if (keep < seq.nextTokenIndex) await seq.eraseContextTokenRanges([{ start: keep, end: seq.nextTokenIndex }]);
        rt.stats.reusedTokens += keep;
      } else await seq.clearHistory();
      const temperature = options.temperature ?? this.params.temperature ?? 0;
      const seed = options.seed ?? this.params.seed;
      // Stay inside the context: past it node-llama-cpp would shift the context (drop the
      // prompt's start), and the trainer would score the tokens against a prompt the sampler
      // no longer saw.
      const room = (this.params.contextSize ?? 4096) - input.length - 1;
      if (room < 1) throw new Error(`the prompt (${input.length} tokens) fills the context (${this.params.contextSize ?? 4096}); raise contextSize`);
      const maxTokens = Math.min(options.maxTokens ?? this.params.maxTokens ?? 512, room);
      const stops = [...(options.stop ?? []), endOfTurn];
      const ids: Token[] = [];
      const logprobs: number[] = [];
      let text = '';
      const it = seq.evaluateWithMetadata(input.slice(keep), { confidence: true }, {
        temperature,
        ...(temperature > 0 && seed !== undefined ? { seed } : {}),
        ...truncation(options, this.params),
        yieldEogToken: true,
      });
      for await (const out of it) {
        options.signal?.throwIfAborted();
        if (typeof out.confidence !== 'number') throw new Error('node-llama-cpp returned no confidence for a sampled token (swirl pins 3.21.1)');
        ids.push(out.token);
        logprobs.push(Math.log(Math.max(out.confidence, Number.MIN_VALUE)));
        if (rt.model.isEogToken(out.token)) break;
        const all = rt.model.detokenize(ids, true);
        const at = firstStop(all, stops);
        if (at >= 0) {
          text = all.slice(0, at);
          break;
        }
        text = all;
        if (ids.length >= maxTokens) break;
      }
      options.signal?.throwIfAborted();
      await runManager?.handleLLMNewToken(text);
      const content = ids.map((id, i) => ({ token: rt.model.detokenize([id], true), logprob: logprobs[i]!, id }));
      const inputTokens = promptTokens.length;
      const message = new AIMessage({
        content: text,
        usage_metadata: { input_tokens: inputTokens, output_tokens: ids.length, total_tokens: inputTokens + ids.length },
        response_metadata: { logprobs: { content } },
      });
      return { generations: [{ text, message }], llmOutput: { tokenUsage: { promptTokens: inputTokens, completionTokens: ids.length } } };
    } finally {
      release(rt, seq);
    }
  }

  /**
   * A turn with tools bound: the prompt in the chat wrapper's own format (functions
   * documented, earlier calls and results in its syntax); generation stops at the
   * end of the first call, which becomes `tool_calls` (agents/llama-cpp-tools.ts).
   */
  private async generateWithTools(rt: Runtime, messages: BaseMessage[], options: this['ParsedCallOptions'], runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    rt.wrapper ??= resolveChatWrapper(rt.model);
    const wrapper = rt.wrapper;
    const { prompt, stops } = renderToolPrompt(messages, wrapper, options.tools ?? [], (t) => rt.model.detokenize(t.tokenize(rt.model.tokenizer), true));
    const promptTokens = rt.model.tokenize(prompt, true);
    const seq = await acquire(rt, promptTokens);
    try {
      await prepareSequence(rt, seq, promptTokens, this.params.kvReuse ?? true);
      const completion = new LlamaCompletion({ contextSequence: seq });
      const temperature = options.temperature ?? this.params.temperature ?? 0;
      const seed = options.seed ?? this.params.seed;
      // The call's tokens, read with special tokens spelled (Qwen's <tool_call> is one);
      // once a whole call is there, generation stops.
      const generated: Token[] = [];
      const endOfCall = new AbortController();
      await completion.generateCompletion(promptTokens, {
        maxTokens: options.maxTokens ?? this.params.maxTokens ?? 512,
        temperature,
        ...(temperature > 0 && seed !== undefined ? { seed } : {}),
        ...truncation(options, this.params),
        customStopTriggers: [...(options.stop ?? []), ...stops],
        signal: options.signal ? AbortSignal.any([endOfCall.signal, options.signal]) : endOfCall.signal,
        stopOnAbortSignal: true,
        onToken: (tokens) => {
          generated.push(...tokens);
          if (!endOfCall.signal.aborted && callEnd(rt.model.detokenize(generated, true), wrapper.settings) >= 0) endOfCall.abort();
        },
      });
      // A caller's abort must fail the call (a cut-off answer would be recorded as complete).
      options.signal?.throwIfAborted();
      let text = rt.model.detokenize(generated, true);
      const end = callEnd(text, wrapper.settings);
      if (end >= 0) text = text.slice(0, end);
      await runManager?.handleLLMNewToken(text);
      const turn = messages.filter((m) => m._getType() === 'ai').length;
      const boundNames = (options.tools ?? []).map((t) => (t as { function?: { name?: unknown } }).function?.name).filter((n): n is string => typeof n === 'string');
      const parsed = parseToolCalls(text, wrapper.settings, turn, boundNames);
      const inputTokens = promptTokens.length;
      const outputTokens = generated.length;
      const message = new AIMessage({
        content: parsed.content,
        ...(parsed.toolCalls.length ? { tool_calls: parsed.toolCalls } : {}),
        ...(parsed.invalidToolCalls.length ? { invalid_tool_calls: parsed.invalidToolCalls } : {}),
        usage_metadata: { input_tokens: inputTokens, output_tokens: outputTokens, total_tokens: inputTokens + outputTokens },
        response_metadata: { chatWrapper: wrapper.wrapperName },
      });
      return { generations: [{ text: parsed.content, message }], llmOutput: { tokenUsage: { promptTokens: inputTokens, completionTokens: outputTokens } } };
    } finally {
      release(rt, seq);
    }
  }
}
