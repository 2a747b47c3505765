// Manual probe of native tool calling on the embedded models (not run in CI):
// tool-calls episodes (calculator) through LlamaCppChat.bindTools, greedy, and
// what each turn's model call returned (text, tool calls, malformed calls).
//
//   node --import tsx bench/tool-calls-probe.ts [--models qwen2.5-coder-0.5b,gemma3-270m] [--n 3] [--max-tokens 96] [--ask]
//
// --ask replaces the protocol's instruction (agents/episode-tool-calls.ts, whose
// `<answer>72</answer>` example small models copy) with one that asks for the tool.
// Prints one JSON line per episode; the result for the record is in docs/models.md.
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { AIMessage } from '@langchain/core/messages';
import { runToolCallEpisode } from '../agents/episode-tool-calls.js';
import { LlamaCppChat } from '../agents/llama-cpp-chat.js';
import { EMBEDDED_MODELS } from '../agents/models.js';
import { LedgeredChatModel } from '../agents/ledgered-model.js';
import { MemoryLedger } from '../store/ledger.js';
import { makeTool } from '../tools/registry.js';
import { packageRoot } from '../runtime/paths.js';

const { values } = parseArgs({ options: { models: { type: 'string', default: 'qwen2.5-coder-0.5b' }, n: { type: 'string', default: '3' }, 'max-tokens': { type: 'string', default: '96' }, ask: { type: 'boolean', default: false } } });
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
  const model = new LedgeredChatModel(chat, new MemoryLedger(), { purpose: 'rollout' });
  const calculator = makeTool('calculator', { kind: 'calculator' }, packageRoot).tool;
  for (const q of questions) {
    const t0 = performance.now();
    const t = await runToolCallEpisode(model, q, { tools: { calculator }, maxSteps: 3, sample: 0, seed: 0, modelName: name, ...(values.ask ? { template: ASK_TEMPLATE } : {}) });
    console.log(JSON.stringify({ model: name, question: q.id, status: t.status, answer: t.answer, steps: t.steps, usage: t.usage, wallS: Math.round((performance.now() - t0) / 100) / 10 }));
  }
}
