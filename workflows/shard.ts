// One shard of a fan-out: a child workflow that runs the shard's batch
// activity. The activity heartbeats after each item and resumes after the last
// finished one when it is retried, so a crash costs at most one item.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { ActivityLimits, ShardResult, ShardSpec } from './fanout-types.js';

export async function shardWorkflow(spec: ShardSpec, limits: ActivityLimits, index: number): Promise<ShardResult> {
  const acts = proxyActivities<Activities>({
    taskQueue: limits.taskQueue,
    startToCloseTimeout: limits.startToCloseTimeoutMs,
    heartbeatTimeout: limits.heartbeatTimeoutMs,
    retry: {
      maximumAttempts: limits.retry.maximumAttempts,
      initialInterval: limits.retry.initialIntervalMs,
      backoffCoefficient: limits.retry.backoffCoefficient,
      maximumInterval: limits.retry.maximumIntervalMs,
      nonRetryableErrorTypes: ['ConfigError', 'PayloadTooLarge'],
    },
  });
  const r = await acts.processShard(spec);
  return { ...r, index };
}
