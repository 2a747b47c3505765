// Episode threads (activities/episode-threads.ts): rollout episodes against an
// OpenAI-compatible stub on loopback run on worker threads, with every model
// call going through the main thread's gate. The trajectories equal the
// main-thread processor's byte for byte; retries, the breaker, the run budget
// and cancellation cross the thread boundary as the fan-out expects them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { withBudget } from '../../agents/budget.js';
import { breakerOpenOf, modelGate, resetGates } from '../../agents/limits.js';
import type { Trajectory } from '../../agents/types.js';
import type { PlanModel } from '../../compiler/plan-types.js';
import type { Question } from '../../activities/dataset-formats.js';
import { EpisodeThreads, fromWire, threadEligible, threadedRolloutProcessor, toWire } from '../../activities/episode-threads.js';
import type { ItemContext, ItemOutcome, ItemProcessor } from '../../activities/fanout.js';
import { rolloutProcessor, type RolloutConfig, type RolloutItem } from '../../activities/rollout.js';
import { swirlPaths } from '../../runtime/paths.js';
import { SqliteLedger } from '../../store/ledger-sqlite.js';
import { startOpenAIStub, type OpenAIStub } from './fixtures/openai-stub.js';

const dir = mkdtempSync(path.join(tmpdir(), 'swirl-episode-threads-'));
let ok: OpenAIStub;
let faulty: OpenAIStub;
const pools: EpisodeThreads[] = [];

beforeAll(async () => {
  ok = await startOpenAIStub({ faultRate: 0, delayMs: 20 });
  faulty = await startOpenAIStub({ faultRate: 0.3, hangMs: 1_500, seed: 'threads-1' });
});
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  resetGates();
});
afterAll(async () => {
  await ok.close();
  await faulty.close();
  rmSync(dir, { recursive: true, force: true });
});

function model(baseUrl: string, extra: Partial<PlanModel> = {}): PlanModel {
  return { provider: 'openai-compatible', model: 'stub-model', baseUrl, temperature: 1, maxTokens: 64, seed: 7, requestTimeout: '1s', ...extra } as PlanModel;
}

function config(m: PlanModel, name = 'policy'): RolloutConfig {
  return { modelName: name, model: m, tools: { calculator: { kind: 'calculator' } as never }, maxSteps: 3, projectRoot: process.cwd() };
}

const items: RolloutItem[] = Array.from({ length: 24 }, (_, i) => ({
  question: { id: `q${i >> 1}`, question: `Tom has ${3 + (i >> 1)} apples and buys ${10 + 7 * (i >> 1)} more. How many apples does he have?`, answer: String(13 + 8 * (i >> 1)), dataset: 'gsm8k' } satisfies Question,
  sample: i & 1,
}));

function ctxOf(cfg: RolloutConfig, i: number, signal = new AbortController().signal): ItemContext {
  return { index: i, shardKey: `run-threads/rollouts/shard-00000`, stageId: 'rollouts', config: cfg as unknown as Record<string, unknown>, signal };
}

function pool(threads = 2): EpisodeThreads {
  const p = new EpisodeThreads({ threads, modelsDir: swirlPaths().models });
  pools.push(p);
  return p;
}

async function runAll(proc: ItemProcessor, cfg: RolloutConfig, concurrency = 8): Promise<ItemOutcome[]> {
  const out: ItemOutcome[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await proc(items[i], ctxOf(cfg, i));
      }
    }),
  );
  return out;
}

const rows = (os: ItemOutcome[]) => os.map((o) => (o.outcome === 'succeeded' ? (o.row as Trajectory) : o));

describe('episode threads', () => {
  it('run the same episodes as the main thread, byte for byte, with every call in the ledger once', async () => {
    const cfg = config(model(ok.baseUrl));
    const inlineLedger = new SqliteLedger(path.join(dir, 'inline.db'));
    const inline = await runAll(rolloutProcessor(swirlPaths().models, inlineLedger), cfg);
    inlineLedger.close();
    resetGates();
    const file = path.join(dir, 'threads.db');
    const p = pool();
    const threaded = await runAll(threadedRolloutProcessor(rolloutProcessor(swirlPaths().models, new SqliteLedger(file)), p, file), cfg);
    expect(p.counters.items).toBe(items.length);
    expect(p.size).toBe(2);
    expect(JSON.stringify(rows(threaded))).toBe(JSON.stringify(rows(inline)));
    expect(rows(threaded).every((t) => (t as Trajectory).status === 'answered')).toBe(true);
    const l = new SqliteLedger(file);
    const audit = await l.audit();
    l.close();
    expect(audit.duplicated).toEqual([]);
    expect(audit.completions).toBe(items.length * 2);
    // The calls went through the main thread's gate of the model.
    expect(p.counters.calls).toBe(items.length * 2);
    expect(modelGate(`policy:${JSON.stringify(cfg.model)}`).counters.attempts).toBe(items.length * 2);
  });

  it('retry faults (429, 500, hangs, malformed bodies) in the main thread\'s gate and still give the clean trajectories', async () => {
    const clean = rows(await runAll(threadedRolloutProcessor(rolloutProcessor(swirlPaths().models, new SqliteLedger(path.join(dir, 'clean2.db'))), pool(), path.join(dir, 'clean2.db')), config(model(ok.baseUrl))));
    resetGates();
    const cfg = config(model(faulty.baseUrl, { concurrency: 4 } as Partial<PlanModel>));
    const file = path.join(dir, 'faults.db');
    const before = faulty.requests.length;
    const got = rows(await runAll(threadedRolloutProcessor(rolloutProcessor(swirlPaths().models, new SqliteLedger(file)), pool(), file), cfg));
    const gate = modelGate(`policy:${JSON.stringify(cfg.model)}`);
    expect(gate.counters.retries).toBeGreaterThan(0);
    expect(faulty.requests.length - before).toBe(gate.counters.attempts);
    // The stub answers by the messages alone: the faulty run's trajectories equal the clean run's.
    expect(JSON.stringify(got)).toBe(JSON.stringify(clean));
    const l = new SqliteLedger(file);
    expect((await l.audit()).duplicated).toEqual([]);
    l.close();
  });

  it('an open breaker reaches the shard as ModelUnavailable with its details; the budget as BudgetReached', async () => {
    faulty.setDown(true);
    try {
      const m = model(faulty.baseUrl, { breaker: { failures: 2, cooldown: '30s' } } as Partial<PlanModel>);
      const cfg = config(m, 'down-model');
      const file = path.join(dir, 'breaker.db');
      const proc = threadedRolloutProcessor(rolloutProcessor(swirlPaths().models, new SqliteLedger(file)), pool(), file);
      const e = await proc(items[0], ctxOf(cfg, 0)).then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(ApplicationFailure);
      expect((e as ApplicationFailure).type).toBe('ModelUnavailable');
      expect(breakerOpenOf(e)).toMatchObject({ breaker: 'open', model: 'down-model' });
      expect(modelGate(`down-model:${JSON.stringify(m)}`).breakerState()).toBe('open');
    } finally {
      faulty.setDown(false);
    }
    const file = path.join(dir, 'budget.db');
    const cfg = config(model(ok.baseUrl));
    const proc = threadedRolloutProcessor(rolloutProcessor(swirlPaths().models, new SqliteLedger(file)), pool(), file);
    // The episode's first call is paid (nothing spent yet); its second is refused in the thread.
    const e = await withBudget('run-threads', { maxTokens: 1 }, () => proc(items[0], ctxOf(cfg, 0))).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(ApplicationFailure);
    expect((e as ApplicationFailure).type).toBe('BudgetReached');
    expect((e as ApplicationFailure).details?.[0]).toMatchObject({ budget: { maxTokens: 1 } });
    const l = new SqliteLedger(file);
    expect((await l.audit()).completions).toBe(1);
    l.close();
    expect((e as ApplicationFailure).nonRetryable).toBe(true);
  });

  it('cancelling the shard aborts the episode in its thread; a closed pool fails its items', async () => {
    const slow = await startOpenAIStub({ faultRate: 0, delayMs: 10_000 });
    try {
      const cfg = config(model(slow.baseUrl, { requestTimeout: '60s' } as Partial<PlanModel>));
      const file = path.join(dir, 'abort.db');
      const p = pool(1);
      const proc = threadedRolloutProcessor(rolloutProcessor(swirlPaths().models, new SqliteLedger(file)), p, file);
      const ac = new AbortController();
      const t0 = performance.now();
      const running = proc(items[0], ctxOf(cfg, 0, ac.signal)).then(() => undefined, (x: unknown) => x);
      setTimeout(() => ac.abort(new Error('cancelled')), 300);
      const e = await running;
      expect(e).toBeInstanceOf(Error);
      expect(performance.now() - t0).toBeLessThan(9_000); // well before the stub's 10 s answer
      const again = proc(items[1], ctxOf(cfg, 1)).then(() => undefined, (x: unknown) => x);
      await new Promise((r) => setTimeout(r, 300));
      await p.close();
      expect(String(await again)).toMatch(/episode thread exited/);
    } finally {
      await slow.close();
    }
  });

  it('keeps local models, MCP tools and lora adapters on the main thread', async () => {
    expect(threadEligible(config(model(ok.baseUrl)))).toBe(true);
    expect(threadEligible({ ...config(model(ok.baseUrl)), tools: { s: { kind: 'search' } as never } })).toBe(true);
    expect(threadEligible({ ...config(model(ok.baseUrl)), model: { provider: 'llama-cpp', model: 'gemma3-270m' } as PlanModel })).toBe(false);
    expect(threadEligible({ ...config(model(ok.baseUrl)), tools: { m: { kind: 'mcp' } as never } })).toBe(false);
    let inlineCalls = 0;
    const proc = threadedRolloutProcessor(async () => {
      inlineCalls++;
      return { outcome: 'filtered' };
    }, pool(), path.join(dir, 'unused.db'));
    const local = { ...config(model(ok.baseUrl)), model: { provider: 'llama-cpp', model: 'gemma3-270m' } as PlanModel };
    expect(await proc(items[0], ctxOf(local, 0))).toEqual({ outcome: 'filtered' });
    expect(inlineCalls).toBe(1);
  });

  it('errors keep their type, retryability, details and classification across the boundary', () => {
    const f = ApplicationFailure.create({ message: 'x', type: 'ModelUnavailable', nonRetryable: false, details: [{ breaker: 'open', model: 'm', until: 5 }], nextRetryDelay: 1500 });
    const back = fromWire(structuredClone(toWire(f))) as ApplicationFailure;
    expect(back).toBeInstanceOf(ApplicationFailure);
    expect([back.type, back.nonRetryable, back.details, back.nextRetryDelay]).toEqual(['ModelUnavailable', false, [{ breaker: 'open', model: 'm', until: 5 }], 1500]);
    const plain = fromWire(structuredClone(toWire(Object.assign(new Error('socket hang up'), { name: 'APIConnectionError' }), { kind: 'connection', retryable: true })));
    expect([plain.name, plain.message, (plain as { swirlClassified?: unknown }).swirlClassified]).toEqual(['APIConnectionError', 'socket hang up', { kind: 'connection', retryable: true }]);
  });
});
