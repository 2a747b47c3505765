// Native tool calling for LlamaCppChat: prompts rendered and generations parsed
// with node-llama-cpp's own chat wrappers (Qwen: <tool_call> JSON; Gemma: the
// default `||call: name({...})` syntax), constructed directly — no model load.
import { AIMessage, HumanMessage, SystemMessage, ToolMessage } from '@langchain/core/messages';
import { convertToOpenAITool } from '@langchain/core/utils/function_calling';
import { GemmaChatWrapper, QwenChatWrapper } from 'node-llama-cpp';
import { describe, expect, it } from 'vitest';
import { callEnd, chatHistoryOf, parseToolCalls, renderToolPrompt, toolCallId } from '../../agents/llama-cpp-tools.js';
import { LlamaCppChat, renderPrompt } from '../../agents/llama-cpp-chat.js';
import { messageOf, storedOf } from '../../agents/ledgered-model.js';
import { makeTool } from '../../tools/registry.js';
import { packageRoot } from '../../runtime/paths.js';

const calculator = convertToOpenAITool(makeTool('calculator', { kind: 'calculator' }, packageRoot).tool);
const qwen = new QwenChatWrapper();
const gemma = new GemmaChatWrapper();
const question = new HumanMessage('What is 1234 * 5678?');

describe('llama-cpp tool prompts', () => {
  it('documents the tools in the wrapper format and opens the assistant turn', () => {
    const q = renderToolPrompt([question], qwen, [calculator]);
    expect(q.prompt.startsWith('<|im_start|>system\n# Tools')).toBe(true);
    expect(q.prompt).toContain('{"type": "function", "function": {"name": "calculator", "description": "Evaluates an arithmetic expression and returns the number."');
    expect(q.prompt).toContain('"required": ["input"]');
    expect(q.prompt).not.toContain('$schema');
    expect(q.prompt.endsWith('<|im_start|>user\nWhat is 1234 * 5678?<|im_end|>\n<|im_start|>assistant\n')).toBe(true);
    expect(q.stops).toEqual(['<|im_end|>']);

    const g = renderToolPrompt([new SystemMessage('Be brief.'), question], gemma, [calculator]);
    // Gemma has no system turn: the wrapper puts system text and function docs in the user turn; no BOS text (LlamaCompletion adds it).
    expect(g.prompt.startsWith('<start_of_turn>user\nBe brief.')).toBe(true);
    expect(g.prompt).toContain('function calculator(params: {');
    expect(g.prompt).toContain('||call: getSomeInfo({"someKey": "someValue"})');
    expect(g.prompt.endsWith('What is 1234 * 5678?<end_of_turn>\n<start_of_turn>model\n')).toBe(true);
    expect(g.stops).toEqual(['<end_of_turn>\n', '<end_of_turn>']);
  });

  it('renders a call and its result in the wrapper syntax, and the model continues the same response', () => {
    const call = { name: 'calculator', args: { input: '1234 * 5678' }, id: 'call_a' };
    const msgs = [question, new AIMessage({ content: 'Let me compute.', tool_calls: [call] }), new ToolMessage({ content: '7006652.0', tool_call_id: 'call_a' })];
    expect(chatHistoryOf(msgs).map((h) => h.type)).toEqual(['user', 'model']);
    expect(renderToolPrompt(msgs, qwen, [calculator]).prompt.endsWith(
      '<|im_start|>assistant\nLet me compute.<tool_call>\n{"name": "calculator", "arguments": {"input": "1234 * 5678"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n"7006652.0"\n</tool_response><|im_end|>\n<|im_start|>assistant\n',
    )).toBe(true);
    expect(renderToolPrompt(msgs, gemma, [calculator]).prompt.endsWith(
      '<start_of_turn>model\nLet me compute.||call: calculator({"input": "1234 * 5678"})\n||result: "7006652.0"\n',
    )).toBe(true);
  });

  it('two turns with a tool result each stay one model response; a new question starts a new one', () => {
    const c1 = { name: 'calculator', args: { input: '2 + 3' }, id: 'c1' };
    const c2 = { name: 'calculator', args: { input: '5 * 4' }, id: 'c2' };
    const msgs = [question, new AIMessage({ content: '', tool_calls: [c1] }), new ToolMessage({ content: '5.0', tool_call_id: 'c1' }), new AIMessage({ content: 'Then', tool_calls: [c2] }), new ToolMessage({ content: '20.0', tool_call_id: 'c2' })];
    const history = chatHistoryOf(msgs);
    expect(history.map((h) => h.type)).toEqual(['user', 'model']);
    const p = renderToolPrompt(msgs, qwen, [calculator]).prompt;
    expect(p).toContain('{"input": "2 + 3"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n"5.0"\n</tool_response><|im_end|>\n<|im_start|>assistant\nThen<tool_call>\n{"name": "calculator", "arguments": {"input": "5 * 4"}}');
    expect(p.endsWith('"20.0"\n</tool_response><|im_end|>\n<|im_start|>assistant\n')).toBe(true);
    const next = chatHistoryOf([...msgs, new AIMessage('<answer>20</answer>'), new HumanMessage('And 1 + 1?')]);
    expect(next.map((h) => h.type)).toEqual(['user', 'model', 'user', 'model']);
  });

  it('refuses results without calls and calls without results, with a hint', () => {
    expect(() => chatHistoryOf([question, new ToolMessage({ content: 'x', tool_call_id: 'nope' })])).toThrow(/answers no tool call/);
    expect(() => chatHistoryOf([question, new AIMessage({ content: '', tool_calls: [{ name: 'calculator', args: {}, id: 'c' }] })])).toThrow(/have no result/);
    expect(() => renderToolPrompt([question], qwen, [{ name: 'calculator' }])).toThrow(/OpenAI function spec/);
  });
});

describe('llama-cpp tool call parsing', () => {
  it('parses a Qwen call, keeps the text before it, and gives a deterministic id', () => {
    const text = 'I will use the tool.\n<tool_call>\n{"name": "calculator", "arguments": {"input": "1234 * 5678"}}\n</tool_call>';
    const p = parseToolCalls(text, qwen.settings, 0);
    expect(p.content).toBe('I will use the tool.');
    expect(p.toolCalls).toEqual([{ name: 'calculator', args: { input: '1234 * 5678' }, id: toolCallId(0, 'calculator', { input: '1234 * 5678' }), type: 'tool_call' }]);
    expect(p.invalidToolCalls).toEqual([]);
    expect(parseToolCalls(text, qwen.settings, 0).toolCalls[0]!.id).toBe(p.toolCalls[0]!.id);
    expect(parseToolCalls(text, qwen.settings, 1).toolCalls[0]!.id).not.toBe(p.toolCalls[0]!.id);
    // Spacing the model chose differently from the wrapper's still parses.
    expect(parseToolCalls('<tool_call>{"name":"calculator","arguments":{"input":"1+1"}}</tool_call>', qwen.settings, 0).toolCalls[0]!.args).toEqual({ input: '1+1' });
  });

  it('parses nested arguments, with suffix characters inside strings', () => {
    const args = { input: '(2 + 3) * 4', options: { precision: 2, tags: ['a)', 'b}'] }, nested: { deep: { x: [1, { y: null }] } } };
    const g = `||call: calculator(${JSON.stringify(args)})`;
    expect(callEnd(`${g} trailing`, gemma.settings)).toBe(g.length);
    expect(parseToolCalls(g, gemma.settings, 2).toolCalls[0]!.args).toEqual(args);
    const q = `<tool_call>\n{"name": "calculator", "arguments": ${JSON.stringify(args)}}\n</tool_call>`;
    expect(parseToolCalls(q, qwen.settings, 2).toolCalls[0]!.args).toEqual(args);
    // A call with no parameters, in Gemma's syntax.
    expect(parseToolCalls('||call: now()', gemma.settings, 0).toolCalls[0]).toMatchObject({ name: 'now', args: {} });
  });

  it('knows when a call is complete (generation stops there) and when it is still being written', () => {
    const full = '<tool_call>\n{"name": "calculator", "arguments": {"input": "1 + 1"}}\n</tool_call>';
    for (let i = 0; i < full.length; i++) expect(callEnd(full.slice(0, i), qwen.settings)).toBe(-1);
    expect(callEnd(full, qwen.settings)).toBe(full.length);
    expect(callEnd('just text, no call', qwen.settings)).toBe(-1);
  });

  it('a malformed or unfinished call gives no tool call: the text is kept and the call reported invalid', () => {
    const cases: Array<[string, typeof qwen.settings, RegExp]> = [
      ['<tool_call>\n{"name": "calculator", "arguments": {"input": 1 + 1}}\n</tool_call>', qwen.settings, /not JSON/],
      ['<tool_call>\n{"name": "calculator", "arguments": {"input": "1 + 1"', qwen.settings, /not finished/],
      ['<tool_call>\n{"name": "calculator", "arguments": "1 + 1"}\n</tool_call>', qwen.settings, /not a JSON object/],
      ['||call: calculator{"input": "1"}', gemma.settings, /parameters prefix/],
      ['||call: calculator({"input": "1"}] more', gemma.settings, /call suffix/],
    ];
    for (const [text, settings, error] of cases) {
      const p = parseToolCalls(text, settings, 0);
      expect(p.toolCalls).toEqual([]);
      expect(p.content).toBe(text);
      expect(p.invalidToolCalls).toHaveLength(1);
      expect(p.invalidToolCalls[0]!.error).toMatch(error);
      expect(p.invalidToolCalls[0]!.type).toBe('invalid_tool_call');
    }
    expect(parseToolCalls('<answer>42</answer>', qwen.settings, 0)).toEqual({ content: '<answer>42</answer>', toolCalls: [], invalidToolCalls: [] });
  });

  it('takes a bare JSON call for a bound tool (small Qwen models skip <tool_call>), and nothing else', () => {
    const bound = ['calculator', 'search'];
    const bare = 'Let me compute.\n{"name": "calculator", "arguments": {"input": "48 / 2"}}';
    const p = parseToolCalls(bare, qwen.settings, 1, bound);
    expect(p.content).toBe('Let me compute.');
    expect(p.toolCalls).toEqual([{ name: 'calculator', args: { input: '48 / 2' }, id: toolCallId(1, 'calculator', { input: '48 / 2' }), type: 'tool_call' }]);
    // In a code fence, with `parameters`, with arguments as a JSON string, in Gemma's wrapper too.
    expect(parseToolCalls('```json\n{"name": "search", "parameters": {"input": "Canberra"}}\n```', qwen.settings, 0, bound)).toMatchObject({ content: '', toolCalls: [{ name: 'search', args: { input: 'Canberra' } }] });
    expect(parseToolCalls('{"name":"calculator","arguments":"{\\"input\\": \\"2+2\\"}"}', qwen.settings, 0, bound).toolCalls[0]!.args).toEqual({ input: '2+2' });
    expect(parseToolCalls(bare, gemma.settings, 1, bound).toolCalls[0]!.name).toBe('calculator');
    // Not a call: no bound tools, an unknown name, arguments that are not an object, prose with braces, unfinished JSON.
    for (const [text, names] of [
      [bare, []],
      ['{"name": "python", "arguments": {"code": "1"}}', bound],
      ['{"name": "calculator", "arguments": [1, 2]}', bound],
      ['The set {1, 2} has {"two": "members"}.', bound],
      ['{"name": "calculator", "arguments": {"input": "1+', bound],
    ] as Array<[string, string[]]>) {
      expect(parseToolCalls(text, qwen.settings, 0, names)).toEqual({ content: text, toolCalls: [], invalidToolCalls: [] });
    }
    // The wrapper's own syntax still comes first.
    const both = '<tool_call>\n{"name": "search", "arguments": {"input": "a"}}\n</tool_call>';
    expect(parseToolCalls(both, qwen.settings, 0, bound).toolCalls[0]!.args).toEqual({ input: 'a' });
  });

  it('tool calls and malformed calls survive the ledger record', () => {
    const p = parseToolCalls('Hmm <tool_call>\n{"name": "calculator", "arguments": {"input": "2*3"}}\n</tool_call>', qwen.settings, 1);
    const bad = parseToolCalls('<tool_call>{"name": "calculator", "arguments": {oops}}</tool_call>', qwen.settings, 1);
    for (const msg of [new AIMessage({ content: p.content, tool_calls: p.toolCalls }), new AIMessage({ content: bad.content, invalid_tool_calls: bad.invalidToolCalls })]) {
      const back = messageOf({ response: JSON.parse(JSON.stringify(storedOf(msg))), inputTokens: 1, outputTokens: 2, key: 'k', latencyMs: 1 } as never);
      expect(back.content).toBe(msg.content);
      expect(back.tool_calls).toEqual(msg.tool_calls);
      expect(back.invalid_tool_calls).toEqual(msg.invalid_tool_calls);
    }
  });
});

describe('LlamaCppChat.bindTools', () => {
  it('binds the tools as OpenAI function specs in the call options', () => {
    const chat = new LlamaCppChat({ modelPath: '/nonexistent.gguf' });
    const bound = chat.bindTools([makeTool('calculator', { kind: 'calculator' }, packageRoot).tool]) as unknown as { config: { tools: unknown[] } };
    expect(bound.config.tools).toEqual([calculator]);
  });

  it('leaves the tag protocol prompt as it was', () => {
    // The determinism tests compare trajectories: without tools the prompt is swirl's own render.
    expect(renderPrompt([question], 'chatml').prompt).toBe('<|im_start|>user\nWhat is 1234 * 5678?<|im_end|>\n<|im_start|>assistant\n');
  });
});
