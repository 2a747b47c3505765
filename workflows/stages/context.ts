import type { ActivityOptions } from '@temporalio/workflow';
import type { PlanStage } from '../../compiler/plan-types.js';
import type { ArtifactRef } from '../../store/artifact-ref.js';
import type { PipelineInput, StageState, StageStats } from '../types.js';
import type { ItemCounts, RunBudget } from '../fanout-types.js';
import { attemptsField, heartbeatTimeoutFor } from '../heartbeat.js';

/** What a stage handler returns: its output, and for per-item stages the failures and counts. */
export interface StageOutcome {
  output: ArtifactRef;
  failures?: ArtifactRef;
  counts?: ItemCounts;
  /** Stage-specific numbers for summaries (e.g. trajectories by status). */
  stats?: StageStats;
}

export interface StageContext {
  stage: PlanStage;
  input: PipelineInput;
  /** Outputs of this stage's inputs, by stage id. */
  inputs: Record<string, ArtifactRef>;
  /** True while the run is paused: fan-out handlers start no new shards. */
  isPaused: () => boolean;
  /**
   * The run's budget right now (raised by the `raiseBudget` signal); absent in
   * runs started before patch `run-budget-v1`. Fan-out stages pass it to their
   * shards and forward raises to the running fan-out.
   */
  budget?: () => RunBudget | undefined;
  /** The run's stage states right now (the report stage draws them). */
  snapshot: () => StageState[];
}

/** Per-stage activity options straight from the Plan. */
export function activityOptions(stage: PlanStage, taskQueue: string): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout: stage.timeoutMs,
    heartbeatTimeout: heartbeatTimeoutFor(stage.timeoutMs),
    retry: {
      ...attemptsField(stage.retry.maximumAttempts),
      initialInterval: stage.retry.initialIntervalMs,
      backoffCoefficient: stage.retry.backoffCoefficient,
      maximumInterval: stage.retry.maximumIntervalMs,
    },
  };
}
