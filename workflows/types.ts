// Inputs, results and progress of the pipeline workflow. Pure types.
import type { Plan } from '../compiler/plan-types.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import type { ItemCounts, RunBudget } from './fanout-types.js';

export interface TaskQueues {
  orchestration: string;
  llm: string;
  train: string;
}

export interface PipelineInput {
  plan: Plan;
  /** Folder the plan's relative paths are resolved against, on the workers. */
  projectRoot: string;
  queues: TaskQueues;
  /** Set SwirlStatus as the run progresses (only where the search attribute is registered). */
  searchAttributes?: boolean;
}

/** Stage-specific numbers for summaries and reports (small JSON: counts, rates, short lists). */
export type StageStats = Record<string, unknown>;

export type StageStatus = 'pending' | 'running' | 'completed' | 'failed' | 'skipped' | 'cancelled';

export interface StageState {
  id: string;
  type: string;
  status: StageStatus;
  startedAt?: string;
  finishedAt?: string;
  output?: ArtifactRef;
  /** Per-item stages: how many items succeeded, failed (with reasons in `failures`) or were filtered. */
  counts?: ItemCounts;
  failures?: ArtifactRef;
  stats?: StageStats;
  /** True when the output came from the stage cache (nothing was recomputed). */
  cached?: boolean;
  cacheKey?: string;
  error?: { type: string; message: string };
}

export interface PipelineProgress {
  pipeline: string;
  status: 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';
  stages: StageState[];
  /** Why the run waits, besides a user pause: `budget reached (tokens 412 of 300)`. */
  pauseReason?: string;
  /** The run's budget now (the spec's, raised by `swirl resume --max-tokens/--max-cost-usd`). */
  budget?: RunBudget;
}

export interface PipelineResult {
  pipeline: string;
  specHash: string;
  status: 'completed' | 'failed';
  stages: StageState[];
}

/** Kept in the run's memo under `swirl` when the run ends, so status needs no worker. */
export interface RunSummary {
  status: 'completed' | 'failed' | 'cancelled';
  stages: Array<Pick<StageState, 'id' | 'type' | 'status' | 'output' | 'cached' | 'error' | 'counts' | 'stats'>>;
}
