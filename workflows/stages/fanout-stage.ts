// Runs one stage's per-item work through the sharded fan-out child workflow
// and forwards pause/resume and budget raises of the run to it while it runs.
import { condition, startChild, workflowInfo, type ChildWorkflowHandle, type SignalDefinition } from '@temporalio/workflow';
import type { ArtifactKind } from '../../compiler/stage-kinds.js';
import type { ArtifactRef } from '../../store/artifact-ref.js';
import { fanoutBudgetSignal, fanoutPauseSignal, fanoutWorkflow } from '../fanout.js';
import type { FanoutResult, RunBudget } from '../fanout-types.js';
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
  const budget = ctx.budget?.();
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
        ...(budget ? { budget } : {}),
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
  return forwardPause(ctx, child, fanoutPauseSignal, fanoutBudgetSignal);
}

/**
 * Waits for a child workflow, signalling it whenever the run is paused or
 * resumed meanwhile, and (with `budgetSignal`, in runs with a budget context)
 * whenever the run's budget is raised.
 */
export async function forwardPause<R>(ctx: StageContext, child: ChildWorkflowHandle<() => Promise<R>>, signal: SignalDefinition<[boolean]>, budgetSignal?: SignalDefinition<[RunBudget]>): Promise<R> {
  let done = false;
  const result = child.result().finally(() => void (done = true));
  let sent = false;
  const budgetNow = () => (budgetSignal ? ctx.budget?.() : undefined);
  let budgetSent = budgetNow();
  while (!done) {
    await condition(() => done || ctx.isPaused() !== sent || budgetNow() !== budgetSent);
    if (!done && ctx.isPaused() !== sent) {
      sent = ctx.isPaused();
      await child.signal(signal, sent);
    }
    const b = budgetNow();
    if (!done && b !== budgetSent) {
      budgetSent = b;
      if (b) await child.signal(budgetSignal!, b);
    }
  }
  return result;
}
