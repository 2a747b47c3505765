// Exactly-once model calls through the LLM call ledger, on a real server with
// the real embedded model decoding its episodes in one batch (`parallel: 4`):
// kill -9 a real `swirl worker` twice during a Plan's rollouts; the run
// completes, every distinct call completed exactly once over all worker
// processes (the ledger's append-only completions table has one row per key),
// and a second run on the same state reuses every call and gives the same
// trajectories. (A batch's composition changes float sums, so a killed batched
// run is not compared with an uninterrupted one: that bit-for-bit comparison is
// plan-crash's, in the isolated mode.)
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { packageRoot } from '../../runtime/paths.js';
import { SqliteLedger } from '../../store/ledger-sqlite.js';
import type { StageState } from '../../workflows/types.js';
import { kill9, maxShardAttempt, startCliWorker, swirl, tempStateDir, until } from './helpers.js';
import { startOpenAIStub } from './fixtures/openai-stub.js';

const spec = 'tests/integration/fixtures/ledger-small.yaml';
const LONG = 900_000;

const startWorker = startCliWorker;

/** Waits until the ledger of `stateDir` holds at least `n` completed calls. */
async function waitForCompletions(stateDir: string, n: number, timeoutMs = 600_000): Promise<number> {
  const file = path.join(stateDir, 'ledger.db');
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (existsSync(file)) {
      const c = (await audit(stateDir)).completions;
      if (c >= n) return c;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the ledger did not reach ${n} completed calls in ${timeoutMs} ms`);
}

async function audit(stateDir: string) {
  const l = new SqliteLedger(path.join(stateDir, 'ledger.db'));
  try {
    return await l.audit();
  } finally {
    l.close();
  }
}

interface StatusJson {
  status: string;
  stages: StageState[];
  ledger?: {
    calls: number;
    reused: number;
    costUsd: number;
    inputTokens: number;
    outputTokens: number;
    byStage: Record<string, { calls: number; reused: number }>;
    attempts: { sent: number; answered: number; failed: number; inFlight: number; lost: number };
  };
}

describe('LLM call ledger: exactly-once calls across kill -9', () => {
  it('completes after 2 worker kills mid-batch with every call made once; a rerun reuses them all', async () => {
    const address = inject('temporalAddress');
    const prefix = `it-ledger-crash-${process.pid}`;
    let killedHash = '';
    let killedKeys = 0;
    const state = tempStateDir();
    const env = { CI: 'true', TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: state, SWIRL_TASK_QUEUE_PREFIX: prefix };
    let worker = await startWorker(env);
    let workflowId = '';
    try {
      const started = await swirl(['run', spec, '--no-worker', '--detach', '--json'], env);
      expect(started.code, started.stderr).toBe(0);
      workflowId = (JSON.parse(started.stdout) as { workflowId: string }).workflowId;
      // Kill while calls are in flight (attempts in the ledger not answered yet): the 4 episodes
      // decode together, so a kill lands mid-batch. First before any call completed, then once 2 have.
      const kills: number[] = [];
      for (const n of [0, 2]) {
        if (n) await waitForCompletions(state, n);
        const inFlight = until('a call in flight', async () => {
          const a = await audit(state);
          return a.attempts > a.completions;
        }, 120_000, 20);
        // After the first kill the batch may finish all at once: then kill after it anyway.
        await (n ? inFlight.catch(() => undefined) : inFlight);
        kills.push((await audit(state)).completions);
        await kill9(worker);
        worker = await startWorker(env);
      }
      const followed = await swirl(['status', workflowId, '--follow', '--json'], env, LONG);
      expect(followed.code, followed.stderr).toBe(0);
      const st = JSON.parse(followed.stdout) as StatusJson;
      expect(st.status).toBe('COMPLETED');
      const rollouts = st.stages.find((s) => s.id === 'rollouts')!;
      expect(rollouts.counts).toEqual({ succeeded: 4, failed: 0, filtered: 0 });
      killedHash = rollouts.output!.hash;

      // Exactly once: one completed model call per distinct request over all worker processes.
      const a = await audit(state);
      expect(a.duplicated).toEqual([]);
      expect(a.completions).toBe(a.keys);
      expect(a.keys).toBeGreaterThanOrEqual(4); // 4 episodes, at least one call each
      killedKeys = a.keys;
      // Calls cut off by a kill started but never completed.
      expect(a.attempts).toBeGreaterThanOrEqual(a.completions);
      // `status` shows the run's ledger: every call made at most once, the rest reused.
      expect(st.ledger).toBeDefined();
      expect(st.ledger!.calls).toBeLessThanOrEqual(a.keys);
      expect(st.ledger!.calls + st.ledger!.reused).toBeGreaterThanOrEqual(a.keys);
      expect(Object.keys(st.ledger!.byStage)).toEqual(['rollouts']);
      // The spec's price table: $0.1 / $0.4 per million tokens.
      if (st.ledger!.calls > 0) expect(st.ledger!.costUsd).toBeCloseTo((st.ledger!.inputTokens * 0.1 + st.ledger!.outputTokens * 0.4) / 1e6, 12);
      console.log(`ledger after 2 kills (at ${kills.join(', ')} completed calls): ${a.keys} keys, ${a.completions} completions, ${a.attempts} attempts; run: ${st.ledger!.calls} made, ${st.ledger!.reused} reused`);
      // At least one kill landed inside a rollout shard, which resumed on a new attempt.
      const connection = await Connection.connect({ address });
      try {
        expect(await maxShardAttempt(new Client({ connection }), `${workflowId}/rollouts`)).toBeGreaterThan(1);
      } finally {
        await connection.close();
      }
    } finally {
      await kill9(worker);
    }

    // A second run of the same Plan on the same state makes no model call at all.
    const again = await swirl(['run', spec, '--json'], { ...env, SWIRL_TASK_QUEUE_PREFIX: `${prefix}-again` }, LONG);
    expect(again.code, again.stderr).toBe(0);
    const againRun = JSON.parse(again.stdout) as { workflowId: string; stages: StageState[] };
    expect(againRun.stages.find((s) => s.id === 'rollouts')!.output!.hash).toBe(killedHash);
    const hist = await swirl(['history', againRun.workflowId, '--json'], env);
    expect(hist.code, hist.stderr).toBe(0);
    const h = JSON.parse(hist.stdout) as { ledger?: StatusJson['ledger'] };
    expect(h.ledger).toMatchObject({ calls: 0, inputTokens: 0, outputTokens: 0 });
    expect(h.ledger!.reused).toBeGreaterThanOrEqual(killedKeys);
    const after = await audit(state);
    expect(after.completions).toBe(after.keys);
    expect(after.keys).toBe(killedKeys);
  }, 3_000_000);

  // The same with an OpenAI-compatible stub (1.5 s per answer) whose scripted
  // episodes always take two calls, so a kill lands between two calls of an
  // episode: the resumed shard must reuse the first call, not make it again.
  it('reuses the calls an episode completed before the kill (openai-compatible stub, every episode two calls)', async () => {
    const address = inject('temporalAddress');
    const stub = await startOpenAIStub({ faultRate: 0, delayMs: 1500 });
    const dir = path.join(packageRoot, '.swirl', 'test-specs');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `ledger-crash-stub-${process.pid}.yaml`);
    writeFileSync(
      file,
      `apiVersion: swirl/v1
kind: Pipeline
metadata: {name: ledger-crash-stub}
defaults: {timeout: 5m, concurrency: 2}
models:
  policy: {provider: openai-compatible, model: stub-model, baseUrl: ${stub.baseUrl}, temperature: 1.0, maxTokens: 64, seed: 9, concurrency: 2}
tools:
  calculator: {kind: calculator}
stages:
  - {id: questions, type: dataset, path: ../../data/gsm8k/test.jsonl, format: gsm8k, seed: 4, limit: 4}
  - {id: rollouts, type: rollout, input: questions, model: policy, tools: [calculator], samples: 2, maxSteps: 2, shardSize: 2, cache: false}
`,
    );
    const prefix = `it-ledger-stub-${process.pid}`;
    let worker: ChildProcess | undefined;
    try {
      const clean = await swirl(['run', file, '--json'], { CI: 'true', TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: tempStateDir(), SWIRL_TASK_QUEUE_PREFIX: `${prefix}-clean` }, LONG);
      expect(clean.code, clean.stderr).toBe(0);
      const cleanRollouts = (JSON.parse(clean.stdout) as { stages: StageState[] }).stages.find((s) => s.id === 'rollouts')!;
      const distinct = stub.answered.size;
      expect(distinct).toBe(16); // 8 episodes × 2 calls
      stub.answered.clear();
      stub.requests.length = 0;

      const state = tempStateDir();
      const env = { CI: 'true', TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: state, SWIRL_TASK_QUEUE_PREFIX: prefix };
      worker = await startWorker(env);
      // Watch the ledger while the run starts (the CLI takes seconds to return).
      const startedP = swirl(['run', file, '--no-worker', '--detach', '--json'], env);
      // Kill while the endpoint holds an episode's second call: its first call is in the ledger, the episode is not done.
      const kills: number[] = [];
      const seen = new Set<number>();
      for (let k = 0; k < 2; k++) {
        for (;;) {
          const i = stub.requests.findIndex((r, j) => r.followUp && !r.done && !seen.has(j));
          if (i >= 0) {
            seen.add(i);
            break;
          }
          await new Promise((r) => setTimeout(r, 50));
        }
        kills.push((await audit(state)).completions);
        await kill9(worker);
        // Requests the dead worker left in flight do not count as kill points.
        stub.requests.forEach((r, j) => !r.done && seen.add(j));
        worker = await startWorker(env);
      }
      const started = await startedP;
      expect(started.code, started.stderr).toBe(0);
      const { workflowId } = JSON.parse(started.stdout) as { workflowId: string };
      const followed = await swirl(['status', workflowId, '--follow', '--json'], env, LONG);
      expect(followed.code, followed.stderr).toBe(0);
      const st = JSON.parse(followed.stdout) as StatusJson;
      expect(st.status).toBe('COMPLETED');
      const rollouts = st.stages.find((s) => s.id === 'rollouts')!;
      expect(rollouts.counts).toEqual({ succeeded: 8, failed: 0, filtered: 0 });
      expect(rollouts.output!.hash).toBe(cleanRollouts.output!.hash);
      const a = await audit(state);
      expect(a.duplicated).toEqual([]);
      expect(a.keys).toBe(distinct);
      expect(a.completions).toBe(distinct);
      // Calls completed before a kill were reused by the resumed shards, not made again.
      expect(st.ledger!.reused).toBeGreaterThanOrEqual(1);
      // The endpoint's own count: each kill costs at most the calls in flight (model concurrency 2).
      const answered = [...stub.answered.values()].reduce((x, y) => x + y, 0);
      expect(answered).toBeGreaterThanOrEqual(distinct);
      expect(answered - distinct).toBeLessThanOrEqual(2 * kills.length);
      // The ledger counts every request the endpoint received: the answered ones, and those the kills cut off
      // (lost in flight, maybe billed) — paid attempts, not just the calls that completed. An attempt is
      // recorded just before its request goes out, so a kill in between counts one the endpoint never got
      // (at most the calls in flight per kill: model concurrency 2); never fewer than it got.
      const paid = st.ledger!.attempts;
      expect(paid).toMatchObject({ failed: 0, inFlight: 0 });
      expect(paid.sent).toBeGreaterThanOrEqual(stub.requests.length);
      expect(paid.sent - stub.requests.length).toBeLessThanOrEqual(2 * kills.length);
      expect(paid.answered + paid.lost).toBe(paid.sent);
      expect(paid.answered).toBeGreaterThanOrEqual(a.completions);
      console.log(`stub kill test: ${paid.sent} requests sent in the ledger (${paid.answered} answered, ${paid.lost} lost), the endpoint received ${stub.requests.length}`);
      console.log(`stub kill test: kills at ${kills.join(', ')} completed calls; ${distinct} distinct calls, ${a.completions} completions, ${a.attempts} attempts, endpoint answered ${answered}; run: ${st.ledger!.calls} made, ${st.ledger!.reused} reused`);
    } finally {
      if (worker) await kill9(worker);
      await stub.close();
      rmSync(file, { force: true });
    }
  }, 1_800_000);
});
