// Fault injection: a real Temporal run of a rollout stage against an
// OpenAI-compatible stub server on loopback that answers ~20% of first
// attempts with 429s, 500/503s (some with Retry-After), hangs past the
// request timeout and malformed bodies. The stage completes with the right
// counts, no duplicated trajectories, one paid answer per distinct request,
// Retry-After waits honoured; a second run reuses every call from the ledger.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { packageRoot } from '../../runtime/paths.js';
import { FsArtifactStore } from '../../store/artifacts.js';
import { SqliteLedger } from '../../store/ledger-sqlite.js';
import type { Trajectory } from '../../agents/types.js';
import type { StageState } from '../../workflows/types.js';
import { startOpenAIStub, type OpenAIStub } from './fixtures/openai-stub.js';
import { swirl, tempStateDir } from './helpers.js';

const QUESTIONS = 10;
const SAMPLES = 2;

let stub: OpenAIStub;
const specDir = path.join(packageRoot, '.swirl', 'test-specs');
const specFile = path.join(specDir, `openai-faults-${process.pid}.yaml`);

beforeAll(async () => {
  // The fault draw is seeded by each request's content: a change to the prompts moves it (faults-1 gave 3 kinds after the 2026-12-05 prompt change).
  stub = await startOpenAIStub({ faultRate: 0.2, hangMs: 4_000, seed: 'faults-2' });
  mkdirSync(specDir, { recursive: true });
  writeFileSync(
    specFile,
    `apiVersion: swirl/v1
kind: Pipeline
metadata: {name: openai-faults}
defaults: {timeout: 5m, concurrency: 2, retry: {maxAttempts: 3, initialInterval: 1s}}
models:
  policy:
    provider: openai-compatible
    model: stub-model
    baseUrl: ${stub.baseUrl}
    apiKey: \${env:SWIRL_STUB_KEY}
    temperature: 1.0
    maxTokens: 64
    seed: 7
    requestTimeout: 1s
    concurrency: 4
    price: {inputPerMTok: 2, outputPerMTok: 8}
tools:
  calculator: {kind: calculator}
stages:
  - id: questions
    type: dataset
    path: ../../data/gsm8k/test.jsonl
    format: gsm8k
    seed: 1
    limit: ${QUESTIONS}
  - id: rollouts
    type: rollout
    input: questions
    model: policy
    tools: [calculator]
    samples: ${SAMPLES}
    maxSteps: 2
    shardSize: 5
    cache: false
`,
  );
});

afterAll(async () => {
  await stub?.close();
  rmSync(specFile, { force: true });
});

describe('openai-compatible provider under injected faults', () => {
  it('completes a rollout stage with correct counts, no duplicates, one paid answer per request, Retry-After honoured', async () => {
    const state = tempStateDir();
    const env = { CI: 'true', TEMPORAL_ADDRESS: inject('temporalAddress'), SWIRL_STATE_DIR: state, SWIRL_TASK_QUEUE_PREFIX: `it-openai-faults-${process.pid}`, SWIRL_STUB_KEY: 'sk-test-not-secret' };
    const t0 = Date.now();
    const r = await swirl(['run', specFile, '--json'], env, 600_000);
    const wallS = (Date.now() - t0) / 1000;
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const run = JSON.parse(r.stdout) as { workflowId: string; stages: StageState[] };
    const rollouts = run.stages.find((s) => s.id === 'rollouts')!;
    expect(rollouts.counts).toEqual({ succeeded: QUESTIONS * SAMPLES, failed: 0, filtered: 0 });

    // No duplicated trajectories: one per (question, sample), all answered by the scripted model.
    const rows: Trajectory[] = [];
    for await (const t of new FsArtifactStore(path.join(state, 'artifacts')).read<Trajectory>(rollouts.output!)) rows.push(t);
    expect(rows).toHaveLength(QUESTIONS * SAMPLES);
    expect(new Set(rows.map((t) => t.id)).size).toBe(QUESTIONS * SAMPLES);
    expect(rows.every((t) => t.status === 'answered' && t.steps[0]!.kind === 'calculator' && /^-?\d/.test(t.steps[0]!.observation ?? ''))).toBe(true);

    // Faults really happened, of several kinds.
    const faults = stub.requests.filter((q) => q.fault !== 'ok');
    const kinds = new Set(faults.map((q) => q.fault));
    expect(faults.length).toBeGreaterThanOrEqual(5);
    expect(kinds.size).toBeGreaterThanOrEqual(4);

    // One well-formed answer per distinct request, and the ledger holds each exactly once.
    expect([...stub.answered.values()].every((n) => n === 1)).toBe(true);
    const ledger = new SqliteLedger(path.join(state, 'ledger.db'));
    const audit = await ledger.audit();
    const stats = await ledger.stats({ runId: run.workflowId });
    ledger.close();
    expect(audit.duplicated).toEqual([]);
    expect(audit.keys).toBe(stub.answered.size);
    expect(audit.completions).toBe(audit.keys);
    expect(audit.attempts).toBe(stub.requests.length);
    expect(stats.calls).toBe(audit.keys);
    expect(stats.costUsd).toBeCloseTo((stats.inputTokens * 2 + stats.outputTokens * 8) / 1e6, 12);

    // Retry-After: the next attempt of the same request came at least that much later.
    const gaps: number[] = [];
    for (const [i, q] of stub.requests.entries()) {
      if (!q.retryAfterS) continue;
      const next = stub.requests.slice(i + 1).find((n) => n.body === q.body);
      expect(next, 'a request that got Retry-After was retried').toBeDefined();
      gaps.push(next!.at - q.at);
      expect(next!.at - q.at).toBeGreaterThanOrEqual(q.retryAfterS * 1000 - 25);
    }
    console.log(`openai faults: ${stub.requests.length} requests, ${faults.length} faults (${[...kinds].sort().join(', ')}), ${audit.keys} distinct calls, ${gaps.length} Retry-After waits (min ${Math.min(...gaps)} ms), wall ${wallS.toFixed(1)} s`);

    // A second run of the same Plan on the same state sends nothing to the endpoint.
    const before = stub.requests.length;
    const again = await swirl(['run', specFile, '--json'], env, 600_000);
    expect(again.code, again.stderr).toBe(0);
    const againRun = JSON.parse(again.stdout) as { stages: StageState[] };
    expect(againRun.stages.find((s) => s.id === 'rollouts')!.output!.hash).toBe(rollouts.output!.hash);
    expect(stub.requests.length).toBe(before);
  }, 1_200_000);
});
