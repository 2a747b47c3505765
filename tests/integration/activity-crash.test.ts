// kill -9 of a worker in the middle of a non-shard activity (a fan-out's
// concatArtifacts, slowed down to several seconds) is noticed by its missed
// heartbeats within seconds, not after the activity's 10-minute start-to-close
// timeout: the retried attempt runs on a fresh worker and the fan-out's result
// equals an uninterrupted run's.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { packageRoot } from '../../runtime/paths.js';
import { FsArtifactStore } from '../../store/artifacts.js';
import type { FanoutInput, FanoutResult } from '../../workflows/fanout-types.js';
import { HEARTBEAT_TIMEOUT_MS } from '../../workflows/heartbeat.js';
import { kill9, startStubWorker, tempStateDir } from './helpers.js';
import { expectedCounts, items } from './fixtures/stub-processors.js';

const startWorker = startStubWorker;

/** Resolves once `handle` has a started (running) attempt of activity `type`. */
async function activityRunning(handle: WorkflowHandle, type: string, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    if (pending.some((p) => p.activityType?.name === type && p.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${type} did not start in ${timeoutMs} ms`);
}

describe('a killed worker is noticed within seconds during a non-shard activity', () => {
  const address = inject('temporalAddress');
  const tag = `it-act-crash-${process.pid}`;
  const state = tempStateDir();
  // 80 rows × 60 ms: the concatenation takes about 5 s.
  const env = { TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: state, QUEUE_PREFIX: tag, SLOW_STREAM_ROW_MS: '60' };
  const store = new FsArtifactStore(path.join(state, 'artifacts'));
  let worker: ChildProcess | undefined;

  afterAll(async () => {
    if (worker) await kill9(worker);
  });

  it('retries concatArtifacts on a fresh worker after its heartbeat timeout, not its start-to-close timeout', async () => {
    const n = 80;
    const ref = await store.put('items', items(n));
    const connection = await Connection.connect({ address });
    const client = new Client({ connection });
    const input = (prefix: string): FanoutInput => ({
      keyPrefix: prefix,
      stageId: 'stub',
      processor: 'echo',
      items: ref,
      outputKind: 'items',
      config: {},
      shardSize: 40,
      concurrency: 2,
      orchestrationQueue: `${tag}.orchestration`,
      activity: { taskQueue: `${tag}.llm`, startToCloseTimeoutMs: 120_000, heartbeatTimeoutMs: 10_000, retry: { maximumAttempts: 5, initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 10_000 } },
    });
    try {
      worker = await startWorker(env);
      const clean = (await client.workflow.execute('fanoutWorkflow', { taskQueue: `${tag}.orchestration`, workflowId: `${tag}-clean`, args: [input(`${tag}-clean`)] })) as FanoutResult;

      const handle = await client.workflow.start('fanoutWorkflow', { taskQueue: `${tag}.orchestration`, workflowId: `${tag}-crashy`, args: [input(`${tag}-crashy`)] });
      await activityRunning(handle, 'concatArtifacts');
      await new Promise((r) => setTimeout(r, 1500)); // well inside the ~5 s concatenation
      await kill9(worker);
      const killedAt = Date.now();
      worker = await startWorker(env);
      const restartMs = Date.now() - killedAt;
      // Old code waited for the 10-minute start-to-close timeout: give up long before it.
      const crashy = (await Promise.race([
        handle.result(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('the killed concatArtifacts was not retried within 90 s')), 90_000)),
      ])) as FanoutResult;
      const recoveredMs = Date.now() - killedAt;

      expect(crashy.counts).toEqual(expectedCounts(n));
      expect(crashy.output.hash).toBe(clean.output.hash);
      expect(crashy.failures.hash).toBe(clean.failures.hash);
      // Detection within the heartbeat timeout, the retry backoff, a fresh worker and a redone ~5 s concatenation.
      expect(recoveredMs).toBeLessThan(45_000);

      // The first attempt ended by a heartbeat timeout (not start-to-close), the second completed.
      const events = (await handle.fetchHistory()).events ?? [];
      const concat = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'concatArtifacts')!;
      const started = events.find((e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === concat.eventId?.toString())!.activityTaskStartedEventAttributes!;
      const at = (e: (typeof events)[number] | undefined) => (e?.eventTime ? Number(e.eventTime.seconds) * 1000 + Math.round((e.eventTime.nanos ?? 0) / 1e6) : NaN);
      const startedEvent = events.find((e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === concat.eventId?.toString());
      const completedEvent = events.find((e) => e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() === concat.eventId?.toString());
      const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
      console.log(
        `concatArtifacts, kill -9 at t=0 (heartbeat timeout ${s(HEARTBEAT_TIMEOUT_MS)}): new worker polling ${s(restartMs)}, attempt 2 started ${s(at(startedEvent) - killedAt)}, completed ${s(at(completedEvent) - killedAt)}, fan-out done ${s(recoveredMs)}`,
      );
      expect(started.attempt).toBe(2);
      expect(started.lastFailure?.timeoutFailureInfo?.timeoutType).toBe(temporal.api.enums.v1.TimeoutType.TIMEOUT_TYPE_HEARTBEAT);
      expect(events.some((e) => e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() === concat.eventId?.toString())).toBe(true);
    } finally {
      await connection.close();
    }
  });
});
