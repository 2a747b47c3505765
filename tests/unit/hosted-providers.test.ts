// The anthropic and google providers against loopback stubs of their APIs
// (tests/integration/fixtures/hosted-stubs.ts): a tag-protocol and a
// tool-calls episode each, through the LLM call ledger and the model's gate.
// Also: the key reaches the API only as its header (never the Plan, a ledger
// request or a stored answer, or the trajectory), usage and cost reach the
// ledger, 429 + Retry-After is retried by swirl's gate (the SDKs' own retries
// are off), and configuration mistakes fail with clear errors.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HumanMessage } from '@langchain/core/messages';
import { runEpisode } from '../../agents/episode.js';
import { runToolCallEpisode } from '../../agents/episode-tool-calls.js';
import { chatModelFor, gateFor, ledgeredModelFor } from '../../agents/models.js';
import { resetGates, type ModelGate } from '../../agents/limits.js';
import { MemoryLedger, type CompletedCall } from '../../store/ledger.js';
import { makeTool } from '../../tools/registry.js';
import { packageRoot } from '../../runtime/paths.js';
import { compileSource } from '../../compiler/index.js';
import { planJson } from '../../compiler/plan.js';
import type { PlanModel } from '../../compiler/plan-types.js';
import { startAnthropicStub, startGeminiStub, type HostedStub, type HostedStubOptions } from '../integration/fixtures/hosted-stubs.js';

/** A MemoryLedger that keeps every completed call, to look for secrets in what is stored. */
class RecordingLedger extends MemoryLedger {
  readonly completed: CompletedCall[] = [];
  override async recordCompletion(call: CompletedCall): Promise<CompletedCall> {
    this.completed.push(structuredClone(call));
    return super.recordCompletion(call);
  }
}

const q = { id: 'q1', question: 'Ann has 12 apples and buys 30 more. How many now?', answer: '42', dataset: 'gsm8k' };
const calculator = () => makeTool('calculator', { kind: 'calculator' }, packageRoot).tool;
const price = { inputPerMTok: 3, outputPerMTok: 15 };

interface Case {
  provider: 'anthropic' | 'google';
  keyVar: string;
  model: string;
  start: (o: HostedStubOptions) => Promise<HostedStub>;
  keyHeader: string;
  /** The stop sequences a request carried. */
  stopOf: (body: Record<string, unknown>) => unknown;
  /** The tool names a request declared. */
  toolsOf: (body: Record<string, unknown>) => string[];
}

const cases: Case[] = [
  {
    provider: 'anthropic',
    keyVar: 'ANTHROPIC_API_KEY',
    model: 'claude-stub-1',
    start: startAnthropicStub,
    keyHeader: 'x-api-key',
    stopOf: (b) => b.stop_sequences,
    toolsOf: (b) => ((b.tools as Array<{ name: string }> | undefined) ?? []).map((t) => t.name),
  },
  {
    provider: 'google',
    keyVar: 'GOOGLE_API_KEY',
    model: 'gemini-stub-1',
    start: startGeminiStub,
    keyHeader: 'x-goog-api-key',
    stopOf: (b) => (b.generationConfig as { stopSequences?: unknown }).stopSequences,
    toolsOf: (b) => ((b.tools as Array<{ functionDeclarations?: Array<{ name: string }> }> | undefined) ?? []).flatMap((t) => (t.functionDeclarations ?? []).map((d) => d.name)),
  },
];

const stubs: HostedStub[] = [];
afterEach(async () => {
  await Promise.all(stubs.splice(0).map((s) => s.close()));
  resetGates();
});

describe.each(cases)('$provider provider', (c) => {
  const secret = `sk-${c.provider}-test-${'7f3a'.repeat(6)}`;
  const env = { [c.keyVar]: secret };
  const ctx = { modelsDir: '/nonexistent', projectRoot: packageRoot, env };
  async function setup(opts: Partial<HostedStubOptions> = {}) {
    const stub = await c.start({ apiKey: secret, ...opts });
    stubs.push(stub);
    const m: PlanModel = { provider: c.provider, model: c.model, baseUrl: stub.baseUrl, apiKeyEnv: c.keyVar, temperature: 1, maxTokens: 128, seed: 3, price };
    return { stub, m, ledger: new RecordingLedger() };
  }
  const noSecret = (what: string, text: string) => expect(text.includes(secret), `${what} holds the API key`).toBe(false);

  it('runs a tag-protocol episode: stop sequences sent, calculator step and answer, usage and cost in the ledger', async () => {
    const { stub, m, ledger } = await setup();
    const model = ledgeredModelFor('policy', m, ctx, ledger, { purpose: 'rollout', runId: 'r1', stageId: 'rollouts', sampleKey: 'q1#0' });
    const t = await runEpisode(model, q, { tools: { calculator: calculator() }, maxSteps: 3, sample: 0, seed: 3, temperature: 1, maxTokens: 128, modelName: c.model });
    expect(t.status).toBe('answered');
    expect(t.steps).toEqual([
      { index: 0, kind: 'calculator', content: '12 + 30', observation: '42.0' },
      { index: 1, kind: 'answer', content: '42.0' },
    ]);
    expect(t.messages.map((x) => x.content).slice(1)).toEqual(['I add the first two numbers. <math_exp>12 + 30</math_exp>', '12 + 30 -> 42.0', 'The result is 42.0. <answer>42.0</answer>']);
    expect(stub.requests.map((r) => r.status)).toEqual([200, 200]);
    for (const r of stub.requests) {
      expect(c.stopOf(r.body)).toEqual(['</math_exp>', '</answer>']);
      expect(r.headers[c.keyHeader]).toBe(secret);
    }
    // Per-call settings reach the API (the packages read only instance settings).
    if (c.provider === 'anthropic') expect(stub.requests[0]!.body).toMatchObject({ model: c.model, temperature: 1, max_tokens: 128 });
    else expect(stub.requests[0]!.body.generationConfig).toMatchObject({ temperature: 1, maxOutputTokens: 128, seed: expect.any(Number) });
    // Usage: what the API reported, summed in the trajectory and in the ledger, priced.
    expect(t.usage.modelCalls).toBe(2);
    expect(t.usage.inputTokens).toBeGreaterThan(0);
    const stats = await ledger.stats({ runId: 'r1' });
    expect(stats).toMatchObject({ calls: 2, reused: 0, inputTokens: t.usage.inputTokens, outputTokens: t.usage.outputTokens });
    expect(stats.costUsd).toBeCloseTo((t.usage.inputTokens * 3 + t.usage.outputTokens * 15) / 1e6, 12);
    expect(ledger.completed.map((x) => x.provider)).toEqual([c.provider, c.provider]);
    // A rerun is answered by the ledger alone.
    const again = await runEpisode(model, q, { tools: { calculator: calculator() }, maxSteps: 3, sample: 0, seed: 3, temperature: 1, maxTokens: 128, modelName: c.model });
    expect(again).toEqual(t);
    expect(stub.requests).toHaveLength(2);
    noSecret('trajectory', JSON.stringify(t));
    noSecret('ledger rows', JSON.stringify(ledger.completed));
  });

  it('runs a tool-calls episode: native tool call with the calculator, result back as a tool message', async () => {
    const { stub, m, ledger } = await setup();
    const model = ledgeredModelFor('policy', m, ctx, ledger, { purpose: 'rollout', sampleKey: 'q1#0' });
    const opts = { tools: { calculator: calculator() }, maxSteps: 3, sample: 0, seed: 3, modelName: c.model };
    const t = await runToolCallEpisode(model, q, opts);
    expect(t.status).toBe('answered');
    expect(t.steps).toEqual([
      { index: 0, kind: 'calculator', content: '12 + 30', observation: '42.0' },
      { index: 1, kind: 'answer', content: '42.0' },
    ]);
    const assistant = t.messages.filter((x) => x.role === 'assistant').map((x) => x.content);
    expect(assistant.at(-1)).toBe('<answer>42.0</answer>');
    expect(assistant[0]).toMatch(/<math_exp>12 \+ 30<\/math_exp>$/);
    expect(assistant[0]).not.toContain('tool_use'); // flattened text, not JSON content blocks
    expect(stub.requests.map((r) => r.status)).toEqual([200, 200]);
    expect(c.toolsOf(stub.requests[0]!.body)).toEqual(['calculator']);
    // The second request carried the tool's result, tied to the first turn's call.
    const second = JSON.stringify(stub.requests[1]!.body);
    expect(second).toContain(c.provider === 'anthropic' ? '"tool_result"' : '"functionResponse"');
    expect(second).toContain('42.0');
    const stats = await ledger.stats();
    expect(stats.calls).toBe(2);
    expect(stats.outputTokens).toBe(t.usage.outputTokens);
    // Tool calls survive the ledger round trip: a rerun makes no request.
    const again = await runToolCallEpisode(model, q, opts);
    expect(again).toEqual(t);
    expect(stub.requests).toHaveLength(2);
    noSecret('trajectory', JSON.stringify(t));
    noSecret('ledger rows', JSON.stringify(ledger.completed));
  });

  it('retries a 429 with Retry-After in swirl\'s gate (the SDK does not retry on its own)', async () => {
    const { stub, m, ledger } = await setup({ failFirst: 1, retryAfterS: 1 });
    const gate = gateFor('policy', m) as ModelGate; // on the main thread the gate is the worker's ModelGate
    const events: number[] = [];
    gate.onRetry = (e) => events.push(e.error.retryAfterMs ?? -1);
    const model = ledgeredModelFor('policy', m, ctx, ledger, { purpose: 'judge', sampleKey: 'x' });
    const t0 = Date.now();
    const res = await model.invoke([new HumanMessage('Question: 2 and 3?')], { stop: ['</math_exp>'] });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(String(res.content)).toBe('I add the first two numbers. <math_exp>2 + 3');
    expect(stub.requests.map((r) => r.status)).toEqual([429, 200]);
    expect(events).toEqual([1000]);
    expect(gate.counters).toMatchObject({ retries: 1, retryAfterWaits: 1 });
    expect((await ledger.audit()).attempts).toBe(2);
  });

  it('keeps the key out of the Plan and the ledger request; reads it from the env variable the spec names', async () => {
    const { m, ledger } = await setup();
    const spec = path.join(packageRoot, 'pipelines/quickstart.yaml');
    const src = readFileSync(spec, 'utf8').replace('models:\n', `models:\n  hosted:\n    provider: ${c.provider}\n    model: ${c.model}\n    apiKey: \${env:${c.keyVar}}\n    price: {inputPerMTok: 3, outputPerMTok: 15}\n`);
    process.env[c.keyVar] = secret;
    try {
      const r = compileSource(src, spec);
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      noSecret('plan', planJson(r.plan));
      expect(r.plan.models.hosted).toEqual({ provider: c.provider, model: c.model, apiKeyEnv: c.keyVar, price });
    } finally {
      delete process.env[c.keyVar];
    }
    const model = ledgeredModelFor('policy', m, ctx, ledger, { purpose: 'judge' });
    const req = model.requestFor([new HumanMessage('hi')], { stop: ['</answer>'] });
    noSecret('ledger request', JSON.stringify(req));
    expect(req).toMatchObject({ provider: c.provider, model: c.model });
  });

  it('fails clearly without the key, the variable, or a model name', () => {
    expect(() => chatModelFor('p', { provider: c.provider, model: c.model, apiKeyEnv: 'SWIRL_TEST_UNSET_KEY' }, { ...ctx, env: {} })).toThrow(/environment variable SWIRL_TEST_UNSET_KEY is not set on this worker/);
    expect(() => chatModelFor('p', { provider: c.provider, model: c.model }, ctx)).toThrow(new RegExp(`needs \`apiKey: \\$\\{env:${c.keyVar}\\}\``));
    expect(() => chatModelFor('p', { provider: c.provider, apiKeyEnv: c.keyVar }, ctx)).toThrow(/needs `model`/);
  });
});

describe('anthropic stop sequences', () => {
  it('drops whitespace-only stop sequences, which the Messages API rejects', async () => {
    const secret = 'sk-ant-stop-test';
    const stub = await startAnthropicStub({ apiKey: secret });
    stubs.push(stub);
    const model = chatModelFor('p', { provider: 'anthropic', model: 'claude-stub-1', baseUrl: stub.baseUrl, apiKeyEnv: 'K' }, { modelsDir: '', projectRoot: packageRoot, env: { K: secret } });
    const res = await model.invoke([new HumanMessage('Question: 1 and 2?')], { stop: ['\n\n', ' ', '</math_exp>'] });
    expect(stub.requests[0]!.body.stop_sequences).toEqual(['\n\n', '</math_exp>'].filter((s) => s.trim() !== ''));
    expect(String(res.content)).toBe('I add the first two numbers. <math_exp>1 + 2');
  });
});
