// Native tool calling for LlamaCppChat (agents/llama-cpp-chat.ts): prompts are
// rendered by the model's own node-llama-cpp chat wrapper (resolved from the
// GGUF), which documents the functions and writes calls and results in the
// model's syntax (`settings.functions`); generated text is parsed back into
// LangChain tool calls with the same syntax.
//
//   renderToolPrompt(messages, wrapper, tools)  → { prompt, stops }
//   parseToolCalls(text, wrapper.settings, turn) → { content, toolCalls, invalidToolCalls }
//   callEnd(text, wrapper.settings)             → end of the first complete call, or -1
//
// Messages map onto node-llama-cpp chat history: system → system, human →
// user, an AI message → a model response (its text, then its tool calls, each
// with the result of the ToolMessage that answers it). AI messages joined by
// tool results are one model response, as in LlamaChat: after a result the
// model continues the same response. Call ids are derived from the turn and
// the call's content, so a rerun sends the same messages (and ledger keys).
import { createHash } from 'node:crypto';
import type { AIMessage, BaseMessage, InvalidToolCall, ToolCall } from '@langchain/core/messages';
import { LlamaText, SpecialToken, SpecialTokensText, type ChatHistoryItem, type ChatModelFunctionCall, type ChatModelFunctions, type ChatModelResponse, type ChatWrapper, type ChatWrapperSettings } from 'node-llama-cpp';
import { SwirlError } from '../runtime/errors.js';

/** A tool as bound to a chat model: the OpenAI function form that `convertToOpenAITool` gives. */
export interface OpenAIToolSpec {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

/** The tool specs in call options (bound tools), as node-llama-cpp function definitions. */
export function functionsOf(tools: readonly unknown[]): ChatModelFunctions {
  const out: Record<string, { description?: string; params?: never }> = {};
  for (const t of tools) {
    const fn = (t as Partial<OpenAIToolSpec>).function;
    if ((t as Partial<OpenAIToolSpec>).type !== 'function' || !fn || typeof fn.name !== 'string')
      throw new SwirlError('tools', `llama-cpp: a bound tool must be an OpenAI function spec ({type: 'function', function: {name, parameters}}), got ${JSON.stringify(t).slice(0, 120)}`, {
        hint: 'bind LangChain tools with model.bindTools(tools)',
      });
    const { $schema: _s, ...params } = (fn.parameters ?? {}) as Record<string, unknown>;
    out[fn.name] = { ...(fn.description ? { description: fn.description } : {}), ...(Object.keys(params).length ? { params: params as never } : {}) };
  }
  return out;
}

function textOf(m: BaseMessage): string {
  return typeof m.content === 'string' ? m.content : JSON.stringify(m.content);
}

/** Deterministic id of a call: the turn it was made in and its content. */
export function toolCallId(turn: number, name: string, args: unknown): string {
  return `call_${createHash('sha256').update(JSON.stringify([turn, name, args])).digest('hex').slice(0, 16)}`;
}

/** LangChain messages as node-llama-cpp chat history, ending with the model response to generate (open). */
export function chatHistoryOf(messages: BaseMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  // The model response being built and its calls by id, waiting for their results.
  let open: ChatModelResponse | undefined;
  let pending = new Map<string, ChatModelFunctionCall>();
  for (const m of messages) {
    const type = m._getType();
    if (type === 'tool') {
      const id = (m as { tool_call_id?: string }).tool_call_id ?? '';
      const call = pending.get(id);
      if (!call)
        throw new SwirlError('tools', `llama-cpp: a tool result (tool_call_id ${JSON.stringify(id)}) answers no tool call of the AI message before it`, {
          hint: 'send each ToolMessage right after the AI message whose tool_calls contain its id',
        });
      call.result = textOf(m);
      pending.delete(id);
      continue;
    }
    if (pending.size)
      throw new SwirlError('tools', `llama-cpp: tool call(s) ${[...pending.keys()].join(', ')} have no result before the next ${type} message`, { hint: 'answer every tool call with a ToolMessage' });
    if (type === 'ai') {
      const ai = m as AIMessage;
      // After tool results the model continues its response; otherwise a new one starts.
      const continuing = open !== undefined && open.response.some((r) => typeof r !== 'string');
      if (!continuing) {
        open = { type: 'model', response: [] };
        history.push(open);
      }
      const text = textOf(ai);
      if (text) open!.response.push(text);
      for (const tc of ai.tool_calls ?? []) {
        const call: ChatModelFunctionCall = { type: 'functionCall', name: tc.name, params: tc.args, result: undefined };
        open!.response.push(call);
        pending.set(tc.id ?? '', call);
      }
      if (!ai.tool_calls?.length) open = undefined;
      continue;
    }
    open = undefined;
    if (type === 'system') history.push({ type: 'system', text: textOf(m) });
    else history.push({ type: 'user', text: textOf(m) });
  }
  if (pending.size) throw new SwirlError('tools', `llama-cpp: tool call(s) ${[...pending.keys()].join(', ')} have no result`, { hint: 'answer every tool call with a ToolMessage before calling the model again' });
  const last = history.at(-1);
  if (last?.type !== 'model') history.push({ type: 'model', response: [] });
  return history;
}

/**
 * A LlamaText as the text `model.tokenize(text, true)` reads back: special tokens
 * spelled out, a leading BOS dropped (LlamaCompletion prepends it). Other builtin
 * special tokens (EOS, EOT, NL) are spelled by `special`, which the model gives.
 */
export function llamaTextToPrompt(t: LlamaText, special?: (token: SpecialToken) => string): string {
  return t.values
    .map((v, i) => {
      if (typeof v === 'string') return v;
      if (v instanceof SpecialTokensText) return v.value;
      if (v instanceof SpecialToken) {
        if (i === 0 && v.value === 'BOS') return '';
        if (special) return special(v);
        throw new SwirlError('tools', `llama-cpp: the chat wrapper renders the special token ${v.value} inside the prompt`, { hint: 'load the model to spell its special tokens' });
      }
      return String(v);
    })
    .join('');
}

/** The prompt for a conversation with tools in the wrapper's format, and the text stops of its turn end. */
export function renderToolPrompt(messages: BaseMessage[], wrapper: ChatWrapper, tools: readonly unknown[], special?: (token: SpecialToken) => string): { prompt: string; stops: string[] } {
  const state = wrapper.generateContextState({ chatHistory: chatHistoryOf(messages), availableFunctions: functionsOf(tools), documentFunctionParams: true });
  const stops = new Set<string>();
  for (const s of state.stopGenerationTriggers) {
    // Builtin tokens (EOS) end generation anyway; text triggers are matched as text.
    if (s.values.some((v) => v instanceof SpecialToken)) continue;
    const text = llamaTextToPrompt(s);
    if (text) stops.add(text);
  }
  return { prompt: llamaTextToPrompt(LlamaText(state.contextText), special), stops: [...stops] };
}

// --- parsing generated text with the wrapper's call syntax ---

function plain(t: unknown): string {
  if (t === undefined || t === null) return '';
  return typeof t === 'string' ? t : llamaTextToPrompt(LlamaText(t as never));
}

/** A literal of the call syntax as a regex source; any run of whitespace in it matches any (or no) whitespace. */
function looseSource(literal: string): string {
  return literal
    .split(/(\s+)/)
    .map((part) => (/^\s+$/.test(part) ? '\\s*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
}

interface CallSyntax {
  prefix: RegExp;
  paramsPrefix: RegExp;
  suffix: RegExp;
  /** The suffix as written, whitespace removed (to tell a suffix still being generated from a wrong one). */
  suffixCompact: string;
  emptyParams: boolean;
}

function syntaxOf(settings: ChatWrapperSettings): CallSyntax {
  const call = settings.functions.call;
  const prefixes = [plain(call.prefix), ...(call.prefixAlternateMatches ?? []).map(plain)].filter(Boolean);
  return {
    prefix: new RegExp(prefixes.map(looseSource).join('|')),
    paramsPrefix: new RegExp(`^${looseSource(plain(call.paramsPrefix))}`),
    suffix: new RegExp(`^${looseSource(plain(call.suffix))}`),
    suffixCompact: plain(call.suffix).replace(/\s+/g, ''),
    emptyParams: call.emptyCallParamsPlaceholder === undefined || call.emptyCallParamsPlaceholder === '',
  };
}

/** The end index of the JSON value starting at `s[from]` (objects, arrays, strings, scalars), or -1 if it is not complete. */
function jsonValueEnd(s: string, from: number): number {
  const open = s[from];
  if (open === '{' || open === '[') {
    const stack: string[] = [];
    for (let i = from; i < s.length; i++) {
      const c = s[i]!;
      if (c === '"') {
        i = stringEnd(s, i) - 1;
        if (i < 0) return -1;
      } else if (c === '{' || c === '[') stack.push(c === '{' ? '}' : ']');
      else if (c === '}' || c === ']') {
        if (stack.pop() !== c) return -1;
        if (!stack.length) return i + 1;
      }
    }
    return -1;
  }
  if (open === '"') return stringEnd(s, from);
  const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(s.slice(from));
  return m ? from + m[0].length : -1;
}

function stringEnd(s: string, from: number): number {
  for (let i = from + 1; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === '"') return i + 1;
  }
  return -1;
}

type Scan =
  | { kind: 'none' }
  | { kind: 'incomplete'; start: number }
  | { kind: 'malformed'; start: number; name?: string; error: string }
  | { kind: 'call'; start: number; end: number; name: string; args: Record<string, unknown> };

/** Finds the first call in `text`: none, still being written, malformed, or complete. */
function scanCall(text: string, syntax: CallSyntax): Scan {
  const p = syntax.prefix.exec(text);
  if (!p) return { kind: 'none' };
  const start = p.index;
  let i = start + p[0].length;
  const nameMatch = /^[A-Za-z_][\w.-]*/.exec(text.slice(i));
  if (!nameMatch) return i >= text.length ? { kind: 'incomplete', start } : { kind: 'malformed', start, error: 'no function name after the call prefix' };
  const name = nameMatch[0];
  i += name.length;
  if (i >= text.length) return { kind: 'incomplete', start };
  const pp = syntax.paramsPrefix.exec(text.slice(i));
  if (!pp) return { kind: 'malformed', start, name, error: 'the function name is not followed by the parameters prefix' };
  i += pp[0].length;
  while (i < text.length && /\s/.test(text[i]!)) i++;
  if (i >= text.length) return { kind: 'incomplete', start };
  let args: Record<string, unknown> = {};
  const sfxHere = syntax.suffix.exec(text.slice(i));
  if (syntax.emptyParams && sfxHere) return { kind: 'call', start, end: i + sfxHere[0].length, name, args };
  const end = jsonValueEnd(text, i);
  if (end < 0) return /^[{["\-\dtfn]/.test(text[i]!) ? { kind: 'incomplete', start } : { kind: 'malformed', start, name, error: 'the parameters are not JSON' };
  try {
    const v = JSON.parse(text.slice(i, end)) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return { kind: 'malformed', start, name, error: 'the parameters are not a JSON object' };
    args = v as Record<string, unknown>;
  } catch (e) {
    return { kind: 'malformed', start, name, error: `the parameters are not JSON: ${(e as Error).message}` };
  }
  const rest = text.slice(end);
  const sfx = syntax.suffix.exec(rest);
  if (!sfx) {
    // The suffix may still be on its way: incomplete while the rest could begin it.
    return syntax.suffixCompact.startsWith(rest.replace(/\s+/g, '')) ? { kind: 'incomplete', start } : { kind: 'malformed', start, name, error: 'the call does not end with the call suffix' };
  }
  return { kind: 'call', start, end: end + sfx[0].length, name, args };
}

/**
 * A call written as bare JSON instead of in the wrapper's syntax — what small
 * Qwen models do: `{"name": "calculator", "arguments": {"input": "3*4"}}`,
 * perhaps in a ```json fence. Taken only for a bound tool's name and an object
 * of arguments (`arguments` or `parameters`; a JSON string of an object too),
 * so prose with braces stays prose.
 */
export function bareJsonCall(text: string, boundNames: readonly string[]): { start: number; name: string; args: Record<string, unknown> } | undefined {
  if (!boundNames.length) return undefined;
  for (let i = text.indexOf('{'); i >= 0; i = text.indexOf('{', i + 1)) {
    const end = jsonValueEnd(text, i);
    if (end < 0) continue;
    let v: unknown;
    try {
      v = JSON.parse(text.slice(i, end));
    } catch {
      continue;
    }
    const o = v as { name?: unknown; arguments?: unknown; parameters?: unknown };
    if (typeof o.name !== 'string' || !boundNames.includes(o.name)) continue;
    let args: unknown = o.arguments ?? o.parameters ?? {};
    if (typeof args === 'string') {
      try {
        args = JSON.parse(args) as unknown;
      } catch {
        continue;
      }
    }
    if (typeof args !== 'object' || args === null || Array.isArray(args)) continue;
    return { start: i, name: o.name, args: args as Record<string, unknown> };
  }
  return undefined;
}

const syntaxCache = new WeakMap<ChatWrapperSettings, CallSyntax>();

function cachedSyntax(settings: ChatWrapperSettings): CallSyntax {
  let s = syntaxCache.get(settings);
  if (!s) {
    s = syntaxOf(settings);
    syntaxCache.set(settings, s);
  }
  return s;
}

/** Where the first complete call in `text` ends (generation stops there), or -1. */
export function callEnd(text: string, settings: ChatWrapperSettings): number {
  const s = scanCall(text, cachedSyntax(settings));
  return s.kind === 'call' ? s.end : -1;
}

export interface ParsedToolCalls {
  /** The text before the call (all of it when there is no valid call). */
  content: string;
  toolCalls: ToolCall[];
  invalidToolCalls: InvalidToolCall[];
}

/**
 * Parses generated text into LangChain tool calls with the wrapper's call
 * syntax. Generation stops at the end of the first call, so there is at most
 * one. A malformed (or unfinished) call gives no tool call: the text is kept
 * whole and the call is reported in `invalidToolCalls`.
 */
export function parseToolCalls(text: string, settings: ChatWrapperSettings, turn: number, boundNames: readonly string[] = []): ParsedToolCalls {
  const s = scanCall(text, cachedSyntax(settings));
  if (s.kind === 'none') {
    const bare = bareJsonCall(text, boundNames);
    if (bare) return { content: text.slice(0, bare.start).replace(/```(json)?\s*$/, '').trimEnd(), toolCalls: [{ name: bare.name, args: bare.args, id: toolCallId(turn, bare.name, bare.args), type: 'tool_call' }], invalidToolCalls: [] };
    return { content: text, toolCalls: [], invalidToolCalls: [] };
  }
  if (s.kind === 'call') {
    return { content: text.slice(0, s.start).trimEnd(), toolCalls: [{ name: s.name, args: s.args, id: toolCallId(turn, s.name, s.args), type: 'tool_call' }], invalidToolCalls: [] };
  }
  const raw = text.slice(s.start);
  const error = s.kind === 'incomplete' ? 'the call is not finished (the turn ended inside it)' : s.error;
  return { content: text, toolCalls: [], invalidToolCalls: [{ ...(s.kind === 'malformed' && s.name ? { name: s.name } : {}), args: raw, id: toolCallId(turn, 'invalid', raw), error, type: 'invalid_tool_call' }] };
}
