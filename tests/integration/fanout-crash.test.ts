// kill -9 of the worker process at several points of a fan-out, chosen by
// events (the n-th item call logged: mid-shard, at a shard's end, around
// continue-as-new) rather than by sleeping: a fresh worker picks the run up,
// and the final artifacts are byte-identical to an uninterrupted run. The crashy run's
// shards run three items at a time (itemConcurrency, the default layout of
// rollout stages), the clean run's one at a time (shards side by side).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { packageRoot } from '../../runtime/paths.js';
import { FsArtifactStore } from '../../store/artifacts.js';
import type { FanoutInput, FanoutResult } from '../../workflows/fanout-types.js';
import { kill9, startStubWorker, maxShardAttempt, tempStateDir } from './helpers.js';
import { expectedCounts, items } from './fixtures/stub-processors.js';

const startWorker = startStubWorker;


/** Resolves once `file` has at least `n` lines. */
async function untilCalls(file: string, n: number, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (existsSync(file) && readFileSync(file, 'utf8').split('\n').length - 1 >= n) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${file} did not reach ${n} lines in ${timeoutMs} ms`);
}

/** Each shard's last activity attempt, with why the previous one ended (for the log). */
async function shardAttempts(client: Client, fanoutId: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH '${fanoutId}/shard-'` })) {
    for (const e of (await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory()).events ?? []) {
      const a = e.activityTaskStartedEventAttributes;
      if (a && (a.attempt ?? 1) > 1) out[wf.workflowId.slice(-5)] = `attempt ${a.attempt} after ${a.lastFailure?.timeoutFailureInfo ? `timeout type ${a.lastFailure.timeoutFailureInfo.timeoutType}` : a.lastFailure?.message}`;
    }
  }
  return out;
}

describe('fan-out survives kill -9 of its worker', () => {
  const address = inject('temporalAddress');
  const tag = `it-crash-${process.pid}`;
  const state = tempStateDir();
  const callLog = path.join(state, 'calls.log');
  const env = { TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: state, QUEUE_PREFIX: tag, CALL_LOG: callLog };
  const store = new FsArtifactStore(path.join(state, 'artifacts'));
  let worker: ChildProcess | undefined;

  afterAll(async () => {
    if (worker) await kill9(worker);
  });

  it('completes after 5 kills with byte-identical output, redoing at most the in-flight items', async () => {
    const n = 600;
    const ref = await store.put('items', items(n));
    const connection = await Connection.connect({ address });
    const client = new Client({ connection });
    const input = (prefix: string, layout: Partial<FanoutInput> = {}): FanoutInput => ({
      keyPrefix: prefix,
      stageId: 'stub',
      processor: 'echo',
      items: ref,
      outputKind: 'items',
      config: { delayMs: 15 },
      shardSize: 60,
      concurrency: 3,
      orchestrationQueue: `${tag}.orchestration`,
      activity: { taskQueue: `${tag}.llm`, startToCloseTimeoutMs: 120_000, heartbeatTimeoutMs: 5_000, retry: { maximumAttempts: 20, initialIntervalMs: 200, backoffCoefficient: 1.5, maximumIntervalMs: 1000 } },
      historyBudget: 60, // small: kills also land around continue-as-new
      ...layout,
    });
    try {
      worker = await startWorker(env);
      const handle = await client.workflow.start('fanoutWorkflow', { taskQueue: `${tag}.orchestration`, workflowId: `${tag}-crashy`, args: [input(`${tag}-crashy`, { concurrency: 1, itemConcurrency: 3 })] });
      // Kill once the call log (one line per finished item call, redone items included) reaches each count.
      const kills = [45, 120, 250, 360, 530];
      for (const lines of kills) {
        await untilCalls(callLog, lines);
        await kill9(worker);
        worker = await startWorker(env);
      }
      const crashy = (await handle.result()) as FanoutResult;

      const clean = (await client.workflow.execute('fanoutWorkflow', { taskQueue: `${tag}.orchestration`, workflowId: `${tag}-clean`, args: [input(`${tag}-clean`)] })) as FanoutResult;

      expect(crashy.counts).toEqual(expectedCounts(n));
      expect(crashy.output.hash).toBe(clean.output.hash);
      expect(crashy.failures.hash).toBe(clean.failures.hash);

      // Each item ran once in the clean run; in the crashy run only items in flight at a kill ran again.
      const calls = readFileSync(callLog, 'utf8').trim().split('\n').map(Number);
      const runs = new Map<number, number>();
      for (const i of calls) runs.set(i, (runs.get(i) ?? 0) + 1);
      expect(runs.size).toBe(n);
      const extra = calls.length - 2 * n; // minus one clean and one crashy pass
      const again = [...runs].filter(([, k]) => k > 2).map(([i, k]) => `${i}×${k}`);
      console.log(`fan-out kills at ${kills.join(', ')} logged calls: ${extra} extra item calls${again.length ? ` (${again.join(' ')})` : ''}; shard attempts: ${JSON.stringify(await shardAttempts(client, `${tag}-crashy`))}`);
      expect(extra).toBeGreaterThanOrEqual(0);
      // Per kill: the 3 items in flight, and at most one finished item per lane whose scratch line was still being written.
      expect(extra).toBeLessThanOrEqual(kills.length * 3 * 2);
      expect(existsSync(path.join(state, 'scratch'))).toBe(true);
      // At least one kill landed inside a shard, which then resumed on a new attempt.
      expect(await maxShardAttempt(client, `${tag}-crashy`)).toBeGreaterThan(1);
    } finally {
      await connection.close();
    }
  });
});
