// Runs one stage's per-item work through the sharded fan-out child workflow
// and forwards pause/resume of the run to it while it runs.
import { condition, startChild, workflowInfo, type ChildWorkflowHandle, type SignalDefinition } from '@temporalio/workflow';
import type { ArtifactKind } from '../../compiler/stage-kinds.js';
import type { ArtifactRef } from '../../store/artifact-ref.js';
import { fanoutPauseSignal, fanoutWorkflow } from '../fanout.js';
import type { FanoutResult } from '../fanout-types.js';
import type { StageContext } from './context.js';

export interface FanoutStageOptions {
  processor: string;
  items: ArtifactRef;
  outputKind: ArtifactKind;
  config: Record<string, unknown>;
  shardSize: number;
  /** Task queue of the shard activities (where the models are). */
  taskQueue: string;
}

export async function runFanoutStage(ctx: StageContext, o: FanoutStageOptions): Promise<FanoutResult> {
  const { stage, input } = ctx;
  const child = await startChild(fanoutWorkflow, {
    workflowId: `${workflowInfo().workflowId}/${stage.id}`,
    taskQueue: input.queues.orchestration,
    args: [
      {
        keyPrefix: `${workflowInfo().workflowId}/${stage.id}`,
        stageId: stage.id,
        processor: o.processor,
        items: o.items,
        outputKind: o.outputKind,
        config: o.config,
        shardSize: o.shardSize,
        concurrency: stage.concurrency,
        orchestrationQueue: input.queues.orchestration,
        activity: {
          taskQueue: o.taskQueue,
          startToCloseTimeoutMs: stage.timeoutMs,
          // Shards heartbeat every 2 s (activities/fanout.ts): 20 s of silence means the worker is gone.
          heartbeatTimeoutMs: Math.min(stage.timeoutMs, 20_000),
          retry: { maximumAttempts: stage.retry.maximumAttempts, initialIntervalMs: stage.retry.initialIntervalMs, backoffCoefficient: stage.retry.backoffCoefficient, maximumIntervalMs: stage.retry.maximumIntervalMs },
        },
      },
    ],
  });
  return forwardPause(ctx, child, fanoutPauseSignal);
}

/** Waits for a child workflow, signalling it whenever the run is paused or resumed meanwhile. */
export async function forwardPause<R>(ctx: StageContext, child: ChildWorkflowHandle<() => Promise<R>>, signal: SignalDefinition<[boolean]>): Promise<R> {
  let done = false;
  const result = child.result().finally(() => void (done = true));
  let sent = false;
  while (!done) {
    await condition(() => done || ctx.isPaused() !== sent);
    if (!done && ctx.isPaused() !== sent) {
      sent = ctx.isPaused();
      await child.signal(signal, sent);
    }
  }
  return result;
}
