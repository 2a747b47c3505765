// Runs one stage's per-item work through the sharded fan-out child workflow
// and forwards pause/resume and budget raises of the run to it while it runs.
import { condition, patched, startChild, workflowInfo, type ChildWorkflowHandle, type SignalDefinition } from '@temporalio/workflow';
import type { ArtifactKind } from '../../compiler/stage-kinds.js';
import type { ArtifactRef } from '../../store/artifact-ref.js';
import { fanoutBudgetSignal, fanoutPauseSignal, fanoutWorkflow } from '../fanout.js';
import type { FanoutResult, RunBudget } from '../fanout-types.js';
import type { StageContext } from './context.js';
import { heartbeatTimeoutFor } from '../heartbeat.js';

export interface FanoutStageOptions {
  processor: string;
  items: ArtifactRef;
  outputKind: ArtifactKind;
  config: Record<string, unknown>;
  shardSize: number;
  /** Items each shard runs at once (default 1); then at most ⌈stage concurrency / itemConcurrency⌉ shards run at once. */
  itemConcurrency?: number;
  /** Task queue of the shard activities (where the models are). */
  taskQueue: string;
}

/**
 * Patch of the default shard layout of per-item LLM stages (rollout,
 * evaluate): runs started before it keep shards of a fixed size run one item
 * at a time; later runs use `shardLayout`.
 */
export const FANOUT_LAYOUT_PATCH = 'fanout-layout-v1';

/** Items per shard at most, as a multiple of the shard's item concurrency (bounds scratch files, artifact size and progress steps). */
const MAX_ITEMS_PER_LANE = 32;
/** Items one shard runs at once at most. */
const MAX_ITEM_CONCURRENCY = 8;

/**
 * The default layout of a stage's items: few shards, each running several
 * items at once. A shard costs a child workflow, an activity, two artifact
 * writes and a scratch file, so `concurrency` one-item-at-a-time shards cost
 * far more than a few shards that share the same concurrency between their
 * items, and a shard whose items run side by side rebalances uneven episodes
 * by itself (a fixed split of sequential items would wait for its slowest).
 * Shards in flight × items per shard ≤ concurrency.
 */
export function shardLayout(items: number, concurrency: number): { shardSize: number; itemConcurrency: number; shardsInFlight: number } {
  const c = Math.max(1, Math.floor(concurrency));
  const shardsInFlight = Math.ceil(c / MAX_ITEM_CONCURRENCY);
  const itemConcurrency = Math.max(1, Math.floor(c / shardsInFlight));
  const shardSize = Math.max(itemConcurrency, Math.min(MAX_ITEMS_PER_LANE * itemConcurrency, Math.ceil(Math.max(1, items) / shardsInFlight)));
  return { shardSize, itemConcurrency, shardsInFlight };
}

/** The layout of a stage: the Plan's shardSize as written (one item at a time), else `shardLayout` in runs with FANOUT_LAYOUT_PATCH, else `legacySize`. */
export function stageLayout(items: number, concurrency: number, shardSize: number | undefined, legacySize: number): { shardSize: number; itemConcurrency?: number } {
  if (shardSize !== undefined) return { shardSize };
  if (!patched(FANOUT_LAYOUT_PATCH)) return { shardSize: legacySize };
  const l = shardLayout(items, concurrency);
  return { shardSize: l.shardSize, itemConcurrency: l.itemConcurrency };
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
        ...(o.itemConcurrency && o.itemConcurrency > 1
          ? { itemConcurrency: o.itemConcurrency, concurrency: Math.max(1, Math.floor(stage.concurrency / o.itemConcurrency)) }
          : { concurrency: stage.concurrency }),
        orchestrationQueue: input.queues.orchestration,
        ...(budget ? { budget } : {}),
        activity: {
          taskQueue: o.taskQueue,
          startToCloseTimeoutMs: stage.timeoutMs,
          // Shards heartbeat every 2 s (activities/fanout.ts): 10 s of silence means the worker is gone.
          heartbeatTimeoutMs: heartbeatTimeoutFor(stage.timeoutMs),
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
