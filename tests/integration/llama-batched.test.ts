// Batched sampling and KV reuse on the real embedded model (agents/llama-cpp-chat.ts):
// sequences decoded together read their own logits, a turn reuses its
// conversation's KV cache, and a kept prefix longer than Gemma 3's sliding
// window still gives the text a cleared sequence gives (the race this guards
// against: serializeSampling in agents/llama-cpp-chat.ts; the first test fails
// without it). Prompts are chosen so
// that greedy decoding is confident: float differences between a batch and a
// lone sequence cannot flip these few tokens, cross-talk between sequences can.
import { AIMessage, HumanMessage, type BaseMessage } from '@langchain/core/messages';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LlamaCppChat, runtimeStats, type LlamaCppChatParams } from '../../agents/llama-cpp-chat.js';
import { resolveModelPath } from '../../agents/models.js';
import { packageRoot } from '../../runtime/paths.js';

const modelPath = resolveModelPath('gemma3-270m', { modelsDir: path.join(packageRoot, '.swirl', 'models'), projectRoot: packageRoot });
const base: LlamaCppChatParams = { modelPath, modelName: 'gemma3-270m', threads: 2, contextSize: 2048, temperature: 0, maxTokens: 6 };

const text = async (chat: LlamaCppChat, messages: BaseMessage[], maxTokens = 6) => String((await chat.invoke(messages, { maxTokens })).content);

const PROMPTS = [
  'Continue the sequence: 1, 2, 3, 4, 5, 6,',
  'Continue the alphabet: A, B, C, D, E, F,',
  'Continue the list: Monday, Tuesday, Wednesday,',
  'Continue the sequence: 10, 20, 30, 40, 50,',
];

describe('llama-cpp batched sampling', () => {
  it('sequences decoded together each continue their own prompt (as one sequence alone does)', async () => {
    const alone = new LlamaCppChat({ ...base, sequences: 1, kvReuse: false, contextSize: 1024 });
    const expected: string[] = [];
    for (const p of PROMPTS) expected.push(await text(alone, [new HumanMessage(p)]));
    const batched = new LlamaCppChat({ ...base, sequences: 4, contextSize: 1024 });
    // Twice: the second round also runs with the sequences' KV caches holding other prompts.
    for (let round = 0; round < 2; round++) {
      const got = await Promise.all(PROMPTS.map((p) => text(batched, [new HumanMessage(p)])));
      expect(got).toEqual(expected);
    }
  }, 300_000);

  it('a turn reuses its conversation: only the new tokens are evaluated, the answer is unchanged', async () => {
    const chat = new LlamaCppChat({ ...base, sequences: 2, contextSize: 1536 });
    const fresh = new LlamaCppChat({ ...base, sequences: 1, kvReuse: false, contextSize: 1536 });
    const first = [new HumanMessage(`${'The list goes on. '.repeat(20)}Continue the sequence: 1, 2, 3, 4,`)];
    const answer = await text(chat, first);
    const second = [...first, new AIMessage(answer), new HumanMessage('Continue the sequence: 7, 8, 9, 10,')];
    const before = await runtimeStats(chat.params);
    const reply = await text(chat, second);
    const after = await runtimeStats(chat.params);
    const firstTokens = (await chat.invoke(first, { maxTokens: 1 })).usage_metadata!.input_tokens;
    // The whole first prompt came from the cache (it is a prefix of the second).
    expect(after.reusedTokens - before.reusedTokens).toBeGreaterThanOrEqual(firstTokens - 1);
    expect(reply).toBe(await text(fresh, second));
  }, 300_000);

  it('a kept prefix longer than the sliding window gives the cleared sequence’s text (Gemma 3)', async () => {
    const chat = new LlamaCppChat({ ...base, sequences: 1, contextSize: 2048 });
    const fresh = new LlamaCppChat({ ...base, sequences: 1, kvReuse: false, contextSize: 2048 });
    // ~900 tokens, past gemma3-270m's 512-token window, then a second turn on top.
    const long = [new HumanMessage(`${'Numbers are fun to count and to write down. '.repeat(90)}Continue the sequence: 1, 2, 3, 4,`)];
    const a = await text(chat, long);
    const next = [...long, new AIMessage(a), new HumanMessage('Continue the alphabet: A, B, C, D,')];
    expect(await text(chat, next)).toBe(await text(fresh, next));
  }, 300_000);

  it('with log-probs: the same greedy text, ids that decode to the text and its stop sequence, one log-prob per id', async () => {
    const chat = new LlamaCppChat({ ...base, sequences: 2, contextSize: 1024 });
    const msgs = [new HumanMessage('Write the tag <b>5 + 5</b> exactly.')];
    const plain = await chat.invoke(msgs, { maxTokens: 24, stop: ['</b>'] });
    const withLp = await chat.invoke(msgs, { maxTokens: 24, stop: ['</b>'], logprobs: true });
    expect(withLp.content).toBe(plain.content);
    const lp = (withLp.response_metadata as { logprobs: { content: Array<{ token: string; id: number; logprob: number }> } }).logprobs.content;
    expect(lp.length).toBe(withLp.usage_metadata!.output_tokens);
    expect(lp.every((t) => Number.isInteger(t.id) && t.logprob <= 0 && Number.isFinite(t.logprob))).toBe(true);
    const decoded = lp.map((t) => t.token).join('');
    expect(decoded.startsWith(String(withLp.content))).toBe(true);
    // Generation ended at the stop sequence (or the end of the turn): its tokens were sampled too.
    expect(decoded.length).toBeGreaterThan(String(withLp.content).length);
  }, 300_000);

  it('with log-probs at temperature 1 untruncated: the same seed gives the same sample, batched or not', async () => {
    const msgs = [new HumanMessage('Name a fruit.')];
    const opts = { maxTokens: 12, temperature: 1, topK: 0, topP: 1, seed: 7, logprobs: true };
    const alone = new LlamaCppChat({ ...base, sequences: 1, kvReuse: false, contextSize: 512 });
    const batched = new LlamaCppChat({ ...base, sequences: 2, contextSize: 1024 });
    const ids = (m: AIMessage) => (m.response_metadata as { logprobs: { content: Array<{ id: number }> } }).logprobs.content.map((t) => t.id);
    const a = await alone.invoke(msgs, opts);
    const b = await alone.invoke(msgs, opts);
    expect(ids(b)).toEqual(ids(a));
    const [c] = await Promise.all([batched.invoke(msgs, opts), batched.invoke([new HumanMessage('Name a colour.')], opts)]);
    // Batched float sums may differ in the last bits; at these few tokens the draw does not.
    expect(ids(c)).toEqual(ids(a));
  }, 300_000);
});
