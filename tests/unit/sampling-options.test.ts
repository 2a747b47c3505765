// A model's sampling options reach the provider in every role it plays:
// policy (rollout, and evaluate through the same processor), process judge
// (filter), outcome judge (evaluate), reward model (train's swirl objective
// builds it with the same factory as the filter). Checked on the wire: what
// an OpenAI-compatible endpoint receives.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeOutcomeJudge, makeProcessJudge } from '../../activities/judge.js';
import { rolloutProcessor } from '../../activities/rollout.js';
import type { PlanModel } from '../../compiler/plan-types.js';
import { packageRoot } from '../../runtime/paths.js';
import { MemoryLedger } from '../../store/ledger.js';

interface Seen {
  model: string;
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  top_p?: number;
}
const seen: Seen[] = [];
let server: http.Server;
let baseUrl = '';

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const b = JSON.parse(body) as Seen & { messages: Array<{ content: string }> };
      seen.push(b);
      const prompt = b.messages.map((m) => m.content).join('\n');
      // Process judges answer GOOD, outcome judges YES, the policy answers at once.
      const content = /GOOD|BAD/.test(prompt) ? 'The step is fine. GOOD' : /YES|NO/.test(prompt) ? 'Matches. YES' : '<answer>4</answer>';
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: b.model, choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => server.close());

const model = (name: string, extra: Partial<PlanModel>): PlanModel => ({ provider: 'openai-compatible', baseUrl, model: name, ...extra }) as PlanModel;
const tokensOf = (s: Seen) => s.max_tokens ?? s.max_completion_tokens;
const last = (name: string) => {
  const r = seen.filter((s) => s.model === name);
  expect(r.length, `no request for ${name}`).toBeGreaterThan(0);
  return r[r.length - 1]!;
};
const deps = () => ({ modelsDir: '/nonexistent', ledger: new MemoryLedger() });
const view = { question: 'What is 2+2?', gold: '4', messages: [{ role: 'user' as const, content: 'What is 2+2?' }, { role: 'assistant' as const, content: '<answer>4</answer>' }], actionKind: 'answer' as const, content: '<answer>4</answer>', toolKinds: ['calculator' as const] };

describe('sampling options per role', () => {
  it('policy (rollout, evaluate): maxTokens, temperature and topP of the model', async () => {
    const process = rolloutProcessor('/nonexistent', new MemoryLedger());
    const config = { modelName: 'policy', model: model('policy-m', { maxTokens: 40, temperature: 0.7, topP: 0.9, seed: 3 }), tools: { calc: { kind: 'calculator' } }, maxSteps: 1, projectRoot: packageRoot };
    const r = await process({ question: { id: 'q1', question: 'What is 2+2?', answer: '4', dataset: 'gsm8k' }, sample: 0 }, { index: 0, shardKey: 'run/rollouts/shard-00000', stageId: 'rollouts', config, signal: new AbortController().signal });
    expect(r.outcome).toBe('succeeded');
    const s = last('policy-m');
    expect(tokensOf(s)).toBe(40);
    expect(s.temperature).toBe(0.7);
    expect(s.top_p).toBe(0.9);
  });

  it('process judge (filter): the judge model maxTokens, not a default of 256', async () => {
    const ctx = { projectRoot: packageRoot, models: { judge: model('judge-m', { maxTokens: 64, topP: 0.5 }) } };
    const v = await makeProcessJudge({ model: 'judge' }, ctx, deps()).judgeStep(view);
    expect(v.verdict).toBe('GOOD');
    const s = last('judge-m');
    expect(tokensOf(s)).toBe(64);
    expect(s.top_p).toBe(0.5);
    expect(s.temperature).toBe(0); // verdicts are greedy by design
  });

  it('outcome judge (evaluate): the judge model maxTokens', async () => {
    const ctx = { projectRoot: packageRoot, models: { grader: model('grader-m', { maxTokens: 32 }) } };
    const o = await makeOutcomeJudge({ model: 'grader' }, ctx, deps()).judgeOutcome({ question: 'What is 2+2?', gold: '4', answer: 'four', dataset: 'gsm8k' });
    expect(o.correct).toBe(true);
    expect(tokensOf(last('grader-m'))).toBe(32);
  });

  it('reward model (train, swirl objective): the reward model maxTokens', async () => {
    const ctx = { projectRoot: packageRoot, models: { reward: model('reward-m', { maxTokens: 16 }) } };
    await makeProcessJudge({ model: 'reward' }, ctx, deps()).judgeStep(view);
    expect(tokensOf(last('reward-m'))).toBe(16);
  });

  it('a judge model without maxTokens keeps the judge default (256)', async () => {
    const ctx = { projectRoot: packageRoot, models: { plain: model('plain-m', {}) } };
    await makeProcessJudge({ model: 'plain' }, ctx, deps()).judgeStep(view);
    expect(tokensOf(last('plain-m'))).toBe(256);
  });
});
