// The tool-calls protocol with the openai-compatible provider: native tool
// calls against the loopback stub, through the ledger (tool calls survive the
// ledger round trip: a second episode is answered without any request).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runToolCallEpisode } from '../../agents/episode-tool-calls.js';
import { chatModelFor, resolveModelPath } from '../../agents/models.js';
import { LedgeredChatModel } from '../../agents/ledgered-model.js';
import { MemoryLedger } from '../../store/ledger.js';
import { makeTool } from '../../tools/registry.js';
import { packageRoot } from '../../runtime/paths.js';
import { startOpenAIStub, type OpenAIStub } from '../integration/fixtures/openai-stub.js';

let stub: OpenAIStub;
beforeAll(async () => {
  stub = await startOpenAIStub({ faultRate: 0 });
});
afterAll(async () => stub?.close());

const q = { id: 'q1', question: 'Ann has 12 apples and buys 30 more. How many now?', answer: '42', dataset: 'gsm8k', solution: 'She has 12+30=<<12+30=42>>42.\n#### 42' };

describe('tool-calls protocol', () => {
  it('runs native tool calls through the ledger and writes the trajectory in tag form', async () => {
    const ctx = { modelsDir: '/nonexistent', projectRoot: packageRoot, env: {} };
    const inner = chatModelFor('policy', { provider: 'openai-compatible', model: 'stub-model', baseUrl: stub.baseUrl, temperature: 1, seed: 3 }, ctx);
    const ledger = new MemoryLedger();
    const opts = { tools: { calculator: makeTool('calculator', { kind: 'calculator' }, packageRoot).tool }, maxSteps: 3, sample: 0, seed: 3, modelName: 'stub-model' };
    const t = await runToolCallEpisode(new LedgeredChatModel(inner, ledger, { purpose: 'rollout', sampleKey: 'q1#0' }), q, opts);
    expect(t.status).toBe('answered');
    // The same record as the tag protocol: the question and the worked solution travel with it (the reference judge reads it).
    expect(t).toMatchObject({ question: q.question, reference: q.solution, gold: '42' });
    expect(t.steps).toEqual([
      { index: 0, kind: 'calculator', content: '12 + 30', observation: '42.0' },
      { index: 1, kind: 'answer', content: '42.0' },
    ]);
    expect(t.messages.map((m) => m.content).slice(1)).toEqual(['<math_exp>12 + 30</math_exp>', '12 + 30 -> 42.0', '<answer>42.0</answer>']);
    // The request carried the tool's schema and, on the second turn, the tool result.
    expect(stub.requests).toHaveLength(2);
    const requests = stub.requests.length;
    const again = await runToolCallEpisode(new LedgeredChatModel(inner, ledger, { purpose: 'rollout', sampleKey: 'q1#0' }), q, opts);
    expect(again).toEqual(t);
    expect(stub.requests).toHaveLength(requests);
    expect((await ledger.audit()).keys).toBe(2);
  });

  it('fails clearly for models without native tool calling, and for missing providers or keys', () => {
    expect(() => chatModelFor('c', { provider: 'anthropic', model: 'claude' }, { modelsDir: '', projectRoot: packageRoot, env: {} })).toThrow(/needs `apiKey: \$\{env:ANTHROPIC_API_KEY\}`/);
    expect(() => chatModelFor('o', { provider: 'openai', model: 'gpt', apiKeyEnv: 'SWIRL_TEST_UNSET_KEY' }, { modelsDir: '', projectRoot: packageRoot, env: {} })).toThrow(/SWIRL_TEST_UNSET_KEY is not set/);
    expect(() => chatModelFor('o', { provider: 'openai-compatible', model: 'x' }, { modelsDir: '', projectRoot: packageRoot })).toThrow(/needs a baseUrl/);
    expect(typeof resolveModelPath).toBe('function');
  });

  it('refuses tool-calls for a model without bindTools instead of ignoring the tools', async () => {
    const { FakeListChatModel } = await import('@langchain/core/utils/testing');
    const plain = new FakeListChatModel({ responses: ['x'] });
    (plain as { bindTools?: unknown }).bindTools = undefined;
    const m = new LedgeredChatModel(plain, new MemoryLedger(), { purpose: 'rollout' });
    await expect(runToolCallEpisode(m, q, { tools: { calculator: makeTool('calculator', { kind: 'calculator' }, packageRoot).tool }, maxSteps: 1, sample: 0, modelName: 'fake' })).rejects.toThrow(/native tool calling .* is not available/);
  });

  it('a turn with a malformed call (invalid_tool_calls) ends the episode as no_action, through the ledger', async () => {
    const { BaseChatModel } = await import('@langchain/core/language_models/chat_models');
    const { AIMessage } = await import('@langchain/core/messages');
    // What LlamaCppChat returns when the model starts a call it does not finish in its wrapper's syntax.
    class Malformed extends BaseChatModel {
      _llmType() {
        return 'malformed';
      }
      override bindTools() {
        return this;
      }
      async _generate() {
        const text = 'Let me see. <tool_call>{"name": "calculator", "arguments": {12 + 30}}</tool_call>';
        const message = new AIMessage({ content: text, invalid_tool_calls: [{ name: 'calculator', args: text.slice(12), id: 'bad', error: 'the parameters are not JSON', type: 'invalid_tool_call' }] });
        return { generations: [{ text, message }] };
      }
    }
    const m = new LedgeredChatModel(new Malformed({}), new MemoryLedger(), { purpose: 'rollout' });
    const t = await runToolCallEpisode(m, q, { tools: { calculator: makeTool('calculator', { kind: 'calculator' }, packageRoot).tool }, maxSteps: 2, sample: 0, modelName: 'malformed' });
    expect(t.status).toBe('no_action');
    expect(t.steps).toEqual([]);
    expect(t.lastText).toContain('<tool_call>');
  });
});
