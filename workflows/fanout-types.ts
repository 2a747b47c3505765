// Types of the sharded fan-out. Pure: shared by workflows and activities.
import type { ArtifactKind } from '../compiler/stage-kinds.js';
import type { ArtifactRef } from '../store/artifact-ref.js';

export interface ItemCounts {
  succeeded: number;
  failed: number;
  filtered: number;
}

/** The run budget (spec `budget`): LLM tokens and/or USD a run may spend (agents/budget.ts). */
export interface RunBudget {
  maxTokens?: number;
  maxCostUsd?: number;
}

/** Set by fan-outs that pause on a breaker or budget (patch `fanout-pause-v1`); not part of the scratch identity. */
export interface ShardControl {
  /** An open breaker fails the shard with a non-retryable ModelBreakerOpen failure (the workflow waits) instead of a retryable one. */
  pauseOnBreaker: boolean;
  /** The run's budget when the shard was started. */
  budget?: RunBudget;
}

export interface ShardSpec {
  /** Stable id of this piece of work, e.g. `<run>/<stage>/shard-00007`. */
  shardKey: string;
  stageId: string;
  /** Which item processor runs (registered on the worker, e.g. `rollout`). */
  processor: string;
  items: ArtifactRef;
  /** Item index range [start, end) into `items`. */
  start: number;
  end: number;
  outputKind: ArtifactKind;
  /** Processor options from the Plan (small). */
  config: Record<string, unknown>;
  control?: ShardControl;
  /** Items of this shard run at once (default 1: one after another). Not part of the scratch identity. */
  itemConcurrency?: number;
  /**
   * Set by shard workflows under patch `shard-progress-v1`: the activity is retried for as long as
   * its attempts finish items, and fails (ShardNoProgress, non-retryable) after this many attempts
   * in a row that finished none. Without it a long shard whose worker was stopped a few times
   * (a deploy, a CI run, a reboot) used up the stage's maxAttempts though it never failed.
   */
  noProgressAttempts?: number;
}

export interface ShardResult {
  shardKey: string;
  index: number;
  output: ArtifactRef;
  /** Rows `{ index, id, reason }` for items that failed. */
  failures: ArtifactRef;
  counts: ItemCounts;
}

export interface ActivityLimits {
  taskQueue: string;
  startToCloseTimeoutMs: number;
  heartbeatTimeoutMs: number;
  retry: { maximumAttempts: number; initialIntervalMs: number; backoffCoefficient: number; maximumIntervalMs: number };
}

export interface FanoutInput {
  /** Workflow id prefix for shard children, e.g. `<run id>/<stage id>`. */
  keyPrefix: string;
  stageId: string;
  processor: string;
  items: ArtifactRef;
  outputKind: ArtifactKind;
  config: Record<string, unknown>;
  shardSize: number;
  /** Most shards in flight at once. */
  concurrency: number;
  /** Items each shard runs at once (default 1); items in flight at most concurrency × itemConcurrency. */
  itemConcurrency?: number;
  /** Where the shard activities run (orchestration queue hosts the workflows). */
  activity: ActivityLimits;
  orchestrationQueue: string;
  /** Carried across continue-as-new. */
  carry?: FanoutCarry;
  /** Continue as new after this many history events (default 4000). */
  historyBudget?: number;
  /** The run budget in force when the stage started (raised later by the `fanoutBudget` signal). */
  budget?: RunBudget;
}

export interface FanoutCarry {
  /** Shards [0, nextShard) are done and merged into `chunks`, in order. */
  nextShard: number;
  /** One merged output/failures pair per earlier run of this workflow. */
  chunks: Array<{ output: ArtifactRef; failures: ArtifactRef }>;
  counts: ItemCounts;
  continuedAsNew: number;
  /** Shards stopped by a breaker or the budget, to start again before the next new one. */
  stopped?: number[];
  budget?: RunBudget;
}

/** Why a fan-out stopped starting shards on its own (not a user pause). */
export type FanoutStop = { kind: 'breaker'; model: string; until: number } | { kind: 'budget'; reason: string; tokens: number; costUsd: number };

export interface FanoutProgress {
  stageId: string;
  totalItems: number;
  shards: number;
  shardsDone: number;
  inFlight: number;
  /** Workflow ids of the shards in flight (their activities' heartbeats carry `{ done, of }`). */
  running?: string[];
  counts: ItemCounts;
  paused: boolean;
  /** Set while the stage waits on a breaker or the budget: `breaker open: policy, until …` / `budget reached (tokens 412 of 300)`. */
  pauseReason?: string;
}

export interface FanoutResult {
  output: ArtifactRef;
  failures: ArtifactRef;
  counts: ItemCounts;
  shards: number;
  continuedAsNew: number;
}
