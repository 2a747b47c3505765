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
  /** Parallel sequences (concurrent calls) per context. 1 keeps sampling bit-reproducible. */
  sequences?: number;
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
  waiters: Array<(s: LlamaContextSequence) => void>;
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
  const key = JSON.stringify([p.modelPath, p.loraPath ?? '', p.contextSize ?? 4096, p.sequences ?? 1, p.threads ?? 0]);
  let rt = runtimes.get(key);
  if (!rt) {
    rt = (async () => {
      // One copy of the weights per file: adapters get their own context on the shared model.
      const model = await modelFor(p.modelPath);
      const context = await model.createContext({
        contextSize: p.contextSize ?? 4096,
        sequences: p.sequences ?? 1,
        // node-llama-cpp's default counts hardware threads; on small machines that
        // oversubscribes the cores and generation slows down by an order of magnitude.
        // SWIRL_LLAMA_THREADS sets the worker's default (the spec's `threads` wins).
        threads: p.threads ?? defaultThreads(),
        ...(p.loraPath ? { lora: { adapters: [{ filePath: p.loraPath }] } } : {}),
      });
      const free = Array.from({ length: p.sequences ?? 1 }, () => context.getSequence());
      return { model, context, template: p.template ?? (await detectTemplate(p.modelPath)), free, waiters: [] };
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

async function acquire(rt: Runtime): Promise<LlamaContextSequence> {
  const s = rt.free.pop();
  if (s) return s;
  return new Promise((resolve) => rt.waiters.push(resolve));
}

function release(rt: Runtime, s: LlamaContextSequence): void {
  const w = rt.waiters.shift();
  if (w) w(s);
  else rt.free.push(s);
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
    const { prompt, endOfTurn } = renderPrompt(messages, rt.template);
    const seq = await acquire(rt);
    try {
      // Evaluate every prompt from an empty sequence: reusing a cached prefix
      // changes how the prompt is batched, and with it the floating-point
      // results, so the same seed would not give the same sample.
      await seq.clearHistory();
      const completion = new LlamaCompletion({ contextSequence: seq });
      const temperature = options.temperature ?? this.params.temperature ?? 0;
      const seed = options.seed ?? this.params.seed;
      // Tokenize with special tokens parsed: `<start_of_turn>` must be the model's turn token
      // (one id), not five text tokens. The trainer tokenizes states the same way; BOS is
      // prepended by LlamaCompletion.
      const promptTokens = rt.model.tokenize(prompt, true);
      const text = await completion.generateCompletion(promptTokens, {
        maxTokens: options.maxTokens ?? this.params.maxTokens ?? 512,
        temperature,
        ...(temperature > 0 && seed !== undefined ? { seed } : {}),
        ...(this.params.topP ? { topP: this.params.topP } : {}),
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
   * A turn with tools bound: the prompt in the chat wrapper's own format (functions
   * documented, earlier calls and results in its syntax); generation stops at the
   * end of the first call, which becomes `tool_calls` (agents/llama-cpp-tools.ts).
   */
  private async generateWithTools(rt: Runtime, messages: BaseMessage[], options: this['ParsedCallOptions'], runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    rt.wrapper ??= resolveChatWrapper(rt.model);
    const wrapper = rt.wrapper;
    const { prompt, stops } = renderToolPrompt(messages, wrapper, options.tools ?? [], (t) => rt.model.detokenize(t.tokenize(rt.model.tokenizer), true));
    const seq = await acquire(rt);
    try {
      await seq.clearHistory();
      const completion = new LlamaCompletion({ contextSequence: seq });
      const temperature = options.temperature ?? this.params.temperature ?? 0;
      const seed = options.seed ?? this.params.seed;
      const promptTokens = rt.model.tokenize(prompt, true);
      // The call's tokens, read with special tokens spelled (Qwen's <tool_call> is one);
      // once a whole call is there, generation stops.
      const generated: Token[] = [];
      const endOfCall = new AbortController();
      await completion.generateCompletion(promptTokens, {
        maxTokens: options.maxTokens ?? this.params.maxTokens ?? 512,
        temperature,
        ...(temperature > 0 && seed !== undefined ? { seed } : {}),
        ...(this.params.topP ? { topP: this.params.topP } : {}),
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
