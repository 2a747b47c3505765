// Back-pressure on a real Temporal server with the OpenAI-compatible loopback
// stub: (a) the endpoint fails every request for a while → the model's breaker
// opens → `swirl status` shows the stage paused on it, no activity retry is
// spent → the endpoint recovers → the stage completes with the right counts;
// (b) a run budget of a few hundred tokens → the run pauses on it → `swirl
// resume --max-tokens` raises it → the run completes having paid for exactly
// the calls an unbudgeted run pays for (none twice).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { compileFile } from '../../compiler/index.js';
import { packageRoot } from '../../runtime/paths.js';
import { FsArtifactStore } from '../../store/artifacts.js';
import { SqliteLedger } from '../../store/ledger-sqlite.js';
import { MemoryStageCache } from '../../store/stage-cache.js';
import type { RunStatus } from '../../cli/commands/status.js';
import type { PipelineInput, PipelineResult } from '../../workflows/types.js';
import { startOpenAIStub, type OpenAIStub } from './fixtures/openai-stub.js';
import { maxShardAttempt, swirl, tempStateDir, testWorkers } from './helpers.js';

const QUESTIONS = 4;
const address = () => inject('temporalAddress');
const specDir = path.join(packageRoot, '.swirl', 'test-specs');
let stub: OpenAIStub;

function spec(name: string, extra: { budget?: string; breaker?: string; seed: number }): string {
  const file = path.join(specDir, `${name}-${process.pid}.yaml`);
  writeFileSync(
    file,
    `apiVersion: swirl/v1
kind: Pipeline
metadata: {name: ${name}}
defaults: {timeout: 2m, concurrency: 2, retry: {maxAttempts: 3, initialInterval: 1s}}
${extra.budget ? `budget: ${extra.budget}\n` : ''}models:
  policy:
    provider: openai-compatible
    model: stub-model
    baseUrl: ${stub.baseUrl}
    temperature: 1.0
    maxTokens: 64
    seed: ${extra.seed}
    requestTimeout: 2s
    ${extra.breaker ? `breaker: ${extra.breaker}` : ''}
    price: {inputPerMTok: 2, outputPerMTok: 8}
tools:
  calculator: {kind: calculator}
stages:
  - id: questions
    type: dataset
    path: ../../data/gsm8k/test.jsonl
    format: gsm8k
    seed: 5
    limit: ${QUESTIONS}
  - id: rollouts
    type: rollout
    input: questions
    model: policy
    tools: [calculator]
    samples: 1
    maxSteps: 2
    shardSize: 2
    cache: false
`,
  );
  return file;
}

async function worker(tag: string) {
  const state = tempStateDir();
  const queues = { orchestration: `${tag}.orchestration`, llm: `${tag}.llm`, train: `${tag}.train` };
  const ledger = new SqliteLedger(path.join(state, 'ledger.db'));
  const w = await testWorkers({ address: address(), queues, roles: ['orchestration', 'llm'], deps: { store: new FsArtifactStore(path.join(state, 'artifacts')), cache: new MemoryStageCache(), scratchDir: path.join(state, 'scratch'), ledger } });
  const start = (file: string, workflowId: string) => {
    const c = compileFile(file);
    if (!c.ok) throw new Error(JSON.stringify(c.errors));
    const input: PipelineInput = { plan: c.plan, projectRoot: c.projectRoot, queues };
    return w.client.workflow.start('pipelineWorkflow', { taskQueue: queues.orchestration, workflowId, args: [input] });
  };
  return { ...w, ledger, start, stopAll: async () => (await w.stop(), ledger.close()) };
}

const env = () => ({ TEMPORAL_ADDRESS: address(), SWIRL_STATE_DIR: tempStateDir() });

async function status(id: string): Promise<RunStatus> {
  const r = await swirl(['status', id, '--json'], env(), 60_000);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as RunStatus;
}

/** Polls `swirl status` until `ok` holds (or fails after `ms`). */
async function statusUntil(id: string, ok: (s: RunStatus) => boolean, ms: number): Promise<RunStatus> {
  const until = Date.now() + ms;
  for (;;) {
    const s = await status(id);
    if (ok(s)) return s;
    if (Date.now() > until) throw new Error(`status never matched: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

beforeAll(async () => {
  stub = await startOpenAIStub({ faultRate: 0 });
  mkdirSync(specDir, { recursive: true });
});

afterAll(async () => {
  await stub?.close();
  for (const n of ['bb-breaker', 'bb-budget', 'bb-ref']) rmSync(path.join(specDir, `${n}-${process.pid}.yaml`), { force: true });
});

describe('breaker and budget pause the run instead of failing it', () => {
  it('(a) an open breaker pauses the stage (visible in status) without spending retries; it completes once the model is back', async () => {
    const w = await worker(`it-bb-a-${process.pid}`);
    try {
      stub.setDown(true);
      const id = `it-bb-breaker-${process.pid}-${Date.now()}`;
      const h = await w.start(spec('bb-breaker', { breaker: '{failures: 2, cooldown: 2s}', seed: 21 }), id);
      const paused = await statusUntil(id, (s) => /breaker open: policy, until \d{4}-/.test(s.progress?.rollouts?.pauseReason ?? ''), 40_000);
      expect(paused.progress!.rollouts!.paused).toBe(true);
      const downRequests = stub.requests.filter((q) => q.fault === 'down').length;
      expect(downRequests).toBeGreaterThanOrEqual(2);
      // Still down through at least one more breaker cycle (the half-open probe fails and reopens it).
      await new Promise((r) => setTimeout(r, 3_000));
      stub.setDown(false);
      const result = (await h.result()) as PipelineResult;
      const rollouts = result.stages.find((s) => s.id === 'rollouts')!;
      expect(rollouts.status).toBe('completed');
      expect(rollouts.counts).toEqual({ succeeded: QUESTIONS, failed: 0, filtered: 0 });
      // No activity retry was spent: every shard activity ran as attempt 1; shards were restarted as new runs.
      expect(await maxShardAttempt(w.client, `${id}/rollouts`)).toBe(1);
      let shardRuns = 0;
      for await (const _ of w.client.workflow.list({ query: `WorkflowId STARTS_WITH '${id}/rollouts/shard-'` })) shardRuns++;
      expect(shardRuns).toBeGreaterThan(QUESTIONS / 2);
      // Each distinct call paid for once.
      const audit = await w.ledger.audit();
      expect(audit.duplicated).toEqual([]);
      expect(audit.keys).toBe(QUESTIONS * 2);
      console.log(`breaker: ${downRequests} requests refused while down, ${shardRuns} shard runs for ${QUESTIONS / 2} shards, status said "${paused.progress!.rollouts!.pauseReason}"`);
    } finally {
      stub.setDown(false);
      await w.stopAll();
    }
  }, 120_000);

  it('(b) a spent budget pauses the run; `swirl resume --max-tokens` raises it and the run completes, no call paid twice', async () => {
    // Reference: the same Plan without a budget, on its own ledger.
    const ref = await worker(`it-bb-ref-${process.pid}`);
    let refCalls: number;
    let refOutput: string | undefined;
    try {
      const before = stub.requests.length;
      const r = (await (await ref.start(spec('bb-ref', { seed: 33 }), `it-bb-ref-${process.pid}-${Date.now()}`)).result()) as PipelineResult;
      refCalls = stub.requests.length - before;
      refOutput = r.stages.find((s) => s.id === 'rollouts')!.output?.hash;
    } finally {
      await ref.stopAll();
    }
    expect(refCalls).toBe(QUESTIONS * 2);

    const w = await worker(`it-bb-b-${process.pid}`);
    try {
      const before = stub.requests.length;
      const id = `it-bb-budget-${process.pid}-${Date.now()}`;
      const h = await w.start(spec('bb-budget', { budget: '{maxTokens: 300}', seed: 33 }), id);
      const paused = await statusUntil(id, (s) => s.status === 'PAUSED' && !!s.pauseReason, 40_000);
      expect(paused.pauseReason).toMatch(/^budget reached \(tokens \d+ of 300\)$/);
      expect(paused.progress?.rollouts?.pauseReason).toMatch(/^budget reached/);
      const spent = await w.ledger.stats({ runId: id });
      expect(spent.inputTokens + spent.outputTokens).toBeGreaterThanOrEqual(300);
      expect(spent.calls).toBeLessThan(QUESTIONS * 2);
      // It stays paused: nothing more is sent.
      const sentAtPause = stub.requests.length;
      await new Promise((r) => setTimeout(r, 1_500));
      expect(stub.requests.length).toBe(sentAtPause);

      // A bad raise is refused with a hint; a good one resumes the run.
      const bad = await swirl(['resume', id, '--max-tokens', 'lots'], env(), 60_000);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/--max-tokens must be a whole number/);
      const ok = await swirl(['resume', id, '--max-tokens', '100000'], env(), 60_000);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/budget raised/);

      const result = (await h.result()) as PipelineResult;
      const rollouts = result.stages.find((s) => s.id === 'rollouts')!;
      expect(rollouts.counts).toEqual({ succeeded: QUESTIONS, failed: 0, filtered: 0 });
      // The same trajectories as the unbudgeted run, and the same number of calls paid: none twice.
      expect(rollouts.output?.hash).toBe(refOutput);
      expect(stub.requests.length - before).toBe(refCalls);
      const audit = await w.ledger.audit();
      expect(audit.duplicated).toEqual([]);
      expect((await w.ledger.stats({ runId: id })).calls).toBe(refCalls);
      console.log(`budget: paused at "${paused.pauseReason}" after ${spent.calls} calls; ${refCalls} calls in all, as without a budget`);
    } finally {
      await w.stopAll();
    }
  }, 120_000);
});
