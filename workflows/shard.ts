// One shard of a fan-out: a child workflow that runs the shard's batch
// activity. The activity heartbeats after each item and resumes after the last
// finished one when it is retried, so a crash costs at most one item.
//
// Patch `shard-progress-v1`: the stage's maxAttempts counts attempts that made no progress, not
// all attempts: the activity is retried without limit and gives up itself (ShardNoProgress) after
// maxAttempts attempts in a row that finished no item. Histories from before the patch keep the
// old policy.
import { patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { ActivityLimits, ShardResult, ShardSpec } from './fanout-types.js';
import { attemptsField } from './heartbeat.js';

export const SHARD_PROGRESS_PATCH = 'shard-progress-v1';

export async function shardWorkflow(spec: ShardSpec, limits: ActivityLimits, index: number): Promise<ShardResult> {
  const max = limits.retry.maximumAttempts;
  const byProgress = max > 0 && patched(SHARD_PROGRESS_PATCH);
  const acts = proxyActivities<Activities>({
    taskQueue: limits.taskQueue,
    startToCloseTimeout: limits.startToCloseTimeoutMs,
    heartbeatTimeout: limits.heartbeatTimeoutMs,
    retry: {
      // Left out = unlimited (the SDK refuses 0).
      ...(byProgress ? {} : attemptsField(max)),
      initialInterval: limits.retry.initialIntervalMs,
      backoffCoefficient: limits.retry.backoffCoefficient,
      maximumInterval: limits.retry.maximumIntervalMs,
      nonRetryableErrorTypes: ['ConfigError', 'PayloadTooLarge'],
    },
  });
  const r = await acts.processShard(byProgress ? { ...spec, noProgressAttempts: max } : spec);
  return { ...r, index };
}
