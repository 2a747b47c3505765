// Manual probe of native tool calling on the embedded models (not run in CI):
// tool-calls episodes (calculator) through LlamaCppChat.bindTools, greedy, and
// what each turn's model call returned (text, tool calls, malformed calls).
//
//   node --import tsx bench/tool-calls-probe.ts [--models qwen2.5-coder-0.5b,gemma3-270m] [--n 3] [--max-tokens 96] [--ask]
//
// --ask replaces the protocol's instruction (agents/episode-tool-calls.ts, whose
// `<answer>72</answer>` example small models copy) with one that asks for the tool.
// --round-trip instead makes one call round trip by hand: the Qwen templates'
// default system message (which node-llama-cpp's Qwen wrapper leaves out), the
// question, the model's tool call, the calculator's result, the model's answer.
// Prints one JSON line per episode; the result for the record is in docs/models.md.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { HumanMessage, SystemMessage, ToolMessage, type AIMessage, type BaseMessage } from '@langchain/core/messages';
import { runToolCallEpisode } from '../agents/episode-tool-calls.js';
import { LlamaCppChat } from '../agents/llama-cpp-chat.js';
import { EMBEDDED_MODELS } from '../agents/models.js';
import { LedgeredChatModel } from '../agents/ledgered-model.js';
import { MemoryLedger } from '../store/ledger.js';
import { makeTool } from '../tools/registry.js';
import { packageRoot } from '../runtime/paths.js';

const { values } = parseArgs({ options: { models: { type: 'string', default: 'qwen2.5-coder-0.5b' }, n: { type: 'string', default: '3' }, 'max-tokens': { type: 'string', default: '96' }, ask: { type: 'boolean', default: false }, 'round-trip': { type: 'boolean', default: false } } });
const ASK_TEMPLATE = `{{task}}
First call the calculator tool with the arithmetic expression. After you get its result, reply with the final number inside <answer></answer>.

Question: {{question}}`;
const questions = [
  { id: 'p1', question: 'What is 1234 * 5678?', answer: '7006652', dataset: 'probe' },
  { id: 'p2', question: 'Ann has 12 apples and buys 30 more. How many apples does she have now?', answer: '42', dataset: 'probe' },
  { id: 'p3', question: 'A train travels 84 km per hour for 7 hours. How far does it go?', answer: '588', dataset: 'probe' },
].slice(0, Number(values.n));

for (const name of values.models!.split(',')) {
  const file = EMBEDDED_MODELS[name];
  if (!file) throw new Error(`unknown model ${name}`);
  const chat = new LlamaCppChat({ modelPath: path.join(packageRoot, '.swirl/models', file), modelName: name, threads: 1, contextSize: 2048, maxTokens: Number(values['max-tokens']) });
  // Every model call's raw result, for the record (text, tool calls, malformed calls).
  const invoke = chat.invoke.bind(chat);
  chat.invoke = (async (input: never, options?: never) => {
    const res = (await invoke(input, options)) as AIMessage;
    console.log(JSON.stringify({ model: name, text: res.content, toolCalls: res.tool_calls, invalid: res.invalid_tool_calls, usage: res.usage_metadata }));
    return res;
  }) as typeof chat.invoke;
  if (values['round-trip']) {
    const calc = makeTool('calculator', { kind: 'calculator' }, packageRoot).tool;
    const bound = chat.bindTools([calc]);
    const msgs: BaseMessage[] = [new SystemMessage('You are Qwen, created by Alibaba Cloud. You are a helpful assistant.'), new HumanMessage(`Use the calculator tool to compute ${questions[0]!.question.replace(/^What is |\?$/g, '')}, then state the result.`)];
    for (let turn = 0; turn < 3; turn++) {
      const res = (await bound.invoke(msgs)) as AIMessage;
      msgs.push(res);
      const call = res.tool_calls?.[0];
      if (!call) break;
      msgs.push(new ToolMessage({ content: String(await calc.invoke({ input: String(call.args.input) })), tool_call_id: call.id! }));
    }
    console.log(JSON.stringify({ model: name, roundTrip: msgs.map((m) => ({ type: m._getType(), content: m.content, ...((m as AIMessage).tool_calls?.length ? { tool_calls: (m as AIMessage).tool_calls } : {}) })) }));
    continue;
  }
  const model = new LedgeredChatModel(chat, new MemoryLedger(), { purpose: 'rollout' });
  const calculator = makeTool('calculator', { kind: 'calculator' }, packageRoot).tool;
  for (const q of questions) {
    const t0 = performance.now();
    const t = await runToolCallEpisode(model, q, { tools: { calculator }, maxSteps: 3, sample: 0, seed: 0, modelName: name, ...(values.ask ? { template: ASK_TEMPLATE } : {}) });
    console.log(JSON.stringify({ model: name, question: q.id, status: t.status, answer: t.answer, steps: t.steps, usage: t.usage, wallS: Math.round((performance.now() - t0) / 100) / 10 }));
  }
}
