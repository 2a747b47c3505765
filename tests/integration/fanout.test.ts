// The sharded fan-out at scale: 20,000 items through child workflows, counts
// reconciled, output in item order, no workflow history over 10,000 events,
// and continue-as-new that does not change a single output byte.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { FsArtifactStore, readAll } from '../../store/artifacts.js';
import { MemoryStageCache } from '../../store/stage-cache.js';
import type { ArtifactRef } from '../../store/artifact-ref.js';
import type { FanoutInput, FanoutResult } from '../../workflows/fanout-types.js';
import { fanoutProgress } from '../../cli/fanout-progress.js';
import type { StageState } from '../../workflows/types.js';
import { tempStateDir, testWorkers } from './helpers.js';
import { expectedCounts, items, stubProcessors } from './fixtures/stub-processors.js';

describe('sharded fan-out', () => {
  const address = inject('temporalAddress');
  const tag = `it-fan-${process.pid}`;
  const queues = { orchestration: `${tag}.orchestration`, llm: `${tag}.llm`, train: `${tag}.train` };
  const state = tempStateDir();
  const store = new FsArtifactStore(path.join(state, 'artifacts'));
  let client: Client;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ client, stop } = await testWorkers({
      address,
      roles: ['orchestration', 'llm'],
      queues,
      deps: { store, cache: new MemoryStageCache(), scratchDir: path.join(state, 'scratch'), processors: stubProcessors() },
      workerOptions: { maxConcurrentActivityTaskExecutions: 16 },
    }));
  });

  afterAll(() => stop());

  const input = (ref: ArtifactRef, over: Partial<FanoutInput>): FanoutInput => ({
    keyPrefix: `${tag}/x`,
    stageId: 'stub',
    processor: 'echo',
    items: ref,
    outputKind: 'items',
    config: {},
    shardSize: 100,
    concurrency: 8,
    orchestrationQueue: queues.orchestration,
    activity: { taskQueue: queues.llm, startToCloseTimeoutMs: 60_000, heartbeatTimeoutMs: 10_000, retry: { maximumAttempts: 5, initialIntervalMs: 200, backoffCoefficient: 2, maximumIntervalMs: 2000 } },
    ...over,
  });

  async function maxHistory(workflowId: string): Promise<{ runs: number; maxEvents: number }> {
    let runs = 0;
    let maxEvents = 0;
    for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      runs++;
      const h = await client.workflow.getHandle(workflowId, wf.runId).fetchHistory();
      maxEvents = Math.max(maxEvents, h.events?.length ?? 0);
    }
    return { runs, maxEvents };
  }

  it('20,000 items: counts reconcile, output ordered, histories small', async () => {
    const n = 20_000;
    const ref = await store.put('items', items(n));
    const workflowId = `${tag}-20k`;
    const result = (await client.workflow.execute('fanoutWorkflow', { taskQueue: queues.orchestration, workflowId, args: [input(ref, { keyPrefix: workflowId, shardSize: 100, historyBudget: 400 })] })) as FanoutResult;

    expect(result.counts).toEqual(expectedCounts(n));
    expect(result.shards).toBe(200);
    expect(result.output.rows).toBe(result.counts.succeeded);
    expect(result.failures.rows).toBe(result.counts.failed);
    const rows = await readAll<{ index: number }>(store, result.output);
    expect(rows.every((r, i) => i === 0 || r.index > rows[i - 1]!.index)).toBe(true);
    const fails = await readAll<{ index: number; id: string; reason: string }>(store, result.failures);
    expect(fails[1]).toEqual({ index: 97, id: 'item-97', reason: 'item item-97 is divisible by 97' });

    expect(result.continuedAsNew).toBeGreaterThan(0); // the budget forced continue-as-new
    const { runs, maxEvents } = await maxHistory(workflowId);
    expect(runs).toBe(result.continuedAsNew + 1);
    expect(maxEvents).toBeLessThan(10_000);
    const shardHistory = await client.workflow.getHandle(`${workflowId}/shard-00042`).fetchHistory();
    expect(shardHistory.events!.length).toBeLessThan(50);
  });

  it('continue-as-new, shard size and items run side by side do not change the output bytes', async () => {
    const ref = await store.put('items', items(1_000));
    const a = (await client.workflow.execute('fanoutWorkflow', { taskQueue: queues.orchestration, workflowId: `${tag}-a`, args: [input(ref, { keyPrefix: `${tag}-a`, shardSize: 10, concurrency: 4, historyBudget: 200 })] })) as FanoutResult;
    const b = (await client.workflow.execute('fanoutWorkflow', { taskQueue: queues.orchestration, workflowId: `${tag}-b`, args: [input(ref, { keyPrefix: `${tag}-b`, shardSize: 333, concurrency: 2 })] })) as FanoutResult;
    const c = (await client.workflow.execute('fanoutWorkflow', { taskQueue: queues.orchestration, workflowId: `${tag}-c`, args: [input(ref, { keyPrefix: `${tag}-c`, shardSize: 250, concurrency: 2, itemConcurrency: 8 })] })) as FanoutResult;
    expect(a.continuedAsNew).toBeGreaterThan(0);
    expect(b.continuedAsNew).toBe(0);
    expect(a.output.hash).toBe(b.output.hash);
    expect(a.failures.hash).toBe(b.failures.hash);
    expect(c.output.hash).toBe(a.output.hash);
    expect(c.failures.hash).toBe(a.failures.hash);
    expect(c.shards).toBe(4);
  });

  it('progress counts the items running shards report in their heartbeats', async () => {
    const ref = await store.put('items', items(24));
    // Two shards of 12 slow items, 2 at a time each: ~3 s per shard, all shards in flight at once.
    const id = `${tag}-progress/stub`;
    const handle = await client.workflow.start('fanoutWorkflow', { taskQueue: queues.orchestration, workflowId: id, args: [input(ref, { keyPrefix: id, config: { delayMs: 500 }, shardSize: 12, concurrency: 2, itemConcurrency: 2, activity: { ...input(ref, {}).activity, heartbeatTimeoutMs: 2_000 } })] });
    // The stage "started" an hour ago (a run resumed after hours without a worker): the rate must be
    // this attempt's pace (2 shards x 2 items per 0.5 s), not 24 items over an hour.
    const stage = { id: 'stub', type: 'rollout', status: 'running', startedAt: new Date(Date.now() - 3_600_000).toISOString() } as StageState;
    const seen: Array<{ itemsDone: number; shardsDone: number; running: number; rate: number }> = [];
    while (seen.length < 40) {
      const p = (await fanoutProgress(client, `${tag}-progress`, [stage])).stub;
      if (p) seen.push({ itemsDone: p.itemsDone, shardsDone: p.shardsDone, running: p.running?.length ?? 0, rate: p.itemsPerSecond ?? 0 });
      if (p?.shardsDone === 2) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    await handle.result();
    // Items were counted while no shard had finished yet, from the running shards' heartbeats.
    expect(seen.some((p) => p.shardsDone === 0 && p.running === 2 && p.itemsDone > 0 && p.itemsDone < 24)).toBe(true);
    // At most 8 items/s can be done (4 lanes, 0.5 s each); the stage's hour-long average would be under 0.01.
    const rates = seen.filter((p) => p.shardsDone === 0 && p.itemsDone >= 4).map((p) => p.rate);
    expect(rates.length).toBeGreaterThan(0);
    expect(Math.max(...rates)).toBeGreaterThan(1);
    expect(Math.max(...rates)).toBeLessThan(20);
  });

  it('an empty input gives empty outputs', async () => {
    const ref = await store.put('items', []);
    const r = (await client.workflow.execute('fanoutWorkflow', { taskQueue: queues.orchestration, workflowId: `${tag}-empty`, args: [input(ref, { keyPrefix: `${tag}-empty` })] })) as FanoutResult;
    expect(r).toMatchObject({ shards: 0, counts: { succeeded: 0, failed: 0, filtered: 0 }, output: { rows: 0 }, failures: { rows: 0 } });
  });

  it('a processor this worker lacks fails the fan-out fast', async () => {
    const ref = await store.put('items', items(5));
    const err = await client.workflow
      .execute('fanoutWorkflow', { taskQueue: queues.orchestration, workflowId: `${tag}-noproc`, args: [input(ref, { keyPrefix: `${tag}-noproc`, processor: 'nope' })] })
      .then(() => undefined, (e: unknown) => e as Error);
    expect(err).toBeDefined();
    expect(JSON.stringify(err, Object.getOwnPropertyNames(err)) + String((err as { cause?: { cause?: unknown } }).cause?.cause)).toMatch(/no item processor `nope`/);
  });
});
